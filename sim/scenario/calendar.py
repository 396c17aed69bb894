"""The working-day calendar of the flow model: the clock is in days, day 0 is the scenario start.

Time `t` is a float number of days since 00:00 of the start date; day `d = floor(t)`. Weekends and
national holidays are data (the scenario's ``[calendar]`` table), so a policy team can add a
*cuti bersama* without touching code. Offices (verval, Dinsos, Kemensos, banks, the printer) work
only on working days; e-warong agents and post delivery follow the same calendar.

Everything here is precomputed into numpy arrays once, so the per-event calls are array lookups.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class WorkCalendar:
    """Working days between *start* and *start + days* (plus one year of slack after the horizon).

    *weekend* lists ISO weekday numbers that are not worked (6 = Saturday, 7 = Sunday);
    *holidays* are dates that are not worked.
    """

    start: _dt.date
    days: int
    weekend: tuple[int, ...] = (6, 7)
    holidays: tuple[_dt.date, ...] = ()
    _working: np.ndarray = field(init=False, repr=False, compare=False)
    _next: np.ndarray = field(init=False, repr=False, compare=False)
    _ordinal: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        span = self.days + 400  # slack so that delays near the horizon still resolve
        hol = {h.toordinal() for h in self.holidays}
        first = self.start.toordinal()
        working = np.zeros(span, dtype=bool)
        for d in range(span):
            o = first + d
            working[d] = (_dt.date.fromordinal(o).isoweekday() not in self.weekend
                          and o not in hol)
        # nxt[d] = first working day >= d (span if none)
        nxt = np.full(span + 1, span, dtype=np.int64)
        for d in range(span - 1, -1, -1):
            nxt[d] = d if working[d] else nxt[d + 1]
        ordinal = np.cumsum(working, dtype=np.int64)  # working days in [0, d]
        object.__setattr__(self, "_working", working)
        object.__setattr__(self, "_next", nxt)
        object.__setattr__(self, "_ordinal", ordinal)

    @property
    def span(self) -> int:
        """Days covered by the precomputed tables."""
        return len(self._working)

    def date(self, t: float) -> _dt.date:
        """The calendar date of clock time *t*."""
        return self.start + _dt.timedelta(days=int(t))

    def day_of(self, date: _dt.date) -> int:
        """Clock day of *date* (may be negative or beyond the horizon)."""
        return date.toordinal() - self.start.toordinal()

    def is_working(self, day: int) -> bool:
        """Whether clock day *day* is a working day."""
        return bool(self._working[day]) if 0 <= day < self.span else False

    def next_working(self, t: float) -> float:
        """The earliest time >= *t* on a working day (the start of that day if *t* is not)."""
        d = int(t)
        if d >= self.span:
            return t
        n = int(self._next[d])
        return t if n == d else float(n)

    def next_working_days(self, days: np.ndarray) -> np.ndarray:
        """`next_working` of whole days *days* at once (int64): each day itself if worked, else
        the next working day; days beyond the tables stay as they are."""
        d = np.asarray(days, dtype=np.int64)
        inside = (d >= 0) & (d < self.span)
        return np.where(inside, self._next[np.clip(d, 0, self.span)], d)

    def add_working(self, t: float, work_days: float) -> float:
        """The time at which *work_days* of office work started at *t* are done.

        Work proceeds only on working days, one unit of work per working day, so two days of work
        started on a Friday end on Tuesday night.
        """
        t = self.next_working(t)
        d = int(t)
        # work left in the starting day
        left = 1.0 - (t - d)
        if work_days <= left:
            return t + work_days
        rest = work_days - left
        whole = int(rest)
        frac = rest - whole
        k = int(self._ordinal[d]) + whole + (1 if frac > 0 else 0)  # index of the last working day
        if k > int(self._ordinal[-1]):
            return float(self.span)
        last = int(np.searchsorted(self._ordinal, k))
        return float(last) + (frac if frac > 0 else 1.0)

    def working_day_of_month(self, year: int, month: int, n: int) -> int:
        """Clock day of the *n*-th working day (1-based) of a month; the last one if fewer exist."""
        first = self.day_of(_dt.date(year, month, 1))
        nxt_month = _dt.date(year + (month == 12), month % 12 + 1, 1)
        end = self.day_of(nxt_month)
        days = [d for d in range(max(first, 0), min(end, self.span)) if self._working[d]]
        if not days:
            return max(first, 0)
        return days[min(n, len(days)) - 1]

    def months(self) -> list[tuple[int, int]]:
        """(year, month) of every month that starts inside the horizon, in order."""
        out = []
        y, m = self.start.year, self.start.month
        while self.day_of(_dt.date(y, m, 1)) < self.days:
            out.append((y, m))
            y, m = y + (m == 12), m % 12 + 1
        return out

    def working_days_between(self, t0: float, t1: float) -> int:
        """Number of whole working days in the clock-day range [floor(t0), floor(t1))."""
        d0, d1 = max(int(t0), 0), min(int(t1), self.span)
        if d1 <= d0:
            return 0
        return int(self._ordinal[d1 - 1] - (self._ordinal[d0 - 1] if d0 > 0 else 0))


def build(start: _dt.date, days: int, weekend: Iterable[int],
          holidays: Iterable[_dt.date]) -> WorkCalendar:
    """A `WorkCalendar` from scenario values (holidays sorted, duplicates dropped)."""
    return WorkCalendar(start, int(days), tuple(sorted(set(weekend))), tuple(sorted(set(holidays))))


def horizon_days(start: _dt.date, months: int) -> int:
    """Days from *start* to the same day *months* later (clamped to the month's end)."""
    y, m = divmod(start.month - 1 + months, 12)
    year, month = start.year + y, m + 1
    day = start.day
    while True:
        try:
            end = _dt.date(year, month, day)
            break
        except ValueError:
            day -= 1
    return (end - start).days
