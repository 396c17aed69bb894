"""The monthly penetapan, vectorized: no Python loop over households.

docs/monthly.md is the specification and `sim.hotpath.reference.run_month` its one-record-at-a-time
twin.
`run_month(registry, changes, params, period, state)` applies one decree to the registry in place
and returns a `MonthResult` of counters. The caller (the SimPy flow model on decree days, the
benchmarks) keeps one `MonthlyState` per registry between months: with it, a month re-checks only
what can have changed (the records of the batch and the rows they collide with), ranks deciles
from a score histogram kept up to date by the changed rows, and skips the work altogether when
the batch is empty and the params are unchanged (the last decree stands).

Money never passes through here; `sim.hotpath.disburse` credits what this decides.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from kks_emulator.errors import InputError
from sim.hotpath import changes as ch
from sim.hotpath.keyindex import KeyIndex
from sim.hotpath.members import member_stats
from sim.hotpath.validity import records_valid
from sim.params import PBI, PKH, PROG_BITS, PROGRAMMES, Params
from sim.registry.nik import nik_reasons
from sim.registry.table import (
    RANKED_STATUSES,
    STATUS_BARRED,
    STATUS_DIED,
    STATUS_IN_DTKS,
    STATUS_REMOVED,
    Registry,
    pbi_persons_at,
)

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


#: score bins of the histogram ranking; the last value marks "not ranked" (§2.7)
N_BINS = 1 << 16
OUT_BIN = N_BINS - 1
#: coarse bins per kab/kota for choosing vacancies (fine bin >> COARSE_SHIFT)
COARSE_SHIFT = 6
N_COARSE = N_BINS >> COARSE_SHIFT
#: rows per block of the whole-registry passes (keeps temporaries in cache)
BLOCK = 1 << 18
assert BLOCK * 255 < 1 << 32  # per-block sums of a uint8 column fit a uint32
#: rows per block of a full decree's whole-registry passes, shared by two threads
FULL_BLOCK = 1 << 20
#: at most this many runs of equal kab/kota: `_select` counts kept rows per run in Python
FEW_RUNS = 1 << 12


@dataclass
class MonthlyState:
    """What the engine keeps between decrees of one registry (see the module docstring).

    `bins[i]` is row i's score bin (a monotone function of `pmt_score`, fixed at the first
    decree) or `OUT_BIN` when not ranked (neither in DTKS nor barred, §2.7); `hist` counts the
    ranked rows per bin; `qual` says whether the
    household has a PKH-qualifying member and `pkh_pay` its PKH amount per payment (in units of
    `pkh_unit` rupiah, see `pkh_scale`). All are
    updated from the rows a decree touches; `invalidate()` forces a full rebuild.
    """

    verified: bool = False
    params_fingerprint: str = ""
    last: MonthResult | None = None
    lo: float = 0.0
    scale: float = 1.0
    bins: np.ndarray | None = field(default=None, repr=False)
    hist: np.ndarray | None = field(default=None, repr=False)
    qual: np.ndarray | None = field(default=None, repr=False)
    pkh_pay: np.ndarray | None = field(default=None, repr=False)
    pkh_unit: int = 1
    #: starts of the runs of equal `kabkota` (rows are grouped by desa, hence by kab/kota)
    runs: np.ndarray | None = field(default=None, repr=False)
    #: DTKS rows by NIK and by KK, for the collision check of accepted records (§2.6)
    nik_index: KeyIndex | None = field(default=None, repr=False)
    kk_index: KeyIndex | None = field(default=None, repr=False)

    def invalidate(self) -> None:
        """Forget everything: the next decree re-checks every row (after direct column writes)."""
        self.verified = False
        self.params_fingerprint = ""
        self.last = None
        self.bins = self.hist = self.qual = self.pkh_pay = self.runs = None
        self.nik_index = self.kk_index = None

    def bin_of(self, score: np.ndarray) -> np.ndarray:
        """Score bins 0..N_BINS-2 (monotone non-decreasing in the score; NaN in bin 0).

        float32 arithmetic: each step is correctly rounded, hence monotone, and bins only
        speed the ranking up (ties and order inside a bin are resolved exactly).
        """
        x = np.asarray(score, dtype=np.float32) - np.float32(self.lo)
        x *= np.float32(self.scale)
        np.fmax(x, np.float32(0), out=x)  # fmax/fmin drop NaN: NaN -> 0, +inf -> the top bin
        np.fmin(x, np.float32(OUT_BIN - 1), out=x)
        return x.astype(np.uint16)


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
    """For records `idx` (ascending) with `keys`: True where a later record has the same key.

    An unstable argsort groups equal keys (a stable one is 6x slower on 64-bit keys); within a
    group only the record at the highest position survives.
    """
    m = len(keys)
    loses = np.zeros(m, dtype=bool)
    if m < 2:
        return loses
    o = np.argsort(keys)
    ks = keys[o]
    starts = np.flatnonzero(np.concatenate([[True], ks[1:] != ks[:-1]]))
    if len(starts) == m:
        return loses
    last = np.maximum.reduceat(o, starts)
    loses[o] = o != np.repeat(last, np.diff(np.append(starts, m)))
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


def _grouped_cumcount(flags: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """1-based running count of `flags` within runs of equal `groups` (already grouped)."""
    c = np.cumsum(flags, dtype=np.int64)
    if len(groups) == 0:
        return c
    first = np.flatnonzero(np.concatenate([[True], groups[1:] != groups[:-1]]))
    before = np.where(first > 0, c[first - 1], 0)
    lengths = np.diff(np.append(first, len(groups)))
    return c - np.repeat(before, lengths)


def _poverty_order(registry: Registry, rows: np.ndarray, *groups: np.ndarray) -> np.ndarray:
    """`rows` sorted by (groups..., pmt_score, row): the order of §2.7 within each group."""
    key = score_key(registry["pmt_score"][rows])
    return rows[np.lexsort((rows, key, *reversed(groups)))]


def _blocks(n: int, block: int = BLOCK):
    """(lo, hi) ranges covering 0..n in blocks."""
    for lo in range(0, n, block):
        yield lo, min(lo + block, n)


def ranked(status: np.ndarray) -> np.ndarray:
    """True for rows ranked in the national deciles (§2.7): in the register, or barred from the
    programmes in the DTSEN era (`STATUS_BARRED`: a family of the population, which DTSEN ranks
    in full [DTSEN-2025-07]); `RANKED_STATUSES` names them for both engines."""
    out = status == RANKED_STATUSES[0]
    for s in RANKED_STATUSES[1:]:
        out |= status == s
    return out


def pkh_scale(params: Params) -> tuple[int, np.dtype]:
    """(unit, dtype) to store PKH amounts per payment as `units * unit` in a small integer.

    With the default amounts (multiples of Rp 100,000, paid quarterly) every amount per payment
    is a multiple of Rp 25,000 and fits a uint16 count of units; otherwise unit 1 and int32.
    """
    import math

    amounts = params.pkh_amounts()
    g = math.gcd(*amounts) or 1
    bound = params.pkh_max_components * max(amounts) // g
    if (g * params.pkh_every) % 12 == 0 and bound < 1 << 16:
        return g * params.pkh_every // 12, np.dtype(np.uint16)
    return 1, np.dtype(np.int32)


def _member_stats(registry: Registry | dict[str, np.ndarray], rows: slice | np.ndarray,
                  params: Params) -> tuple[np.ndarray, np.ndarray]:
    """(has a PKH-qualifying member, PKH amount per payment in `pkh_scale` units) for `rows`
    of the registry, or of a dict of member-count columns."""
    unit, dtype = pkh_scale(params)
    return member_stats({m: registry[m][rows] for m in _MEMBERS}, params, unit, dtype)


def _parallel(fn, items: list) -> list:
    """`[fn(x) for x in items]` on two threads (numpy releases the GIL in its loops; the
    machine and the DuckDB peer have two cores). Results in the order of `items`."""
    if len(items) < 2:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(fn, items))


def _build_state(st: MonthlyState, registry: Registry, params: Params, score_range: tuple,
                 nik_index: KeyIndex, kk_index: KeyIndex) -> None:
    """Bins, histogram and member caches for every row (a full decree); the indexes are
    built by the caller, `score_range` is (min, max) of the ranked scores (any bounds keep the
    bins monotone)."""
    n = len(registry)
    status = registry["status"]
    score = registry["pmt_score"]
    lo_s, hi_s = score_range
    st.lo = lo_s if np.isfinite(lo_s) else 0.0
    st.scale = (OUT_BIN - 1) / (hi_s - lo_s) if hi_s > lo_s else 1.0
    st.bins = np.empty(n, dtype=np.uint16)
    st.qual = np.empty(n, dtype=bool)
    st.pkh_unit, dtype = pkh_scale(params)
    st.pkh_pay = np.empty(n, dtype=dtype)

    def block(bounds: tuple[int, int]) -> np.ndarray:
        lo, hi = bounds
        for a in range(lo, hi, 1 << 16):  # float32 temporaries that stay in cache
            b = st.bin_of(score[a:min(a + (1 << 16), hi)])
            b[~ranked(status[a:a + len(b)])] = OUT_BIN
            st.bins[a:a + len(b)] = b
        b = st.bins[lo:hi]
        st.qual[lo:hi], st.pkh_pay[lo:hi] = _member_stats(registry, slice(lo, hi), params)
        return np.bincount(b, minlength=N_BINS)

    st.hist = np.sum(_parallel(block, list(_blocks(n, FULL_BLOCK))), axis=0, dtype=np.int64) \
        if n else np.zeros(N_BINS, dtype=np.int64)
    st.hist[OUT_BIN] = 0
    kab = registry["kabkota"]
    st.runs = np.concatenate([[0], np.flatnonzero(kab[1:] != kab[:-1]) + 1]) if n else None
    st.nik_index, st.kk_index = nik_index, kk_index


def _full_existing(registry: Registry, acc_rows: np.ndarray, live: np.ndarray,
                   removed: np.ndarray, timings: dict[str, float]
                   ) -> tuple[np.ndarray, tuple, KeyIndex, KeyIndex]:
    """§2.6 over every existing row (a full decree): rows failing a record check and rows
    losing to a later duplicate are removed; a barred row failing a record check leaves the
    ranking (`STATUS_REMOVED`, not counted again). Returns (the duplicate rows, (min, max) score of
    the valid rows, the NIK and KK indexes over the rows still in DTKS before the duplicate
    removal: losers stay in them as stale entries, which lookups drop by status).

    The indexes' sort by hash doubles as the duplicate search: only rows whose hash is shared
    are compared exactly, in the order "existing rows by row number, then accepted rows by
    batch position". Adds `full_checks`, `full_index` and `full_duplicates` seconds (parts of
    the dedupe step) to `timings`.
    """
    t0 = time.perf_counter()
    n = len(registry)
    status = registry["status"]
    acc_sorted = np.sort(acc_rows)
    cols = [registry[c] for c in ("nik", "kk", "dukcapil_match", "pmt_score")]

    def check(bounds: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, float, float,
                                                np.ndarray]:
        lo, hi = bounds
        m = status[lo:hi] == STATUS_IN_DTKS
        a, b = np.searchsorted(acc_sorted, [lo, hi])
        m[acc_sorted[a:b] - lo] = False
        idx = np.flatnonzero(m) + lo
        ok = records_valid(*(c[idx] for c in cols))
        good = idx[ok].astype(np.int32)  # rows < 2^31 (checked by run_month): half the bytes
        # barred rows are ranked too: an invalid one leaves the ranking (counted when barred)
        bar = np.flatnonzero(status[lo:hi] == STATUS_BARRED) + lo
        bok = records_valid(*(c[bar] for c in cols)) if len(bar) else np.zeros(0, dtype=bool)
        sc = np.concatenate([cols[3][good], cols[3][bar[bok]]])
        return good, idx[~ok], (float(sc.min()) if len(sc) else np.inf), \
            (float(sc.max()) if len(sc) else -np.inf), bar[~bok]

    parts = _parallel(check, list(_blocks(n, FULL_BLOCK)))
    inv = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    status[inv] = STATUS_REMOVED
    removed[ch.INVALID] += len(inv)
    for p in parts:
        status[p[4]] = STATUS_REMOVED
    lo_s = min([p[2] for p in parts] + [np.inf])
    hi_s = max([p[3] for p in parts] + [-np.inf])
    if len(live):
        sl = registry["pmt_score"][live]
        lo_s, hi_s = min(lo_s, float(sl.min())), max(hi_s, float(sl.max()))
    seq = np.concatenate([p[0] for p in parts] + [live.astype(np.int32)])
    del parts
    t1 = time.perf_counter()
    nik_index, kk_index = _parallel(lambda c, rows=seq: KeyIndex(registry[c], rows, n),
                                    ["nik", "kk"])
    del seq
    t2 = time.perf_counter()
    # order key of §2.6: existing rows by row number, accepted rows after them by position
    live_order = np.argsort(live, kind="stable")
    live_sorted = live[live_order]
    losers = []
    for name, index in (("nik", nik_index), ("kk", kk_index)):
        cand = index.shared_rows()
        if len(cand) == 0:
            continue
        pos = np.minimum(np.searchsorted(live_sorted, cand), max(len(live) - 1, 0))
        is_live = (live_sorted[pos] == cand) if len(live) else np.zeros(len(cand), bool)
        key = np.where(is_live, n + live_order[pos] if len(live) else 0, cand)
        o = np.argsort(key, kind="stable")
        cand = cand[o]
        losers.append(cand[_later_wins(cand, registry[name][cand])])
    drows = np.sort(np.concatenate(losers)) if losers else np.zeros(0, dtype=np.int64)
    drows = drows[_last_in_group(drows)]
    t3 = time.perf_counter()
    timings.update(full_checks=t1 - t0, full_index=t2 - t1, full_duplicates=t3 - t2)
    return drows, (lo_s, hi_s), nik_index, kk_index


def _update_state(st: MonthlyState, registry: Registry, params: Params, touched: np.ndarray,
                  acc_rows: np.ndarray, acc_values: dict[str, np.ndarray],
                  fingerprint: str) -> None:
    """Bring bins, histogram and member caches up to date for the rows a decree touched
    (`acc_values`: the columns just written to the accepted rows `acc_rows`)."""
    if len(touched):
        t = np.sort(touched)
        t = t[_last_in_group(t)]
        old = st.bins[t]
        new = st.bin_of(registry["pmt_score"][t])
        new[~ranked(registry["status"][t])] = OUT_BIN
        st.hist += np.bincount(new, minlength=N_BINS) - np.bincount(old, minlength=N_BINS)
        st.hist[OUT_BIN] = 0
        st.bins[t] = new
    if fingerprint != st.params_fingerprint:
        st.pkh_unit, dtype = pkh_scale(params)
        if st.pkh_pay.dtype != dtype:
            st.pkh_pay = np.empty(len(registry), dtype=dtype)
        for lo, hi in _blocks(len(registry), 1 << 20):
            st.qual[lo:hi], st.pkh_pay[lo:hi] = _member_stats(registry, slice(lo, hi), params)
    elif len(acc_rows):
        st.qual[acc_rows], st.pkh_pay[acc_rows] = _member_stats(acc_values, slice(None),
                                                                params)


def _deciles(registry: Registry, st: MonthlyState,
             weight: np.ndarray | None = None) -> tuple[int, list[int]]:
    """Write `desil` for every row from the histogram (§2.7); exact sort only in boundary bins.

    With *weight* (`Params.desil_weight`, per kab/kota) a household's position is the summed
    weight of the households ranked before it, out of the register's total weight."""
    hist = st.hist
    big_n = int(hist.sum())
    desil = registry["desil"]
    if big_n == 0:
        desil[:] = 0
        return 0, [0] * 10
    if weight is not None:
        return big_n, _weighted_deciles(registry, st, weight)
    cum = np.cumsum(hist)
    first = cum - hist  # 0-based position of the first row of each bin
    d_first = 1 + (10 * first) // big_n
    d_last = 1 + (10 * (cum - 1)) // big_n
    lut = np.where(hist == 0, 0, np.where(d_first == d_last, d_first, -1)).astype(np.int8)
    lut[OUT_BIN] = 0
    bins = st.bins
    boundary = []
    for lo, hi in _blocks(len(desil)):
        d = np.take(lut, bins[lo:hi])
        desil[lo:hi] = d
        b = np.flatnonzero(d < 0)
        if len(b):
            boundary.append(b + lo)
    if boundary:
        rows = np.concatenate(boundary)
        rows = _poverty_order(registry, rows, bins[rows])
        rb = bins[rows]
        pos = first[rb] + _grouped_cumcount(np.ones(len(rows), dtype=bool), rb) - 1
        desil[rows] = 1 + (10 * pos) // big_n
    counts = [(d * big_n + 9) // 10 - ((d - 1) * big_n + 9) // 10 for d in range(1, 11)]
    return big_n, counts


def _weighted_deciles(registry: Registry, st: MonthlyState, weight: np.ndarray) -> list[int]:
    """`_deciles` with a weight per kab/kota: the weighted histogram is summed afresh (one pass
    over the registry; exact in float64 while the total stays below 2^53), boundary bins are
    sorted exactly as unweighted. Returns the households per decile."""
    desil = registry["desil"]
    w = weight[registry["kabkota"].astype(np.int64)]
    hist = np.rint(np.bincount(st.bins, weights=w, minlength=N_BINS)).astype(np.int64)
    hist[OUT_BIN] = 0
    total = int(hist.sum())
    cum = np.cumsum(hist)
    first = cum - hist  # weight ranked before each bin
    d_first = 1 + (10 * first) // total
    d_last = 1 + (10 * (cum - 1)) // total  # no household of the bin starts later than this
    lut = np.where(hist == 0, 0, np.where(d_first == d_last, d_first, -1)).astype(np.int8)
    lut[OUT_BIN] = 0
    desil[:] = np.take(lut, st.bins)
    rows = np.flatnonzero(desil.view(np.int8) < 0)
    if len(rows):
        rows = _poverty_order(registry, rows, st.bins[rows])
        rb = st.bins[rows]
        wr = w[rows]
        pos = first[rb] + _grouped_cumcount(wr, rb) - wr
        desil[rows] = 1 + (10 * pos) // total
    return np.bincount(desil, minlength=11)[1:11].astype(np.int64).tolist()


def _select(registry: Registry, st: MonthlyState, params: Params, quota: np.ndarray,
            res: MonthResult) -> None:
    """Recipients per programme and kab/kota (§2.8-2.9), entitlement totals (§2.10).

    One blocked pass in row order computes, per programme, who keeps the programme (held and
    still eligible), the count kept per kab/kota, the candidates (eligible, not held) and the
    exits; vacancies are then filled from the candidates with a (kab/kota x coarse score bin)
    histogram, sorting exactly only the candidates in each kab/kota's threshold bin.
    """
    n = len(registry)
    n_kab = quota.shape[1]
    status = registry["status"]
    desil = registry["desil"].view(np.uint8)
    prev = registry["programmes"]
    earn = registry["earns_umr"]
    kab = registry["kabkota"]
    # PBI-JK persons per household (`pbi_persons`): the weight of PBI-JK's persons quota
    pbi_w = pbi_persons_at(registry)
    qual = st.qual
    pkh_pay = st.pkh_pay
    # eligibility of all three programmes as one bit mask per row: desil -> bits, then the UMR
    # rule and the PKH qualifying member clear bits
    lut3 = np.zeros(256, dtype=np.uint8)
    for p, bit in enumerate(PROG_BITS):
        lut3[:11] |= np.where(params.eligible_desil[p], bit, 0).astype(np.uint8)
    # a standing list (its programme not decreed now): every register row (desil 1..10) is
    # "eligible", no rule clears it, and no row is a candidate
    stand = np.uint8(params.standing & 7)
    lut3[1:11] |= stand
    umr_mask = np.uint8(params.umr_excludes & 7 & ~params.standing)
    umr_hits = [bool(params.umr_excludes & bit) and not params.standing & bit
                for bit in PROG_BITS]
    qual_keep = np.uint8(0xFD | (stand & 2))
    not_stand = np.uint8(~stand & 0xFF)
    # kept bits -> three 21-bit counters in one uint64, so one reduceat counts all programmes
    pack = np.zeros(8, dtype=np.uint64)
    for v in range(8):
        pack[v] = (v & 1) | ((v >> 1) & 1) << 21 | ((v >> 2) & 1) << 42
    m21 = np.uint64((1 << 21) - 1)
    new_prog = np.empty(n, dtype=np.uint8)
    kept_k = np.zeros((3, n_kab), dtype=np.int64)
    cands: list[list[np.ndarray]] = [[], [], []]
    sums = [0, 0, 0]  # kept: count (BPNT), PKH pay units, PBI persons
    exits = np.zeros((3, len(ch.EXIT_REASONS) + 1), dtype=np.int64)
    runs = st.runs if st.runs is not None and len(st.runs) <= n // 8 + 1 else None
    # with few runs (the real frame has 514 kab/kota) a Python loop over runs is cheap
    few_runs = runs is not None and len(runs) <= FEW_RUNS
    pay_acc = np.uint64 if pkh_pay.dtype.kind == "u" else np.int64
    kept_l = [[0] * n_kab for _ in range(3)]
    # barred rows (DTSEN era) have a decile but no programme: only then a status pass per block
    barred_any = bool(np.any(status == STATUS_BARRED))
    for lo, hi in _blocks(n):
        pr = prev[lo:hi]
        e = np.take(lut3, desil[lo:hi])
        if barred_any:
            e[status[lo:hi] == STATUS_BARRED] = 0
        if umr_mask:
            e &= ~(earn[lo:hi].view(np.uint8) * umr_mask)
        e &= (qual[lo:hi].view(np.uint8) << np.uint8(1)) | qual_keep
        keep = pr & e
        new_prog[lo:hi] = keep
        kbits = [keep & np.uint8(bit) for bit in PROG_BITS]
        if runs is not None:  # runs of one kab/kota inside this block
            i0 = int(np.searchsorted(runs, lo, side="right")) - 1
            i1 = int(np.searchsorted(runs, hi, side="left"))
            seg = np.maximum(runs[i0:i1], lo) - lo
            seg_kab = kab[seg + lo].astype(np.int64)
            if few_runs:  # count each run's kept bits directly (no int64 temporaries)
                bounds = [*seg.tolist(), hi - lo]
                for j, k in enumerate(seg_kab.tolist()):
                    a, b = bounds[j], bounds[j + 1]
                    for p in range(3):
                        kept_l[p][k] += int(np.count_nonzero(kbits[p][a:b]))
            else:
                packed = np.add.reduceat(np.take(pack, keep), seg)
                for p in range(3):
                    np.add.at(kept_k[p], seg_kab,
                              ((packed >> np.uint64(21 * p)) & m21).astype(np.int64))
        else:
            kb = kab[lo:hi]
            for p in range(3):
                kept_k[p] += np.bincount(kb[kbits[p] != 0], minlength=n_kab)
        sums[0] += int(np.count_nonzero(kbits[0]))
        sums[1] += int((pkh_pay[lo:hi] * ((keep >> np.uint8(1)) & np.uint8(1))).sum(
            dtype=pay_acc))
        # uint8 persons of at most BLOCK rows: a uint32 accumulator is exact and faster
        sums[2] += int((pbi_w[lo:hi] * (keep >> np.uint8(2))).sum(dtype=np.uint32))
        cand = e & ~pr & not_stand
        c_idx = np.flatnonzero(cand != 0)  # nonzero of a bool array: much faster than uint8
        if len(c_idx):
            cb = cand[c_idx]
            for p, bit in enumerate(PROG_BITS):
                mine = c_idx[(cb & bit) != 0]
                if len(mine):
                    cands[p].append((mine + lo).astype(np.int32))
        lost = pr & ~e
        l_idx = np.flatnonzero((lost & np.uint8(7)) != 0)
        if len(l_idx):
            lb = lost[l_idx]
            for p, bit in enumerate(PROG_BITS):
                mine = l_idx[(lb & bit) != 0]
                if len(mine):
                    _count_exits(exits[p], mine + lo, status, earn, qual, umr_hits[p], p == PKH)

    if few_runs:
        kept_k += np.array(kept_l, dtype=np.int64)
    for p, bit in enumerate(PROG_BITS):
        pname = PROGRAMMES[p]
        q = quota[p]
        n_k = kept_k[p]
        # PBI-JK's quota counts persons (its source's unit, [PROG-2022]): a household weighs its
        # PBI-JK persons, the others one each; households are still counted alongside (recipients)
        persons = p == PBI
        if persons:
            held = np.flatnonzero(new_prog & np.uint8(bit))
            w_k = np.bincount(kab[held], weights=pbi_w[held],
                              minlength=n_kab).astype(np.int64)
        else:
            w_k = n_k
        over = w_k > q
        if over.any() and not params.standing & bit:  # a standing list has no quota now
            rows = _kept_rows(registry, st, params, p, over)
            rows = _poverty_order(registry, rows, kab[rows])
            weight = pbi_w[rows] if persons else np.ones(len(rows), dtype=bool)
            rank_k = _grouped_cumcount(weight, kab[rows])
            drop = rows[rank_k > q[kab[rows]]]
            new_prog[drop] &= np.uint8(~bit & 0xFF)
            res.left[pname]["quota"] = len(drop)
            sums[p] -= _amount(p, drop, pbi_w, pkh_pay)
            if persons:
                n_k = n_k - np.bincount(kab[drop], minlength=n_kab)
                w_k = w_k - np.bincount(kab[drop], weights=pbi_w[drop],
                                        minlength=n_kab).astype(np.int64)
            else:
                n_k = w_k = np.minimum(n_k, q)
        # a kab/kota over its quota only drops holders: nobody enters it at this decree
        vac = np.where(over, 0, q - w_k)
        # candidates as int32 rows and int16 kab/kota: on a first decree they are most of the
        # eligible rows, so no int64 copies of them
        cand = np.concatenate(cands[p]) if cands[p] else np.zeros(0, dtype=np.int32)
        cands[p] = []
        ck = kab[cand]
        if persons:
            c_k = np.bincount(ck, weights=pbi_w[cand], minlength=n_kab).astype(np.int64)
        elif runs is not None:  # rows of one kab/kota are runs: count candidates per run
            c_k = np.zeros(n_kab, dtype=np.int64)
            np.add.at(c_k, kab[runs].astype(np.int64),
                      np.diff(np.searchsorted(cand, np.append(runs, n))))
        else:
            c_k = np.bincount(ck, minlength=n_kab)
        take_all = vac >= c_k
        enter = [cand[take_all[ck]]]
        part = (vac > 0) & ~take_all
        if part.any():
            # the poorest candidates whose total (households, or persons for PBI-JK) fits the
            # vacancy: whole coarse score bins below the threshold bin, then a prefix of it
            sel = part[ck]
            pc, pk = cand[sel], ck[sel].astype(np.int64)
            cb = (st.bins[pc] >> COARSE_SHIFT).astype(np.int64)
            h2 = np.bincount(pk * N_COARSE + cb, weights=pbi_w[pc] if persons else None,
                             minlength=n_kab * N_COARSE).astype(np.int64)
            cum2 = np.cumsum(h2.reshape(n_kab, N_COARSE), axis=1)
            t = np.argmax(cum2 >= vac[:, None], axis=1)
            below = np.where(t > 0, cum2[np.arange(n_kab), np.maximum(t - 1, 0)], 0)
            tk = t[pk]
            enter.append(pc[cb < tk])
            border = pc[cb == tk]
            border = _poverty_order(registry, border, kab[border])
            kb = kab[border]
            r = _grouped_cumcount(pbi_w[border] if persons
                                  else np.ones(len(border), dtype=bool), kb)
            enter.append(border[r <= (vac - below)[kb]])
        entering = np.concatenate(enter)
        new_prog[entering] |= np.uint8(bit)
        sums[p] += _amount(p, entering, pbi_w, pkh_pay)
        res.entered[pname] = len(entering)
        res.recipients[pname] = int(n_k.sum()) + len(entering)
        left = res.left[pname]
        for code, name in ch.EXIT_REASONS.items():
            if code != ch.EXIT_QUOTA:
                left[name] = int(exits[p][code])
    res.entitlement_total = {
        "bpnt": sums[0] * params.bpnt_monthly * params.bpnt_every,
        "pkh": sums[1] * st.pkh_unit,
        "pbi": sums[2] * params.pbi_premium * params.pbi_every,
    }
    registry["programmes"][:] = new_prog


def _amount(p: int, rows: np.ndarray, pbi_w: np.ndarray, pkh_pay: np.ndarray) -> int:
    """The quantity summed per programme in `_select`: count, PKH pay, or PBI-JK persons."""
    if p == PKH:
        return int(pkh_pay[rows].sum(dtype=np.int64))
    if p == 2:
        return int(pbi_w[rows].sum(dtype=np.int64))
    return len(rows)


def _count_exits(out: np.ndarray, rows: np.ndarray, status: np.ndarray, earn: np.ndarray,
                 qual: np.ndarray, umr_hit: bool, pkh: bool) -> None:
    """Add the first exit reason (§2.9) of previous holders `rows` that lost eligibility."""
    ins = status[rows] == STATUS_IN_DTKS
    out[ch.EXIT_REMOVED] += int(np.count_nonzero(~ins))
    umr = ins & earn[rows] if umr_hit else np.zeros(len(rows), dtype=bool)
    out[ch.EXIT_UMR] += int(np.count_nonzero(umr))
    rest = ins & ~umr
    if pkh:
        nq = rest & ~qual[rows]
        out[ch.EXIT_NO_MEMBER] += int(np.count_nonzero(nq))
        rest &= ~nq
    out[ch.EXIT_DESIL] += int(np.count_nonzero(rest))


def _kept_rows(registry: Registry, st: MonthlyState, params: Params, p: int,
               over: np.ndarray) -> np.ndarray:
    """Rows of the kab/kota flagged `over` that held programme `p` and are still eligible."""
    bit = PROG_BITS[p]
    out = []
    desil = registry["desil"].view(np.uint8)
    lut = np.zeros(256, dtype=bool)
    lut[:11] = params.eligible_desil[p]
    for lo, hi in _blocks(len(registry)):
        e = lut[desil[lo:hi]] & over[registry["kabkota"][lo:hi]]
        e &= registry["status"][lo:hi] == STATUS_IN_DTKS  # a barred row is ranked, not eligible
        e &= (registry["programmes"][lo:hi] & bit).astype(bool)
        if params.umr_excludes & bit:
            e &= ~registry["earns_umr"][lo:hi]
        if p == PKH:
            e &= st.qual[lo:hi]
        out.append(np.flatnonzero(e) + lo)
    return np.concatenate(out)


def run_month(registry: Registry, changes: ch.ChangeBatch, params: Params, period: int,
              state: MonthlyState | None = None) -> MonthResult:
    """One penetapan of `period` (docs/monthly.md §2): updates `registry` in place.

    `state` (kept by the caller between months, one per registry) lets the engine check and
    re-rank only what changed; with `None`, or on its first use, every row is checked.
    Returns the counters; `timings` holds seconds per step (validate, dedupe, rank, select).
    """
    from sim.hotpath.disburse import check_period

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
    if n >= 1 << 31:
        raise InputError("registry too large: at most 2^31 - 1 rows")
    changes.check_rows(n)
    res = empty_result(period)
    if period % params.cadence_months != 0:
        res.decree = False
        res.deferred = changes
        return res
    fp = params.fingerprint()
    st = state if state is not None else MonthlyState()
    if st.verified and st.last is not None and len(changes) == 0 and st.params_fingerprint == fp:
        last = st.last
        res.dtks = last.dtks
        res.desil_counts = list(last.desil_counts)
        res.recipients = dict(last.recipients)
        res.entitlement_total = dict(last.entitlement_total)
        res.timings = {"unchanged": time.perf_counter() - t}
        return res
    full = not st.verified or st.bins is None or len(st.bins) != n
    if full:
        st.invalidate()

    status = registry["status"]
    kind = changes["kind"]
    row = changes["row"]
    reason = np.zeros(len(changes), dtype=np.uint8)
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
    acc_rows = row[acc]
    acc_values: dict[str, np.ndarray] = {}  # what was written to acc_rows (no re-gathers)
    # per NIK / KK: the accepted row was in DTKS before the batch with this same number (read
    # just before the write, so it costs no extra cache misses)
    kept_key: dict[str, np.ndarray] = {}
    was_in = status[acc_rows] == STATUS_IN_DTKS
    for name in ch.DATA_COLUMNS:
        values = changes[name][acc]
        if name == "pmt_score":
            values = values + np.float32(0.0)
        if name in ("nik", "kk") and not full:
            kept_key[name] = was_in & (registry[name][acc_rows] == values)
        registry[name][acc_rows] = values
        acc_values[name] = values
    status[acc_rows] = STATUS_IN_DTKS
    for code, name in ch.KINDS.items():
        if code != ch.REMOVE:
            res.accepted[name] = int(np.count_nonzero(kind[acc] == code))
    removed = np.zeros(len(ch.REMOVAL_REASONS) + 1, dtype=np.int64)
    touched = [acc_rows]
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
        # DTSEN era: removed by a request other than death, still ranked (STATUS_BARRED)
        why = changes["reason"][rv]
        barring = params.ranks_population & np.isin(why, ch.BARRING_REASONS)
        status[row[rv]] = np.where(barring, STATUS_BARRED,
                                   np.where(why == ch.DIED, STATUS_DIED, STATUS_REMOVED))
        touched.append(row[rv])
    # 2.6 existing rows
    live_m = status[acc_rows] == STATUS_IN_DTKS
    live = acc_rows[live_m]
    if full:
        drows, score_range, nik_index, kk_index = _full_existing(registry, acc_rows, live,
                                                                 removed, timings)
    else:
        # A row that was in DTKS before the batch and keeps its NIK (KK) was the only DTKS
        # row with that number (the invariant above), so only the other accepted rows can
        # collide on it; they are unique (2.3). Such numbers need no lookup, and the index
        # already holds them.
        drows = np.zeros(0, dtype=np.int64)
        hits = []
        for name, index in (("nik", st.nik_index), ("kk", st.kk_index)):
            new_key = ~kept_key[name]
            ask = live_m & new_key
            if ask.any():
                hits.append(index.lookup(acc_values[name][ask], registry[name],
                                         acc_rows[ask]))
            index.add(acc_values[name][new_key], acc_rows[new_key])
        if hits and len(live):
            hit = np.sort(np.concatenate(hits))
            hit = hit[_last_in_group(hit)]
            live_sorted = np.sort(live)
            pos = np.minimum(np.searchsorted(live_sorted, hit), len(live) - 1)
            drows = hit[(live_sorted[pos] != hit) & (status[hit] == STATUS_IN_DTKS)]
    status[drows] = STATUS_REMOVED
    removed[ch.DUPLICATE] += len(drows)
    touched.append(drows)
    for code, name in ch.REMOVAL_REASONS.items():
        res.removed[name] = int(removed[code])
    for code, name in ch.REJECT_REASONS.items():
        res.rejected[name] = int(np.count_nonzero(reason == code))
    if full:
        t_state = time.perf_counter()
        _build_state(st, registry, params, score_range, nik_index, kk_index)
        del nik_index, kk_index
        timings["full_state"] = time.perf_counter() - t_state
    else:
        _update_state(st, registry, params, np.concatenate(touched), acc_rows, acc_values, fp)
    lap("dedupe")

    # 2.7 national deciles
    res.dtks, res.desil_counts = _deciles(registry, st, params.desil_weight)
    lap("rank")
    # 2.8-2.10 eligibility, recipients, entitlements
    _select(registry, st, params, quota, res)
    lap("select")
    res.timings = timings
    st.verified = True
    st.params_fingerprint = fp
    st.last = res
    return res
