"""The monthly penetapan and disbursement in SQL (DuckDB): the benchmark's peer implementation.

Benchmark-only: `duckdb` is a dev dependency and is imported when a `DuckPeer` is built, never by
the rest of `sim`. The SQL follows docs/monthly.md step by step, the way a database engineer
would write it (window functions for "latest wins", ranking and quotas; joins for the removal of
colliding rows; one table rewrite per step). Like `sim.hotpath.monthly` it relies on the invariant
that
after a decree every DTKS row is valid and unique, so from the second decree on it checks only
the rows that collide with accepted records. Its results must equal the numpy engine's exactly:
`kks bench monthly` asserts it.
"""

from __future__ import annotations

import time

import numpy as np

from kks_emulator.errors import InputError
from sim.hotpath import changes as ch
from sim.hotpath.disburse import period_key
from sim.hotpath.monthly import MonthResult, empty_result
from sim.hotpath.validity import tables
from sim.params import PROG_BITS, PROGRAMMES, Params
from sim.registry import regions as _regions
from sim.registry.table import STATUS_BARRED, STATUS_DIED, Registry

_MEMBERS = ch.MEMBER_COLUMNS
_QUAL = "(" + " + ".join(f"{m}::INT" for m in _MEMBERS) + ") > 0 AS qual"
_HH_COLUMNS = ("nik", "kk", "kabkota", "size", "n_other_jkn", *_MEMBERS, "earns_umr", "pmt_score",
               "dukcapil_match", "status", "desil", "programmes", "balance", "unspent_months")

_M32 = "4294967295::UBIGINT"

_MACROS = f"""
-- PBI-JK persons of a household (sim.registry.table.pbi_persons)
CREATE MACRO pbi_n(s, o) AS s::BIGINT - least(o::BIGINT, s::BIGINT - (s > 0)::BIGINT);
CREATE MACRO nik_reason(v) AS CASE
  WHEN v < 0 OR v >= 10000000000000000 THEN 1
  WHEN (v // 100000000000000) NOT IN (SELECT code FROM prov) THEN 2
  WHEN (v // 1000000000000) NOT IN (SELECT code FROM kabt) THEN 3
  WHEN (v // 10000000000) NOT IN (SELECT code FROM kect) THEN 4
  WHEN NOT date_ok(v, 71) THEN 5
  WHEN v % 10000 = 0 THEN 6
  ELSE 0 END;
CREATE MACRO date_ok(v, max_dd) AS
  ((v // 100000000) % 100 BETWEEN 1 AND 31
   OR ((v // 100000000) % 100 BETWEEN 41 AND 71 AND max_dd > 31))
  AND (v // 1000000) % 100 BETWEEN 1 AND 12
  AND (CASE WHEN (v // 100000000) % 100 > 40 THEN (v // 100000000) % 100 - 40
            ELSE (v // 100000000) % 100 END)
      <= (CASE (v // 1000000) % 100
            WHEN 2 THEN (CASE WHEN (v // 10000) % 100 % 4 <> 0 THEN 28 ELSE 29 END)
            WHEN 4 THEN 30 WHEN 6 THEN 30 WHEN 9 THEN 30 WHEN 11 THEN 30 ELSE 31 END);
CREATE MACRO rec_reason(v_nik, v_kk, v_match, v_score) AS CASE
  WHEN nik_reason(v_nik) <> 0 THEN nik_reason(v_nik)
  WHEN nik_reason(v_kk) <> 0 OR (abs(v_kk) // 100000000) % 100 > 31 THEN 7
  WHEN NOT v_match THEN 8
  WHEN NOT isfinite(v_score) THEN 9
  ELSE 0 END;
CREATE MACRO number_ok(v, max_dd) AS
  v >= 1000000000000000 AND v < 10000000000000000 AND v % 10000 <> 0 AND date_ok(v, max_dd)
  AND (v // 10000000000) IN (SELECT code FROM region_ok);
CREATE MACRO rec_ok(v_nik, v_kk, v_match, v_score) AS
  v_match AND isfinite(v_score) AND number_ok(v_nik, 71) AND number_ok(v_kk, 31);
CREATE MACRO mul64(a, klo, khi) AS
  (((((a >> 32) * klo) & {_M32}) + (((a & {_M32}) * khi) & {_M32})
    + (((a & {_M32}) * klo) >> 32)) & {_M32}) << 32
  | (((a & {_M32}) * klo) & {_M32});
CREATE MACRO add64(a, klo, khi) AS
  ((((a >> 32) + khi + (((a & {_M32}) + klo) >> 32)) & {_M32}) << 32)
  | (((a & {_M32}) + klo) & {_M32});
"""


