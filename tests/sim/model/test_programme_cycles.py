"""Programme cycles in the flow model: paused tranches and rapel, one-off rounds (BLT), regional
bank shares, musdes frequency, appeals, graduation reporting and DTSEN re-ranking.

Each runs a tiny territory (Kota Magelang at a 10-20% sample, a few months) so the file stays
within a few seconds per test.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from kks_emulator.errors import ConfigError
from sim.model.context import S
from sim.model.run import run
from sim.outputs import budget
from sim.scenario.loader import BANKS, load
from sim.scenario.streams import SOURCE_KEYS
from tests.sim.model.conftest import SCENARIOS

BASE = SCENARIOS / "baseline.toml"
TINY = ('territory.scope="kabkota"', 'territory.codes=["33.71"]', "territory.fraction=0.2")


def _load(tmp_path: Path, body: str, *extra: str):
    p = tmp_path / "s.toml"
    p.write_text(f'extends = "{BASE}"\n{body}')
    return load(p, [*TINY, *extra])


def test_paused_bpnt_is_paid_in_arrears_exactly_once(tmp_path: Path) -> None:
    scen = _load(tmp_path, "[disbursement]\narrears_tranches = 6\n"
                 '[[events]]\nname = "BPNT late"\nmonth = "2025-03"\n'
                 "[events.programmes]\nbpnt_paused = true\n"
                 '[[events]]\nname = "BPNT paid with rapel"\nmonth = "2025-05"\n'
                 "[events.programmes]\nbpnt_paused = false\n", "scenario.months=6")
    res = run(scen)
    months = {m["date"][:7]: m for m in res.ctx.mon.months}
    for m in ("2025-03", "2025-04"):
        assert months[m]["bpnt_rp"] == 0 and months[m]["bpnt_credits"] == 0
        assert months[m]["bpnt_withheld"] > 0
    may = months["2025-05"]
    # every KPM withheld in March and April that is paid in May gets both tranches as rapel
    assert may["bpnt_arrears"] >= months["2025-04"]["bpnt_withheld"] - may["bpnt_withheld"] - 50
    assert may["bpnt_rp"] == 200_000 * (may["bpnt_credits"] + may["bpnt_arrears"])
    # over the run, BPNT money credited = tranches paid (own + arrears) x the amount
    total = sum(m["bpnt_rp"] for m in months.values())
    tranches = sum(m["bpnt_credits"] + m["bpnt_arrears"] for m in months.values())
    assert total == 200_000 * tranches
    led = res.ctx.engine.ledger
    assert led.funded == led.credited


def test_without_arrears_paused_tranches_are_lost(tmp_path: Path) -> None:
    scen = _load(tmp_path, '[[events]]\nname = "BPNT late"\nmonth = "2025-03"\n'
                 "[events.programmes]\nbpnt_paused = true\n"
                 '[[events]]\nname = "BPNT resumes"\nmonth = "2025-04"\n'
                 "[events.programmes]\nbpnt_paused = false\n", "scenario.months=5")
    months = run(scen).ctx.mon.months
    assert all(m["bpnt_arrears"] == 0 for m in months)
    assert months[3]["bpnt_rp"] == 200_000 * months[3]["bpnt_credits"] > 0


def test_blt_round_pays_deciles_once_and_conserves_money(tmp_path: Path) -> None:
    scen = _load(tmp_path, '[[events]]\nname = "BLTS 2025"\ndate = 2025-03-03\n'
                 '[events.oneoff]\namount = 900000\nshare = 0.3\nmax_desil = 4\n'
                 "window_days = 45\ncollect_prob = 0.9\n", "scenario.months=5")
    res = run(scen)
    led = res.ctx.oneoff
    assert len(led.rounds) == 1 and led.rounds[0]["date"] == "2025-03-03"
    n = led.rounds[0]["recipients"]
    assert n > 0 and led.budget == 900_000 * n
    assert led.budget == led.paid + led.returned + led.outstanding and led.outstanding == 0
    assert 0.8 < led.paid / led.budget < 0.97
    rows = budget.rows(res.ctx)
    blt = [r for r in rows if r["programme"] == "BLT"]
    assert sum(r["credited_rp"] for r in blt) == led.paid
    assert sum(r["returned_rp"] for r in blt) == led.returned
    assert sum(r["decreed_rp"] for r in blt) == led.budget
    assert {r["month"] for r in blt if r["credited_rp"]} <= {"2025-03", "2025-04"}
    assert all(r["credited_rp"] % 900_000 == 0 for r in blt)


def test_blt_recipients_are_the_poorest_eligible_deciles(tmp_path: Path) -> None:
    from sim.model import oneoff

    res = run(_load(tmp_path, "", "scenario.months=1"))
    rows = oneoff.recipients(res.ctx, 0.2, 3)
    desil = res.ctx.registry["desil"]
    assert len(rows) and set(np.unique(desil[rows]).tolist()) <= {1, 2, 3}
    assert len(np.unique(rows)) == len(rows)


def test_regional_bank_shares_aceh_pays_through_bsi(tmp_path: Path) -> None:
    scen = _load(tmp_path, '[issuance.bank_shares_by_province]\n"11" = { BSI = 1.0 }\n',
                 'territory.codes=["11.71"]', "scenario.months=2")
    res = run(scen)
    reg = res.ctx.registry
    opened = np.flatnonzero(reg["bank"] >= 0)  # accounts opened (stock and new)
    assert len(opened) and set(reg["bank"][opened].tolist()) == {BANKS.index("BSI")}
    other = run(_load(tmp_path, "", "scenario.months=2"))  # Magelang keeps the national split
    opened2 = np.flatnonzero(other.ctx.registry["bank"] >= 0)
    assert len(set(other.ctx.registry["bank"][opened2].tolist())) > 1


def test_regional_bank_shares_validate(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, '[issuance.bank_shares_by_province]\n"11" = { BSI = 0.5 }\n')
    assert err.value.key == "issuance.bank_shares_by_province.11"
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, '[issuance.bank_shares_by_province]\n"Aceh" = { BSI = 1.0 }\n')
    assert err.value.key == "issuance.bank_shares_by_province.Aceh"


def test_musdes_every_three_months_in_one_kabkota(tmp_path: Path) -> None:
    scen = _load(tmp_path, '[verification]\nmusdes_every_by_kabkota = { "33.71" = 3 }\n',
                 "scenario.months=7")
    res = run(scen)
    props, cal = res.ctx.props, res.ctx.cal
    passed = [t for (i, state, t) in props.transitions if state == S["verval"]
              and props.source[i] != SOURCE_KEYS["pmks"]]
    assert passed
    months = {cal.date(t).month for t in passed}
    assert months <= {1, 4, 7}  # (12 * year + month - 1) % 3 == 0: January, April, July


def test_appeals_come_back_through_their_own_channel(tmp_path: Path) -> None:
    scen = _load(tmp_path, "[verification]\nappeal_prob = 1.0\nappeal_wait_days = 20.0\n",
                 "scenario.months=6")
    res = run(scen)
    props = res.ctx.props
    appeals = [i for i in range(len(props)) if props.source[i] == SOURCE_KEYS["appeal"]]
    assert appeals
    rejected_at = {}
    for i, state, t in props.transitions:
        if state == S["rejected_verval"]:
            rejected_at.setdefault(props.row[i], []).append(t)
    for i in appeals:
        assert any(props.t_arrive[i] >= t + 20.0 - 1e-9 for t in rejected_at[props.row[i]])
        assert props.state[i] != S["dropped_musdes"]  # no musdes on the appeal channel


def test_graduation_reporting_rate(tmp_path: Path) -> None:
    never = run(_load(tmp_path, "[churn]\ngraduation_report_prob = 0.0\n", "scenario.months=4"))
    counts = never.ctx.mon.counts
    assert counts.get("graduations_unreported", 0) > 0
    always = run(_load(tmp_path, "", "scenario.months=4"))
    assert "graduations_unreported" not in always.ctx.mon.counts


def test_quarterly_rerank_takes_the_full_path(tmp_path: Path, monkeypatch) -> None:
    from sim.model.engine import Engine

    calls = []
    orig = Engine.invalidate
    monkeypatch.setattr(Engine, "invalidate", lambda self: (calls.append(1), orig(self)))
    res = run(_load(tmp_path, "[penetapan]\nrerank_every_months = 3\nrerank_refresh = 0.5\n",
                    "scenario.months=7"))
    # decrees of January, April and July 2025 re-rank every household
    assert res.ctx.mon.counts["reranks"] == len(calls) == 3
    assert res.ctx.mon.counts["rerank_refreshed"] > 0
    decreed = [p for p, _ in res.ctx.decree_results]
    assert [p for p in decreed if p % 3 == 0] == [300, 303, 306]


def test_event_dates_are_model_days(tmp_path: Path) -> None:
    scen = _load(tmp_path, '[[events]]\nname = "x"\ndate = 2025-02-14\n'
                 "[events.churn]\ngraduation_per_year = 0.2\n", "scenario.months=3")
    res = run(scen)
    assert res.ctx.mon.timeline[0]["day"] == (dt.date(2025, 2, 14) - dt.date(2025, 1, 1)).days
    assert res.ctx.p["churn"]["graduation_per_year"] == 0.2
