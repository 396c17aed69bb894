"""`kks terminal ... --reader NAME`: every terminal flow through a PC/SC reader (T=1 and T=0)."""

from __future__ import annotations

import pytest

from kks_emulator.card import FileStore
from kks_emulator.card.info import card_info
from kks_emulator.cli.main import main
from kks_emulator.transport.testing import ServedProcess, virtual_reader
from tests.card.helpers import PAN, PIN

from .conftest import PURSE_BALANCE, make_card_file, serve_argv

pytestmark = pytest.mark.pcsc

READER = virtual_reader(1)


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("protocol", ["T=1", "T=0"])
def test_every_terminal_command_runs_through_a_reader(pcscd, pcsc_logs, tmp_path, capsys,
                                                      protocol):
    card, db, batch = tmp_path / "c.kks", tmp_path / "i.db", tmp_path / "b.jsonl"
    make_card_file(card)
    for args in (["open", "0001", "--holder", "A", "--pan", PAN],
                 ["open-merchant", "W1", "--name", "Warung"],
                 ["credit", "--period", "2026-11", "--beneficiary", "B1", "--account", "0001",
                  "--amount", "200000"]):
        assert run(capsys, "issuer", "--db", db, *args)[0] == 0
    server = ServedProcess(serve_argv(card, 1, "--protocol", protocol), slot=1,
                           log_path=pcsc_logs / f"terminal-{protocol[-1]}.log").start()
    common = ["--reader", READER, "--protocol", protocol]
    online = [*common, "--issuer-db", db, "--batch", batch]
    try:
        code, out, err = run(capsys, "terminal", "read", *common)
        assert code == 0, err
        code, out, err = run(capsys, "terminal", "balance", *common)
        assert code == 0 and f"Rp {PURSE_BALANCE:,}" in out, err
        code, out, err = run(capsys, "terminal", "load", "--amount", "150000", "--pin", PIN,
                             *online)
        assert code == 0 and "Rp 150,000" in out, err
        code, out, err = run(capsys, "terminal", "purchase", "--amount", "50000", "--pin", PIN,
                             *common, "--batch", batch)
        left = PURSE_BALANCE + 100_000
        assert code == 0 and f"balance Rp {left:,}" in out, err
        code, out, err = run(capsys, "terminal", "purchase", "--amount", "20000", "--pin", PIN,
                             "--savings", *online)
        assert code == 0 and out.startswith("approved"), out + err
        code, out, err = run(capsys, "terminal", "upload", "--issuer-db", db, "--batch", batch)
        assert code == 0 and "cleared 1 record(s) for Rp 50,000" in out, out + err
        code, out, err = run(capsys, "terminal", "purchase", "--amount", "5", "--pin", "000000",
                             *common)
        assert code == 2 and "wrong PIN" in err and err.count("\n") == 1, err
    finally:
        assert server.stop() == 0, server.tail()
    assert int(card_info(FileStore(card, create=False))["balance"]) == left


def test_card_or_reader_exactly_one(pcscd, capsys, tmp_path):
    code, _, err = run(capsys, "terminal", "balance")
    assert code == 2 and "--reader" in err and err.count("\n") == 1, err
    code, _, err = run(capsys, "terminal", "balance", tmp_path / "x.kks", "--reader", "0")
    assert code == 2 and "not both" in err, err


def test_reader_errors_are_one_line(pcscd, capsys):
    code, _, err = run(capsys, "terminal", "balance", "--reader", "No Such Reader")
    assert code == 2 and "no reader matches 'No Such Reader'" in err and err.count("\n") == 1
