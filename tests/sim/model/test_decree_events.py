"""Events anchored to a decree number (``decree_number = k``): resolved before the run to the
k-th decree's day (`sim.scenario.decree_calendar`).

* the decree calendar computed before the run is the run's own, over random cadences and dated
  events that change the cadence or call for a decree (hypothesis);
* an event anchored to decree k takes effect exactly there (hypothesis over k): every decree
  before the k-th and every month before its month are identical to the run without the event,
  and the k-th decree changes;
* an anchored event is the same run as the dated event on that decree's day with
  ``decree = true``;
* bad decree numbers are in ``bad_events/`` (one line, exit 2: test_events.py).
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.model.run import run
from sim.scenario.decree_calendar import period_of
from sim.scenario.loader import load
from tests.sim.model.conftest import SCENARIOS

BASE = SCENARIOS / "baseline.toml"
#: Kota Magelang at a 10% sample for six months (about a second a run)
TINY = ('territory.scope="kabkota"', 'territory.codes=["33.71"]', "territory.fraction=0.1",
        "scenario.months=6")
_SETTINGS = settings(max_examples=6, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


def _write(tmp: Path, body: str, name: str) -> Path:
    path = tmp / name
    path.write_text(f'extends = "{BASE}"\n{body}', encoding="utf-8")
    return path


def _decree_periods(res) -> list[int]:
    return [p for p, _ in res.ctx.decree_results]


def _static_periods(scen) -> list[int]:
    from sim.scenario import calendar as _calendar
    from sim.scenario.calendar import horizon_days
    from sim.scenario.decree_calendar import decree_days

    p = scen.data
    start = p["scenario"]["start"]
    cal = _calendar.build(start, horizon_days(start, p["scenario"]["months"]),
                          p["calendar"]["weekend"], p["calendar"]["holidays"])
    return [period_of(cal.date(d).year, cal.date(d).month)
            for d in decree_days(cal, p["penetapan"], scen.events)]


@_SETTINGS
@given(quarterly=st.booleans(), switch_day=st.integers(20, 160), forced_day=st.integers(20, 170),
       working_day=st.integers(1, 20))
def test_the_decree_calendar_is_the_runs_own(tmp_path_factory, quarterly: bool, switch_day: int,
                                             forced_day: int, working_day: int) -> None:
    import datetime as dt

    tmp = tmp_path_factory.mktemp("cal")
    start = dt.date(2025, 1, 1)
    switch = start + dt.timedelta(days=switch_day)
    forced = start + dt.timedelta(days=forced_day)
    other = "monthly" if quarterly else "quarterly"
    body = (f'[penetapan]\ncadence = "{"quarterly" if quarterly else "monthly"}"\n'
            f'[[events]]\nname = "cadence"\ndate = {switch.isoformat()}\n'
            f'[events.penetapan]\ncadence = "{other}"\ndecree_working_day = {working_day}\n')
    if forced != switch:
        body += (f'[[events]]\nname = "forced"\ndate = {forced.isoformat()}\ndecree = true\n'
                 "[events.programmes]\nbpnt_amount = 210000\n")
    scen = load(_write(tmp, body, "cal.toml"), TINY)
    assert _static_periods(scen) == _decree_periods(run(scen))


@_SETTINGS
@given(k=st.integers(1, 6), quarterly=st.booleans())
def test_an_event_takes_effect_at_its_decree_and_not_before(tmp_path_factory, k: int,
                                                            quarterly: bool) -> None:
    tmp = tmp_path_factory.mktemp("anchor")
    cadence = f'[penetapan]\ncadence = "{"quarterly" if quarterly else "monthly"}"\n'
    base = load(_write(tmp, cadence, "base.toml"), TINY)
    held = len(_static_periods(base))
    k = min(k, held)
    anchored = load(_write(tmp, cadence + f'[[events]]\nname = "more BPNT"\ndecree_number = {k}\n'
                           "[events.programmes]\nbpnt_share = 0.30\n", "k.toml"), TINY)
    ev = anchored.events[0]
    r0, r1 = run(base), run(anchored)
    d0, d1 = r0.ctx.decree_results, r1.ctx.decree_results
    assert [p for p, _ in d1[:k]] == [p for p, _ in d0[:k]]
    assert [r.recipients for _, r in d0[:k - 1]] == [r.recipients for _, r in d1[:k - 1]]
    assert d1[k - 1][1].recipients["bpnt"] > d0[k - 1][1].recipients["bpnt"]
    month = ev.date.isoformat()[:7]
    assert d1[k - 1][0] == period_of(ev.date.year, ev.date.month)
    before = [m for m in r0.ctx.mon.months if m["date"][:7] < month]
    assert r1.ctx.mon.months[:len(before)] == before
    assert r1.ctx.mon.timeline[0]["decree_number"] == k


def test_an_anchored_event_is_the_dated_event_on_that_decree_day(tmp_path: Path) -> None:
    from sim.outputs import results as outputs

    anchored = load(_write(tmp_path, '[penetapan]\ncadence = "quarterly"\n[[events]]\n'
                           'name = "x"\ndecree_number = 2\n[events.programmes]\n'
                           "bpnt_max_desil = 3\n", "a.toml"), TINY)
    day = anchored.events[0].date
    dated = load(_write(tmp_path, '[penetapan]\ncadence = "quarterly"\n[[events]]\n'
                        f'name = "x"\ndate = {day.isoformat()}\ndecree = true\n'
                        "[events.programmes]\nbpnt_max_desil = 3\n", "d.toml"), TINY)
    ra, rd = run(anchored), run(dated)
    assert outputs.kpis(ra) == outputs.kpis(rd)
    assert ra.ctx.mon.months == rd.ctx.mon.months
    assert anchored.canonical()["events"][0]["decree_number"] == 2
    assert "decree_number" not in dated.canonical()["events"][0]


def test_an_event_anchored_to_a_programmes_own_decree(tmp_path: Path) -> None:
    """``decree_of = "pkh"``: the k-th decree that re-decrees PKH (its own months), not the
    k-th decree of the run; PKH's new deciles act there and not at any decree before."""
    body = ('[programmes]\npkh_decree_months = [1, 4]\n[[events]]\nname = "PKH deciles"\n'
            'decree_number = 2\ndecree_of = "pkh"\n[events.programmes]\npkh_max_desil = 2\n')
    scen = load(_write(tmp_path, body, "pkh.toml"), TINY)
    ev = scen.events[0]
    assert (ev.date.year, ev.date.month) == (2025, 4)  # PKH's 2nd decree; the run's 4th
    assert scen.canonical()["events"][0]["decree_of"] == "pkh"
    res = run(scen)
    by = dict(res.ctx.decree_results)
    assert [by[p].left["pkh"]["desil"] for p in (300, 301, 302)] == [0, 0, 0]
    assert by[303].left["pkh"]["desil"] > 0
    from sim.scenario import calendar as _calendar
    from sim.scenario.calendar import horizon_days
    from sim.scenario.decree_calendar import decree_days

    p = scen.data
    cal = _calendar.build(p["scenario"]["start"], horizon_days(p["scenario"]["start"], 6),
                          p["calendar"]["weekend"], p["calendar"]["holidays"])
    days = decree_days(cal, p["penetapan"], [], "pkh", p["programmes"])
    assert [cal.date(d).month for d in days] == [1, 4]
