"""Records spilled to part files at the barriers and streamed back by the merge (issue 11 memory,
docs/distributed.md §5).

A region's growing records (transition log, stage waits, redemption waits and travel times, ATM
waits) leave its memory at the barriers for part files; the merge reads them back region by
region. The results folder must not depend on when they were spilled: spilling every record at
every barrier and spilling everything once at the end give the same bytes, and the part files
really are written during the run and removed after it.
"""

from __future__ import annotations

import hashlib
import pickle
from array import array
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model import records
from sim.model.context import STAGES, Transitions
from sim.model.records import Spill
from sim.model.run import run
from sim.outputs import results as outputs
from sim.scenario.loader import load
from tests.sim.model.conftest import SCENARIOS

#: four small kab/kota (four regions) at fraction 0.5 for three months: every record is used
TERRITORY = ('territory.scope="kabkota"',
             'territory.codes=["31.01","65.04","91.19","96.04"]',
             "territory.fraction=0.5", "scenario.months=3")


def _ctx() -> SimpleNamespace:
    """The parts of a region's context that hold records."""
    return SimpleNamespace(
        props=SimpleNamespace(transitions=Transitions()),
        mon=SimpleNamespace(waits={s: array("d") for s in STAGES},
                            redeem_wait_days=array("d"), travel_min=array("d")),
        agents=SimpleNamespace(atm_waits=array("d")))


def test_parts_read_back_in_order_and_columns_stay_the_same_objects() -> None:
    spill = Spill()
    ctx = _ctx()
    waits = ctx.mon.redeem_wait_days
    want_waits: list[float] = []
    want_tr: list[tuple[int, int, float]] = []
    for k in range(7):
        for j in range(k + 1):
            waits.append(k + j / 10)
            want_waits.append(k + j / 10)
            ctx.props.transitions.append(10 * k + j, j % 5, k * 1.5 + j)
            want_tr.append((10 * k + j, j % 5, k * 1.5 + j))
        spill.flush(3, ctx, minimum=3)  # only windows with >= 3 values go to a part
        assert len(waits) < 3 and ctx.mon.redeem_wait_days is waits
    kept = len(waits)
    assert kept == 0  # the last windows held more than 3 values each
    assert spill.path(3, "redeem_wait_days").exists()
    assert not spill.path(3, "travel_min").exists()  # never held a value
    spill.flush(3, ctx, minimum=0)
    assert spill.totals(3)["redeem_wait_days"] == len(want_waits)
    assert spill.read(3, "redeem_wait_days").tolist() == want_waits
    got = zip(spill.read(3, "transition_i").tolist(), spill.read(3, "transition_state").tolist(),
              spill.read(3, "transition_t").tolist(), strict=True)
    assert list(got) == want_tr
    assert spill.read(3, "travel_min").dtype == np.float64 and not len(spill.read(3, "atm_waits"))
    root = spill.root
    spill.close()
    assert not root.exists()


def test_a_truncated_part_file_is_an_error_not_a_short_record() -> None:
    spill = Spill()
    ctx = _ctx()
    for v in range(10):
        ctx.mon.travel_min.append(float(v))
    spill.flush(0, ctx, minimum=0)
    path = spill.path(0, "travel_min")
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(OSError, match="9 values, 10 were spilled"):
        spill.read(0, "travel_min")
    spill.close()


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_results_identical_spilled_every_barrier_or_once_at_the_end(tmp_path, monkeypatch) -> None:
    scen = load(SCENARIOS / "baseline.toml", list(TERRITORY))
    written: list[int] = []
    roots: list[Path] = []
    flush = Spill.flush

    def spy(self, region, ctx, minimum=None):
        before = sum(self.counts.values())
        flush(self, region, ctx, minimum)
        if minimum is None:  # a barrier, not the end
            written.append(sum(self.counts.values()) - before)
        roots.append(self.root)

    monkeypatch.setattr(Spill, "flush", spy)
    monkeypatch.setattr(records, "SPILL_VALUES", 1)
    outputs.write(run(scen, partitions=2), tmp_path / "every")
    assert sum(written) > 0  # records left the regions during the run
    assert roots and not any(r.exists() for r in roots)  # and their files after it
    written.clear()
    monkeypatch.setattr(records, "SPILL_VALUES", 1 << 62)
    outputs.write(run(scen), tmp_path / "end")
    assert sum(written) == 0
    assert _files(tmp_path / "every") == _files(tmp_path / "end")


@given(chunks=st.lists(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=40),
                       max_size=6))
@settings(max_examples=60, deadline=None)
def test_stored_column_gives_back_what_was_appended(chunks: list[list[float]]) -> None:
    col = records.Stored(np.float64)
    want: list[float] = []
    for chunk in chunks:
        col.extend(np.asarray(chunk, dtype=np.float64))
        want += chunk
    assert len(col) == len(want) and bool(col) == bool(want)
    got = col.values()
    assert got.dtype == np.float64 and got.flags.writeable
    assert got.tobytes() == np.asarray(want, dtype=np.float64).tobytes()
    got[:] = 0.0  # each read is a new array: the column does not change
    assert np.asarray(col).tobytes() == np.asarray(want, dtype=np.float64).tobytes()
    again = pickle.loads(pickle.dumps(col))  # by value, into a file of its own
    assert again.values().tobytes() == col.values().tobytes()
    col.close()
    assert len(col) == 0 and again.values().tobytes() == np.asarray(
        want, dtype=np.float64).tobytes()


def test_stored_transitions_iterate_as_the_log_did() -> None:
    log = Transitions()
    stored = records.StoredTransitions(*(records.Stored(records.DTYPES[f"transition_{c}"])
                                         for c in ("i", "state", "t")))
    for k in range(50):
        log.append(k // 3, k % 7, k * 0.25)
    stored.i.extend(np.asarray(log.i))
    stored.state.extend(np.asarray(log.state))
    stored.t.extend(np.asarray(log.t))
    assert len(stored) == len(log) == 50
    assert list(stored) == list(log)
    assert all(type(i) is int for i, _, _ in stored)
    wide = np.asarray(stored.state, dtype=np.int64)  # read whole, cast as the caller asks
    assert wide.dtype == np.int64 and wide.tolist() == list(log.state)


@given(values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=1,
                       max_size=200),
       q=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
@settings(max_examples=150, deadline=None)
def test_quantile_in_place_is_the_quantile_of_a_copy(values: list[float], q: float) -> None:
    arr = np.asarray(values, dtype=np.float64)
    want = outputs._q(arr.copy(), q)
    got = outputs._q(arr, q, own=True)
    assert np.isnan(want) if np.isnan(got) else got == want


def test_a_merged_run_keeps_its_records_on_disk() -> None:
    """The merged run holds every record as a `Stored` column (an anonymous file), the same
    values as the regions recorded."""
    res = run(load(SCENARIOS / "baseline.toml", list(TERRITORY)), partitions=2)
    ctx = res.ctx
    stored = [ctx.props.transitions.i, ctx.props.transitions.state, ctx.props.transitions.t,
              ctx.mon.redeem_wait_days, ctx.mon.travel_min, ctx.agents.atm_waits,
              *ctx.mon.waits.values()]
    assert all(isinstance(c, records.Stored) for c in stored)
    assert len(ctx.props.transitions) > 0 and len(ctx.mon.travel_min) > 0
    assert len(ctx.mon.redeem_wait_days) > 0
    i = np.asarray(ctx.props.transitions.i)
    assert i.min() >= 0 and i.max() < len(ctx.props)  # renumbered region by region
