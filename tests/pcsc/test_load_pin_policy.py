"""H-PIN through pcscd: a purse load from savings needs the PIN verified in the card session.

The card serves through vpcd; the terminal side is `PcscTransport` + `Exchange`, byte for byte
what a bank's own EDC would send (docs/card.md, docs/issuer.md "Loads").
"""

from __future__ import annotations

import struct

import pytest

from kks_emulator.errors import IssuerError
from kks_emulator.issuer.host import Host
from kks_emulator.keys import card_id
from kks_emulator.terminal import apdus
from kks_emulator.terminal.exchange import Exchange
from kks_emulator.transport.pcsc import PcscTransport
from kks_emulator.transport.testing import ServedProcess, virtual_reader
from tests.card.helpers import PAN, PIN

from .conftest import PURSE_BALANCE, make_card_file, serve_argv

pytestmark = pytest.mark.pcsc

TERMINAL = b"EDCJKT01"
NOW = 1_795_000_000


def init_load(ex: Exchange, amount: int, verify: bool) -> dict:
    """SELECT purse [, VERIFY], INITIALIZE FOR LOAD; the issuer request from the answer."""
    ex.transmit(apdus.select(apdus.PURSE_AID)).expect("SELECT purse")
    if verify:
        ex.transmit(apdus.verify_pin(PIN)).expect("VERIFY")
    d = ex.transmit(apdus.initialize_for_load(amount, TERMINAL, NOW)).expect("INIT LOAD")
    assert len(d) == 34 and d[33] == (1 if verify else 0)
    return {"card_id": d[:9].hex().upper(), "nt": int.from_bytes(d[9:13], "big"),
            "balance": int.from_bytes(d[13:17], "big"), "amount": amount,
            "terminal": TERMINAL.decode(), "time": NOW, "challenge": d[17:25].hex().upper(),
            "s1": d[25:33].hex().upper(), "pin_verified": d[33] == 1}


def test_load_needs_the_pin_in_the_same_session(pcscd, pcsc_logs, tmp_path):
    card = make_card_file(tmp_path / "c.kks")
    host = Host.open(tmp_path / "bri.db", durable=False)
    host.open_account("a", "0001", "KPM", pan=PAN, card_id=card_id(PAN, 1).hex().upper())
    host.credit("c", "BPNT", "2026-11", "B1", "0001", 200_000)
    server = ServedProcess(serve_argv(card, 1), slot=1,
                           log_path=pcsc_logs / "load-pin.log").start()
    try:
        with PcscTransport(virtual_reader(1), timeout_s=10) as transport:
            ex = Exchange(transport)
            body = init_load(ex, 50_000, verify=False)
            with pytest.raises(IssuerError, match="PIN not verified"):
                host.authorise_load("no-pin", body)
            with pytest.raises(IssuerError, match="S1"):  # the flag is MACed: no forging
                host.authorise_load("forged", {**body, "pin_verified": True})
            body = init_load(ex, 50_000, verify=True)
            s2 = bytes.fromhex(host.authorise_load("pin", body)["s2"])
            done = ex.transmit(apdus.credit_for_load(s2)).expect("CREDIT FOR LOAD")
            nt_after, balance_after = struct.unpack(">II", done[:8])
            assert balance_after == PURSE_BALANCE + 50_000
            host.confirm_load("confirm", {"card_id": body["card_id"], "nt_after": nt_after,
                                          "balance_after": balance_after,
                                          "s3": done[8:].hex().upper()})
    finally:
        assert server.stop() == 0, server.tail()
    assert host.balance("SAV-0001") == 150_000
    host.audit()
    host.close()
