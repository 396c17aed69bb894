"""The monthly penetapan and disbursement in plain Python, one record at a time.

This is docs/monthly.md written as directly as possible: no numpy in any per-record decision
(columns are turned into Python lists, processed with loops, dicts and `sorted`, and written
back). It is slow; it exists to be obviously right, and the property tests
hold `sim.hotpath.monthly` and `sim.hotpath.disburse` equal to it. It does not keep state between
months: every
decree re-checks every DTKS row.
"""

from __future__ import annotations

import math
import time

import numpy as np

from kks_emulator.errors import InputError
from sim.hotpath import changes as ch
from sim.hotpath.disburse import (
    DisbursementInterrupted,
    DisbursementState,
    DisburseResult,
    check_period,
    finish_period,
    gated,
    period_key,
)
from sim.hotpath.monthly import MonthResult, empty_result
from sim.params import PROG_BITS, PROGRAMMES, Params
from sim.registry import regions as _regions
from sim.registry.table import (
    RANKED_STATUSES,
    STATUS_BARRED,
    STATUS_IN_DTKS,
    STATUS_REMOVED,
    Registry,
    pbi_persons_of,
)

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def nik_reason(value: int) -> int:
    """The `sim.registry.nik.nik_reasons` code of one int NIK, computed with Python integers."""
    reg = _regions.load()
    if value < 0 or value >= 10**16:
        return 1
    if reg.province_lookup[value // 10**14] < 0:
        return 2
    if reg.kabkota_lookup[value // 10**12] < 0:
        return 3
    if reg.kecamatan_lookup[value // 10**10] < 0:
        return 4
    dd, mm, yy = value // 10**8 % 100, value // 10**6 % 100, value // 10**4 % 100
    day = dd - 40 if dd > 40 else dd
    max_day = 28 if mm == 2 and yy % 4 != 0 else _DAYS[min(max(mm, 0), 12)]
    if not ((1 <= dd <= 31 or 41 <= dd <= 71) and 1 <= mm <= 12 and day <= max_day):
        return 5
    if value % 10_000 == 0:
        return 6
    return 0


def record_reason(nik: int, kk: int, match: bool, score: float) -> int:
    """First failing check of docs/monthly.md §2.1.1-2.1.4 (0 = passes)."""
    r = nik_reason(nik)
    if r:
        return r
    if nik_reason(kk) or kk // 10**8 % 100 > 31:
        return ch.KK_INVALID
    if not match:
        return ch.DUKCAPIL
    if not math.isfinite(score):
        return ch.BAD_SCORE
    return 0


def pkh_annual(counts: dict[str, int], params: Params) -> int:
    """Annual PKH amount of one household from its member counts, with the caps (§2.10)."""
    slots = params.pkh_max_components
    children = params.pkh_max_children
    dis_eld = params.pkh_max_disabled_elderly
    total = 0
    order = (("n_early_child", params.pkh_early_child), ("n_sd", params.pkh_sd),
             ("n_smp", params.pkh_smp), ("n_sma", params.pkh_sma),
             ("n_disabled", params.pkh_disabled), ("n_elderly", params.pkh_elderly),
             ("n_pregnant", params.pkh_pregnant))
    for name, amount in order:
        c = counts[name]
        if name == "n_early_child":
            c = min(c, params.pkh_max_early_child)
        if name in ("n_early_child", "n_sd", "n_smp", "n_sma"):
            c = min(c, children)
            children -= c
        elif name in ("n_disabled", "n_elderly"):
            c = min(c, dis_eld)
            dis_eld -= c
        else:
            c = min(c, params.pkh_max_pregnant)
        c = min(c, slots)
        slots -= c
        total += c * amount
    return total


def entitlement(p: int, row: dict, params: Params) -> int:
    """Amount per payment of programme `p` for one household (§2.10)."""
    if p == 0:
        return params.bpnt_monthly * params.bpnt_every
    if p == 1:
        return pkh_annual(row, params) * params.pkh_every // 12
    return params.pbi_premium * pbi_persons_of(row["size"], row["n_other_jkn"]) * params.pbi_every


_NEEDED = ("nik", "kk", "kabkota", "size", "n_other_jkn", *ch.MEMBER_COLUMNS, "earns_umr",
           "pmt_score", "dukcapil_match", "status", "desil", "programmes")


def run_month(registry: Registry, changes: ch.ChangeBatch, params: Params,
              period: int) -> MonthResult:
    """Penetapan of `period` on `registry` (updated in place), one record at a time."""
    t0 = time.perf_counter()
    quota = params.require_quota().tolist()
    check_period(period)
    changes.check_rows(len(registry))
    res = empty_result(period)
    if period % params.cadence_months != 0:
        res.decree = False
        res.deferred = changes
        return res
    n = len(registry)
    col = {name: registry[name].tolist() for name in _NEEDED}
    status = col["status"]
    prev_prog = list(col["programmes"])
    recs = changes.records()
    for r in recs:
        res.records[ch.KINDS[r["kind"]]] += 1

    def reject(reason: int) -> None:
        res.rejected[ch.REJECT_REASONS[reason]] += 1

    # 2.1 validate data records
    valid: list[int] = []
    for j, r in enumerate(recs):
        if r["kind"] == ch.REMOVE:
            continue
        reason = record_reason(r["nik"], r["kk"], r["dukcapil_match"], r["pmt_score"])
        if not reason and r["kind"] == ch.UPDATE and status[r["row"]] != STATUS_IN_DTKS:
            reason = ch.NOT_IN_DTKS
        if reason:
            reject(reason)
        else:
            valid.append(j)
    # 2.2 latest per row
    last: dict[int, int] = {}
    for j in valid:
        last[recs[j]["row"]] = j
    kept = []
    for j in valid:
        if last[recs[j]["row"]] == j:
            kept.append(j)
        else:
            reject(ch.SUPERSEDED)
    # 2.3 deduplicate the batch: any later kept record with the same NIK / KK wins
    later_nik: set[int] = set()
    later_kk: set[int] = set()
    accepted: list[int] = []
    for j in reversed(kept):
        r = recs[j]
        if r["nik"] in later_nik:
            reject(ch.DUPLICATE_NIK)
        elif r["kk"] in later_kk:
            reject(ch.DUPLICATE_KK)
        else:
            accepted.append(j)
        later_nik.add(r["nik"])
        later_kk.add(r["kk"])
    accepted.reverse()
    # 2.4 apply
    accepted_rows = set()
    for j in accepted:
        r = recs[j]
        i = r["row"]
        for name in ch.DATA_COLUMNS:
            col[name][i] = r[name]
        col["pmt_score"][i] = float(np.float32(r["pmt_score"]) + np.float32(0.0))
        status[i] = STATUS_IN_DTKS
        accepted_rows.add(i)
        res.accepted[ch.KINDS[r["kind"]]] += 1

    def remove(i: int, reason: int) -> None:
        # DTSEN era: removed by a request other than death, still ranked (STATUS_BARRED)
        status[i] = ch.removed_status(reason, params.ranks_population)
        res.removed[ch.REMOVAL_REASONS[reason]] += 1

    # 2.5 removal requests
    last_rm: dict[int, int] = {}
    rm_valid = []
    for j, r in enumerate(recs):
        if r["kind"] != ch.REMOVE:
            continue
        if status[r["row"]] != STATUS_IN_DTKS:
            reject(ch.NOT_IN_DTKS)
            continue
        rm_valid.append(j)
        last_rm[r["row"]] = j
    for j in rm_valid:
        if last_rm[recs[j]["row"]] != j:
            reject(ch.SUPERSEDED)
    for i, j in sorted(last_rm.items()):
        remove(i, recs[j]["reason"])
        res.accepted["remove"] += 1
    # 2.6 existing rows: validity, then duplicates
    for i in range(n):
        bad = record_reason(col["nik"][i], col["kk"][i], col["dukcapil_match"][i],
                            col["pmt_score"][i])
        if status[i] == STATUS_IN_DTKS and i not in accepted_rows and bad:
            remove(i, ch.INVALID)
        elif status[i] == STATUS_BARRED and bad:  # leaves the ranking; counted when barred
            status[i] = STATUS_REMOVED
    order = [i for i in range(n) if status[i] == STATUS_IN_DTKS and i not in accepted_rows]
    order += [recs[j]["row"] for j in accepted if status[recs[j]["row"]] == STATUS_IN_DTKS]
    seen_nik: set[int] = set()
    seen_kk: set[int] = set()
    for i in reversed(order):
        if (col["nik"][i] in seen_nik or col["kk"][i] in seen_kk) and i not in accepted_rows:
            remove(i, ch.DUPLICATE)
        seen_nik.add(col["nik"][i])
        seen_kk.add(col["kk"][i])
    # 2.7 national deciles: the register, and in the DTSEN era the families barred from
    # programmes, which DTSEN still ranks [DTSEN-2025-07]
    dtks = sorted((i for i in range(n) if status[i] in RANKED_STATUSES),
                  key=lambda i: (col["pmt_score"][i], i))
    big_n = len(dtks)
    desil = [0] * n
    weight = params.desil_weight
    if weight is None:
        for pos, i in enumerate(dtks):
            desil[i] = 1 + (10 * pos) // big_n
    else:  # a household's position is the weight of the households ranked before it
        w = [int(weight[int(registry["kabkota"][i])]) for i in dtks]
        total = sum(w)
        before = 0
        for i, wi in zip(dtks, w, strict=True):
            desil[i] = 1 + (10 * before) // total
            before += wi
    res.dtks = big_n
    for d in desil:
        if d:
            res.desil_counts[d - 1] += 1
    # 2.8-2.9 eligibility and recipients
    members = ch.MEMBER_COLUMNS
    new_prog = [0] * n
    for p, bit in enumerate(PROG_BITS):
        name = PROGRAMMES[p]
        keep: dict[int, list[int]] = {}
        cand: dict[int, list[int]] = {}
        standing = bool(params.standing & bit)  # not decreed now: the list stands
        for i in range(n):
            held = bool(prev_prog[i] & bit)
            reason = 0
            if status[i] != STATUS_IN_DTKS:
                reason = ch.EXIT_REMOVED
            elif standing:
                if held:
                    new_prog[i] |= bit
                continue
            elif col["earns_umr"][i] and params.umr_excludes & bit:
                reason = ch.EXIT_UMR
            elif p == 1 and sum(col[m][i] for m in members) == 0:
                reason = ch.EXIT_NO_MEMBER
            elif not params.eligible_desil[p][desil[i]]:
                reason = ch.EXIT_DESIL
            if reason:
                if held:
                    res.left[name][ch.EXIT_REASONS[reason]] += 1
                continue
            (keep if held else cand).setdefault(col["kabkota"][i], []).append(i)
        # PBI-JK's quota counts persons [PROG-2022]: a household weighs its PBI-JK persons
        weight = ((lambda i: pbi_persons_of(int(col["size"][i]), int(col["n_other_jkn"][i])))
                  if p == 2 else (lambda i: 1))
        for k in set(keep) | set(cand):
            q = quota[p][k]
            kk_ = sorted(keep.get(k, []), key=lambda i: (col["pmt_score"][i], i))
            cc = sorted(cand.get(k, []), key=lambda i: (col["pmt_score"][i], i))
            chosen = _prefix(kk_, weight, q)
            res.left[name]["quota"] += len(kk_) - len(chosen)
            # a kab/kota over its quota only drops holders: nobody enters it at this decree
            over = sum(weight(i) for i in kk_) > q
            entering = [] if over else _prefix(cc, weight, q - sum(weight(i) for i in chosen))
            res.entered[name] += len(entering)
            for i in chosen + entering:
                new_prog[i] |= bit
    # 2.10 entitlement totals
    for i in range(n):
        for p, bit in enumerate(PROG_BITS):
            if new_prog[i] & bit:
                row = {m: col[m][i] for m in (*members, "size", "n_other_jkn")}
                res.recipients[PROGRAMMES[p]] += 1
                res.entitlement_total[PROGRAMMES[p]] += entitlement(p, row, params)
    # write back
    for name in ch.DATA_COLUMNS:
        registry[name][:] = col[name]
    registry["status"][:] = status
    registry["desil"][:] = desil
    registry["programmes"][:] = new_prog
    res.timings["total"] = time.perf_counter() - t0
    return res


def _prefix(rows: list[int], weight, room: int) -> list[int]:
    """The longest prefix of `rows` whose total weight is at most `room`."""
    out, used = [], 0
    for i in rows:
        used += weight(i)
        if used > room:
            break
        out.append(i)
    return out


def splitmix(key: int, row: int) -> int:
    """The 64-bit draw of docs/monthly.md §4.2 for one row, in Python integers."""
    z = (key + row * _GOLDEN) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)



def _redeemed(h: int, balance: int, params: Params) -> int:
    """§4.2 for one household that redeems: its whole balance, or the drawn share of it."""
    if ((h >> 32) & 0xFFFF) % 10_000 < params.full_spend_bp:
        return balance
    share = params.partial_min_bp + ((h >> 16) & 0xFFFF) % 10_000 * (
        10_000 - params.partial_min_bp) // 10_000
    return balance * share // 10_000

def disburse(registry: Registry, ledger: DisbursementState, params: Params, period: int,
             seed: int, *, stop_after_rows: int | None = None,
             payable: np.ndarray | None = None) -> DisburseResult:
    """Disbursement of `period`, one household at a time (docs/monthly.md §4)."""
    check_period(period)
    n = len(registry)
    start = ledger.begin(period, params)
    key = period_key(seed, period)
    every = params.every()
    due = [period % e == 0 for e in every]
    gate = [due[p] and gated(params, payable, p) for p in range(3)]
    may_pay = [True] * n if payable is None else [bool(x) for x in payable]
    owed = ledger.owed_array().tolist() if any(gate) else None
    bal = registry["balance"].tolist()
    unspent = registry["unspent_months"].tolist()
    prog = registry["programmes"].tolist()
    members = {m: registry[m].tolist() for m in (*ch.MEMBER_COLUMNS, "size", "n_other_jkn")}
    last_credit = ledger.last_credit.tolist()
    last_settled = ledger.last_settled.tolist()
    st = ledger.stats
    end = n if stop_after_rows is None else min(n, start + stop_after_rows)
    for i in range(start, end):
        for p, bit in enumerate(PROG_BITS):
            if not due[p]:
                continue
            if not prog[i] & bit:
                if gate[p] and last_settled[i] < period:
                    owed[p][i] = 0  # §4.1: a household out of the programme owes nothing
                continue
            if last_credit[p][i] >= period:
                st.skipped[p] += 1
                continue
            units = 1
            if gate[p]:  # §4.1 withhold / arrears
                if not may_pay[i] or params.paused & bit:
                    if last_settled[i] < period:
                        owed[p][i] = min(owed[p][i], 254) + 1
                        st.withheld[p] += 1
                    continue
                units = 1 + min(owed[p][i], params.arrears_tranches)
                owed[p][i] = 0
                st.arrears[p] += units - 1
            amount = entitlement(p, {m: members[m][i] for m in members}, params) * units
            ledger.funded[p] += amount
            last_credit[p][i] = period
            st.credits[p] += 1
            st.credited[p] += amount
            ledger.credited[p] += amount
            if p != 2:
                bal[i] += amount
        if last_settled[i] >= period:
            continue
        last_settled[i] = period
        b = bal[i]
        spent = 0
        if b > 0:
            h = splitmix(key, i)
            if (h >> 48) % 10_000 < params.redeem_bp:
                spent = _redeemed(h, b, params)
                if spent:
                    st.redeemers += 1
                    st.redeemed += spent
                    ledger.redeemed += spent
                    st.days[(h & 0xFFFF) % params.redeem_days] += 1
            b -= spent
        u = 0 if b == 0 or spent else min(unspent[i] + 1, 255)
        if params.return_after_months and u >= params.return_after_months:
            st.returns += 1
            st.returned += b
            ledger.returned += b
            b = 0
            u = 0
        bal[i] = b
        unspent[i] = u
    registry["balance"][:] = bal
    registry["unspent_months"][:] = unspent
    ledger.last_credit[:] = np.array(last_credit, dtype=np.int16).reshape(3, n)
    ledger.last_settled[:] = last_settled
    if owed is not None:
        ledger.owed[:] = np.array(owed, dtype=np.uint8).reshape(3, n)
    ledger.cursor = end
    if end < n:
        raise DisbursementInterrupted(period, end)
    return finish_period(registry, ledger, period)


def forfeit(registry: Registry, ledger: DisbursementState, params: Params, period: int,
            seed: int, rows: np.ndarray, pre_balance: np.ndarray,
            pre_unspent: np.ndarray) -> DisburseResult:
    """Give-ups of `period` (docs/monthly.md §4.5), one household at a time."""
    check_period(period)
    if period != ledger.period or ledger.cursor != len(registry):
        raise InputError(f"forfeit of period {period}: the ledger is at period {ledger.period}")
    rows = [int(r) for r in rows]
    if len(set(rows)) != len(rows):
        raise InputError("forfeit: a row is listed twice")
    key = period_key(seed, period)
    spent_of: list[tuple[int, int]] = []  # (spent, 0-based day) per row, all checked first
    for j, i in enumerate(rows):
        b = int(pre_balance[j])
        h = splitmix(key, i)
        spent = 0
        if b > 0 and (h >> 48) % 10_000 < params.redeem_bp:
            spent = _redeemed(h, b, params)
        if (spent == 0 or int(registry["balance"][i]) != b - spent
                or int(ledger.last_settled[i]) != period):
            raise InputError(f"forfeit: some rows did not redeem in period {period}")
        spent_of.append((spent, (h & 0xFFFF) % params.redeem_days))
    st = ledger.stats
    for j, i in enumerate(rows):
        spent, day = spent_of[j]
        b = int(pre_balance[j])
        st.redeemers -= 1
        st.redeemed -= spent
        ledger.redeemed -= spent
        st.days[day] -= 1
        u = min(int(pre_unspent[j]), 254) + 1
        if params.return_after_months and u >= params.return_after_months:
            st.returns += 1
            st.returned += b
            ledger.returned += b
            b = 0
            u = 0
        registry["balance"][i] = b
        registry["unspent_months"][i] = u
    return finish_period(registry, ledger, period)
