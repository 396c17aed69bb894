"""Disbursement, vectorized: credit each recipient once per period, then the month's redemptions.

docs/monthly.md §4 is the specification; `sim.hotpath.reference.disburse` is the
one-record-at-a-time twin. State that is not a registry column lives in a `DisbursementState`:
per programme and household the last period credited (the idempotency key), per household the
last period settled, a resume cursor and the money totals behind the invariants. Rows are
processed in blocks of `BLOCK` rows; within a block every write is computed first and then
stored, so an interruption
(`stop_after_rows`) leaves whole rows either done or untouched, and a rerun or resume never
credits twice.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from kks_emulator.errors import InputError, KksError, LedgerInvariantError
from sim.params import MAX_PERIOD, PBI, PKH, PROG_BITS, PROGRAMMES, Params
from sim.registry.table import Registry, pbi_persons_at

BLOCK = 1 << 17
assert BLOCK * 255 < 1 << 32  # per-block uint8 sums fit a uint32 accumulator
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)


class DisbursementInterrupted(KksError):
    """A disbursement stopped on request after some rows; call `disburse` again to resume."""

    def __init__(self, period: int, cursor: int) -> None:
        self.period = period
        self.cursor = cursor
        super().__init__(f"disbursement of period {period} interrupted at row {cursor}")


def check_period(period: int) -> None:
    """Raise `InputError` unless `0 <= period <= MAX_PERIOD` (the markers are int16)."""
    if isinstance(period, bool) or not isinstance(period, int | np.integer) or not (
            0 <= period <= MAX_PERIOD):
        raise InputError(f"period must be an integer 0..{MAX_PERIOD}, not {period!r}")


def period_key(seed: int, period: int) -> int:
    """The 64-bit key of the redemption draws of `period` (docs/monthly.md §4.2)."""
    ss = np.random.SeedSequence([int(seed), int(period)])
    return int(ss.generate_state(1, dtype=np.uint64)[0])


@dataclass
class PeriodStats:
    """Counters of one period's disbursement (accumulated across a resume)."""

    credits: list[int] = field(default_factory=lambda: [0, 0, 0])
    credited: list[int] = field(default_factory=lambda: [0, 0, 0])
    skipped: list[int] = field(default_factory=lambda: [0, 0, 0])
    withheld: list[int] = field(default_factory=lambda: [0, 0, 0])
    arrears: list[int] = field(default_factory=lambda: [0, 0, 0])
    redeemers: int = 0
    redeemed: int = 0
    returns: int = 0
    returned: int = 0
    days: list[int] = field(default_factory=list)


@dataclass
class DisbursementState:
    """Disbursement state kept between periods (docs/monthly.md §4)."""

    last_credit: np.ndarray  # (3, n) int16: last period credited per programme; -1 never
    last_settled: np.ndarray  # (n,) int16: last period settled; -1 never
    opening_held: int
    funded: list[int] = field(default_factory=lambda: [0, 0, 0])
    credited: list[int] = field(default_factory=lambda: [0, 0, 0])
    redeemed: int = 0
    returned: int = 0
    period: int = -1
    cursor: int = 0
    stats: PeriodStats = field(default_factory=PeriodStats)
    #: (3, n) uint8: due tranches withheld since the last credit, per programme and household
    #: (rapel owed, not funded yet); allocated on the first gated period (`gated`)
    owed: np.ndarray | None = None

    def owed_array(self) -> np.ndarray:
        """The owed-tranches array, allocated (zeros) on first use."""
        if self.owed is None:
            self.owed = np.zeros((3, len(self.last_settled)), dtype=np.uint8)
        return self.owed

    @classmethod
    def open(cls, registry: Registry) -> DisbursementState:
        """A ledger for `registry`: nothing credited yet; opening held = its current balances."""
        n = len(registry)
        bal = registry["balance"]
        if n and bal.min() < 0:
            raise LedgerInvariantError("cannot open a ledger on a negative balance")
        return cls(last_credit=np.full((3, n), -1, dtype=np.int16),
                   last_settled=np.full(n, -1, dtype=np.int16),
                   opening_held=int(bal.sum(dtype=np.int64)))

    def begin(self, period: int, params: Params) -> int:
        """Start or resume `period`: the first row still to process."""
        if period != self.period:
            if period < self.period:
                raise InputError(f"period {period} is before the ledger's period {self.period}")
            self.period = period
            self.cursor = 0
            self.stats = PeriodStats(days=[0] * params.redeem_days)
        return self.cursor


