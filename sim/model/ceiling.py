"""Rupiah budget ceilings of the regular programmes: a ministry budget line per fiscal year.

``programmes.bpnt_budget_rp``, ``pkh_budget_rp`` and ``pbi_budget_rp`` are each programme's line
in the state budget (APBN) for one fiscal year, January to December, in national rupiah; 0 (the
default) is no ceiling. The run's ceiling is the national line times the run's share of the
country's households (``frame.national_share``), in the simulated rupiah of every other money
figure. The line is read when used, so a dated event may change it (a budget revision, APBN-P).

The ceiling acts where a ministry spends its line:

* **Admission, at every decree.** The money left in the year (the ceiling less what the programme
  was credited since January) must pay every KPM the programme's tranches still due this year
  (from the next credit day to December). The decree admits at most
  ``left // (cost of one KPM for the rest of the year)`` KPM, in the engine's rank order: the
  programme's quota is scaled down to that number in every kab/kota, the engine keeps or admits
  the poorest first and drops the least poor over it (exit reason ``quota``). One KPM's cost per
  tranche is exact for BPNT (its amount times its months), the mean entitlement of the
  programme's current holders for PKH (its components differ by household), and the premium
  times the mean persons of the holders for PBI-JK.
* **Payment, on every credit day (BPNT and PKH).** If this tranche (the entitlements of the
  payable holders, with the arrears they are owed) would take the year past its ceiling, the
  tranche is withheld from everyone (the programme is paused for the period; each KPM is owed it
  and is paid it in arrears when the next tranche is paid: the rapel rule, docs/monthly.md §4.1).
  So a programme never spends more than its line in a year. PBI-JK premiums are never withheld
  (a member is insured or not): its ceiling acts at admission only, and budget.csv shows any
  excess.

`Book` keeps, per programme and fiscal year, the ceiling, the KPM cap of the last decree and the
tranches withheld for lack of budget; `sim.outputs.budget` shows the use against the ceiling per
month (``ceiling_rp``, ``ytd_rp``) and the report a table per programme and year.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.hotpath import disburse as _disburse
from sim.model.context import Context
from sim.params import PROG_BITS
from sim.registry.table import pbi_persons_at

#: programme -> (index in the engine, its ceiling key, its rupiah field of a month's record)
PROGRAMMES: dict[str, tuple[int, str, str]] = {
    "bpnt": (0, "bpnt_budget_rp", "bpnt_rp"),
    "pkh": (1, "pkh_budget_rp", "pkh_rp"),
    "pbi": (2, "pbi_budget_rp", "pbi_premium_rp"),
}


@dataclass
class Book:
    """Per (programme, fiscal year): ceiling, last KPM cap, decrees capped, tranches withheld."""

    years: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)
    #: (programme, "YYYY-MM") -> the ceiling in force on that month's credit day
    month_ceiling: dict[tuple[str, str], int] = field(default_factory=dict)

    def entry(self, prog: str, year: int, ceiling: int) -> dict[str, int]:
        """The record of *prog* in *year* (created with its *ceiling*)."""
        e = self.years.setdefault((prog, year), {"ceiling_rp": ceiling, "cap_kpm": -1,
                                                 "capped_decrees": 0, "withheld_periods": 0})
        e["ceiling_rp"] = ceiling
        return e

    def rows(self) -> list[dict]:
        """One row per programme and year, in order (for summary.json and the report)."""
        return [{"programme": p, "year": y, **v} for (p, y), v in sorted(self.years.items())]


def any_set(p: dict) -> bool:
    """True when any regular programme has a ceiling in *p* (the run's values)."""
    return any(p["programmes"][key] > 0 for _, key, _ in PROGRAMMES.values())


def ceiling(ctx: Context, prog: str) -> int:
    """The run's ceiling of *prog* for a fiscal year, simulated rupiah (0 = none)."""
    national = ctx.p["programmes"][PROGRAMMES[prog][1]]
    return round(national * ctx.frame.national_share) if national > 0 else 0


def _rel(ctx: Context) -> np.ndarray | None:
    """Weight per row relative to the territory's (a registry at two fractions), or None."""
    return getattr(ctx, "rel", None)


def used(ctx: Context, prog: str, year: int) -> int:
    """Rupiah *prog* was credited in fiscal *year* so far (simulated; weighted by region in a
    registry at two fractions, `sim.model.nation`)."""
    field_ = PROGRAMMES[prog][2]
    months = ctx.weighted_months if _rel(ctx) is not None else ctx.mon.months
    return sum(m[field_] for m in months if int(m["date"][:4]) == year)


def _tranches_left(ctx: Context, every: int, period: int, include_this: bool) -> int:
    """Credit periods of a programme paid every *every* months left in *period*'s year."""
    year_end = period - period % 12 + 11
    first = period if include_this else period + 1
    return sum(1 for q in range(first, year_end + 1) if q % every == 0)


def _unit_cost(ctx: Context, k: int, rows: np.ndarray) -> float:
    """Rupiah of one KPM's tranche for programme *k* (see the module docstring)."""
    params = ctx.engine.params
    if k == 0:
        return float(params.bpnt_monthly * params.bpnt_every)
    if len(rows) == 0:
        return 0.0
    rel = _rel(ctx)
    w = None if rel is None else rel[rows]
    if k == 1:
        return float(np.average(_disburse.entitlements(ctx.registry, 1, rows, params),
                                weights=w))
    return float(params.pbi_premium * params.pbi_every
                 * np.average(pbi_persons_at(ctx.registry, rows).astype(np.float64), weights=w))


def cap_quotas(ctx: Context, period: int, credit_ahead: bool) -> None:
    """Scale the engine's quota of each programme with a ceiling down to the KPM the rest of
    its fiscal year can pay (call just before the decree; the caller restores the quota).

    *credit_ahead*: this month's credit day is still to come (its tranche counts as left).
    """
    params = ctx.engine.params
    quota = params.require_quota().copy()
    year = 2000 + period // 12
    changed = False
    for prog, (k, _, _) in PROGRAMMES.items():
        c = ceiling(ctx, prog)
        if c <= 0:
            continue
        entry = ctx.ceilings.entry(prog, year, c)
        left = _tranches_left(ctx, params.every()[k], period, credit_ahead)
        if left == 0:  # nothing more to pay this year: next year's first decree caps
            continue
        holders = np.flatnonzero((ctx.registry["programmes"] & PROG_BITS[k]) != 0)
        unit = _unit_cost(ctx, k, holders)
        if unit <= 0:
            continue
        cap = max(0, c - used(ctx, prog, year)) // round(unit * left)
        entry["cap_kpm"] = int(cap)
        kab_rel = ctx.frame.kab_rel
        # KPM in the territory's weight (each kab/kota's quota counts at its own fraction)
        total = int(quota[k].sum()) if kab_rel is None else round(float(
            np.dot(quota[k], kab_rel)))
        if cap < total:
            quota[k] = np.floor(quota[k] * (cap / total)).astype(np.int64)
            entry["capped_decrees"] += 1
            changed = True
    if changed:
        ctx.engine.with_params(quota=quota)


def note_month(ctx: Context, month: str) -> None:
    """Record every programme's ceiling in force for *month* ("YYYY-MM": budget.csv)."""
    for prog in PROGRAMMES:
        ctx.ceilings.month_ceiling[(prog, month)] = ceiling(ctx, prog)


def paused_for_budget(ctx: Context, period: int, payable: np.ndarray) -> int:
    """The paused bits (BPNT 1, PKH 2) for *period*'s credit day: the programmes whose tranche
    would take their fiscal year past the ceiling (see the module docstring)."""
    params = ctx.engine.params
    reg = ctx.registry
    ledger = ctx.engine.ledger
    year = 2000 + period // 12
    bits = 0
    for prog in ("bpnt", "pkh"):
        k = PROGRAMMES[prog][0]
        c = ceiling(ctx, prog)
        if c <= 0 or period % params.every()[k] or params.paused & PROG_BITS[k]:
            continue
        holders = (reg["programmes"] & PROG_BITS[k]) != 0
        rows = np.flatnonzero(holders & (ledger.last_credit[k] < period) & payable)
        units = 1 + np.minimum(ledger.owed_array()[k, rows], params.arrears_tranches)
        amount = _disburse.entitlements(reg, k, rows, params) * units
        rel = _rel(ctx)
        due = int(amount.sum(dtype=np.int64)) if rel is None else round(float(np.dot(
            amount.astype(np.float64), rel[rows])))
        if used(ctx, prog, year) + due > c:
            bits |= PROG_BITS[k]
            ctx.ceilings.entry(prog, year, c)["withheld_periods"] += 1
            ctx.mon.count(f"{prog}_withheld_for_budget", len(rows))
            if getattr(ctx, "in_territory", None) is not None:
                ctx.count_territory(f"{prog}_withheld_for_budget", rows)
    return bits
