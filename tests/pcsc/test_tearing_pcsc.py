"""C-TEAR-PCSC: power cut in the middle of a purse PURCHASE and a load, through pcscd + vpcd.

For every NVM write of PURCHASE and of CREDIT FOR LOAD, and every cut mode, the served card
(`kks card serve --tear ...`) loses power at that write: it gives no answer, its vpcd socket is
dropped (pcscd reports the card removed) and it comes back. The same cut is applied in process
to a reference card fed the same APDUs. After recovery the card file must be byte-identical to
the reference NVM, and equal to the state before or after the command.
"""

from __future__ import annotations

import random
import struct

import pytest

from kks_emulator.card import CUT_MODES, Card, FileStore, MemoryStore, PowerCut
from kks_emulator.cli.card_pcsc import TearingCard
from kks_emulator.crypto import purse
from kks_emulator.errors import CardRemoved
from kks_emulator.transport.pcsc import PcscTransport
from kks_emulator.transport.testing import ServedProcess, virtual_reader
from tests.card.helpers import CARD_KEYS, PIN, Terminal

from .conftest import make_card_file, serve_argv

pytestmark = pytest.mark.pcsc

TERMINAL = b"TERM0001"
T0 = 1_795_000_000
INS_PURCHASE, INS_CREDIT = 0x54, 0x52


def _purchase(t: Terminal, n: int) -> None:
    """Select the purse, verify, and send PURCHASE (the torn command)."""
    assert t.select_purse().ok and t.verify(PIN).ok
    t.send(0x80, 0x54, 0, 0, struct.pack(">I8s8sI", 1_000 + n, TERMINAL,
                                         n.to_bytes(8, "big"), T0 + 60 * n), 256)


def _load(t: Terminal, n: int) -> None:
    """Select the purse, INITIALIZE FOR LOAD, and send CREDIT FOR LOAD (the torn command)."""
    assert t.select_purse().ok
    amount, time = 10_000 + n, T0 + 60 * n
    r = t.send(0x80, 0x50, 0, 0, struct.pack(">I8sI", amount, TERMINAL, time), 256)
    assert r.ok, hex(r.sw)
    cid, nt, challenge = r.data[:9], int.from_bytes(r.data[9:13], "big"), r.data[17:25]
    s2 = purse.load_s2(CARD_KEYS.load_key, cid, nt, amount, TERMINAL, time, challenge)
    t.send(0x80, 0x52, 0, 0, s2, 256)


FLOWS = {INS_PURCHASE: _purchase, INS_CREDIT: _load}


class _Counting:
    """A card proxy that counts the NVM writes of the commands with one INS."""

    def __init__(self, card: Card, ins: int) -> None:
        self.card, self.ins, self.writes = card, ins, 0

    def transmit(self, apdu: bytes) -> bytes:
        before = self.card.store.write_count
        answer = self.card.transmit(apdu)
        if apdu[1] == self.ins:
            self.writes += self.card.store.write_count - before
        return answer


class _BeforeCommand:
    """A card proxy that snapshots the NVM just before the command with INS `ins`."""

    def __init__(self, card: Card, ins: int) -> None:
        self.card, self.ins, self.before = card, ins, None

    def transmit(self, apdu: bytes) -> bytes:
        if apdu[1] == self.ins:
            self.before = self.card.store.snapshot()
        return self.card.transmit(apdu)


def _writes_of(ins: int, cells: dict[str, bytes]) -> int:
    """How many NVM writes the torn command makes when nothing goes wrong."""
    card = Card(MemoryStore(dict(cells)), rng=random.Random(1).randbytes)
    card.power_on()
    counting = _Counting(card, ins)
    t = Terminal(counting)
    FLOWS[ins](t, 0)
    assert t.log[-1][1][-2:] == b"\x90\x00"
    return counting.writes