@dataclass
class DisburseResult:
    """What one period's disbursement did, and the state of the money afterwards."""

    period: int
    credits: dict[str, int]
    credited: dict[str, int]
    skipped: dict[str, int]
    withheld: dict[str, int]
    arrears: dict[str, int]
    redeemers: int
    redeemed: int
    returns: int
    returned: int
    redeem_days: list[int]
    held: int
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    def counters(self) -> dict:
        """Every field except timings (for comparing implementations)."""
        return {k: v for k, v in self.__dict__.items() if k != "timings"}


def finish_period(registry: Registry, ledger: DisbursementState, period: int) -> DisburseResult:
    """Check the money invariants (docs/monthly.md §4.4) and summarise the period."""
    bal = registry["balance"]
    held = int(bal.sum(dtype=np.int64))
    if len(bal) and int(bal.min()) < 0:
        raise LedgerInvariantError(f"period {period}: a balance is negative")
    for p in range(3):
        if ledger.funded[p] != ledger.credited[p]:
            raise LedgerInvariantError(
                f"period {period}: {PROGRAMMES[p]} funded {ledger.funded[p]} != credited "
                f"{ledger.credited[p]}")
    into = ledger.opening_held + ledger.credited[0] + ledger.credited[1]
    out = ledger.redeemed + ledger.returned + held
    if into != out:
        raise LedgerInvariantError(
            f"period {period}: opening + credited {into} != redeemed + returned + held {out}")
    st = ledger.stats
    return DisburseResult(
        period=period,
        credits=dict(zip(PROGRAMMES, st.credits, strict=True)),
        credited=dict(zip(PROGRAMMES, st.credited, strict=True)),
        skipped=dict(zip(PROGRAMMES, st.skipped, strict=True)),
        withheld=dict(zip(PROGRAMMES, st.withheld, strict=True)),
        arrears=dict(zip(PROGRAMMES, st.arrears, strict=True)),
        redeemers=st.redeemers, redeemed=st.redeemed, returns=st.returns, returned=st.returned,
        redeem_days=list(st.days), held=held)


def splitmix(key: int, rows: np.ndarray) -> np.ndarray:
    """The uint64 draws of docs/monthly.md §4.2 for int64 `rows` (vectorized splitmix64)."""
    z = rows.astype(np.uint64)
    z *= _GOLDEN
    z += np.uint64(key)
    z ^= z >> np.uint64(30)
    z *= _C1
    z ^= z >> np.uint64(27)
    z *= _C2
    z ^= z >> np.uint64(31)
    return z


class _DrawTables(NamedTuple):
    """The §4.2 functions of each 16-bit field of a draw, tabulated over 0..65535."""

    redeem: np.ndarray  # bool: (x % 10000) < redeem_bp
    full: np.ndarray  # bool: (x % 10000) < full_spend_bp
    share: np.ndarray  # int64: partial_min_bp + (x % 10000) * (10000 - partial_min_bp) // 10000
    day: np.ndarray  # intp: x % redeem_days (0-based day)


