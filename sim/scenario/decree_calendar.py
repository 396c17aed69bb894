"""The run's decree days, known before it runs: what anchors an event to a decree number.

An event may be anchored to a decree instead of a date (``decree_number = 3``: from the 3rd
penetapan of the run). The loader turns it into a dated event on that decree's day, so every other
rule of events (validation, the timeline, the report, effect accounting) holds unchanged. The
decree days follow the rules of `sim.model.penetapan.decrees`, replayed here on the scenario's
values and its dated events:

* every month of the horizon has a decree day, its ``penetapan.decree_working_day``-th working
  day, read when the month's wait starts (just after the previous month's decree);
* the decree is held when the period (months since January 2000) is a multiple of the cadence in
  force on that day (3 for ``"quarterly"``, else 1), or when an event with ``decree = true``
  called for it: the next decree day after the event (that month's if it has not passed);
* an event applies at 00:00 of its date, before the decree of that day (at 0.7 of the day);
* a decree on or after the end of the horizon is not held.

An event anchored to decree *k* applies at 00:00 of the *k*-th decree's day and holds that decree
whatever the cadence (as ``decree = true`` does), so the *k*-th decree is the first with its
values. With ``decree_of = "pkh"`` (or "bpnt", "pbi") *k* counts only the decrees that re-decree
that programme (its own schedule, ``programmes.pkh_decree_months``; every decree without one).
`tests/sim/model/test_decree_events.py` checks that these days are the run's own.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from sim.scenario.calendar import WorkCalendar

#: the decree happens at this fraction of its day (as `sim.model.penetapan.decrees` waits)
DECREE_HOUR = 0.7


def period_of(year: int, month: int) -> int:
    """Months since January 2000 (the engine's period number)."""
    return 12 * (year - 2000) + month - 1


def decree_days(cal: WorkCalendar, penetapan: dict[str, Any], events: list,
                programme: str | None = None,
                programmes: dict[str, Any] | None = None) -> list[int]:
    """Clock days of the decrees the run holds, in order.

    *penetapan*: the scenario's ``[penetapan]`` values at the start; *events*: dated events
    (objects with ``date``, ``changes`` and ``decree``) in timeline order. With a *programme*
    ("bpnt", "pkh", "pbi"), only the decrees that re-decree it: those held in a month of its
    ``programmes.<programme>_decree_months`` in force (*programmes*: the scenario's
    ``[programmes]`` values at the start; an empty list is every decree;
    `sim.model.programme_decrees`).
    """
    state = dict(penetapan)
    key = f"{programme}_decree_months" if programme else None
    months_of = {key: list((programmes or {}).get(key, []))} if key else {}
    forced: set[int] = set()
    timed = sorted(((cal.day_of(ev.date), k, ev) for k, ev in enumerate(events)),
                   key=lambda x: (x[0], x[1]))
    nxt = 0

    def apply_until(t: float) -> None:
        nonlocal nxt
        while nxt < len(timed) and timed[nxt][0] <= t:
            day, _, ev = timed[nxt]
            state.update(ev.changes.get("penetapan", {}))
            if key and key in ev.changes.get("programmes", {}):
                months_of[key] = list(ev.changes["programmes"][key])
            if ev.decree:
                forced.add(_next_decree_period(cal, day, state["decree_working_day"]))
            nxt += 1

    out: list[int] = []
    now = 0.0
    for y, m in cal.months():
        apply_until(now)
        day = cal.working_day_of_month(y, m, state["decree_working_day"])
        now = max(now, day + DECREE_HOUR)
        if now >= cal.days:
            break
        apply_until(now)
        period = period_of(y, m)
        cadence = 3 if state["cadence"] == "quarterly" else 1
        held = period % cadence == 0 or period in forced
        if held and (not key or not months_of[key] or m in months_of[key]):
            out.append(day)
    return out


def _next_decree_period(cal: WorkCalendar, t: int, nth: int) -> int:
    """The period of the next decree day at clock day *t* (this month's if not passed)."""
    d = cal.date(t)
    if cal.working_day_of_month(d.year, d.month, nth) + DECREE_HOUR >= t:
        return period_of(d.year, d.month)
    return period_of(d.year, d.month) + 1


def decree_date(cal: WorkCalendar, penetapan: dict[str, Any], events: list,
                number: int, programme: str | None = None,
                programmes: dict[str, Any] | None = None) -> tuple[_dt.date | None, int]:
    """``(date of the *number*-th decree or None, decrees held)`` given the *events* in force
    (of *programme*'s decrees when given, see `decree_days`)."""
    days = decree_days(cal, penetapan, events, programme, programmes)
    if 1 <= number <= len(days):
        return cal.date(days[number - 1]), len(days)
    return None, len(days)
