"""`kks terminal ...` on a card file: help, the flows, and one-line errors (exit 2)."""

from __future__ import annotations

import pytest

from kks_emulator.cli.main import main

PAN = "6013010000000001"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def setup(tmp_path, capsys):
    card, db, batch = tmp_path / "c.kks", tmp_path / "i.db", tmp_path / "b.jsonl"
    assert run(capsys, "card", "personalize", card, "--bank", "BRI", "--pan", PAN, "--pin",
               "123456", "--test-mode")[0] == 0
    assert run(capsys, "issuer", "--db", db, "open", "0001", "--holder", "A", "--pan", PAN)[0] == 0
    assert run(capsys, "issuer", "--db", db, "open-merchant", "W1", "--name", "Warung")[0] == 0
    assert run(capsys, "issuer", "--db", db, "credit", "--period", "2026-11", "--beneficiary",
               "B1", "--account", "0001", "--amount", "200000")[0] == 0
    return card, db, batch


@pytest.mark.parametrize("sub", ["", "read", "balance", "purchase", "load", "upload"])
def test_help(capsys, sub):
    code, out, _ = run(capsys, *(["terminal", sub, "--help"] if sub else ["terminal", "--help"]))
    assert code == 0 and "Usage" in out


def test_read(setup, capsys):
    card, _, _ = setup
    code, out, _ = run(capsys, "terminal", "read", card, "--protocol", "T=0")
    assert code == 0 and "A0000006021010" in out and PAN in out and "Rp 0" in out


def test_load_buy_upload(setup, capsys):
    card, db, batch = setup
    on = ["--issuer-db", db, "--batch", batch]
    code, out, _ = run(capsys, "terminal", "load", card, "--amount", "150000", "--pin", "123456",
                       *on)
    assert code == 0 and "Rp 150,000" in out
    code, out, _ = run(capsys, "terminal", "purchase", card, "--amount", "50000", "--pin",
                       "123456", "--batch", batch)
    assert code == 0 and "balance Rp 100,000" in out and batch.exists()
    code, out, _ = run(capsys, "terminal", "purchase", card, "--amount", "20000", "--pin",
                       "123456", "--savings", *on)
    assert code == 0 and out.startswith("approved")
    lines = batch.read_text()
    code, out, _ = run(capsys, "terminal", "upload", *on)
    assert code == 0 and "cleared 1 record(s) for Rp 50,000" in out
    kept = batch.with_name(f"{batch.stem}.cleared-1{batch.suffix}")
    assert f"kept as {kept}" in out and kept.read_text() == lines and not batch.exists()
    # the next day's batch, uploaded with --delete: no file left behind
    code, out, _ = run(capsys, "terminal", "purchase", card, "--amount", "1000", "--pin",
                       "123456", "--batch", batch)
    assert code == 0
    code, out, _ = run(capsys, "terminal", "upload", "--delete", *on)
    assert code == 0 and "deleted" in out and not batch.exists()
    assert not batch.with_name(f"{batch.stem}.cleared-2{batch.suffix}").exists()
    code, out, _ = run(capsys, "terminal", "balance", card)
    assert code == 0 and "Rp 99,000" in out
    code, out, _ = run(capsys, "issuer", "--db", db, "audit")
    assert code == 0


@pytest.mark.parametrize("args, needle", [
    (["balance", "{missing}"], "no such card file"),
    (["purchase", "{card}", "--amount", "5", "--pin", "000000"], "wrong PIN"),
    (["purchase", "{card}", "--amount", "5", "--pin", "123456"], "6985"),
    (["load", "{card}", "--amount", "5", "--pin", "123456"], "--issuer-db"),
    (["upload", "--issuer-db", "{db}", "--batch", "{batch}"], "batch is empty"),
    (["balance", "{card}", "--terminal-id", "TOOLONGID"], "8 ASCII"),
    (["load", "{card}", "--amount", "999999", "--pin", "123456", "--issuer-db", "{db}"],
     "insufficient"),
])
def test_errors_are_one_line_exit_2(setup, tmp_path, capsys, args, needle):
    card, db, batch = setup
    subst = {"{card}": str(card), "{db}": str(db), "{batch}": str(batch),
             "{missing}": str(tmp_path / "nope.kks")}
    code, _, err = run(capsys, "terminal", *[subst.get(a, a) for a in args])
    assert code == 2 and err.count("\n") == 1 and needle in err, err