def _u64(k: int) -> tuple[str, str]:
    """A 64-bit constant as its (low, high) 32-bit halves, UBIGINT literals."""
    return f"{k & 0xFFFFFFFF}::UBIGINT", f"{k >> 32}::UBIGINT"


def _pkh_pay_sql(params: Params, src: str) -> str:
    """`src` (a query) with PKH intermediate columns and `pkh_pay` (amount per payment) added.

    One nested SELECT per component, so every intermediate is computed once (lateral aliases
    would be inlined and grow the expression exponentially).
    """
    cap_c, cap_s, cap_de = (params.pkh_max_children, params.pkh_max_components,
                            params.pkh_max_disabled_elderly)
    steps = [
        f"least(n_early_child::BIGINT, {params.pkh_max_early_child}, {cap_c}, {cap_s}) AS x_e",
        f"least(n_sd::BIGINT, {cap_c} - x_e, {cap_s} - x_e) AS x_sd",
        f"least(n_smp::BIGINT, {cap_c} - x_e - x_sd, {cap_s} - x_e - x_sd) AS x_smp",
        f"least(n_sma::BIGINT, {cap_c} - x_e - x_sd - x_smp, {cap_s} - x_e - x_sd - x_smp)"
        " AS x_sma",
        f"{cap_s} - x_e - x_sd - x_smp - x_sma AS x_s4",
        f"least(n_disabled::BIGINT, {cap_de}, x_s4) AS x_dis",
        f"least(n_elderly::BIGINT, {cap_de} - x_dis, x_s4 - x_dis) AS x_eld",
        f"least(n_pregnant::BIGINT, {params.pkh_max_pregnant}, x_s4 - x_dis - x_eld) AS x_prg",
        f"""(x_e * {params.pkh_early_child} + x_sd * {params.pkh_sd} + x_smp * {params.pkh_smp}
            + x_sma * {params.pkh_sma} + x_dis * {params.pkh_disabled}
            + x_eld * {params.pkh_elderly} + x_prg * {params.pkh_pregnant})
            * {params.pkh_every} // 12 AS pkh_pay""",
    ]
    sql = src
    for step in steps:
        sql = f"SELECT *, {step} FROM ({sql})"
    return sql


def _layers(src: str, *steps: str) -> str:
    """`src` with each select-list `step` added in its own nested SELECT (computed once)."""
    sql = src
    for step in steps:
        sql = f"SELECT *, {step} FROM ({sql})"
    return sql


def _elig_sql(params: Params, p: int) -> str:
    """SQL condition: eligible for programme `p` (§2.8), on a row of `hh`."""
    bit = PROG_BITS[p]
    deciles = [d for d in range(1, 11) if params.eligible_desil[p][d]] or [-1]
    cond = f"status = 1 AND desil IN ({', '.join(map(str, deciles))})"
    if params.umr_excludes & bit:
        cond += " AND NOT earns_umr"
    if p == 1:
        cond += " AND qual"
    return cond


