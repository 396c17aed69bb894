"""`kks issuer ...`: help, the happy path, idempotent reruns and one-line errors (exit 2)."""

from __future__ import annotations

import json

import pytest

from kks_emulator.cli.main import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("sub", ["", "open", "open-merchant", "credit", "settle", "statement",
                                 "ledger", "audit"])
def test_help(capsys, sub):
    args = ["issuer", sub, "--help"] if sub else ["issuer", "--help"]
    code, out, _ = run(capsys, *args)
    assert code == 0 and "Usage" in out


def test_open_credit_statement_audit(tmp_path, capsys):
    db = str(tmp_path / "bri.db")
    code, out, _ = run(capsys, "issuer", "--db", db, "open", "0001", "--holder", "KPM A",
                       "--pan", "6013010000000001")
    assert code == 0 and json.loads(out)["float"] == "FLT-601301000000000101"
    args = ["issuer", "--db", db, "credit", "--period", "2026-11", "--beneficiary", "B1",
            "--account", "0001", "--amount", "200000"]
    code, first, _ = run(capsys, *args)
    assert code == 0 and json.loads(first)["state"] == "credited"
    code, again, _ = run(capsys, *args)  # same command: a replay, same answer, posted once
    assert code == 0 and again == first
    code, out, _ = run(capsys, "issuer", "--db", db, "statement", "0001")
    assert code == 0 and "Rp 200,000" in out
    code, out, _ = run(capsys, "issuer", "--db", db, "audit")
    assert code == 0 and "FAILED" not in out
    code, out, _ = run(capsys, "issuer", "--db", db, "ledger")
    assert code == 0 and "-Rp 200,000" in out


def test_db_is_needed(capsys, monkeypatch):
    monkeypatch.delenv("KKS_ISSUER_DB", raising=False)
    code, _, err = run(capsys, "issuer", "audit")
    assert code == 2 and err.count("\n") == 1 and "--db" in err


@pytest.mark.parametrize("args, needle", [
    (["audit"], "no issuer ledger"),
    (["statement", "0001"], "no issuer ledger"),
    (["credit", "--period", "2026-11", "--beneficiary", "B1", "--account", "1",
      "--amount", "0"], "amount"),
    (["credit", "--period", "2026-11"], "Missing option"),
])
def test_errors_are_one_line_exit_2(tmp_path, capsys, args, needle):
    code, _, err = run(capsys, "issuer", "--db", str(tmp_path / "none.db"), *args)
    assert code == 2
    lines = [x for x in err.splitlines() if x.strip() and not x.startswith(("Usage", "Try"))]
    assert len(lines) == 1 and needle in lines[0], err


def test_refusals_and_key_reuse_are_one_line(tmp_path, capsys):
    db = str(tmp_path / "bri.db")
    run(capsys, "issuer", "--db", db, "open", "0001", "--holder", "A")
    base = ["issuer", "--db", db, "credit", "--period", "2026-11", "--beneficiary", "B1",
            "--account", "0001", "--key", "k1", "--amount"]
    assert run(capsys, *base, "200000")[0] == 0
    code, _, err = run(capsys, *base, "200001")
    assert code == 2 and err.count("\n") == 1 and "idempotency key" in err
    code, _, err = run(capsys, "issuer", "--db", db, "--bank", "BNI", "audit")
    assert code == 2 and "belongs to BRI" in err
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"not a database" * 100)
    code, _, err = run(capsys, "issuer", "--db", str(bad), "audit")
    assert code == 2 and err.count("\n") == 1