@functools.lru_cache(maxsize=8)
def _draw_tables(redeem_bp: int, full_spend_bp: int, partial_min_bp: int,
                 redeem_days: int) -> _DrawTables:
    """Lookup tables for the draws (a 64K-entry table lookup is several times faster than
    numpy's uint64 remainder); read-only."""
    x = np.arange(1 << 16, dtype=np.int64)
    r = x % 10_000
    tabs = _DrawTables(redeem=r < redeem_bp, full=r < full_spend_bp,
                       share=partial_min_bp + r * (10_000 - partial_min_bp) // 10_000,
                       day=(x % redeem_days).astype(np.intp))
    for t in tabs:
        t.flags.writeable = False
    return tabs


def _tables_of(params: Params) -> _DrawTables:
    """The draw tables of `params`' redemption rule."""
    return _draw_tables(params.redeem_bp, params.full_spend_bp, params.partial_min_bp,
                        params.redeem_days)


def _redeemed(fields: list[np.ndarray], balance: np.ndarray,
              tab: _DrawTables) -> tuple[np.ndarray, np.ndarray]:
    """The §4.2 rule on the 16-bit fields of the draws: (redeems?, amount redeemed) per row of
    a positive `balance`. The one place the rule is written; `redemption_draws` exposes it."""
    redeem = np.take(tab.redeem, fields[3])
    full = np.take(tab.full, fields[2])
    share = np.take(tab.share, fields[1])
    amount = balance * share
    amount //= 10_000
    amount = np.where(full, balance, amount)
    amount *= redeem
    return redeem, amount


class RedemptionDraws(NamedTuple):
    """A period's redemption draws for some rows (docs/monthly.md §4.2)."""

    redeem: np.ndarray  # bool: the household visits an agent this period
    amount: np.ndarray  # int64: rupiah it redeems from its pre-settlement balance (0 if none)
    day: np.ndarray     # int64: 1-based day of the period of the visit


def redemption_draws(params: Params, seed: int, period: int, rows: np.ndarray,
                     balance: np.ndarray) -> RedemptionDraws:
    """The engine's redemption draws for `rows` with pre-settlement `balance` (§4.2).

    The rule `disburse` applies, for callers that mirror its redemptions: the flow model (who
    queues at an e-warong, on which day) and the card-fidelity bridge (what each card spends).
    A row with no positive balance redeems nothing.
    """
    rows = np.asarray(rows, dtype=np.int64)
    tab = _tables_of(params)
    fields = _fields16(splitmix(period_key(seed, period), rows))
    bal = np.asarray(balance, dtype=np.int64)
    redeem, amount = _redeemed(fields, np.maximum(bal, 0), tab)
    day = np.take(tab.day, fields[0]).astype(np.int64) + 1
    return RedemptionDraws(redeem=redeem, amount=amount, day=day)


def _fields16(h: np.ndarray) -> list[np.ndarray]:
    """The four 16-bit fields of uint64 draws: `[h & 0xFFFF, (h >> 16) & 0xFFFF, ...]`."""
    if np.little_endian and h.flags.c_contiguous:
        v = h.view(np.uint16).reshape(-1, 4)
        return [v[:, i] for i in range(4)]
    return [((h >> np.uint64(16 * i)) & np.uint64(0xFFFF)).astype(np.uint16) for i in range(4)]


def pkh_annual(counts: dict[str, np.ndarray], params: Params) -> np.ndarray:
    """Annual PKH amount (int64) per household from member-count arrays, with the caps."""
    n = len(counts["n_sd"])
    slots = np.full(n, params.pkh_max_components, dtype=np.int64)
    children = np.full(n, params.pkh_max_children, dtype=np.int64)
    dis_eld = np.full(n, params.pkh_max_disabled_elderly, dtype=np.int64)
    total = np.zeros(n, dtype=np.int64)
    order = (("n_early_child", params.pkh_early_child), ("n_sd", params.pkh_sd),
             ("n_smp", params.pkh_smp), ("n_sma", params.pkh_sma),
             ("n_disabled", params.pkh_disabled), ("n_elderly", params.pkh_elderly),
             ("n_pregnant", params.pkh_pregnant))
    for name, amount in order:
        c = counts[name].astype(np.int64)
        if name == "n_early_child":
            np.minimum(c, params.pkh_max_early_child, out=c)
        if name in ("n_early_child", "n_sd", "n_smp", "n_sma"):
            np.minimum(c, children, out=c)
            children -= c
        elif name in ("n_disabled", "n_elderly"):
            np.minimum(c, dis_eld, out=c)
            dis_eld -= c
        else:
            np.minimum(c, params.pkh_max_pregnant, out=c)
        np.minimum(c, slots, out=c)
        slots -= c
        total += c * amount
    return total