class DuckPeer:
    """A registry copy in DuckDB with `run_month` and `disburse` in SQL.

    What a DuckDB engineer does to keep the work proportional to what changes (docs/monthly.md
    §5 lists what was tried): the PKH amount per payment and "has a qualifying member" are
    columns of `hh` (kept for the accepted rows, like the numpy engine's caches); every step
    works on a narrow table of the rows that can change and `UPDATE`s only rows whose value
    changes; ranks are computed only where a kab/kota is over its quota or has fewer vacancies
    than candidates; the settle marker is one number per run (a disbursement is one
    transaction here, so it cannot stop half way); splitmix64 is exact UBIGINT arithmetic on
    32-bit halves.
    """

    def __init__(self, registry: Registry, params: Params, threads: int | None = None) -> None:
        import duckdb
        import pyarrow as pa

        self.params = params
        self.n = len(registry)
        self.con = duckdb.connect()
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute("SET preserve_insertion_order = false")
        reg = _regions.load()
        region_ok = np.flatnonzero(tables()[0][:-1]).astype(np.int64)
        for name, codes in (("prov", reg.province_code), ("kabt", reg.kabkota_code),
                            ("kect", reg.kecamatan_code), ("region_ok", region_ok)):
            tbl = pa.table({"code": np.asarray(codes, dtype=np.int64)})  # noqa: F841
            self.con.execute(f"CREATE TABLE {name} AS SELECT code FROM tbl")
        self.con.execute(_MACROS)
        if params.desil_weight is not None:
            raise InputError("the SQL peer ranks unweighted deciles only (params.desil_weight "
                             "must be None)")
        quota = params.require_quota()
        qp, qk = np.nonzero(np.ones_like(quota, dtype=bool))
        qt = pa.table({"p": qp.astype(np.int64), "k": qk.astype(np.int64),  # noqa: F841
                       "q": quota[qp, qk]})
        self.con.execute("CREATE TABLE quota AS SELECT * FROM qt")
        cols = {"row": np.arange(self.n, dtype=np.int32)}
        cols.update({c: registry[c] for c in _HH_COLUMNS})
        n = self.n
        cols.update({f"lc{p}": np.full(n, -1, dtype=np.int16) for p in range(3)})
        src = pa.table(cols)  # noqa: F841
        g = _u64(0x9E3779B97F4A7C15)
        # rg = row * golden mod 2^64: the per-row half of the §4.2 draw (the key is added
        # each period), a constant column like the PKH caches
        self.con.execute(f"""CREATE TABLE hh AS SELECT * EXCLUDE (x_e, x_sd, x_smp, x_sma, x_s4,
                               x_dis, x_eld, x_prg), mul64(row::UBIGINT, {g[0]}, {g[1]}) AS rg
                             FROM ({_pkh_pay_sql(params, "SELECT *, " + _QUAL + " FROM src")})""")
        self.verified = False
        self.settled = -1  # every row is settled through this period (§4.2 marker)
        self.funded = [0, 0, 0]
        self.redeemed = 0
        self.returned = 0

    def _q(self, sql: str, *args) -> list:
        return self.con.execute(sql, *args).fetchall()

    def columns(self) -> dict[str, np.ndarray]:
        """The registry columns and markers, in row order, as numpy arrays."""
        names = (*_HH_COLUMNS, "lc0", "lc1", "lc2")
        out = self.con.execute(f"SELECT {', '.join(names)} FROM hh ORDER BY row").fetchnumpy()
        cols = {name: np.asarray(out[name]) for name in names}
        cols["ls"] = np.full(self.n, self.settled, dtype=np.int16)
        return cols

    def run_month(self, changes: ch.ChangeBatch, period: int) -> MonthResult:
        """Penetapan of `period` in SQL; returns the same counters as
        `sim.hotpath.monthly.run_month`."""
        import pyarrow as pa

        params = self.params
        res = empty_result(period)
        if period % params.cadence_months != 0:
            res.decree = False
            res.deferred = changes
            return res
        timings: dict[str, float] = {}
        t = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal t
            now = time.perf_counter()
            timings[name] = now - t
            t = now

        q, ex = self._q, self.con.execute
        cols = {"j": np.arange(len(changes), dtype=np.int64)}
        cols.update({c: changes[c] for c in ch.COLUMNS})
        bt = pa.table(cols)  # noqa: F841
        ex("CREATE OR REPLACE TEMP TABLE b AS SELECT * FROM bt")
        for kind, c in q("SELECT kind, count(*) FROM b GROUP BY kind"):
            res.records[ch.KINDS[kind]] = c
        # 2.1-2.3: reasons of data records (batch-sized tables)
        ex(f"""
          CREATE OR REPLACE TEMP TABLE v AS
          SELECT b.*, CASE WHEN r <> 0 THEN r
                           WHEN b.kind = {ch.UPDATE} AND hh.status <> 1 THEN {ch.NOT_IN_DTKS}
                           ELSE 0 END AS rej
          FROM (SELECT *, rec_reason(nik, kk, dukcapil_match, pmt_score) AS r FROM b
                WHERE kind <> {ch.REMOVE}) b JOIN hh ON hh.row = b.row""")
        ex(f"""
          CREATE OR REPLACE TEMP TABLE kept AS
          WITH l AS (SELECT * FROM v WHERE rej = 0
                     QUALIFY j = max(j) OVER (PARTITION BY row))
          SELECT *, CASE
              WHEN max(j) OVER (PARTITION BY nik) > j THEN {ch.DUPLICATE_NIK}
              WHEN max(j) OVER (PARTITION BY kk) > j THEN {ch.DUPLICATE_KK}
              ELSE 0 END AS dup
          FROM l""")
        rej = dict(q("SELECT rej, count(*) FROM v WHERE rej <> 0 GROUP BY rej"))
        rej[ch.SUPERSEDED] = q("SELECT (SELECT count(*) FROM v WHERE rej = 0)"
                               " - (SELECT count(*) FROM kept)")[0][0]
        for code, c in q("SELECT dup, count(*) FROM kept WHERE dup <> 0 GROUP BY dup"):
            rej[code] = c
        ex(f"""CREATE OR REPLACE TEMP TABLE acc AS
               SELECT * EXCLUDE (x_e, x_sd, x_smp, x_sma, x_s4, x_dis, x_eld, x_prg)
               FROM ({_pkh_pay_sql(params, "SELECT *, " + _QUAL + " FROM kept WHERE dup = 0")})
            """)
        for kind, c in q("SELECT kind, count(*) FROM acc GROUP BY kind"):
            res.accepted[ch.KINDS[kind]] = c
        lap("validate")
        # 2.4 apply, 2.5 removal requests (UPDATE in place: they touch few rows)
        data = ", ".join(f"{c} = acc.{c}" if c != "pmt_score" else
                         "pmt_score = acc.pmt_score + 0.0::FLOAT" for c in ch.DATA_COLUMNS)
        ex(f"""UPDATE hh SET {data}, qual = acc.qual, pkh_pay = acc.pkh_pay, status = 1
               FROM acc WHERE hh.row = acc.row""")
        ex(f"""
          CREATE OR REPLACE TEMP TABLE rm AS
          SELECT b.j, b.row, b.reason, hh.status = 1 AS ok FROM b JOIN hh ON hh.row = b.row
          WHERE b.kind = {ch.REMOVE}""")
        ex("""CREATE OR REPLACE TEMP TABLE rml AS SELECT * FROM rm WHERE ok
              QUALIFY j = max(j) OVER (PARTITION BY row)""")
        n_rm, n_ok, n_rml = q("""SELECT (SELECT count(*) FROM rm), (SELECT count(*) FROM rm
                                 WHERE ok), (SELECT count(*) FROM rml)""")[0]
        rej[ch.NOT_IN_DTKS] = rej.get(ch.NOT_IN_DTKS, 0) + n_rm - n_ok
        rej[ch.SUPERSEDED] += n_ok - n_rml
        removed = dict(q("SELECT reason, count(*) FROM rml GROUP BY reason"))
        res.accepted["remove"] = n_rml
        # the DTSEN era: a removal other than a death stays ranked, barred (status 3)
        barring = ", ".join(map(str, ch.BARRING_REASONS))
        ex(f"""UPDATE hh SET status = CASE WHEN rml.reason = {ch.DIED} THEN {STATUS_DIED}
                 WHEN {params.ranks_population} AND rml.reason IN ({barring})
                 THEN {STATUS_BARRED} ELSE 2 END
               FROM rml WHERE hh.row = rml.row""")
        # 2.6 existing rows
        if not self.verified:
            # pass/fail only (no reasons): one evaluation per row, then UPDATE of those rows
            ex("""CREATE OR REPLACE TEMP TABLE inv AS SELECT row FROM hh
                  WHERE status = 1 AND NOT rec_ok(nik, kk, dukcapil_match, pmt_score)
                    AND row NOT IN (SELECT row FROM acc)""")
            removed[ch.INVALID] = q("SELECT count(*) FROM inv")[0][0]
            ex("UPDATE hh SET status = 2 FROM inv WHERE hh.row = inv.row")
            # a barred row failing a check leaves the ranking (counted when it was barred)
            ex(f"""UPDATE hh SET status = 2 WHERE status = {STATUS_BARRED}
                   AND NOT rec_ok(nik, kk, dukcapil_match, pmt_score)""")
            # numbers held twice (hash aggregates), then the order of §2.6 on those rows only
            ex("""CREATE OR REPLACE TEMP TABLE dn AS
                  SELECT nik FROM hh WHERE status = 1 GROUP BY nik HAVING count(*) > 1""")
            ex("""CREATE OR REPLACE TEMP TABLE dk AS
                  SELECT kk FROM hh WHERE status = 1 GROUP BY kk HAVING count(*) > 1""")
            ex(f"""
              CREATE OR REPLACE TEMP TABLE dup AS
              WITH s AS (SELECT hh.row, hh.nik, hh.kk,
                           CASE WHEN acc.row IS NOT NULL THEN {self.n} + acc.j ELSE hh.row
                           END AS seq
                         FROM hh LEFT JOIN acc ON acc.row = hh.row
                         WHERE hh.status = 1 AND (hh.nik IN (SELECT nik FROM dn)
                                                  OR hh.kk IN (SELECT kk FROM dk)))
              SELECT row FROM s QUALIFY max(seq) OVER (PARTITION BY nik) > seq
                                     OR max(seq) OVER (PARTITION BY kk) > seq""")
        else:
            ex("""
              CREATE OR REPLACE TEMP TABLE dup AS
              WITH live AS (SELECT hh.row, hh.nik, hh.kk FROM hh JOIN acc ON acc.row = hh.row
                            WHERE hh.status = 1)
              SELECT row FROM hh WHERE status = 1 AND row NOT IN (SELECT row FROM live)
                AND (nik IN (SELECT nik FROM live) OR kk IN (SELECT kk FROM live))""")
        removed[ch.DUPLICATE] = q("SELECT count(*) FROM dup")[0][0]
        ex("UPDATE hh SET status = 2 FROM dup WHERE hh.row = dup.row")
        for code, name in ch.REMOVAL_REASONS.items():
            res.removed[name] = int(removed.get(code, 0))
        for code, name in ch.REJECT_REASONS.items():
            res.rejected[name] = int(rej.get(code, 0))
        lap("dedupe")
        # 2.7 national deciles: rank the DTKS rows (and barred ones, DTSEN era), UPDATE the rows
        # whose decile moved
        ranked = f"status IN (1, {STATUS_BARRED})"
        big_n = res.dtks = q(f"SELECT count(*) FROM hh WHERE {ranked}")[0][0]
        if big_n:
            ex(f"""
              CREATE OR REPLACE TEMP TABLE dch AS
              SELECT row, d FROM (
                SELECT row, desil, (1 + (10 * (row_number() OVER (ORDER BY pmt_score, row) - 1))
                                    // {big_n})::TINYINT AS d
                FROM hh WHERE {ranked}) WHERE d <> desil""")
            ex("UPDATE hh SET desil = dch.d FROM dch WHERE hh.row = dch.row")
        ex(f"UPDATE hh SET desil = 0 WHERE NOT {ranked} AND desil <> 0")
        res.desil_counts = [(d * big_n + 9) // 10 - ((d - 1) * big_n + 9) // 10
                            for d in range(1, 11)]
        lap("rank")
        self._select(res)
        lap("select")
        self.verified = True
        res.timings = timings
        return res

    def _select(self, res: MonthResult) -> None:
        """§2.8-2.10: one narrow table of the rows that are or were recipients or could be,
        per-kab/kota counts in one aggregate, ranks only where needed, UPDATE of changed rows."""
        params = self.params
        q, ex = self._q, self.con.execute
        eb = " | ".join(f"(CASE WHEN {_elig_sql(params, p)} THEN {bit} ELSE 0 END)"
                        for p, bit in enumerate(PROG_BITS))
        ex(f"""CREATE OR REPLACE TEMP TABLE e AS
               SELECT row, kabkota, pmt_score, programmes AS prev, ({eb})::UTINYINT AS eb,
                      status = 1 AS ins, earns_umr, qual, pbi_n(size, n_other_jkn) AS size
               FROM hh WHERE status = 1 OR programmes <> 0""")
        aggs = []
        for p, bit in enumerate(PROG_BITS):
            umr = "earns_umr" if params.umr_excludes & bit else "FALSE"
            nq = "NOT qual" if p == 1 else "FALSE"
            lost = f"prev & {bit} <> 0 AND eb & {bit} = 0"
            aggs += [f"count(*) FILTER (WHERE prev & {bit} <> 0 AND eb & {bit} <> 0)",
                     f"count(*) FILTER (WHERE prev & {bit} = 0 AND eb & {bit} <> 0)",
                     f"count(*) FILTER (WHERE {lost} AND NOT ins)",
                     f"count(*) FILTER (WHERE {lost} AND ins AND {umr})",
                     f"count(*) FILTER (WHERE {lost} AND ins AND NOT {umr} AND {nq})",
                     f"count(*) FILTER (WHERE {lost} AND ins AND NOT {umr} AND NOT {nq})"]
        # PBI-JK's quota counts persons [PROG-2022]: kept and candidate persons per kab/kota
        aggs += ["coalesce(sum(size) FILTER (WHERE prev & 4 <> 0 AND eb & 4 <> 0), 0)",
                 "coalesce(sum(size) FILTER (WHERE prev & 4 = 0 AND eb & 4 <> 0), 0)"]
        per_kab = q(f"SELECT kabkota, {', '.join(aggs)} FROM e GROUP BY kabkota")
        quota = params.require_quota()
        n_kab = quota.shape[1]
        agg = np.zeros((n_kab, len(aggs)), dtype=np.int64)
        for r in per_kab:
            agg[r[0]] = r[1:]
        changes = ["SELECT row, 0 AS s, prev & (7 - eb) AS c FROM e WHERE prev & (7 - eb) <> 0"]
        import pyarrow as pa

        plans = {}
        for p, bit in enumerate(PROG_BITS):
            pname = PROGRAMMES[p]
            kept, cand = agg[:, 6 * p], agg[:, 6 * p + 1]
            persons = p == 2
            if persons:  # quota, vacancies and candidates in persons
                kept, cand = agg[:, 18], agg[:, 19]
            # the running total of a kab/kota's rows in poverty order: rows or persons
            run = ("sum(e.size) OVER (PARTITION BY e.kabkota ORDER BY e.pmt_score, e.row "
                   "ROWS UNBOUNDED PRECEDING)" if persons else
                   "row_number() OVER (PARTITION BY e.kabkota ORDER BY e.pmt_score, e.row)")
            left = res.left[pname]
            left["removed"], left["umr"], left["no_qualifying_member"], left["desil"] = (
                int(x) for x in agg[:, 6 * p + 2:6 * p + 6].sum(axis=0))
            qp = quota[p]
            over = kept > qp
            vac = np.where(over, 0, qp - kept)
            take_all = (vac > 0) & (vac >= cand)
            part = (vac > 0) & (vac < cand)
            ks = np.arange(n_kab, dtype=np.int64)
            plans[p] = pa.table({"k": ks, "over": over, "q": qp.astype(np.int64),
                                 "take_all": take_all, "part": part, "vac": vac})
            tbl = plans[p]  # noqa: F841
            ex(f"CREATE OR REPLACE TEMP TABLE plan{p} AS SELECT * FROM tbl")
            if not persons:  # PBI-JK's household counts are read after the update
                res.recipients[pname] = int(np.minimum(kept, qp).sum()
                                            + np.where(vac > 0, np.minimum(vac, cand), 0).sum())
                res.entered[pname] = int(np.where(vac > 0, np.minimum(vac, cand), 0).sum())
                left["quota"] = int((kept - np.minimum(kept, qp)).sum())
            held, el = f"prev & {bit} <> 0", f"eb & {bit} <> 0"
            if over.any():
                changes.append(f"""
                  SELECT row, 0, {bit} FROM (
                    SELECT e.row, {run} AS rk, pl.q
                    FROM e JOIN plan{p} pl ON pl.k = e.kabkota AND pl.over
                    WHERE {held} AND {el}) WHERE rk > q""")
            if take_all.any():
                changes.append(f"""
                  SELECT e.row, {bit}, 0 FROM e JOIN plan{p} pl ON pl.k = e.kabkota
                  AND pl.take_all WHERE NOT ({held}) AND {el}""")
            if part.any():
                changes.append(f"""
                  SELECT row, {bit}, 0 FROM (
                    SELECT e.row, {run} AS rk, pl.vac
                    FROM e JOIN plan{p} pl ON pl.k = e.kabkota AND pl.part
                    WHERE NOT ({held}) AND {el}) WHERE rk <= vac""")
        ex(f"""CREATE OR REPLACE TEMP TABLE chg AS
               SELECT row, bit_or(s)::UTINYINT AS s, bit_or(c)::UTINYINT AS c
               FROM ({' UNION ALL '.join(changes)}) GROUP BY row""")
        ex("""UPDATE hh SET programmes = (programmes & (7 - chg.c)) | chg.s
              FROM chg WHERE hh.row = chg.row""")
        pbi = res.left["pbi"]
        pbi["quota"], res.entered["pbi"] = (int(x or 0) for x in q(
            """SELECT count(*) FILTER (WHERE chg.c & 4 <> 0 AND e.eb & 4 <> 0),
                      count(*) FILTER (WHERE chg.s & 4 <> 0)
               FROM chg JOIN e ON e.row = chg.row""")[0])
        res.recipients["pbi"] = int(q("SELECT count(*) FROM hh WHERE programmes & 4 <> 0")[0][0])
        tot = q("""SELECT count(*) FILTER (WHERE programmes & 1 <> 0),
                          sum(pkh_pay) FILTER (WHERE programmes & 2 <> 0),
                          sum(pbi_n(size, n_other_jkn)) FILTER (WHERE programmes & 4 <> 0)
                   FROM hh WHERE programmes <> 0""")[0]
        res.entitlement_total = {
            "bpnt": int(tot[0] or 0) * params.bpnt_monthly * params.bpnt_every,
            "pkh": int(tot[1] or 0),
            "pbi": int(tot[2] or 0) * params.pbi_premium * params.pbi_every,
        }

    def disburse(self, period: int, seed: int) -> dict:
        """Credit and settle `period` in SQL; returns the counters of `DisburseResult`.

        Ungated only (docs/monthly.md §4.1: no payable mask, nothing paused), so nothing is ever
        withheld or paid in arrears.
        """
        params = self.params
        if params.paused:
            raise InputError("the SQL peer does not implement paused tranches (monthly.md 4.1)")
        t0 = time.perf_counter()
        key = period_key(seed, period)
        due = [period % e == 0 for e in params.every()]
        unit = params.bpnt_monthly * params.bpnt_every
        pbi_unit = params.pbi_premium * params.pbi_every
        ret_after = params.return_after_months
        settle = self.settled < period
        due_bits = sum(bit for p, bit in enumerate(PROG_BITS) if due[p])
        cred = [f"({str(due[p]).upper()} AND (programmes & {bit}) <> 0 AND lc{p} < {period})"
                for p, bit in enumerate(PROG_BITS)]
        # the rows a disbursement can change: recipients due a payment, and (when settling)
        # every non-zero balance or unspent counter; all other rows stay as they are
        where = [f"programmes & {due_bits} <> 0"] if due_bits else []
        if settle:
            where += ["balance <> 0", "unspent_months <> 0"]
        if not where:
            where = ["FALSE"]
        c1, c2 = _u64(0xBF58476D1CE4E5B9), _u64(0x94D049BB133111EB)
        k = _u64(key)
        sql = _layers(
            f"""SELECT row, rg, balance, unspent_months, lc0, lc1, lc2, pkh_pay,
                       pbi_n(size, n_other_jkn) AS size,
                       programmes, {cred[0]} AS c0, {cred[1]} AS c1, {cred[2]} AS c2
                FROM hh WHERE {' OR '.join(where)}""",
            f"""balance + CASE WHEN c0 THEN {unit} ELSE 0 END
                + CASE WHEN c1 THEN pkh_pay ELSE 0 END AS b1""",
            f"""CASE WHEN {str(settle).upper()} AND b1 > 0 THEN
                add64(rg, {k[0]}, {k[1]}) END AS z0""",
            f"mul64(xor(z0, z0 >> 30), {c1[0]}, {c1[1]}) AS z1",
            f"mul64(xor(z1, z1 >> 27), {c2[0]}, {c2[1]}) AS z2",
            "xor(z2, z2 >> 31) AS h",
            f"""CASE WHEN h IS NULL OR ((h >> 48) % 10000)::INT >= {params.redeem_bp} THEN 0
                 WHEN (((h >> 32) & 65535) % 10000)::INT < {params.full_spend_bp} THEN b1
                 ELSE b1 * ({params.partial_min_bp} + (((h >> 16) & 65535) % 10000)::BIGINT
                            * {10_000 - params.partial_min_bp} // 10000) // 10000
                END::BIGINT AS spent""",
            "b1 - spent AS b2",
            f"""CASE WHEN NOT {str(settle).upper()} THEN unspent_months::INT
                 WHEN b2 = 0 OR spent > 0 THEN 0
                 ELSE least(unspent_months::INT + 1, 255) END AS u1""",
            f"{str(settle).upper()} AND {ret_after} > 0 AND u1 >= {ret_after} AS ret",
            f"((h & 65535) % {params.redeem_days})::INT AS day")
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE d AS {sql}")
        row = self.con.execute(f"""
          SELECT count(*) FILTER (WHERE c0), count(*) FILTER (WHERE c1),
                 count(*) FILTER (WHERE c2),
                 coalesce(sum(pkh_pay) FILTER (WHERE c1), 0),
                 coalesce(sum(size::BIGINT) FILTER (WHERE c2), 0),
                 count(*) FILTER (WHERE {str(due[0]).upper()} AND programmes & 1 <> 0 AND NOT c0),
                 count(*) FILTER (WHERE {str(due[1]).upper()} AND programmes & 2 <> 0 AND NOT c1),
                 count(*) FILTER (WHERE {str(due[2]).upper()} AND programmes & 4 <> 0 AND NOT c2),
                 count(*) FILTER (WHERE spent > 0), coalesce(sum(spent), 0),
                 count(*) FILTER (WHERE ret), coalesce(sum(b2) FILTER (WHERE ret), 0)
          FROM d""").fetchall()[0]
        (n0, n1, n2, pkh_sum, persons, s0, s1, s2, redeemers, redeemed, returns,
         returned) = (int(x or 0) for x in row)
        days = dict(self._q("SELECT day, count(*) FROM d WHERE spent > 0 GROUP BY day"))
        self.con.execute(f"""
          UPDATE hh SET
            balance = CASE WHEN d.ret THEN 0 ELSE d.b2 END,
            unspent_months = CASE WHEN d.ret THEN 0 ELSE d.u1 END,
            lc0 = CASE WHEN d.c0 THEN {period} ELSE hh.lc0 END,
            lc1 = CASE WHEN d.c1 THEN {period} ELSE hh.lc1 END,
            lc2 = CASE WHEN d.c2 THEN {period} ELSE hh.lc2 END
          FROM d WHERE hh.row = d.row AND (d.c0 OR d.c1 OR d.c2 OR d.ret OR d.b2 <> d.balance
                                            OR d.u1 <> d.unspent_months)""")
        if settle:
            self.settled = period
        held = int(self._q("SELECT coalesce(sum(balance), 0) FROM hh WHERE balance <> 0")[0][0])
        credited = [n0 * unit, pkh_sum, persons * pbi_unit]
        return {
            "period": period,
            "credits": dict(zip(PROGRAMMES, (n0, n1, n2), strict=True)),
            "credited": dict(zip(PROGRAMMES, credited, strict=True)),
            "skipped": dict(zip(PROGRAMMES, (s0, s1, s2), strict=True)),
            "withheld": dict.fromkeys(PROGRAMMES, 0), "arrears": dict.fromkeys(PROGRAMMES, 0),
            "redeemers": redeemers, "redeemed": redeemed, "returns": returns,
            "returned": returned,
            "redeem_days": [int(days.get(d, 0)) for d in range(params.redeem_days)],
            "held": held, "seconds": time.perf_counter() - t0,
        }
