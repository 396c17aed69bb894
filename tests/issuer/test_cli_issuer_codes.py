"""`kks issuer` takes a savings account by number or by ledger code, never doubling the prefix."""

from __future__ import annotations

import json

from kks_emulator.cli.main import main


def test_open_and_credit_accept_number_or_code(tmp_path, capsys):
    db = str(tmp_path / "bri.db")
    assert main(["issuer", "--db", db, "open", "SAV-0007", "--holder", "KPM-7"]) == 0
    assert json.loads(capsys.readouterr().out)["account"] == "SAV-0007"
    assert main(["issuer", "--db", db, "credit", "--period", "2026-11", "--beneficiary", "KPM-7",
                 "--account", "0007", "--amount", "200000"]) == 0
    assert json.loads(capsys.readouterr().out)["account"] == "SAV-0007"
    assert main(["issuer", "--db", db, "statement", "0007"]) == 0
    assert "200,000" in capsys.readouterr().out
