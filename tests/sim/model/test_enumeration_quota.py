"""The programmes' quotas at the DTKS -> DTSEN enumeration decree (`sim.model.enumeration`).

The quotas are split over kab/kota by the register (`sim.model.engine.quotas`). The enumeration
changes the register from DTKS (about half of the households, a kab/kota share that varies) to the
population, so at its decree the split is recomputed by the register as the enumeration leaves
it (`enumeration.register_after`), and a budget ceiling (`sim.model.ceiling.cap_quotas`) scales
that split, not the old register's.
"""

from __future__ import annotations

import numpy as np

from sim.hotpath.monthly import record_reasons
from sim.model import enumeration
from sim.model.engine import quotas
from sim.model.run import built, run
from sim.registry import regions
from sim.registry.table import STATUS_IN_DTKS, STATUS_NOT_IN_DTKS, STATUS_REMOVED
from sim.scenario.loader import load
from tests.sim.model.conftest import SCENARIOS

#: Jawa Tengah (35 kab/kota) at 0.1%: about 12k households, the switch in February, 3 decrees
CENTRAL_JAVA = ('territory.scope="provinces"', 'territory.codes=["33"]', "territory.fraction=0.001",
       "scenario.months=4")
SWITCH = ('[[events]]\nname = "DTSEN"\nmonth = "2025-02"\nsource = "[DTSEN-2025-02]"\n'
          '[events.register]\nranking = "population"\n')


def _scenario(tmp_path, extra: str = "") -> object:
    path = tmp_path / "switch.toml"
    path.write_text(f'extends = "{SCENARIOS / "baseline.toml"}"\n{extra}{SWITCH}',
                    encoding="utf-8")
    return load(path, CENTRAL_JAVA)


def test_register_after_enters_the_valid_proposals_only() -> None:
    reg = built(load(SCENARIOS / "baseline.toml", CENTRAL_JAVA)).registry
    status = reg["status"]
    outside = np.flatnonzero(status == STATUS_NOT_IN_DTKS)[:200]
    reg["dukcapil_match"][outside[:50]] = False
    proposals = [(int(r), 1.0, False) for r in outside]
    mask = enumeration.register_after(reg, proposals)
    assert mask[status == STATUS_IN_DTKS].all()
    assert not mask[status == STATUS_REMOVED].any()
    assert not mask[outside[:50]].any()
    # the others enter when their record passes docs/monthly.md §2.1 (the engine's own check)
    rest = outside[50:]
    ok = record_reasons(reg["nik"][rest], reg["kk"][rest], reg["dukcapil_match"][rest],
                        np.ones(len(rest))) == 0
    assert ok.sum() > 100 and np.array_equal(mask[rest], ok)
    untouched = np.setdiff1d(np.flatnonzero(status == STATUS_NOT_IN_DTKS), outside)
    assert not mask[untouched].any()
    # the split over kab/kota by that mask is the split of a register holding exactly those rows
    code = regions.load().province_code
    p = built(load(SCENARIOS / "baseline.toml", CENTRAL_JAVA)).p
    want = reg.copy()
    want["status"][:] = np.where(mask, STATUS_IN_DTKS, STATUS_NOT_IN_DTKS)
    assert np.array_equal(quotas(p, reg, code, in_register=mask), quotas(p, want, code))


def _split(q: np.ndarray) -> np.ndarray:
    kab = q.sum(axis=0) > 0
    return q[:, kab] / q[:, kab].sum(axis=1, keepdims=True)


def test_quotas_follow_the_enumerated_register_from_the_switch(tmp_path) -> None:
    scen = _scenario(tmp_path)
    before = built(scen)
    old = before.engine.params.quota.copy()
    res = run(scen)
    reg = res.ctx.registry
    code = regions.load().province_code
    standing = res.ctx.engine.params.quota
    # the national totals do not move, only their split over kab/kota
    assert np.abs(standing[:2].sum(axis=1) - old[:2].sum(axis=1)).max() <= 5
    # the split is the population's: the register at the end of the run (the enumerated one,
    # moved only by 2 months of churn), not the DTKS register the run started with
    now = quotas(res.ctx.p, reg, code)
    moved = np.abs(_split(old) - _split(now))[:2].max()
    assert moved > 0.002  # the DTKS share of the households differs between kab/kota
    assert np.abs(_split(standing) - _split(now))[:2].max() < moved / 4
    assert res.ctx.enumerated


def test_a_budget_ceiling_caps_the_enumerated_split(tmp_path) -> None:
    """A binding BPNT line at the switch: the decree after it admits the capped quota in the
    population's split (each kab/kota's BPNT recipients at most its re-split quota scaled)."""
    scen = _scenario(tmp_path, "[programmes]\nbpnt_budget_rp = 9_000_000_000_000\n")
    res = run(scen)
    ctx = res.ctx
    rows = [r for r in ctx.ceilings.rows() if r["programme"] == "bpnt"]
    assert rows and rows[0]["capped_decrees"] > 0
    standing = ctx.engine.params.quota
    cap = rows[0]["cap_kpm"]
    reg = ctx.registry
    bpnt = ((reg["programmes"] & 1) != 0) & (reg["status"] == STATUS_IN_DTKS)
    got = np.bincount(reg["kabkota"][bpnt].astype(np.int64), minlength=standing.shape[1])
    scaled = np.floor(standing[0] * (cap / standing[0].sum()))
    assert got.sum() <= cap
    assert (got <= scaled).all()
    # the old register's split would have given some kab/kota more than it holds now
    assert np.abs(_split(standing) - _split(built(scen).engine.params.quota))[0].max() > 0.002


def test_the_dtsen_switch_scenario_enumerates_the_population_at_its_first_decree() -> None:
    """scenarios/dtsen_switch.toml is the switch as it happened: the quarterly cycle and the
    population enumerated and ranked at the first DTSEN decree (as the backtest timeline's)."""
    from tests.sim.model.conftest import run_small

    res = run_small("dtsen_switch")
    ctx = res.ctx
    assert ctx.p["register"]["ranking"] == "population" and ctx.enumerated
    assert ctx.mon.counts["enumerated"] > 0 and ctx.mon.counts["reranks"] > 0
    results = dict(ctx.decree_results)
    n = len(ctx.registry)
    assert results[300].dtks < 0.6 * n   # January 2025: the DTKS register
    assert 301 not in results and 302 not in results  # quarterly from the switch
    assert results[303].dtks > 0.9 * n   # April 2025, the first DTSEN decree: the population
    base = run_small("baseline")
    assert dict(base.ctx.decree_results)[303].dtks < 0.6 * n
