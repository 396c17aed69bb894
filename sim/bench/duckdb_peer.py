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

from sim.hotpath import changes as ch
from sim.hotpath.disburse import period_key
from sim.hotpath.monthly import MonthResult, empty_result
from sim.params import PROG_BITS, PROGRAMMES, Params
from sim.registry import regions as _regions
from sim.registry.table import Registry

_MEMBERS = ch.MEMBER_COLUMNS
_HH_COLUMNS = ("nik", "kk", "kabkota", "size", *_MEMBERS, "earns_umr", "pmt_score",
               "dukcapil_match", "status", "desil", "programmes", "balance", "unspent_months")

_MACROS = """
CREATE MACRO nik_reason(v) AS CASE
  WHEN v < 0 OR v >= 10000000000000000 THEN 1
  WHEN (v // 100000000000000) NOT IN (SELECT code FROM prov) THEN 2
  WHEN (v // 1000000000000) NOT IN (SELECT code FROM kabt) THEN 3
  WHEN (v // 10000000000) NOT IN (SELECT code FROM kect) THEN 4
  WHEN NOT ((v // 100000000) % 100 BETWEEN 1 AND 31 OR (v // 100000000) % 100 BETWEEN 41 AND 71)
    OR NOT ((v // 1000000) % 100 BETWEEN 1 AND 12)
    OR (CASE WHEN (v // 100000000) % 100 > 40 THEN (v // 100000000) % 100 - 40
             ELSE (v // 100000000) % 100 END)
       > (CASE (v // 1000000) % 100
            WHEN 2 THEN (CASE WHEN (v // 10000) % 100 % 4 <> 0 THEN 28 ELSE 29 END)
            WHEN 4 THEN 30 WHEN 6 THEN 30 WHEN 9 THEN 30 WHEN 11 THEN 30 ELSE 31 END)
    THEN 5
  WHEN v % 10000 = 0 THEN 6
  ELSE 0 END;
CREATE MACRO rec_reason(v_nik, v_kk, v_match, v_score) AS CASE
  WHEN nik_reason(v_nik) <> 0 THEN nik_reason(v_nik)
  WHEN nik_reason(v_kk) <> 0 OR (abs(v_kk) // 100000000) % 100 > 31 THEN 7
  WHEN NOT v_match THEN 8
  WHEN NOT isfinite(v_score) THEN 9
  ELSE 0 END;
CREATE MACRO mul64(a, k) AS ((((a::HUGEINT >> 32) * (k::HUGEINT & 4294967295)
  + (a::HUGEINT & 4294967295) * (k::HUGEINT >> 32)) % 4294967296) * 4294967296
  + (a::HUGEINT & 4294967295) * (k::HUGEINT & 4294967295)) % 18446744073709551616;
"""


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
        cond += " AND (" + " + ".join(f"{m}::INT" for m in _MEMBERS) + ") > 0"
    return cond