def entitlements(registry: Registry, p: int, rows: np.ndarray, params: Params) -> np.ndarray:
    """Amount per payment (int64) of programme `p` for the households `rows` (§2.10)."""
    if p == 0:
        return np.full(len(rows), params.bpnt_monthly * params.bpnt_every, dtype=np.int64)
    if p == PKH:
        counts = {m: registry[m][rows] for m in ("n_pregnant", "n_early_child", "n_sd",
                                                  "n_smp", "n_sma", "n_disabled", "n_elderly")}
        return pkh_annual(counts, params) * params.pkh_every // 12
    return pbi_persons_at(registry, rows).astype(np.int64) * (params.pbi_premium * params.pbi_every)



def _return_unspent(balance: np.ndarray, unspent: np.ndarray, params: Params,
                    ledger: DisbursementState) -> None:
    """§4.2 returns, in place: rows unspent for `return_after_months` give their whole balance
    back to the treasury (balance and unspent count set to 0, the totals counted)."""
    after = params.return_after_months
    if not 0 < after <= 255:
        return
    ret = unspent >= after
    if ret.any():
        back = int(balance[ret].sum(dtype=np.int64))
        ledger.stats.returns += int(np.count_nonzero(ret))
        ledger.stats.returned += back
        ledger.returned += back
        balance[ret] = 0
        unspent[ret] = 0

def _settle(registry: Registry, ledger: DisbursementState, params: Params, period: int, key: int,
            lo: int, hi: int) -> None:
    """Redemptions, unspent months and returns of rows [lo, hi) not yet settled this period.

    Only rows with a positive balance do anything besides resetting `unspent_months` to 0, so
    all per-row work after the two block-wide tests runs on those rows only.
    """
    st = ledger.stats
    settled = ledger.last_settled[lo:hi]
    todo = settled < period
    n_todo = int(np.count_nonzero(todo))
    if n_todo == 0:
        return
    every_row = n_todo == hi - lo
    b = registry["balance"][lo:hi]
    u = registry["unspent_months"][lo:hi]
    positive = b > 0
    if not every_row:
        positive &= todo
    pos = np.flatnonzero(positive)
    old_u = u[pos]
    if every_row:
        u[:] = 0
        settled[:] = period
    else:
        u[todo] = 0
        settled[todo] = period
    if len(pos) == 0:
        return
    tab = _tables_of(params)
    fields = _fields16(splitmix(key, pos + lo))
    bp = b[pos]
    _, amount = _redeemed(fields, bp, tab)
    spent = amount > 0
    n_did = int(np.count_nonzero(spent))
    if n_did:
        total = int(amount.sum(dtype=np.int64))
        st.redeemers += n_did
        st.redeemed += total
        ledger.redeemed += total
        days = np.bincount(np.take(tab.day, fields[0][spent]), minlength=params.redeem_days)
        st.days = [a + int(c) for a, c in zip(st.days, days.tolist(), strict=True)]
        bp -= amount
    # unspent months: 0 where something was spent, else one more (saturating at 255)
    new_u = np.minimum(old_u, 254)
    new_u += np.uint8(1)
    new_u *= ~spent
    _return_unspent(bp, new_u, params, ledger)  # never a row that spent (its count is 0)
    b[pos] = bp
    u[pos] = new_u


