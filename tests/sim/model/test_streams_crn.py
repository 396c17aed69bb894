"""S-CRN: a parameter change leaves the draws of unrelated streams bitwise identical."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model import issuance, registration
from sim.model.run import build
from sim.scenario.loader import load
from sim.scenario.streams import STREAM_KEYS, Streams
from tests.sim.model.conftest import SCENARIOS, SMALL, run_small


def test_same_name_same_draws_other_name_other_draws() -> None:
    s = Streams(11)
    assert np.array_equal(s.get("verval", 0).random(5), s.get("verval", 0).random(5))
    assert not np.array_equal(s.get("verval", 0).random(5), s.get("verval", 1).random(5))
    assert not np.array_equal(s.get("verval").random(5), s.get("dinsos").random(5))
    assert not np.array_equal(Streams(11).get("post").random(5), Streams(12).get("post").random(5))


def test_stream_keys_are_unique_and_unknown_names_fail() -> None:
    assert len(set(STREAM_KEYS.values())) == len(STREAM_KEYS)
    with pytest.raises(ValueError, match="unknown random stream 'nope'"):
        Streams(1).get("nope")


def _ctx(name: str):
    """The context of the first region of *name* on the small territory (built, not run)."""
    _, parts = build(load(SCENARIOS / f"{name}.toml", list(SMALL)))
    return parts.parts[0].regions[0].ctx


def test_capacity_change_keeps_unrelated_streams() -> None:
    a, b = _ctx("baseline"), _ctx("verval_officers")
    for kind in ("rtrw", "self", "shock", "pmks"):
        ta, ra = registration.schedule(a, kind)
        tb, rb = registration.schedule(b, kind)
        assert np.array_equal(ta, tb) and np.array_equal(ra, rb), kind
        da = registration.entity_draws(a, 0, 50)
        db = registration.entity_draws(b, 0, 50)
        assert np.array_equal(da.verval_err, db.verval_err)
        assert np.array_equal(da.musdes_u, db.musdes_u)
    ia, ib = a.row_draws, b.row_draws
    assert isinstance(ia, issuance.RowDraws)
    rows = np.arange(min(len(a.registry), 2000))
    for field in ("bank_u", "burekol_u", "wrong_u", "collect_u"):
        assert np.array_equal(getattr(ia, field)[rows], getattr(ib, field)[rows]), field
    assert [ia.post_days[r] for r in rows[:200]] == [ib.post_days[r] for r in rows[:200]]


def test_outage_changes_nothing_before_it_starts() -> None:
    base, out = run_small("baseline"), run_small("printer_outage")
    start = base.ctx.cal.day_of(__import__("datetime").date(2025, 3, 1))

    def before(res):
        p = res.ctx.props
        return [(p.source[i], p.serial[i], p.row[i], p.t_arrive[i])
                for i in range(len(p)) if p.t_arrive[i] < start]

    assert before(base) == before(out)
    assert base.ctx.mon.months[:2] == out.ctx.mon.months[:2]
