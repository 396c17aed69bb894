"""Per-programme decrees (`sim.model.programme_decrees`, the engine's ``Params.standing``).

* no schedule (``[]``) is the joint decree: the same run;
* PKH decreed only in its months while BPNT is decreed every month: at the other decrees nobody
  enters PKH and PKH holders leave only when they leave the register, while BPNT moves;
* a programme's own deciles take effect at its own decree: a dated change of ``pkh_max_desil``
  in February moves PKH only at its April decree;
* a month outside 1-12 is one ConfigError.
(The twins agree with standing lists: tests/sim/test_monthly_property.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kks_emulator.errors import ConfigError
from sim.model.run import run
from sim.outputs import results as outputs
from sim.scenario.loader import load
from tests.sim.model.conftest import SCENARIOS

BASE = SCENARIOS / "baseline.toml"
TINY = ('territory.scope="kabkota"', 'territory.codes=["33.71"]', "territory.fraction=0.1",
        "scenario.months=6")
#: periods of 2025 by month (months since January 2000)
_MONTH = {300 + m - 1: m for m in range(1, 13)}


def test_no_schedule_is_the_joint_decree() -> None:
    a = run(load(BASE, TINY))
    b = run(load(BASE, [*TINY, "programmes.pkh_decree_months=[]",
                        "programmes.bpnt_decree_months=[]"]))
    assert outputs.kpis(a) == outputs.kpis(b)
    assert a.ctx.mon.months == b.ctx.mon.months


def test_pkh_list_stands_between_its_decrees_while_bpnt_moves() -> None:
    res = run(load(BASE, [*TINY, "programmes.pkh_decree_months=[1, 4]"]))
    own = [(p, r) for p, r in res.ctx.decree_results]
    assert len(own) == 6
    moved_bpnt = 0
    for period, r in own:
        left = {k: v for k, v in r.left["pkh"].items() if v}
        if _MONTH[period] in (1, 4):
            continue
        assert r.entered["pkh"] == 0, period
        assert set(left) <= {"removed"}, (period, left)
        moved_bpnt += r.entered["bpnt"]
    assert moved_bpnt > 0  # BPNT is decreed every month meanwhile
    # at its own decrees PKH takes entrants again
    assert sum(r.entered["pkh"] for p, r in own if _MONTH[p] in (1, 4)) > 0


def test_own_deciles_take_effect_at_the_programmes_own_decree(tmp_path: Path) -> None:
    path = tmp_path / "pkh.toml"
    path.write_text(f'extends = "{BASE}"\n[programmes]\npkh_decree_months = [4]\n[[events]]\n'
                    'name = "PKH to deciles 1-2"\ndate = 2025-02-01\n[events.programmes]\n'
                    "pkh_max_desil = 2\n", encoding="utf-8")
    res = run(load(path, TINY))
    by = dict(res.ctx.decree_results)
    assert by[301].left["pkh"]["desil"] == 0 and by[302].left["pkh"]["desil"] == 0
    assert by[303].left["pkh"]["desil"] > 0          # April: PKH's own decree
    assert by[301].recipients["pkh"] >= by[302].recipients["pkh"] > by[303].recipients["pkh"]


def test_a_month_outside_the_year_is_one_config_error() -> None:
    with pytest.raises(ConfigError) as exc:
        load(BASE, [*TINY, "programmes.pbi_decree_months=[2, 13]"])
    assert exc.value.key == "programmes.pbi_decree_months"