def test_c_tear_pcsc_every_write_of_purchase_and_load(pcscd, pcsc_logs, tmp_path):
    path = make_card_file(tmp_path / "tear.kks")
    cells = FileStore(path, create=False).snapshot()
    cases = [(ins, k, mode) for ins in (INS_PURCHASE, INS_CREDIT)
             for k in range(1, _writes_of(ins, cells) + 1) for mode in CUT_MODES]
    assert len(cases) >= 2 * 3 * 3, "each command writes NVM at least 3 times"
    plan = ",".join(f"{ins:02X}:{k}:{mode}" for ins, k, mode in cases)

    ref_rng = random.Random(7)  # what `kks card serve --test-rng 7` uses
    reference = Card(MemoryStore(dict(cells)), rng=ref_rng.randbytes)
    reference.power_on()
    server = ServedProcess(serve_argv(path, 1, "--tear", plan, "--reinsert-after", "0.45"),
                           slot=1, log_path=pcsc_logs / "tear.log").start()
    seen = {"before": 0, "after": 0}
    try:
        for n, (ins, k, mode) in enumerate(cases):
            # In process: the two allowed end states, from an uncut twin of the reference
            # (same NVM, same random state): just before and just after the torn command.
            twin_rng = random.Random()
            twin_rng.setstate(ref_rng.getstate())
            twin = Card(MemoryStore(reference.store.snapshot()), rng=twin_rng.randbytes)
            twin.power_on()
            spy = _BeforeCommand(twin, ins)
            FLOWS[ins](Terminal(spy), n)
            pre, post = spy.before, twin.store.snapshot()
            assert pre is not None and pre != post
            with pytest.raises(PowerCut):
                FLOWS[ins](Terminal(TearingCard(reference, [(ins, k, mode)])), n)
            reference.power_on()  # recovery, as when the card is next powered
            expected = reference.store.snapshot()
            assert expected in (pre, post), f"in-process reference broke at {ins:02X}:{k}:{mode}"
            seen["before" if expected == pre else "after"] += 1

            # Through PC/SC: the same APDUs; the torn command never gets an answer.
            transport = PcscTransport(virtual_reader(1), timeout_s=10)
            try:
                transport.connect()
                with pytest.raises(CardRemoved):
                    FLOWS[ins](Terminal(transport), n)
            finally:
                transport.close()
            server.wait_present(False, timeout_s=5)  # pcscd saw the card go (next poll)
            transport = PcscTransport(virtual_reader(1), timeout_s=10)
            try:
                transport.connect()  # powers the card again: it recovers its NVM
                assert Terminal(transport).select_purse().ok
            finally:
                transport.close()
            got = FileStore(path, create=False).snapshot()
            assert got == expected, (f"cut {ins:02X}:{k}:{mode}: card file differs from the "
                                     f"in-process run ({'before' if expected == pre else 'after'})")
    finally:
        assert server.stop() == 0, server.tail()
    assert seen["before"] and seen["after"], f"cuts must land on both sides: {seen}"


def test_unpower_between_initialize_and_credit_for_load_leaves_the_purse_unchanged(
        pcscd, pcsc_logs, tmp_path):
    """SCardReconnect(UNPOWER) mid-load: the pending load dies with RAM, NVM is untouched."""
    path = make_card_file(tmp_path / "unpower.kks")
    before = FileStore(path, create=False).snapshot()
    server = ServedProcess(serve_argv(path, 1), slot=1, log_path=pcsc_logs / "unpower.log")
    server.start()
    transport = PcscTransport(virtual_reader(1), timeout_s=5)
    try:
        transport.connect()
        t = Terminal(transport)
        assert t.select_purse().ok
        r = t.init_load(50_000, time=T0)
        assert r.ok
        cid, nt, challenge = r.data[:9], int.from_bytes(r.data[9:13], "big"), r.data[17:25]
        s2 = purse.load_s2(CARD_KEYS.load_key, cid, nt, 50_000, TERMINAL, T0, challenge)
        transport.reconnect(unpower=True)
        assert t.select_purse().ok
        assert t.send(0x80, 0x52, 0, 0, s2, 256).sw == 0x6985
        assert t.verify(PIN).ok
        transport.reconnect(unpower=True)  # and PIN verification dies with RAM too
        assert t.select_purse().ok and t.purchase(1_000).sw == 0x6982
    finally:
        transport.close()
        assert server.stop() == 0, server.tail()
    assert FileStore(path, create=False).snapshot() == before
