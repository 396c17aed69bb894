"""Target groups of the Kemensos error shares (sim/calibration/targets.py): deciles of households
or persons on the DTSEN ranking, PKH-qualifying members, and rows that name their group."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kks_emulator.errors import ConfigError
from sim.calibration import backtest as bt
from sim.calibration import targets
from sim.model import targeting


def test_household_deciles_hold_a_tenth_of_the_households_each() -> None:
    score = np.arange(20, 0, -1, dtype=np.float64)  # row 19 is the poorest
    d = targeting.deciles(score)
    assert np.bincount(d, minlength=11)[1:].tolist() == [2] * 10
    assert d[19] == 1 and d[0] == 10


def test_person_deciles_hold_a_tenth_of_the_persons_each() -> None:
    """Poorer households are larger: desil 1 of persons holds fewer households."""
    score = np.arange(10, dtype=np.float64)
    size = np.array([10, 10, 5, 5, 5, 5, 2, 2, 3, 3])  # 50 persons, poorest first
    d = targeting.deciles(score, size)
    # persons before each household: 0, 10, 20, 25, 30, 35, 40, 42, 44, 47 -> desil 1+floor(x/5)
    assert d.tolist() == [1, 3, 5, 6, 7, 8, 9, 9, 9, 10]
    group = targets.TargetGroup("dtsen", 1, 2, "persons")
    cols = {"size": size, **{m: np.zeros(10, dtype=np.uint8) for m in targets.PRIORITY}}
    assert targets.mask(group, cols, score, np.zeros(10)).tolist() == [True] + [False] * 9


def test_the_dtsen_ranking_is_welfare_seen_through_the_pmt_error() -> None:
    log_c = np.array([1.0, 2.0, 3.0, 4.0])
    err = np.array([5.0, 0.0, 0.0, -5.0])  # row 0 looks rich, row 3 looks poor
    cols = {"size": np.ones(4, dtype=np.uint8),
            **{m: np.zeros(4, dtype=np.uint8) for m in targets.PRIORITY}}
    cols["n_elderly"] = np.array([0, 1, 1, 1], dtype=np.uint8)
    poorest_half = targets.TargetGroup("dtsen", 1, 5)
    assert targets.mask(poorest_half, cols, log_c, err).tolist() == [False, True, False, True]
    by_consumption = targets.TargetGroup("consumption", 1, 5)
    assert targets.mask(by_consumption, cols, log_c, err).tolist() == [True, True, False, False]
    pkh_only = targets.TargetGroup("consumption", 1, 5, members="pkh")
    assert targets.mask(pkh_only, cols, log_c, err).tolist() == [False, True, False, False]


def test_shares_against_a_group_satisfy_the_identity_of_a_published_pair() -> None:
    """(1 - inclusion) x recipients = (1 - exclusion) x group: both count the overlap."""
    rng = np.random.default_rng(3)
    rec = rng.random(1000) < 0.2
    group = rng.random(1000) < 0.17
    prog = np.where(rec, targets.PROGRAMMES["bpnt"], 0).astype(np.uint8)
    s = targets.shares(prog, group)
    inc, exc = s["kemensos_inclusion_share_bpnt"], s["kemensos_exclusion_share_bpnt"]
    assert (1 - inc) * rec.sum() == pytest.approx((1 - exc) * group.sum())
    assert np.isnan(s["kemensos_inclusion_share_pkh"])  # no PKH recipients


@pytest.mark.parametrize("table", [
    {"deciles": [0, 4]}, {"deciles": [5, 4]}, {"deciles": [1, 4], "unit": "families"},
    {"deciles": [1, 4], "ranking": "pmt"}, {"deciles": [1, 4], "colour": "red"}, "desil 1-4",
])
def test_a_bad_target_is_one_config_error(table) -> None:
    with pytest.raises(ConfigError) as exc:
        targets.parse("rows.toml", "row[0].target", table)
    assert "row[0].target" in str(exc.value)


def test_a_kemensos_row_names_its_target_group(tmp_path: Path) -> None:
    head = ('[era.a]\nscenario = "scenarios/baseline.toml"\n[[row]]\nfigure = "x"\n'
            'published = 0.3\nunit = "share"\nsource = "KEMENSOS-ERR-2026"\n'
            'tolerance = "rate"\nera = "a"\nsample = "out"\n')
    path = tmp_path / "rows.toml"
    path.write_text(head + 'measure = "kemensos:inclusion:bpnt"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"row\[0\]\.target"):
        bt.load_rows(path)
    path.write_text(head + 'measure = "kemensos:inclusion:bpnt"\n'
                    'target = { deciles = [1, 2], unit = "persons" }\n', encoding="utf-8")
    _, rows = bt.load_rows(path)
    assert rows[0].target == targets.TargetGroup("dtsen", 1, 2, "persons")
    assert bt.measure(rows[0], {bt.target_key(rows[0].measure, rows[0].target): 0.25}) == 0.25
    path.write_text(head + 'measure = "kpi:recipients_bpnt"\n'
                    'target = { deciles = [1, 2] }\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"row\[0\]\.target"):
        bt.load_rows(path)
