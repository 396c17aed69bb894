"""Card fidelity (docs/architecture.md, the bridge; docs/monthly.md §8): the vectorized engine vs
cards + issuers.

`sim.fidelity.run_card_fidelity` runs `sim.hotpath.monthly.run_month` +
`sim.hotpath.disburse.disburse` and
mirrors every credit, redemption and return of a region through personalised KKS cards, EDC
terminals and one issuer host per HIMBARA bank; these tests check its report (docs/monthly.md
§ "Card fidelity").
"""

from __future__ import annotations

from pathlib import Path

from sim.fidelity.mirror import FidelityReport, period_label, run_card_fidelity
from sim.params import params_for
from sim.registry.population import generate

#: Nov 2026, Dec 2026, Jan 2027: BPNT every month, the PKH tahap in January (324 % 3 == 0)
PERIODS = [322, 323, 324]
SEED = 7


def _run(tmp: Path, *, seed: int = SEED, omit=(), territory: str = "32.73", kabkota=None,
         **overrides) -> FidelityReport:
    registry = generate(300, seed, territory=territory)
    params = params_for(registry, **overrides)
    return run_card_fidelity(registry, params, PERIODS, tmp, seed, kabkota=kabkota,
                             omit_purchases=omit)


def test_period_label() -> None:
    assert period_label(0) == "2000-01"
    assert period_label(322) == "2026-11"
    assert period_label(324) == "2027-01"


def test_three_months_of_a_kabkota_match_to_the_rupiah(tmp_path: Path) -> None:
    report = _run(tmp_path)
    assert report.failures() == []
    assert report.ok
    assert report.rows == 300
    # not a vacuous pass: dozens of KPM at every bank, money moving every month
    assert sum(report.banks.values()) >= 40
    assert sum(1 for v in report.banks.values() if v) == 4
    for m in report.months:
        assert m.credits >= 40 and m.purchases >= 30
        assert m.redeemed == sum(a for _, a in m.redemptions) > 0
        assert m.engine_held == m.issuer_held > 0
    nov, _, jan = report.months
    assert nov.credited == 200_000 * nov.credits  # BPNT only in November
    assert jan.credits > nov.credits  # the January PKH tahap is credited too
    assert jan.credited > 200_000 * jan.credits


def test_returns_are_mirrored(tmp_path: Path) -> None:
    # a balance unspent for one month goes back: many returns in three months
    report = _run(tmp_path, seed=11, return_after_months=1, redeem_bp=6_000)
    assert report.failures() == []
    assert sum(m.returns for m in report.months) >= 10
    assert all(m.purchases for m in report.months)


def test_a_region_of_a_province(tmp_path: Path) -> None:
    registry = generate(300, 3, territory="32")
    kab = int(registry["kabkota"][0])
    report = run_card_fidelity(registry, params_for(registry), PERIODS, tmp_path, 3, kabkota=kab)
    assert report.ok, report.failures()
    assert report.rows == int((registry["kabkota"] == kab).sum()) < 300


def test_same_seed_same_report(tmp_path: Path) -> None:
    a = _run(tmp_path / "a")
    b = _run(tmp_path / "b")
    assert a == b


def test_a_skipped_purchase_is_detected(tmp_path: Path) -> None:
    clean = _run(tmp_path / "clean")
    assert clean.ok
    row, amount = clean.months[1].redemptions[0]
    report = _run(tmp_path / "skip", omit={(PERIODS[1], row)})
    assert not report.ok
    dec = report.months[1]
    assert report.months[0].ok
    assert [(m.period, m.row) for m in dec.mismatches] == [(PERIODS[1], row)]
    (m,) = dec.mismatches
    assert m.issuer - m.engine == amount  # the card never spent what the engine redeemed
    assert any("payouts" in f for f in dec.totals_failures)
    assert dec.audit_failures == []  # each ledger is consistent; only the two halves disagree
    assert any(f.startswith(f"{PERIODS[1]} row {row} ") for f in report.failures())


def test_omitting_a_purchase_that_was_not_drawn_changes_nothing(tmp_path: Path) -> None:
    assert _run(tmp_path, omit={(PERIODS[0], 10**6)}).ok
