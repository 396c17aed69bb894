"""`kks demo`: runs from the CLI, the ledger balances, the audit passes, reruns are identical."""

from __future__ import annotations

import json
import subprocess
import sys

from kks_emulator.cli.main import main


def test_demo_ledger_balances_and_reruns_identically(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ledger audit" in printed and "FAILED" not in printed
    first = json.loads((out / "ledger.json").read_text())
    b = first["balances"]
    assert first["audit_ok"] and all(first["audit"].values())
    assert sum(b.values()) == 0
    assert b["GOV-BPNT"] == -200_000  # one BPNT month (docs/calibration.md [BPNT-AMOUNT])
    assert b["STL-BRI"] == 185_000  # the basket, cleared and settled to the e-warong
    assert b["FLT-601301000000000101"] == 15_000 == first["purse_balance"]
    assert b["SAV-0001"] == 0 and b["MER-EW-0001"] == 0
    transcript = (out / "apdu-transcript.jsonl").read_bytes()
    assert main(["demo", "--out", str(out)]) == 0  # a rerun starts over and gives the same ledger
    assert json.loads((out / "ledger.json").read_text()) == first
    # every command and every answer byte for byte: seeded nonces, a fixed clock, and RFC 6979
    # deterministic ECDSA on the card
    assert (out / "apdu-transcript.jsonl").read_bytes() == transcript


def test_demo_through_the_console_script(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kks_emulator.cli.main", "demo", "--out",
                           str(tmp_path / "d")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Rp 185,000" in proc.stdout


def test_demo_help():
    assert main(["demo", "--help"]) == 0


def test_demo_unusable_out_exits_2(tmp_path, capsys):
    bad = tmp_path / "file"
    bad.write_text("x")
    assert main(["demo", "--out", str(bad)]) == 2  # click's own check: a file, not a directory
    assert "is a file" in capsys.readouterr().err
    assert main(["demo", "--out", str(bad / "sub")]) == 2  # parent is a file: our one line
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "demo directory" in err
