"""One-off programmes (BLT / BLTS): a single cash payment decreed once, paid over a window.

A round starts when the run starts with ``oneoff.amount > 0`` or when a dated event sets
``oneoff.amount`` (> 0). At that moment the round's own decree picks its recipients: households
in DTKS whose decile is at most ``oneoff.max_desil``, poorest score first, ``oneoff.share`` of
households in all, split over kab/kota by where those eligible households are (a round names
its deciles, not a region's quota [BLTS-2025]; docs/calibration.md §8). Each recipient is
paid ``oneoff.amount`` once, on a day drawn uniformly in the ``oneoff.window_days`` that follow
(banks and PT Pos pay a tranche over weeks): with ``oneoff.channel = "pos"`` the KPM queues at
its kecamatan's PT Pos paying point, with ``"bank"`` it cashes out at an ATM (not queued). A KPM
who does not collect (``1 - oneoff.collect_prob``) leaves the money with the payer, returned to
the treasury at the end of the window.

The round is decided by the national stage (`sim.model.national`, at the barrier of its date:
`start_round` picks the recipients and draws their days on the national ``oneoff`` stream) and
paid in the regions (`pay`: each region queues its own recipients, in the same order). Money is
kept apart from the KKS ledger (the cash never touches a KKS balance): per round, the budget
decreed = paid + returned + still to pay, to the rupiah, checked at every change in every region
and on the merged ledger (`OneOffLedger.check`, `merge`); paid and returned are also booked per
calendar month for the budget table.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from kks_emulator.errors import LedgerInvariantError
from sim.model.context import Context
from sim.params import N_KABKOTA
from sim.registry import population
from sim.registry.table import STATUS_IN_DTKS


@dataclass
class OneOffLedger:
    """The money of every one-off round of a run (integer rupiah)."""

    budget: int = 0
    paid: int = 0
    returned: int = 0
    outstanding: int = 0
    rounds: list[dict] = field(default_factory=list)
    #: "YYYY-MM" -> {"paid": rp, "returned": rp, "decreed": rp, "payments": n}
    by_month: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: {"decreed": 0, "paid": 0, "returned": 0,
                                                     "payments": 0}))

    def check(self) -> None:
        """Budget decreed = paid + returned + outstanding, or `LedgerInvariantError`."""
        if self.budget != self.paid + self.returned + self.outstanding or self.outstanding < 0:
            raise LedgerInvariantError(
                f"one-off: budget {self.budget} != paid {self.paid} + returned {self.returned} "
                f"+ outstanding {self.outstanding}")


def split_quota(total: int, eligible_k: np.ndarray) -> np.ndarray:
    """*total* recipients over kab/kota in proportion to their eligible households *eligible_k*,
    by largest remainder (ties to the lower kab/kota row): the parts sum to
    ``min(total, eligible_k.sum())`` and none exceeds its kab/kota's eligible households."""
    eligible_k = np.asarray(eligible_k, dtype=np.int64)
    supply = int(eligible_k.sum())
    total = min(max(int(total), 0), supply)
    if supply == 0 or total == 0:
        return np.zeros(len(eligible_k), dtype=np.int64)
    # exact shares never round above a kab/kota's eligible households: a remainder unit goes
    # only to a part with a fractional share, i.e. below its eligible count
    return population.allocate(total, eligible_k)


def weighted_quota(share: float, households_k: np.ndarray, eligible_k: np.ndarray,
                   rel: np.ndarray) -> np.ndarray:
    """`split_quota` of a registry whose kab/kota weigh *rel* (relative to the territory's):
    *share* of the weighted households split by weighted eligible households, in the
    territory's units, then counted at each kab/kota's own fraction (never above its eligible
    households)."""
    total = round(share * float(np.dot(households_k, rel)))
    parts = split_quota(total, np.rint(eligible_k * rel).astype(np.int64))
    return np.minimum(np.rint(parts / rel).astype(np.int64), eligible_k)


def recipients(ctx: Context, share: float, max_desil: int) -> np.ndarray:
    """Rows of a one-off round: deciles 1..*max_desil* of the register, poorest first.

    The round's size is *share* of all households (rounded), split over kab/kota by their
    households in those deciles (`split_quota`), not by register size: the deciles are national
    (the population's once the register ranks the population, DTSEN: `sim.model.enumeration`,
    as the BLTS 2025 deciles were [BLTS-2025][DESIL-METHOD]), so a kab/kota with few of them
    cannot fill a quota by population while a poorer one leaves eligible families unpaid.
    In a registry sampled at several fractions (``territory.context = "national"``) the round's
    size and its split are weighted (`weighted_quota`).
    """
    reg = ctx.registry
    n = len(reg)
    kab = reg["kabkota"].astype(np.int64)
    dtks = reg["status"] == STATUS_IN_DTKS
    desil = reg["desil"]
    eligible = np.flatnonzero(dtks & (desil >= 1) & (desil <= max_desil))
    eligible_k = np.bincount(kab[eligible], minlength=N_KABKOTA)
    rel = getattr(ctx.frame, "kab_rel", None)
    if rel is None:
        quota = split_quota(round(share * n), eligible_k)
    else:
        quota = weighted_quota(share, np.bincount(kab, minlength=N_KABKOTA), eligible_k, rel)
    order = np.lexsort((eligible, reg["pmt_score"][eligible], kab[eligible]))
    rows = eligible[order]
    k = kab[rows]
    starts = np.searchsorted(k, np.arange(N_KABKOTA))
    rank = np.arange(len(rows)) - starts[k]
    return np.sort(rows[rank < quota[k]])


