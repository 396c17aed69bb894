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
from array import array
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

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
