"""The working-day calendar: weekends and holidays are data, work only happens on working days."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model.run import horizon_days
from sim.scenario.calendar import build

MON = dt.date(2025, 1, 6)  # a Monday


def test_weekend_and_holiday_are_not_worked() -> None:
    cal = build(MON, 30, (6, 7), [dt.date(2025, 1, 8)])
    assert [cal.is_working(d) for d in range(7)] == [True, True, False, True, True, False, False]


def test_add_working_skips_weekend() -> None:
    cal = build(MON, 30, (6, 7), [])
    friday = 4.0
    # two days of work started Friday morning end Tuesday... at the end of Monday
    assert cal.add_working(friday, 2.0) == 8.0
    assert cal.add_working(friday, 0.5) == 4.5
    assert cal.add_working(5.2, 0.25) == 7.25  # Saturday: waits for Monday
    assert cal.next_working(5.5) == 7.0


def test_add_working_skips_holiday() -> None:
    cal = build(MON, 30, (6, 7), [dt.date(2025, 1, 7)])
    assert cal.add_working(0.0, 2.0) == 3.0  # Monday + Wednesday


def test_nth_working_day_of_month() -> None:
    cal = build(dt.date(2025, 1, 1), 365, (6, 7), [dt.date(2025, 1, 1)])
    # January 2025: the 1st is a holiday, Thu 2nd is the first working day
    assert cal.date(cal.working_day_of_month(2025, 1, 1)) == dt.date(2025, 1, 2)
    assert cal.date(cal.working_day_of_month(2025, 1, 3)) == dt.date(2025, 1, 6)
    assert len(cal.months()) == 12


def test_horizon_clamps_to_month_end() -> None:
    assert horizon_days(dt.date(2025, 1, 31), 1) == 28
    assert horizon_days(dt.date(2025, 1, 1), 12) == 365


@settings(max_examples=200, deadline=None)
@given(start=st.floats(0, 300), work=st.floats(0, 40),
       holidays=st.lists(st.integers(0, 360), max_size=20))
def test_add_working_spends_exactly_the_work_on_working_days(start, work, holidays) -> None:
    cal = build(dt.date(2025, 1, 1), 365, (6, 7),
                [dt.date(2025, 1, 1) + dt.timedelta(days=h) for h in holidays])
    end = cal.add_working(start, work)
    assert end >= start
    # the working time inside [start, end] equals the work asked for
    t0 = cal.next_working(start)
    spent = 0.0
    d = int(t0)
    while d < end:
        if cal.is_working(d):
            spent += min(end, d + 1) - max(t0, d)
        d += 1
    assert abs(spent - work) < 1e-6 or (work == 0 and spent == 0)


def test_next_working_days_is_next_working_per_day() -> None:
    """The whole-column `next_working_days` agrees with the per-day `next_working`."""
    import datetime as dt

    import numpy as np

    from sim.scenario.calendar import WorkCalendar

    cal = WorkCalendar(dt.date(2025, 1, 1), 60, holidays=(dt.date(2025, 1, 29),))
    days = np.arange(-3, cal.span + 5)
    got = cal.next_working_days(days)
    want = [cal.next_working(float(d)) if d >= 0 else float(d) for d in days.tolist()]
    assert got.tolist() == want