def start_round(nat, number: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, str, float]:
    """Decree round *number* of the one-off programme now, in the national stage *nat*.

    Books the budget in ``nat.oneoff`` and returns the round for the regions: ``(rows, day,
    collects, amount, channel, window)`` with global *rows* in row order and each recipient's
    payment day and whether it collects.
    """
    o = nat.p["oneoff"]
    led: OneOffLedger = nat.oneoff
    rows = recipients(nat, o["share"], o["max_desil"])
    amount = int(o["amount"])
    rng = nat.streams.get("oneoff", number)
    n = len(rows)
    day = rng.uniform(0.0, float(o["window_days"]), n)
    collects = rng.random(n) < o["collect_prob"]
    budget = n * amount
    led.budget += budget
    led.outstanding += budget
    month = nat.cal.date(nat.env.now).isoformat()[:7]
    led.by_month[month]["decreed"] += budget
    led.rounds.append({"round": number, "date": nat.cal.date(nat.env.now).isoformat(),
                       "recipients": n, "amount": amount, "budget_rp": budget,
                       "channel": o["channel"], "window_days": int(o["window_days"])})
    led.check()
    nat.mon.count("oneoff_recipients", n)
    if getattr(nat, "in_territory", None) is not None:  # the territory's part, for its view
        mine = int(np.count_nonzero(nat.in_territory[rows]))
        nat.count_territory("oneoff_recipients", rows)
        part: OneOffLedger = nat.territory_oneoff
        part.budget += mine * amount
        part.outstanding += mine * amount
        part.by_month[month]["decreed"] += mine * amount
        part.rounds.append(dict(led.rounds[-1], recipients=mine, budget_rp=mine * amount))
    return rows, day, collects, amount, o["channel"], float(o["window_days"])


def pay(ctx: Context, rows: np.ndarray, day: np.ndarray, collects: np.ndarray, amount: int,
        channel: str, window: float) -> None:
    """A region's part of a round: book its budget in ``ctx.oneoff`` and start paying its
    recipients *rows* (local rows, in row order) from now."""
    led: OneOffLedger = ctx.oneoff
    led.budget += len(rows) * amount
    led.outstanding += len(rows) * amount
    ctx.env.process(_pay(ctx, rows, day, collects, amount, channel, window))


def _pay(ctx: Context, rows: np.ndarray, day: np.ndarray, collects: np.ndarray, amount: int,
         channel: str, window: float):
    """Process: each recipient collects on its day (queueing at PT Pos), the rest is returned."""
    env, cal, led = ctx.env, ctx.cal, ctx.oneoff
    t0 = env.now
    order = np.argsort(day, kind="stable")
    waits = ctx.mon.redeem_wait_days
    uncollected = 0
    for j in order.tolist():
        if not collects[j]:
            uncollected += 1
            continue
        t = cal.next_working(t0 + float(day[j]))
        if t >= t0 + window or t >= cal.days:
            uncollected += 1
            continue
        if t > env.now:
            yield env.timeout(t - env.now)
        if channel == "pos":  # no patience: served in turn (`redemption.Agent.arrive`)
            ctx.agents.visits.flush(env.now)  # after the regular visits due before
            served, _, wait = ctx.agents.pos_of(int(rows[j])).arrive(env.now,
                                                                     ctx.agents._pos_svc)
            if served:
                waits.append(wait)
        else:
            ctx.mon.count("oneoff_atm_cashouts")
        led.paid += amount
        led.outstanding -= amount
        m = led.by_month[cal.date(env.now).isoformat()[:7]]
        m["paid"] += amount
        m["payments"] += 1
    end = min(t0 + window, float(cal.days))
    if end > env.now:
        yield env.timeout(end - env.now)
    if env.now < cal.days:  # the window closed inside the horizon: the rest goes back
        back = uncollected * amount
        led.returned += back
        led.outstanding -= back
        led.by_month[cal.date(env.now).isoformat()[:7]]["returned"] += back
        ctx.mon.count("oneoff_uncollected", uncollected)
    led.check()


def round_numbers(events) -> dict[int, int]:
    """Event index -> one-off round number of every event that sets an amount (round 0 is the
    scenario's own, at the start)."""
    out, number = {}, 0
    for ev in events:
        if ev.changes.get("oneoff", {}).get("amount"):
            number += 1
            out[ev.index] = number
    return out


def to_plain(led: OneOffLedger) -> dict:
    """A region's ledger as plain data (picklable: no defaultdict factory)."""
    return {"budget": led.budget, "paid": led.paid, "returned": led.returned,
            "outstanding": led.outstanding,
            "by_month": {m: dict(v) for m, v in sorted(led.by_month.items())}}


def merge(national: OneOffLedger, regions: list[dict]) -> OneOffLedger:
    """The run's ledger: the national rounds and decreed budgets plus every region's payments
    (`to_plain`), checked: the regions' budgets add up to the decreed budget."""
    out = OneOffLedger(budget=national.budget, rounds=list(national.rounds))
    for m, v in national.by_month.items():
        out.by_month[m]["decreed"] += v["decreed"]
    budget = 0
    for r in regions:
        budget += r["budget"]
        out.paid += r["paid"]
        out.returned += r["returned"]
        out.outstanding += r["outstanding"]
        for m, v in r["by_month"].items():
            for k in ("paid", "returned", "payments"):
                out.by_month[m][k] += v[k]
    if budget != national.budget:
        raise LedgerInvariantError(f"one-off: regions' budgets {budget} != decreed "
                                   f"{national.budget}")
    out.check()
    return out


def monthly_rows(ctx: Context) -> list[dict]:
    """The one-off money per calendar month (decreed, paid, returned, payments), in order."""
    led: OneOffLedger | None = getattr(ctx, "oneoff", None)
    if led is None:
        return []
    return [{"month": m, **led.by_month[m]} for m in sorted(led.by_month)]

