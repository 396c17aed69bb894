"""`kks sim fidelity` and the `[fidelity]` scenario table: the card bridge as a user feature."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from kks_emulator.cli.main import main
from sim.fidelity import command
from sim.scenario.loader import load
from tests.sim.model.test_outputs import nik_hits

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "scenarios" / "baseline.toml"
#: Kota Magelang at 1%: ~420 households, ~60 KPM with cards, a couple of seconds a month
SMALL = ["--set", 'territory.scope="kabkota"', "--set", 'territory.codes=["33.71"]',
         "--set", "territory.fraction=0.01"]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_two_months_reconcile_per_bank_and_in_total(tmp_path: Path, capsys) -> None:
    out = tmp_path / "fid"
    assert main(["sim", "fidelity", str(BASELINE), *SMALL, "--kabkota", "33.71",
                 "--months", "2", "--out", str(out)]) == 0
    assert "reconciled to the rupiah" in capsys.readouterr().err
    rows = _csv(out / "reconciliation.csv")
    assert tuple(rows[0]) == command.RECONCILIATION_COLUMNS
    totals = [r for r in rows if r["bank"] == "TOTAL"]
    assert [r["period"] for r in totals] == ["2025-01", "2025-02", "ALL"]
    banks = {r["bank"] for r in rows} - {"TOTAL", "-"}
    assert len(banks) >= 3  # households spread over the HIMBARA banks
    for r in rows:
        assert r["engine_held_rp"] == r["issuer_held_rp"]
        assert r["mismatches"] == "0"
    # per-bank rows add up to the period totals, and money actually moved
    for period in ("2025-01", "2025-02"):
        per = [r for r in rows if r["period"] == period and r["bank"] != "TOTAL"]
        tot = next(r for r in totals if r["period"] == period)
        for col in ("credits", "credited_rp", "loads", "purchases", "redeemed_rp"):
            assert sum(int(r[col]) for r in per) == int(tot[col])
        assert int(tot["credits"]) > 10 and int(tot["redeemed_rp"]) > 0
        assert tot["loads"] == tot["purchases"]
    assert _csv(out / "mismatches.csv") == []
    summary = json.loads((out / "fidelity.json").read_text())
    assert summary["reconciled"] is True and summary["kabkota"] == "33.71"
    report = (out / "report.html").read_text()
    assert 'id="card-fidelity"' in report and "Reconciled" in report
    assert json.loads((out / "manifest.json").read_text())["kind"] == "kks-sim-fidelity"
    assert nik_hits(out) == []


def test_a_purchase_not_mirrored_is_listed_by_pseudonym_and_exits_1(tmp_path: Path,
                                                                     monkeypatch, capsys) -> None:
    real = command.run_card_fidelity

    def skip_every_purchase(registry, params, periods, workdir, seed, *, kabkota, **kw):
        rows = range(len(registry))
        return real(registry, params, periods, workdir, seed, kabkota=kabkota,
                    omit_purchases={(p, r) for p in periods for r in rows})

    monkeypatch.setattr(command, "run_card_fidelity", skip_every_purchase)
    out = tmp_path / "fid"
    assert main(["sim", "fidelity", str(BASELINE), *SMALL, "--kabkota", "33.71",
                 "--months", "1", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("kks: error: card fidelity of 33.71:")
    mism = _csv(out / "mismatches.csv")
    assert mism and all(len(m["pseudonym"]) == 32 for m in mism)
    assert all(int(m["engine_rp"]) != int(m["issuer_rp"]) for m in mism)
    assert "NOT reconciled" in (out / "report.html").read_text()
    assert nik_hits(out) == []


@pytest.mark.parametrize(("args", "needle"), [
    (["--kabkota", "99.99"], "--kabkota: '99.99' is not a kab/kota code"),
    (["--kabkota", "nonsense"], "--kabkota: 'nonsense' is not a kab/kota code"),
    (["--kabkota", "32.73"], "--kabkota: 32.73 is outside the territory"),
    (["--kabkota", "33.71", "--months", "0"], "--months: at least 1 month"),
    ([], "fidelity.kabkota: a kab/kota code"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys, args, needle) -> None:
    out = tmp_path / "fid"
    assert main(["sim", "fidelity", str(BASELINE), *SMALL, *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not out.exists()


def test_scenario_table_drives_the_command_and_the_run_report(tmp_path: Path) -> None:
    scen_file = tmp_path / "with_fidelity.toml"
    scen_file.write_text(f'extends = "{BASELINE}"\n[scenario]\nname = "with_fidelity"\n'
                         'months = 2\n[fidelity]\nkabkota = "33.71"\nmonths = 1\n')
    scen = load(scen_file, SMALL[1::2])
    assert command.resolve(scen, None, None) == ("33.71", 1)
    assert command.resolve(scen, "3371", 2) == ("33.71", 2)
    out = tmp_path / "run"
    assert main(["sim", "run", str(scen_file), *SMALL, "--out", str(out)]) == 0
    report = (out / "report.html").read_text()
    assert 'id="card-fidelity"' in report and "Reconciled" in report
    assert (out / "fidelity" / "reconciliation.csv").is_file()
    assert json.loads((out / "fidelity" / "fidelity.json").read_text())["reconciled"] is True
