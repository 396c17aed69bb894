"""Per-programme decrees: each regular programme with its own decree schedule.

By default one decree (the penetapan, `sim.model.penetapan.decrees`) decides the register and the
recipients of BPNT, PKH and PBI-JK together. ``programmes.bpnt_decree_months``,
``pkh_decree_months`` and ``pbi_decree_months`` give a programme its own schedule: the months
(1-12) whose decree re-decrees its recipients. At a decree in another month its list **stands**
(the engine's ``Params.standing``, docs/monthly.md §2.8): its holders keep it while they are in the
register, nobody enters, and eligibility and quota are applied again at its next decree. The
register itself (entries, updates, removals, deciles) is decided at every decree as before. An
empty list (the default) is every decree: the joint behaviour, byte-identical.

Each programme already has its own deciles (``*_max_desil``), quota (``*_share``) and budget line
(``*_budget_rp``, `sim.model.ceiling`); with its own months it has its own decree. A programme's
month must be a month the decree cadence holds (or an event forces) for its list to be decreed
then; the list otherwise stands until the next decree held in one of its months. The keys are
read at each decree, so a dated event may change a schedule.
"""

from __future__ import annotations

from sim.params import PROG_BITS

#: programme -> its schedule key in [programmes]
KEYS = ("bpnt_decree_months", "pkh_decree_months", "pbi_decree_months")


def any_set(p: dict) -> bool:
    """True when any programme has its own decree schedule in *p* (the run's values)."""
    return any(p["programmes"][key] for key in KEYS)


def standing(p: dict, period: int) -> int:
    """The programme bits whose list stands at the decree of *period* (months since Jan 2000)."""
    month = period % 12 + 1
    bits = 0
    for bit, key in zip(PROG_BITS, KEYS, strict=True):
        months = p["programmes"][key]
        if months and month not in months:
            bits |= bit
    return bits
