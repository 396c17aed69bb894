"""One unit test per cause of the national mismatch found in issue 9 (docs/calibration.md):
units (PBI-JK in persons), two families of targeting errors, population-wide DTSEN deciles, and
the bank channel's PT Pos share under the 2025 rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.model import engine, frame
from sim.model import targeting as model_targeting
from sim.model.redemption import bank_cashout_days
from sim.model.run import built
from sim.outputs import results as outputs
from sim.registry.table import PROG_PBI, STATUS_IN_DTKS, pbi_persons
from sim.scenario.loader import load

ROOT = Path(__file__).resolve().parents[3]
#: a small territory (Kota Magelang, ~42k households) at a fifth of its households
SMALL = ('territory.scope="kabkota"', 'territory.codes=["33.71"]', "territory.fraction=0.2",
         "scenario.months=1")


def _ctx(name: str, *extra: str):
    return built(load(ROOT / "scenarios" / f"{name}.toml", [*SMALL, *extra]))


def test_pbi_quota_is_counted_in_persons() -> None:
    """The PBI-JK quota is a share of persons and the engine fills it in PBI-JK persons (the
    members not in another JKN segment): in every kab/kota the holders' PBI-JK persons reach the
    quota to within one household, never above it."""
    from sim.params import N_KABKOTA

    ctx = _ctx("dtsen_2025")
    reg, p = ctx.registry, ctx.p
    size = reg["size"].astype(np.int64)
    quota = engine.quotas(p, reg, np.zeros(1, dtype=np.int64))
    assert quota[2].sum() == pytest.approx(p["programmes"]["pbi_share"] * size.sum(), abs=300)
    pbi = (reg["programmes"] & PROG_PBI) != 0
    assert reg["n_other_jkn"].any()  # the scenarios' members in other JKN segments
    persons = pbi_persons(reg["size"], reg["n_other_jkn"]).astype(np.int64)
    kab = reg["kabkota"].astype(np.int64)
    held = np.bincount(kab[pbi], weights=persons[pbi], minlength=N_KABKOTA)
    live = ctx.engine.params.require_quota()[2]
    assert (held <= live).all()
    assert (live - held)[live > 0].max() < size.max()
    # households are counted alongside: fewer than the persons, more than persons / 15
    assert size.sum() / 15 < pbi.sum() < held.sum()


def test_pbi_kpis_report_persons_alongside_households() -> None:
    from sim.model.run import run

    res = run(load(ROOT / "scenarios" / "baseline.toml", list(SMALL)))
    k = outputs.kpis(res)
    reg, w = res.ctx.registry, res.ctx.frame.weight
    pbi = (reg["programmes"] & PROG_PBI) != 0
    assert k["recipients_pbi"] == round(int(pbi.sum()) * w)
    persons = pbi_persons(reg["size"][pbi], reg["n_other_jkn"][pbi]).astype(np.int64)
    assert k["recipients_pbi_persons"] == round(int(persons.sum()) * w)
    assert k["recipients_pbi_persons"] > 2 * k["recipients_pbi"]
    # the premium is budgeted per person: Rp 42,000 per person-month [PBI-PREMIUM]
    months = res.ctx.mon.months
    assert sum(m["pbi_premium_rp"] for m in months) % 42_000 == 0


def test_error_families_are_computed_apart() -> None:
    """10 households: target = poorest 4, poor = poorest 3, recipients = rows 2, 3, 5, 8."""
    rec = np.zeros(10, dtype=bool)
    rec[[2, 3, 5, 8]] = True
    target = np.arange(10) < 4
    poor = np.arange(10) < 3
    e = model_targeting.error_families(rec, target, poor)
    assert e["kemensos_inclusion_share"] == pytest.approx(2 / 4)   # 5, 8 of 4 recipients
    assert e["kemensos_exclusion_share"] == pytest.approx(2 / 4)   # 0, 1 of target 0-3
    assert e["alatas_inclusion_rate"] == pytest.approx(3 / 7)      # 3, 5, 8 of 7 non-poor
    assert e["alatas_exclusion_rate"] == pytest.approx(2 / 3)      # 0, 1 of poor 0-2


def test_kpis_name_both_families_and_no_ambiguous_error() -> None:
    from sim.model.run import run

    k = outputs.kpis(run(load(ROOT / "scenarios" / "baseline.toml", list(SMALL))))
    for prog in ("bpnt", "pkh", "pbi"):
        for fam in ("kemensos_inclusion_share", "kemensos_exclusion_share",
                    "alatas_inclusion_rate", "alatas_exclusion_rate"):
            assert 0.0 <= k[f"{fam}_{prog}"] <= 1.0
    assert not any(name.startswith(("inclusion_error", "exclusion_error")) for name in k)


def _score_rank(ctx) -> np.ndarray:
    n = len(ctx.registry)
    r = np.empty(n, dtype=np.int64)
    r[np.argsort(ctx.registry["pmt_score"], kind="stable")] = np.arange(n)
    return r


def test_dtsen_deciles_rank_the_whole_population() -> None:
    """DTSEN (ranking = population): desil 1-5 are the poorer half of all households by PMT
    score. DTKS era (ranking = register): desil 1-5 are the poorer half of the register only, a
    much smaller and different set."""
    dtsen = _ctx("dtsen_2025")
    reg = dtsen.registry
    n = len(reg)
    low = (reg["desil"] >= 1) & (reg["desil"] <= 5)
    assert low.sum() / n == pytest.approx(0.5 * (1 - dtsen.p["register"]["unranked_share"]),
                                          abs=0.02)
    poorer_half = _score_rank(dtsen) < n // 2
    assert (low & poorer_half).sum() / low.sum() > 0.95
    dtks = _ctx("baseline")
    reg_d = dtks.registry
    in_reg = reg_d["status"] == STATUS_IN_DTKS
    low_d = (reg_d["desil"] >= 1) & (reg_d["desil"] <= 5)
    assert low_d.sum() / len(reg_d) == pytest.approx(0.5 * in_reg.mean(), abs=0.02)
    assert low_d.sum() / len(reg_d) < 0.3
    assert frame.register_share(load(ROOT / "scenarios" / "baseline.toml")) == 0.47


def test_bank_cashout_days_are_geometric_with_the_given_median() -> None:
    u = np.random.default_rng(7).random(400_000)
    for median in (1.5, 2.23, 4.0):
        d = bank_cashout_days(u, median)
        assert d.min() == 1
        assert (d > 7).mean() == pytest.approx(2.0 ** (-7 / median), abs=0.003)


def test_bank_channel_pays_about_a_ninth_through_pt_pos() -> None:
    """2025 rules: KPM cash out early, so ~11.4% are left for PT Pos after the collection window
    [CHANNEL-Q4-2025]; the old uniform 1-14 day with a day-7 cut-off sent about half."""
    from sim.model.run import run

    dtsen = ROOT / "scenarios" / "dtsen_2025.toml"
    small = [*SMALL[:3], "scenario.months=3"]
    k = outputs.kpis(run(load(dtsen, small)))
    assert k["bank_channel_pos_share"] == pytest.approx(0.114, abs=0.03)
    old = outputs.kpis(run(load(dtsen, [*small, "disbursement.bank_cashout_median_days=0"])))
    assert old["bank_channel_pos_share"] == pytest.approx(0.5, abs=0.06)