class DuckPeer:
    """A registry copy in DuckDB with `run_month` and `disburse` in SQL."""

    def __init__(self, registry: Registry, params: Params, threads: int | None = None) -> None:
        import duckdb
        import pyarrow as pa

        self.params = params
        self.n = len(registry)
        self.con = duckdb.connect()
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute("SET preserve_insertion_order = true")
        reg = _regions.load()
        for name, codes in (("prov", reg.province_code), ("kabt", reg.kabkota_code),
                            ("kect", reg.kecamatan_code)):
            tbl = pa.table({"code": np.asarray(codes, dtype=np.int64)})  # noqa: F841
            self.con.execute(f"CREATE TABLE {name} AS SELECT code FROM tbl")
        self.con.execute(_MACROS)
        quota = params.require_quota()
        qp, qk = np.nonzero(np.ones_like(quota, dtype=bool))
        qt = pa.table({"p": qp.astype(np.int64), "k": qk.astype(np.int64),  # noqa: F841
                       "q": quota[qp, qk]})
        self.con.execute("CREATE TABLE quota AS SELECT * FROM qt")
        cols = {"row": np.arange(self.n, dtype=np.int64)}
        cols.update({c: registry[c] for c in _HH_COLUMNS})
        n = self.n
        cols.update({f"lc{p}": np.full(n, -1, dtype=np.int16) for p in range(3)})
        cols["ls"] = np.full(n, -1, dtype=np.int16)
        src = pa.table(cols)  # noqa: F841
        self.con.execute("CREATE TABLE hh AS SELECT * FROM src")
        self.verified = False
        self.funded = [0, 0, 0]
        self.redeemed = 0
        self.returned = 0

    def _q(self, sql: str, *args) -> list:
        return self.con.execute(sql, *args).fetchall()

    def columns(self) -> dict[str, np.ndarray]:
        """The registry columns and markers, in row order, as numpy arrays."""
        names = (*_HH_COLUMNS, "lc0", "lc1", "lc2", "ls")
        out = self.con.execute(f"SELECT {', '.join(names)} FROM hh ORDER BY row").fetchnumpy()
        return {name: np.asarray(out[name]) for name in names}

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

        q = self._q
        cols = {"j": np.arange(len(changes), dtype=np.int64)}
        cols.update({c: changes[c] for c in ch.COLUMNS})
        bt = pa.table(cols)  # noqa: F841
        self.con.execute("CREATE OR REPLACE TABLE b AS SELECT * FROM bt")
        for code, name in ch.KINDS.items():
            res.records[name] = q("SELECT count(*) FROM b WHERE kind = ?", [code])[0][0]
        # 2.1-2.3: reasons of data records
        self.con.execute(f"""
          CREATE OR REPLACE TABLE v AS
          SELECT b.*, CASE
              WHEN rec_reason(b.nik, b.kk, b.dukcapil_match, b.pmt_score) <> 0
                THEN rec_reason(b.nik, b.kk, b.dukcapil_match, b.pmt_score)
              WHEN b.kind = {ch.UPDATE} AND hh.status <> 1 THEN {ch.NOT_IN_DTKS}
              ELSE 0 END AS rej
          FROM b JOIN hh ON hh.row = b.row WHERE b.kind <> {ch.REMOVE}""")
        self.con.execute(f"""
          CREATE OR REPLACE TABLE kept AS
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
        self.con.execute("CREATE OR REPLACE TABLE acc AS SELECT * FROM kept WHERE dup = 0")
        for code, name in ch.KINDS.items():
            if code != ch.REMOVE:
                res.accepted[name] = q("SELECT count(*) FROM acc WHERE kind = ?", [code])[0][0]
        lap("validate")
        # 2.4 apply, 2.5 removal requests (UPDATE in place: they touch few rows)
        data = ", ".join(f"{c} = acc.{c}" if c != "pmt_score" else
                         "pmt_score = acc.pmt_score + 0.0::FLOAT" for c in ch.DATA_COLUMNS)
        self.con.execute(f"UPDATE hh SET {data}, status = 1 FROM acc WHERE hh.row = acc.row")
        self.con.execute(f"""
          CREATE OR REPLACE TABLE rm AS
          SELECT b.j, b.row, b.reason, hh.status = 1 AS ok FROM b JOIN hh ON hh.row = b.row
          WHERE b.kind = {ch.REMOVE}""")
        rej[ch.NOT_IN_DTKS] = rej.get(ch.NOT_IN_DTKS, 0) + q(
            "SELECT count(*) FROM rm WHERE NOT ok")[0][0]
        self.con.execute("""CREATE OR REPLACE TABLE rml AS SELECT * FROM rm WHERE ok
                            QUALIFY j = max(j) OVER (PARTITION BY row)""")
        rej[ch.SUPERSEDED] += q("SELECT (SELECT count(*) FROM rm WHERE ok)"
                                " - (SELECT count(*) FROM rml)")[0][0]
        removed = dict(q("SELECT reason, count(*) FROM rml GROUP BY reason"))
        res.accepted["remove"] = q("SELECT count(*) FROM rml")[0][0]
        self.con.execute("UPDATE hh SET status = 2 FROM rml WHERE hh.row = rml.row")
        # 2.6 existing rows
        if not self.verified:
            existing = ("status = 1 AND row NOT IN (SELECT row FROM acc) AND "
                        "rec_reason(nik, kk, dukcapil_match, pmt_score) <> 0")
            removed[ch.INVALID] = q(f"SELECT count(*) FROM hh WHERE {existing}")[0][0]
            self.con.execute(f"UPDATE hh SET status = 2 WHERE {existing}")
            self.con.execute(f"""
              CREATE OR REPLACE TABLE dup AS
              WITH s AS (SELECT hh.row, hh.nik, hh.kk,
                           CASE WHEN acc.row IS NOT NULL THEN {self.n} + acc.j ELSE hh.row
                           END AS seq
                         FROM hh LEFT JOIN acc ON acc.row = hh.row WHERE hh.status = 1)
              SELECT row FROM s QUALIFY max(seq) OVER (PARTITION BY nik) > seq
                                     OR max(seq) OVER (PARTITION BY kk) > seq""")
        else:
            self.con.execute("""
              CREATE OR REPLACE TABLE dup AS
              WITH live AS (SELECT hh.row, hh.nik, hh.kk FROM hh JOIN acc ON acc.row = hh.row
                            WHERE hh.status = 1)
              SELECT row FROM hh WHERE status = 1 AND row NOT IN (SELECT row FROM live)
                AND (nik IN (SELECT nik FROM live) OR kk IN (SELECT kk FROM live))""")
        removed[ch.DUPLICATE] = q("SELECT count(*) FROM dup")[0][0]
        self.con.execute("UPDATE hh SET status = 2 WHERE row IN (SELECT row FROM dup)")
        for code, name in ch.REMOVAL_REASONS.items():
            res.removed[name] = int(removed.get(code, 0))
        for code, name in ch.REJECT_REASONS.items():
            res.rejected[name] = int(rej.get(code, 0))
        lap("dedupe")
        # 2.7 national deciles
        res.dtks = q("SELECT count(*) FROM hh WHERE status = 1")[0][0]
        self.con.execute(f"""
          CREATE OR REPLACE TABLE hh AS
          SELECT * REPLACE (CASE WHEN status = 1 THEN 1 + (10 * (row_number() OVER
              (PARTITION BY status = 1 ORDER BY pmt_score, row) - 1)) // {max(res.dtks, 1)}
              ELSE 0 END::TINYINT AS desil)
          FROM hh""")
        counts = dict(q("SELECT desil, count(*) FROM hh WHERE desil > 0 GROUP BY desil"))
        res.desil_counts = [int(counts.get(d, 0)) for d in range(1, 11)]
        lap("rank")
        # 2.8-2.10 recipients and entitlements
        sel = []
        for p, bit in enumerate(PROG_BITS):
            pname = PROGRAMMES[p]
            elig = _elig_sql(params, p)
            self.con.execute(f"""
              CREATE OR REPLACE TABLE base AS
              SELECT row, kabkota, pmt_score, (programmes & {bit}) <> 0 AS held, {elig} AS elig
              FROM hh WHERE status = 1 OR (programmes & {bit}) <> 0""")
            self.con.execute(f"""
              CREATE OR REPLACE TABLE sel{p} AS
              WITH k AS (SELECT row, kabkota, row_number() OVER (PARTITION BY kabkota
                           ORDER BY pmt_score, row) AS rk FROM base WHERE held AND elig),
                   nk AS (SELECT kabkota, count(*) AS n FROM k GROUP BY kabkota),
                   c AS (SELECT row, kabkota, row_number() OVER (PARTITION BY kabkota
                           ORDER BY pmt_score, row) AS rk FROM base WHERE elig AND NOT held)
              SELECT k.row, FALSE AS entered FROM k JOIN quota q ON q.p = {p} AND q.k = k.kabkota
              WHERE k.rk <= q.q
              UNION ALL
              SELECT c.row, TRUE FROM c JOIN quota q ON q.p = {p} AND q.k = c.kabkota
              LEFT JOIN nk ON nk.kabkota = c.kabkota
              WHERE c.rk <= q.q - least(coalesce(nk.n, 0), q.q)""")
            res.entered[pname] = q(f"SELECT count(*) FROM sel{p} WHERE entered")[0][0]
            res.recipients[pname] = q(f"SELECT count(*) FROM sel{p}")[0][0]
            left = res.left[pname]
            left["quota"] = q(f"""SELECT (SELECT count(*) FROM base WHERE held AND elig)
                                  - (SELECT count(*) FROM sel{p} WHERE NOT entered)""")[0][0]
            umr = "earns_umr" if params.umr_excludes & bit else "FALSE"
            members = " + ".join(f"{m}::INT" for m in _MEMBERS)
            nq = f"({members}) = 0" if p == 1 else "FALSE"
            row = q(f"""
              SELECT count(*) FILTER (WHERE status <> 1),
                     count(*) FILTER (WHERE status = 1 AND {umr}),
                     count(*) FILTER (WHERE status = 1 AND NOT {umr} AND {nq}),
                     count(*) FILTER (WHERE status = 1 AND NOT {umr} AND NOT {nq})
              FROM hh WHERE (programmes & {bit}) <> 0 AND NOT ({elig})""")[0]
            left["removed"], left["umr"], left["no_qualifying_member"], left["desil"] = (
                int(x) for x in row)
            sel.append(f"SELECT row, {bit} AS bit FROM sel{p}")
        self.con.execute(f"""
          CREATE OR REPLACE TABLE newp AS SELECT row, bit_or(bit)::UTINYINT AS bits
          FROM ({' UNION ALL '.join(sel)}) GROUP BY row""")
        self.con.execute("""
          CREATE OR REPLACE TABLE hh AS
          SELECT hh.* REPLACE (coalesce(newp.bits, 0)::UTINYINT AS programmes)
          FROM hh LEFT JOIN newp ON newp.row = hh.row""")
        tot = q(f"""SELECT count(*) FILTER (WHERE programmes & 1 <> 0),
                           sum(pkh_pay) FILTER (WHERE programmes & 2 <> 0),
                           sum(size) FILTER (WHERE programmes & 4 <> 0)
                    FROM ({_pkh_pay_sql(params, "SELECT * FROM hh WHERE programmes <> 0")})
                    """)[0]
        res.entitlement_total = {
            "bpnt": int(tot[0] or 0) * params.bpnt_monthly * params.bpnt_every,
            "pkh": int(tot[1] or 0),
            "pbi": int(tot[2] or 0) * params.pbi_premium * params.pbi_every,
        }
        lap("select")
        self.verified = True
        res.timings = timings
        return res

    def disburse(self, period: int, seed: int) -> dict:
        """Credit and settle `period` in SQL; returns the counters of `DisburseResult`."""
        params = self.params
        t0 = time.perf_counter()
        key = period_key(seed, period)
        due = [period % e == 0 for e in params.every()]
        unit = params.bpnt_monthly * params.bpnt_every
        pbi_unit = params.pbi_premium * params.pbi_every
        ret_after = params.return_after_months
        cred = [f"({str(due[p]).upper()} AND (programmes & {bit}) <> 0 AND lc{p} < {period})"
                for p, bit in enumerate(PROG_BITS)]
        src = _pkh_pay_sql(params, f"""SELECT *, {cred[0]} AS c0, {cred[1]} AS c1,
                                   {cred[2]} AS c2, ls < {period} AS settle FROM hh""")
        m64 = 18446744073709551616
        sql = _layers(
            src,
            f"""balance + CASE WHEN c0 THEN {unit} ELSE 0 END
                + CASE WHEN c1 THEN pkh_pay ELSE 0 END AS b1""",
            f"""CASE WHEN settle AND b1 > 0 THEN
                (mul64(row, {0x9E3779B97F4A7C15}) + {key}) % {m64} END AS z0""",
            f"mul64(xor(z0, z0 >> 30), {0xBF58476D1CE4E5B9}) AS z1",
            f"mul64(xor(z1, z1 >> 27), {0x94D049BB133111EB}) AS z2",
            "xor(z2, z2 >> 31) AS h",
            f"""CASE WHEN h IS NULL OR (h >> 48) % 10000 >= {params.redeem_bp} THEN 0
                 WHEN ((h >> 32) & 65535) % 10000 < {params.full_spend_bp} THEN b1
                 ELSE b1 * ({params.partial_min_bp} + ((h >> 16) & 65535) % 10000
                            * {10_000 - params.partial_min_bp} // 10000) // 10000
                END::BIGINT AS spent""",
            "b1 - spent AS b2",
            """CASE WHEN NOT settle THEN unspent_months::INT
                 WHEN b2 = 0 OR spent > 0 THEN 0
                 ELSE least(unspent_months::INT + 1, 255) END AS u1""",
            f"settle AND {ret_after} > 0 AND u1 >= {ret_after} AS ret",
            f"((h & 65535) % {params.redeem_days})::INT AS day")
        self.con.execute(f"CREATE OR REPLACE TABLE d AS {sql}")
        row = self.con.execute(f"""
          SELECT count(*) FILTER (WHERE c0), count(*) FILTER (WHERE c1),
                 count(*) FILTER (WHERE c2),
                 coalesce(sum(pkh_pay) FILTER (WHERE c1), 0),
                 coalesce(sum(size::BIGINT) FILTER (WHERE c2), 0),
                 count(*) FILTER (WHERE {str(due[0]).upper()} AND programmes & 1 <> 0 AND NOT c0),
                 count(*) FILTER (WHERE {str(due[1]).upper()} AND programmes & 2 <> 0 AND NOT c1),
                 count(*) FILTER (WHERE {str(due[2]).upper()} AND programmes & 4 <> 0 AND NOT c2),
                 count(*) FILTER (WHERE spent > 0), coalesce(sum(spent), 0),
                 count(*) FILTER (WHERE ret), coalesce(sum(b2) FILTER (WHERE ret), 0),
                 sum(CASE WHEN ret THEN 0 ELSE b2 END)
          FROM d""").fetchall()[0]
        (n0, n1, n2, pkh_sum, persons, s0, s1, s2, redeemers, redeemed, returns,
         returned, held) = (int(x or 0) for x in row)
        days = dict(self._q("SELECT day, count(*) FROM d WHERE spent > 0 GROUP BY day"))
        self.con.execute(f"""
          CREATE OR REPLACE TABLE hh AS
          SELECT row, {', '.join(c for c in _HH_COLUMNS if c not in ('balance', 'unspent_months'))},
            CASE WHEN ret THEN 0 ELSE b2 END::BIGINT AS balance,
            CASE WHEN ret THEN 0 ELSE u1 END::UTINYINT AS unspent_months,
            CASE WHEN c0 THEN {period} ELSE lc0 END::SMALLINT AS lc0,
            CASE WHEN c1 THEN {period} ELSE lc1 END::SMALLINT AS lc1,
            CASE WHEN c2 THEN {period} ELSE lc2 END::SMALLINT AS lc2,
            CASE WHEN settle THEN {period} ELSE ls END::SMALLINT AS ls
          FROM d""")
        credited = [n0 * unit, pkh_sum, persons * pbi_unit]
        return {
            "period": period,
            "credits": dict(zip(PROGRAMMES, (n0, n1, n2), strict=True)),
            "credited": dict(zip(PROGRAMMES, credited, strict=True)),
            "skipped": dict(zip(PROGRAMMES, (s0, s1, s2), strict=True)),
            "redeemers": redeemers, "redeemed": redeemed, "returns": returns,
            "returned": returned,
            "redeem_days": [int(days.get(d, 0)) for d in range(params.redeem_days)],
            "held": held, "seconds": time.perf_counter() - t0,
        }