def gated(params: Params, payable: np.ndarray | None, p: int) -> bool:
    """Whether programme *p*'s credits this period go through the withhold/arrears rule
    (§4.1): BPNT and PKH when a payable mask is given or the programme is paused."""
    return p != PBI and (payable is not None or bool(params.paused & PROG_BITS[p]))


def _gate(ledger: DisbursementState, params: Params, p: int, period: int, lo: int, hi: int,
          holders: np.ndarray, fresh: np.ndarray,
          payable: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """§4.1 withhold and arrears for rows [lo, hi): the rows paid and their tranche units.

    A fresh holder that may not be paid (not payable, or the programme paused) and was not yet
    processed this period owes one more tranche; a paid one receives its own tranche plus up to
    `arrears_tranches` owed ones, and owes nothing after; a non-holder owes nothing.
    """
    owed = ledger.owed_array()[p, lo:hi]
    todo = ledger.last_settled[lo:hi] < period
    if params.paused & PROG_BITS[p]:
        pay = np.zeros_like(fresh)
    else:
        pay = fresh & payable[lo:hi] if payable is not None else fresh
    held = fresh & ~pay & todo
    n_held = int(np.count_nonzero(held))
    if n_held:
        owed[held] = np.minimum(owed[held], 254) + 1
        ledger.stats.withheld[p] += n_held
    owed[~holders & todo] = 0
    idx = np.flatnonzero(pay)
    units = 1 + np.minimum(owed[idx], params.arrears_tranches).astype(np.int64)
    owed[idx] = 0
    ledger.stats.arrears[p] += int(units.sum()) - len(idx)
    return idx, units


def _credit(registry: Registry, ledger: DisbursementState, params: Params, period: int, lo: int,
            hi: int, payable: np.ndarray | None = None) -> None:
    """Credit programmes due this period to rows [lo, hi) not yet credited for it."""
    st = ledger.stats
    prog = registry["programmes"][lo:hi]
    b = registry["balance"][lo:hi]
    for p, every in enumerate(params.every()):
        if period % every:
            continue
        marks = ledger.last_credit[p, lo:hi]
        holders = (prog & PROG_BITS[p]).astype(bool)
        fresh = holders & (marks < period)
        n_fresh = int(np.count_nonzero(fresh))
        st.skipped[p] += int(np.count_nonzero(holders)) - n_fresh
        if gated(params, payable, p):
            idx, units = _gate(ledger, params, p, period, lo, hi, holders, fresh, payable)
            if len(idx) == 0:
                continue
            amount = entitlements(registry, p, idx + lo, params) * units
            funded = posted = int(amount.sum(dtype=np.int64))
            b[idx] += amount
            marks[idx] = period
            ledger.funded[p] += funded
            ledger.credited[p] += posted
            st.credits[p] += len(idx)
            st.credited[p] += posted
            continue
        if n_fresh == 0:
            continue
        f8 = fresh.view(np.uint8)
        if p == PBI:  # to BPJS: no household balance moves
            # a uint32 accumulator holds BLOCK * 255 (and is twice as fast as int64 here)
            held = pbi_persons_at(registry, slice(lo, hi))
            persons = int((held * f8).sum(dtype=np.uint32))
            funded = posted = persons * params.pbi_premium * params.pbi_every
        elif p == PKH:
            idx = np.flatnonzero(fresh)
            amount = entitlements(registry, p, idx + lo, params)
            funded = int(amount.sum(dtype=np.int64))
            b[idx] += amount
            posted = funded
        else:
            unit = params.bpnt_monthly * params.bpnt_every
            funded = n_fresh * unit
            b += np.multiply(f8, unit, dtype=np.int64)
            posted = funded
        delta = np.subtract(period, marks, dtype=np.int16)  # marks += (period - marks) * fresh
        delta *= f8
        marks += delta
        ledger.funded[p] += funded
        ledger.credited[p] += posted
        st.credits[p] += n_fresh
        st.credited[p] += posted


def disburse(registry: Registry, ledger: DisbursementState, params: Params, period: int,
             seed: int, *, stop_after_rows: int | None = None,
             payable: np.ndarray | None = None) -> DisburseResult:
    """Credit and settle `period` for every household (docs/monthly.md §4), exactly once.

    Resumes from `ledger.cursor` if the same period was interrupted; with `stop_after_rows`
    it processes that many rows and raises `DisbursementInterrupted` (for crash tests). Checks
    the money invariants when the period completes. *payable* (bool per row) withholds the
    BPNT/PKH tranches of rows that may not be paid yet, owed for the arrears rule (§4.1).
    """
    if payable is not None and np.shape(payable) != (len(registry),):
        raise InputError("payable must be one boolean per registry row")
    if payable is not None:
        payable = np.asarray(payable, dtype=bool)
    t0 = time.perf_counter()
    check_period(period)
    n = len(registry)
    if ledger.last_settled.shape != (n,):
        raise InputError("ledger does not match the registry size")
    start = ledger.begin(period, params)
    key = period_key(seed, period)
    end = n if stop_after_rows is None else min(n, start + max(int(stop_after_rows), 0))
    for lo in range(start, end, BLOCK):
        hi = min(lo + BLOCK, end)
        _credit(registry, ledger, params, period, lo, hi, payable)
        _settle(registry, ledger, params, period, key, lo, hi)
        ledger.cursor = hi
    ledger.cursor = end
    if end < n:
        raise DisbursementInterrupted(period, end)
    res = finish_period(registry, ledger, period)
    res.timings["total"] = time.perf_counter() - t0
    return res


def forfeit(registry: Registry, ledger: DisbursementState, params: Params, period: int,
            seed: int, rows: np.ndarray, pre_balance: np.ndarray,
            pre_unspent: np.ndarray) -> DisburseResult:
    """Undo the redemptions of `rows` in the settled `period`: they gave up (docs/monthly.md §4.5).

    `rows` drew a redemption in `period` (§4.2) but did not complete it (balked, reneged, or
    never travelled); `pre_balance` and `pre_unspent` are their `balance` and `unspent_months`
    just before the period was settled. Afterwards each row is as if its draw had said "no
    redemption": the amount is back on its balance, the month counts as unspent and the return
    rule applies to it. Must be called before the next period is disbursed; `InputError` if a row
    did not redeem that amount in `period`. Checks the money invariants (§4.4) again.
    """
    check_period(period)
    if period != ledger.period or ledger.cursor != len(registry):
        raise InputError(f"forfeit of period {period}: the ledger is at period {ledger.period}")
    rows = np.asarray(rows, dtype=np.int64)
    if len(np.unique(rows)) != len(rows):
        raise InputError("forfeit: a row is listed twice")
    pre_b = np.asarray(pre_balance, dtype=np.int64)
    pre_u = np.asarray(pre_unspent, dtype=np.int64)
    st = ledger.stats
    bal = registry["balance"]
    uns = registry["unspent_months"]
    if len(rows):
        draws = redemption_draws(params, seed, period, rows, pre_b)
        if not (draws.redeem.all() and (draws.amount > 0).all()
                and np.array_equal(bal[rows], pre_b - draws.amount)
                and (ledger.last_settled[rows] == period).all()):
            raise InputError(f"forfeit: some rows did not redeem in period {period}")
        amount = draws.amount
        total = int(amount.sum(dtype=np.int64))
        st.redeemers -= len(rows)
        st.redeemed -= total
        ledger.redeemed -= total
        days = np.bincount(draws.day - 1, minlength=params.redeem_days)
        st.days = [a - int(c) for a, c in zip(st.days, days.tolist(), strict=True)]
        b = pre_b.copy()
        u = np.minimum(pre_u, 254) + 1
        _return_unspent(b, u, params, ledger)
        bal[rows] = b
        uns[rows] = u.astype(np.uint8)
    return finish_period(registry, ledger, period)
