"""DTSEN ranks every family of the population [DTSEN-2025-07]: a removed family stays ranked.

In the DTSEN era (``register.ranking = "population"``) a family removed for any reason but death
keeps its place in the population's deciles, barred from every programme until proposed again
(`STATUS_BARRED`, docs/monthly.md §2.5); a death leaves the population (`STATUS_DIED`). At a
dated DTKS -> DTSEN switch the families removed from DTKS before it, but the dead, are ranked
the same way (`sim.model.enumeration`). The DTKS era's register ranks only its own members.
The engine's rules are held on hand-made rows by tests/sim/test_monthly_rules.py and against
the plain twin by tests/sim/test_monthly_property.py; these runs check the model's wiring.
"""

from __future__ import annotations

import numpy as np

from sim.hotpath import changes as ch
from sim.hotpath.monthly import record_reasons
from sim.model.run import run
from sim.registry.table import (
    STATUS_BARRED,
    STATUS_DIED,
    STATUS_IN_DTKS,
    STATUS_REMOVED,
)
from sim.scenario.loader import load
from tests.sim.model.conftest import SCENARIOS

#: Jawa Tengah at 0.1%: about 12k households
CENTRAL_JAVA = ('territory.scope="provinces"', 'territory.codes=["33"]', "territory.fraction=0.001")
SWITCH = ('[[events]]\nname = "DTSEN"\nmonth = "2025-02"\nsource = "[DTSEN-2025-02]"\n'
          '[events.register]\nranking = "population"\n')


def _removed(res, reasons) -> int:
    names = [ch.REMOVAL_REASONS[r] for r in reasons]
    return sum(r.removed[name] for _, r in res.ctx.decree_results for name in names)


def test_dtsen_era_keeps_removed_families_ranked_and_barred() -> None:
    res = run(load(SCENARIOS / "dtsen_2025.toml", CENTRAL_JAVA))
    reg = res.ctx.registry
    status, desil, prog = reg["status"], reg["desil"], reg["programmes"]
    barred = status == STATUS_BARRED
    died = status == STATUS_DIED
    # every removal by request but death bars (some barred families were proposed again)
    assert 0 < barred.sum() <= _removed(res, ch.BARRING_REASONS)
    assert died.sum() == _removed(res, [ch.DIED]) > 0
    assert (desil[barred] > 0).all() and (prog[barred] == 0).all()
    assert (desil[died] == 0).all() and (prog[died] == 0).all()
    ranked = (status == STATUS_IN_DTKS) | barred
    assert np.array_equal(desil > 0, ranked)
    # the population's deciles: each holds a tenth of the ranked families
    counts = np.bincount(desil[ranked], minlength=11)[1:]
    assert counts.max() - counts.min() <= 1


def test_dtks_era_removals_leave_the_register_ranking() -> None:
    res = run(load(SCENARIOS / "baseline.toml", CENTRAL_JAVA))
    reg = res.ctx.registry
    status, desil = reg["status"], reg["desil"]
    assert not (status == STATUS_BARRED).any()
    assert (status == STATUS_DIED).sum() == _removed(res, [ch.DIED]) > 0
    assert np.array_equal(desil > 0, status == STATUS_IN_DTKS)


def test_the_switch_ranks_the_families_dtks_removed_but_the_dead(tmp_path) -> None:
    path = tmp_path / "switch.toml"
    path.write_text(f'extends = "{SCENARIOS / "baseline.toml"}"\n{SWITCH}', encoding="utf-8")
    res = run(load(path, (*CENTRAL_JAVA, "scenario.months=4")))
    reg = res.ctx.registry
    status, desil = reg["status"], reg["desil"]
    assert res.ctx.mon.counts["enumeration_barred"] > 0
    barred = status == STATUS_BARRED
    assert (desil[barred] > 0).all() and (reg["programmes"][barred] == 0).all()
    assert (desil[status == STATUS_DIED] == 0).all()
    # what is left unranked among the removed failed the record checks (DESIL-0)
    gone = np.flatnonzero(status == STATUS_REMOVED)
    assert (record_reasons(reg["nik"][gone], reg["kk"][gone], reg["dukcapil_match"][gone],
                           reg["pmt_score"][gone]) != 0).all()
