"""Rupiah budget ceilings of the regular programmes (`sim.model.ceiling`).

* over random ceilings (hypothesis): BPNT and PKH never spend more than their line in a fiscal
  year, every month's money still adds up per programme (the engine checks funded = credited and
  stops otherwise), and budget.csv's ``ytd_rp`` is the running sum read against ``ceiling_rp``;
* admission in rank order: the stock a binding ceiling admits is, in every kab/kota, the poorest
  part of the stock without it;
* a budget cut during the year withholds the tranche the line cannot pay (owed, then arrears);
* no ceiling (0) is the run without the keys; a negative line is one ConfigError;
* the report and summary.json show the use against the ceiling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kks_emulator.errors import ConfigError
from sim.model import ceiling
from sim.model.run import built, run
from sim.outputs import budget
from sim.outputs import results as outputs
from sim.scenario.loader import load
from tests.sim.model.conftest import SCENARIOS

BASE = SCENARIOS / "baseline.toml"
TINY = ('territory.scope="kabkota"', 'territory.codes=["33.71"]', "territory.fraction=0.1",
        "scenario.months=6")
_UNCAPPED: list = []


def _uncapped():
    if not _UNCAPPED:
        _UNCAPPED.append(run(load(BASE, TINY)))
    return _UNCAPPED[0]


def _yearly(res, prog: str) -> int:
    return sum(r["credited_rp"] for r in budget.rows(res.ctx) if r["programme"] == prog)


def _national(res, prog: str, share: float) -> int:
    """A national line that is *share* of what the uncapped run spends in its months."""
    return int(_yearly(res, prog) * share / res.ctx.frame.national_share)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bpnt=st.floats(0.2, 1.3), pkh=st.floats(0.2, 1.3), pbi=st.floats(0.2, 1.3))
def test_a_programme_never_spends_more_than_its_line(bpnt: float, pkh: float,
                                                     pbi: float) -> None:
    base = _uncapped()
    lines = {"bpnt": _national(base, "bpnt", bpnt), "pkh": _national(base, "pkh", pkh),
             "pbi": _national(base, "pbi", pbi)}
    res = run(load(BASE, [*TINY, *(f"programmes.{p}_budget_rp={v}" for p, v in lines.items())]))
    rows = budget.rows(res.ctx)
    for prog in ("bpnt", "pkh"):
        mine = [r for r in rows if r["programme"] == prog]
        assert all(r["ceiling_rp"] == ceiling.ceiling(res.ctx, prog) > 0 for r in mine)
        assert mine[-1]["ytd_rp"] == sum(r["credited_rp"] for r in mine) <= mine[-1]["ceiling_rp"]
        assert all(r["conserved"] == 1 for r in mine)
    led = res.ctx.engine.ledger
    assert list(led.funded) == list(led.credited)
    # a line below what the uncapped run spends binds: less is spent
    for prog, share in (("bpnt", bpnt), ("pkh", pkh)):
        if share < 0.9:
            assert _yearly(res, prog) < _yearly(base, prog)


def test_the_stock_a_ceiling_admits_is_the_poorest_in_every_kabkota() -> None:
    free = built(load(BASE, TINY))
    line = _national(_uncapped(), "bpnt", 0.5)
    capped = built(load(BASE, [*TINY, f"programmes.bpnt_budget_rp={line}"]))
    reg_f, reg_c = free.registry, capped.registry
    had = (reg_f["programmes"] & 1) != 0
    has = (reg_c["programmes"] & 1) != 0
    assert 0 < has.sum() < had.sum()
    assert not np.any(has & ~had)  # nobody outside the free stock is admitted
    score, kab = reg_c["pmt_score"], reg_c["kabkota"]
    for k in np.unique(kab[had]):
        kept, dropped = has & (kab == k), had & ~has & (kab == k)
        if kept.any() and dropped.any():
            assert score[kept].max() <= score[dropped].min()
    assert capped.ceilings.rows()[0]["capped_decrees"] == 1


def test_a_budget_cut_withholds_the_tranche_it_cannot_pay(tmp_path: Path) -> None:
    base = _uncapped()
    line = _national(base, "pkh", 1.5)
    cut = _national(base, "pkh", 0.3)  # below what January's tranche already took
    path = tmp_path / "cut.toml"
    path.write_text(f'extends = "{BASE}"\n[programmes]\npkh_budget_rp = {line}\n[[events]]\n'
                    f'name = "APBN-P: PKH line cut"\ndate = 2025-04-01\n[events.programmes]\n'
                    f"pkh_budget_rp = {cut}\n", encoding="utf-8")
    res = run(load(path, TINY))
    april = next(m for m in res.ctx.mon.months if m["date"].startswith("2025-04"))
    assert april["pkh_rp"] == 0 and april["pkh_withheld"] > 0
    book = {(r["programme"], r["year"]): r for r in res.ctx.ceilings.rows()}
    assert book[("pkh", 2025)]["withheld_periods"] >= 1
    assert res.ctx.mon.counts["pkh_withheld_for_budget"] > 0
    rows = [r for r in budget.rows(res.ctx) if r["programme"] == "pkh"]
    assert {r["ceiling_rp"] for r in rows if r["month"] >= "2025-04"} == {
        ceiling.ceiling(res.ctx, "pkh")}


def test_no_ceiling_is_the_run_without_the_keys() -> None:
    zero = run(load(BASE, [*TINY, "programmes.bpnt_budget_rp=0", "programmes.pkh_budget_rp=0",
                           "programmes.pbi_budget_rp=0"]))
    base = _uncapped()
    assert outputs.kpis(zero) == outputs.kpis(base)
    assert zero.ctx.mon.months == base.ctx.mon.months
    assert budget.rows(zero.ctx) == budget.rows(base.ctx)
    assert all(r["ceiling_rp"] == 0 for r in budget.rows(base.ctx))
    assert budget.ceiling_section(base.ctx) is None


def test_a_negative_line_is_one_config_error() -> None:
    with pytest.raises(ConfigError) as exc:
        load(BASE, [*TINY, "programmes.pkh_budget_rp=-1"])
    assert exc.value.key == "programmes.pkh_budget_rp"


def test_report_and_summary_show_use_against_the_ceiling(tmp_path: Path) -> None:
    import json

    line = _national(_uncapped(), "pkh", 0.6)
    res = run(load(BASE, [*TINY, f"programmes.pkh_budget_rp={line}"]))
    out = tmp_path / "r"
    outputs.write(res, out)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    row = next(r for r in summary["budget_ceilings"] if r["programme"] == "pkh")
    assert row["within"] == 1 and 0 < row["used_rp"] <= row["ceiling_rp"]
    report = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="budget-ceilings"' in report
    header = (out / "budget.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.endswith("ytd_rp,ceiling_rp")
