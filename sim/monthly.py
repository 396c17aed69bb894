"""The monthly penetapan, vectorized: no Python loop over households.

docs/monthly.md is the specification and `sim.reference.run_month` its one-record-at-a-time twin.
`run_month(registry, changes, params, period, state)` applies one decree to the registry in place
and returns a `MonthResult` of counters. The caller (the SimPy flow model on decree days, the
benchmarks) keeps one `MonthlyState` per registry between months: with it, a month re-checks only
what can have changed (the records of the batch and the rows they collide with), ranks deciles
from a score histogram kept up to date by the changed rows, and skips the work altogether when
the batch is empty and the params are unchanged (the last decree stands).

Money never passes through here; `sim.disburse` credits what this decides.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from kks_emulator.errors import InputError
from sim import changes as ch
from sim.nik import nik_reasons
from sim.params import PKH, PROG_BITS, PROGRAMMES, Params
from sim.registry import STATUS_IN_DTKS, STATUS_REMOVED, Registry

_MEMBERS = ch.MEMBER_COLUMNS


@dataclass
class MonthResult:
    """Counters of one penetapan (docs/monthly.md §3); `timings` are seconds per step."""

    period: int
    decree: bool = True
    records: dict[str, int] = field(default_factory=dict)
    accepted: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    dtks: int = 0
    desil_counts: list[int] = field(default_factory=lambda: [0] * 10)
    recipients: dict[str, int] = field(default_factory=dict)
    entered: dict[str, int] = field(default_factory=dict)
    left: dict[str, dict[str, int]] = field(default_factory=dict)
    entitlement_total: dict[str, int] = field(default_factory=dict)
    deferred: ch.ChangeBatch | None = field(default=None, compare=False, repr=False)
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    def counters(self) -> dict:
        """Every counter (not `deferred`, not `timings`), for comparing implementations."""
        return {k: v for k, v in self.__dict__.items() if k not in ("deferred", "timings")}


def empty_result(period: int) -> MonthResult:
    """A result with every counter present and zero."""
    return MonthResult(
        period=period,
        records={v: 0 for v in ch.KINDS.values()},
        accepted={v: 0 for v in ch.KINDS.values()},
        rejected={v: 0 for v in ch.REJECT_REASONS.values()},
        removed={v: 0 for v in ch.REMOVAL_REASONS.values()},
        recipients=dict.fromkeys(PROGRAMMES, 0),
        entered=dict.fromkeys(PROGRAMMES, 0),
        left={p: {v: 0 for v in ch.EXIT_REASONS.values()} for p in PROGRAMMES},
        entitlement_total=dict.fromkeys(PROGRAMMES, 0),
    )


@dataclass
class MonthlyState:
    """What the engine keeps between decrees of one registry (see the module docstring)."""

    verified: bool = False
    params_fingerprint: str = ""
    last: MonthResult | None = None

    def invalidate(self) -> None:
        """Forget everything: the next decree re-checks every row (after direct column writes)."""
        self.verified = False
        self.params_fingerprint = ""
        self.last = None


def score_key(score: np.ndarray) -> np.ndarray:
    """uint32 keys ordered like the float32 scores (-0.0 equal to +0.0; no NaN expected)."""
    f = (np.asarray(score, dtype=np.float32) + np.float32(0.0)).view(np.uint32)
    neg = (f >> np.uint32(31)).astype(bool)
    return np.where(neg, ~f, f | np.uint32(0x80000000))


def _last_in_group(keys: np.ndarray) -> np.ndarray:
    """For keys already grouped (sorted), True at the last element of each run of equal keys."""
    out = np.ones(len(keys), dtype=bool)
    if len(keys) > 1:
        out[:-1] = keys[1:] != keys[:-1]
    return out


def _later_wins(idx: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """For records `idx` (ascending) with `keys`: True where a later record has the same key."""
    order = np.argsort(keys, kind="stable")
    loses = np.empty(len(idx), dtype=bool)
    loses[order] = ~_last_in_group(keys[order])
    return loses


def kk_bad(kk: np.ndarray) -> np.ndarray:
    """No. KK check of docs/monthly.md §2.1.2 (True = invalid)."""
    return (nik_reasons(kk) != 0) | (np.abs(kk) // 10**8 % 100 > 31)


def record_reasons(nik: np.ndarray, kk: np.ndarray, match: np.ndarray,
                   score: np.ndarray) -> np.ndarray:
    """First failing check of docs/monthly.md §2.1.1-2.1.4 per record (uint8, 0 = passes)."""
    reason = nik_reasons(nik).astype(np.uint8)
    ok = reason == 0
    reason[ok & kk_bad(kk)] = ch.KK_INVALID
    ok = reason == 0
    reason[ok & ~match.astype(bool)] = ch.DUKCAPIL
    ok = reason == 0
    reason[ok & ~np.isfinite(score)] = ch.BAD_SCORE
    return reason


def _member_mask(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """`np.isin(values, keys)` for a large `values` and a small `keys`: a hash bitmap prefilter
    (multiplicative hash of the low 32 bits) followed by an exact sorted search on the few hits."""
    out = np.zeros(len(values), dtype=bool)
    if len(keys) == 0 or len(values) == 0:
        return out
    bits = max(16, min(27, int(len(keys) * 64).bit_length()))
    shift = np.uint32(32 - bits)
    mult = np.uint32(0x9E3779B1)
    table = np.zeros(1 << bits, dtype=bool)
    table[(keys.astype(np.uint32) * mult) >> shift] = True
    skeys = np.sort(keys)
    step = 1 << 20
    for lo in range(0, len(values), step):
        v = values[lo:lo + step]
        h = v.astype(np.uint32)
        h *= mult
        h >>= shift
        hit = np.flatnonzero(table[h])
        if len(hit):
            cand = v[hit]
            pos = np.minimum(np.searchsorted(skeys, cand), len(skeys) - 1)
            out[lo + hit[skeys[pos] == cand]] = True
    return out


def _rank(registry: Registry, dtks_rows: np.ndarray) -> np.ndarray:
    """DTKS rows in order of (pmt_score, row): the national ranking of §2.7."""
    key = score_key(registry["pmt_score"][dtks_rows]).astype(np.uint64)
    packed = (key << np.uint64(32)) | dtks_rows.astype(np.uint64)
    packed.sort()
    return (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)


def _grouped_cumcount(flags: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """1-based running count of `flags` within runs of equal `groups` (already grouped)."""
    c = np.cumsum(flags, dtype=np.int64)
    if len(groups) == 0:
        return c
    first = np.flatnonzero(np.concatenate([[True], groups[1:] != groups[:-1]]))
    before = np.where(first > 0, c[first - 1], 0)
    lengths = np.diff(np.append(first, len(groups)))
    return c - np.repeat(before, lengths)


def run_month(registry: Registry, changes: ch.ChangeBatch, params: Params, period: int,
              state: MonthlyState | None = None) -> MonthResult:
    """One penetapan of `period` (docs/monthly.md §2): updates `registry` in place.

    `state` (kept by the caller between months) lets the engine check only what changed; with
    `None` every row is checked, as on a first decree.
    """
    from sim.disburse import check_period

    t = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - t
        t = now

    quota = params.require_quota()
    check_period(period)
    n = len(registry)
    changes.check_rows(n)
    res = empty_result(period)
    if period % params.cadence_months != 0:
        res.decree = False
        res.deferred = changes
        return res
    fp = params.fingerprint()
    if (state is not None and state.verified and state.last is not None and len(changes) == 0
            and state.params_fingerprint == fp):
        last = state.last
        res.dtks = last.dtks
        res.desil_counts = list(last.desil_counts)
        res.recipients = dict(last.recipients)
        res.entitlement_total = dict(last.entitlement_total)
        res.timings = {"unchanged": time.perf_counter() - t}
        return res
    full = state is None or not state.verified

    status = registry["status"]
    kind = changes["kind"]
    row = changes["row"]
    m = len(changes)
    reason = np.zeros(m, dtype=np.uint8)
    for code, name in ch.KINDS.items():
        res.records[name] = int(np.count_nonzero(kind == code))

    # 2.1 validate data records
    dj = np.flatnonzero(kind != ch.REMOVE)
    if len(dj):
        reason[dj] = record_reasons(changes["nik"][dj], changes["kk"][dj],
                                    changes["dukcapil_match"][dj], changes["pmt_score"][dj])
        upd = (reason[dj] == 0) & (kind[dj] == ch.UPDATE) & (status[row[dj]] != STATUS_IN_DTKS)
        reason[dj[upd]] = ch.NOT_IN_DTKS
    # 2.2 latest per row
    valid = dj[reason[dj] == 0]
    sup = _later_wins(valid, row[valid])
    reason[valid[sup]] = ch.SUPERSEDED
    kept = valid[~sup]
    # 2.3 deduplicate the batch
    dn = _later_wins(kept, changes["nik"][kept])
    dk = _later_wins(kept, changes["kk"][kept])
    reason[kept[dn]] = ch.DUPLICATE_NIK
    reason[kept[dk & ~dn]] = ch.DUPLICATE_KK
    acc = kept[~dn & ~dk]
    lap("validate")

    # 2.4 apply
    prev_prog = registry["programmes"].copy() if full else None
    acc_rows = row[acc]
    for name in ch.DATA_COLUMNS:
        values = changes[name][acc]
        if name == "pmt_score":
            values = values + np.float32(0.0)
        registry[name][acc_rows] = values
    status[acc_rows] = STATUS_IN_DTKS
    for code, name in ch.KINDS.items():
        if code != ch.REMOVE:
            res.accepted[name] = int(np.count_nonzero(kind[acc] == code))
    removed = np.zeros(len(ch.REMOVAL_REASONS) + 1, dtype=np.int64)
    # 2.5 removal requests
    rj = np.flatnonzero(kind == ch.REMOVE)
    if len(rj):
        ok = status[row[rj]] == STATUS_IN_DTKS
        reason[rj[~ok]] = ch.NOT_IN_DTKS
        rv = rj[ok]
        sup = _later_wins(rv, row[rv])
        reason[rv[sup]] = ch.SUPERSEDED
        rv = rv[~sup]
        res.accepted["remove"] = len(rv)
        removed += np.bincount(changes["reason"][rv], minlength=len(removed))
        status[row[rv]] = STATUS_REMOVED
    # 2.6 existing rows
    if full:
        is_acc = np.zeros(n, dtype=bool)
        is_acc[acc_rows] = True
        existing = np.flatnonzero((status == STATUS_IN_DTKS) & ~is_acc)
        bad = record_reasons(registry["nik"][existing], registry["kk"][existing],
                             registry["dukcapil_match"][existing],
                             registry["pmt_score"][existing]) != 0
        inv = existing[bad]
        status[inv] = STATUS_REMOVED
        removed[ch.INVALID] += len(inv)
        existing = existing[~bad]
        live_acc = acc[status[acc_rows] == STATUS_IN_DTKS]
        seq = np.concatenate([existing, row[live_acc]])
        dup = np.zeros(len(seq), dtype=bool)
        for name in ("nik", "kk"):
            vals = registry[name][seq]
            order = np.argsort(vals, kind="stable")  # seq is already in the §2.6 order
            loses = np.empty(len(seq), dtype=bool)
            loses[order] = ~_last_in_group(vals[order])
            dup |= loses
        drows = seq[dup]
        status[drows] = STATUS_REMOVED
        removed[ch.DUPLICATE] += len(drows)
    else:
        live = acc_rows[status[acc_rows] == STATUS_IN_DTKS]
        if len(live):
            hit = (_member_mask(registry["nik"], registry["nik"][live])
                   | _member_mask(registry["kk"], registry["kk"][live]))
            hit &= status == STATUS_IN_DTKS
            hit[live] = False
            drows = np.flatnonzero(hit)
            status[drows] = STATUS_REMOVED
            removed[ch.DUPLICATE] += len(drows)
    for code, name in ch.REMOVAL_REASONS.items():
        res.removed[name] = int(removed[code])
    for code, name in ch.REJECT_REASONS.items():
        res.rejected[name] = int(np.count_nonzero(reason == code))
    lap("dedupe")

    # programmes before this decree (removed rows keep their bits until selection)
    if prev_prog is None:
        prev_prog = registry["programmes"].copy()

    # 2.7 national deciles
    dtks_rows = np.flatnonzero(status == STATUS_IN_DTKS)
    order = _rank(registry, dtks_rows)
    big_n = len(order)
    desil = registry["desil"]
    desil[:] = 0
    desil[order] = (1 + (10 * np.arange(big_n, dtype=np.int64)) // max(big_n, 1)).astype(np.int8)
    res.dtks = big_n
    res.desil_counts = np.bincount(desil[order], minlength=11)[1:11].tolist()
    lap("rank")

    # 2.8-2.9 eligibility and recipients, grouped by kab/kota in poverty order
    kab = registry["kabkota"]
    g = order[np.argsort(kab[order], kind="stable")]
    kab_g = kab[g].astype(np.int64)
    umr_g = registry["earns_umr"][g]
    desil_g = desil[g]
    qual_g = np.zeros(len(g), dtype=bool)
    for name in _MEMBERS:
        qual_g |= registry[name][g] > 0
    new_prog = np.zeros(n, dtype=np.uint8)
    for p, bit in enumerate(PROG_BITS):
        pname = PROGRAMMES[p]
        held_all = (prev_prog & bit) != 0
        elig_g = np.asarray(params.eligible_desil[p], dtype=bool)[desil_g]
        if params.umr_excludes & bit:
            elig_g &= ~umr_g
        if p == PKH:
            elig_g &= qual_g
        held_g = held_all[g]
        k_flag = held_g & elig_g
        c_flag = elig_g & ~held_g
        q_g = quota[p][kab_g]
        ck = _grouped_cumcount(k_flag, kab_g)
        keep = k_flag & (ck <= q_g)
        n_k = np.bincount(kab_g[k_flag], minlength=quota.shape[1])
        vac = quota[p] - np.minimum(n_k, quota[p])
        cc = _grouped_cumcount(c_flag, kab_g)
        enter = c_flag & (cc <= vac[kab_g])
        chosen = g[keep | enter]
        new_prog[chosen] |= bit
        res.entered[pname] = int(np.count_nonzero(enter))
        res.left[pname]["quota"] = int(np.count_nonzero(k_flag & ~keep))
        # exits of previous holders that are not kept, by first reason
        lost_g = held_g & ~elig_g
        left = res.left[pname]
        umr_lost = lost_g & umr_g & bool(params.umr_excludes & bit)
        left["umr"] = int(np.count_nonzero(umr_lost))
        rest = lost_g & ~umr_lost
        if p == PKH:
            nq = rest & ~qual_g
            left["no_qualifying_member"] = int(np.count_nonzero(nq))
            rest &= qual_g
        left["desil"] = int(np.count_nonzero(rest))
        left["removed"] = int(np.count_nonzero(held_all & (status != STATUS_IN_DTKS)))
        res.recipients[pname] = len(chosen)
        res.entitlement_total[pname] = _entitlement_total(registry, p, chosen, params)
    registry["programmes"][:] = new_prog
    lap("select")
    res.timings = timings
    if state is not None:
        state.verified = True
        state.params_fingerprint = fp
        state.last = res
    return res


def _entitlement_total(registry: Registry, p: int, rows: np.ndarray, params: Params) -> int:
    """Sum of the per-payment entitlement of programme `p` over `rows` (§2.10)."""
    from sim.disburse import entitlements

    if len(rows) == 0:
        return 0
    return int(entitlements(registry, p, rows, params).sum(dtype=np.int64))


def check_input(registry: Registry) -> None:
    """Raise `InputError` if the registry cannot be ranked (more than 2^32 rows)."""
    if len(registry) >= 1 << 32:
        raise InputError("registry too large: at most 2^32 - 1 rows")
