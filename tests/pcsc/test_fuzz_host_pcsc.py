"""C-FUZZ-HOST through PC/SC: a hostile card behind pcscd, the EDC on top of `PcscTransport`.

The card answers with random garbage, truncated status words, endless `61xx` chains, `6Cxx`
loops and odd lengths. Every terminal operation must end in a result or a typed `KksError`
(never another exception, never a hang), with a bounded number of exchanges per command.
"""

from __future__ import annotations

import random
import threading

import pytest

from kks_emulator.errors import KksError
from kks_emulator.keys import IssuerKeys
from kks_emulator.terminal.edc import Edc
from kks_emulator.terminal.exchange import MAX_GET_RESPONSE, Exchange
from kks_emulator.transport.pcsc import PcscTransport
from kks_emulator.transport.testing import virtual_reader, wait_for_reader
from kks_emulator.transport.vpcd import VPCD_BASE_PORT, VpcdServer

pytestmark = pytest.mark.pcsc

OPERATIONS = 2_000


class HostileCard:
    """Answers every APDU with something a real card should never say (seeded)."""

    atr = bytes.fromhex("3B858031FE4580534B4B530F")

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def power_on(self) -> bytes:
        """Power up."""
        return self.atr

    def power_off(self) -> None:
        """Power down."""

    def reset(self) -> bytes:
        """Warm reset."""
        return self.atr

    def transmit(self, apdu: bytes) -> bytes:
        """A hostile answer (never empty: that would only look like a pulled card)."""
        r = self.rng
        kind = r.randrange(8)
        if kind == 0:
            return bytes([r.randrange(256)])  # no status word
        if kind == 1:
            return bytes([0x61, r.randrange(256)])  # "more data", forever
        if kind == 2:
            return bytes([0x6C, r.randrange(256)])  # "wrong Le", forever
        if kind == 3:
            return r.randbytes(r.randrange(0, 300)) + b"\x90\x00"
        if kind == 4:
            return r.randbytes(r.randrange(0, 40)) + bytes([0x61, r.randrange(256)])
        if kind == 5:
            return b"\x6f" + r.randbytes(r.randrange(0, 60)) + b"\x90\x00"  # TLV-ish junk
        if kind == 6:
            return bytes([r.choice([0x63, 0x69, 0x6A, 0x6D]), r.randrange(256)])
        return b"\x90\x00"


@pytest.fixture
def hostile(pcscd):
    """A hostile card on vpcd slot 1 (in a thread of this process)."""
    reader = virtual_reader(1)
    wait_for_reader(reader, present=False, timeout_s=10)
    server = VpcdServer(HostileCard(99), port=VPCD_BASE_PORT + 1)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    wait_for_reader(reader, present=True, timeout_s=10)
    yield reader
    server.stop()
    thread.join(5)
    assert not thread.is_alive()


class _Counting:
    """Counts raw exchanges per terminal operation."""

    def __init__(self, transport: PcscTransport) -> None:
        self.transport, self.count = transport, 0

    def connect(self) -> bytes:
        return self.transport.connect()

    def disconnect(self, unpower: bool = False) -> None:
        self.transport.disconnect(unpower)

    def transmit(self, apdu: bytes) -> bytes:
        self.count += 1
        return self.transport.transmit(apdu)


def test_hostile_answers_through_pcsc_give_typed_errors_only(hostile):
    transport = PcscTransport(hostile, timeout_s=5)
    counting = _Counting(transport)
    rng = random.Random(5)
    edc = Edc(Exchange(counting), b"EDC00001", "W1", None,
              {"BRI": IssuerKeys.test_issuer("BRI").ca_public_key},
              clock=lambda: 1_795_000_000, rng=rng.randbytes)
    outcomes = {"ok": 0, "typed": 0}
    try:
        edc.insert()
        operations = [
            lambda: edc.balance(),
            lambda: edc.purchase_purse(1_000, "123456"),
            lambda: edc.ex.transmit(bytes.fromhex("00A4040009F04B4B53505552534500")),
            lambda: edc.ex.transmit(bytes.fromhex("80CA9F1700")),
        ]
        for i in range(OPERATIONS):
            counting.count = 0
            try:
                operations[i % len(operations)]()
                outcomes["ok"] += 1
            except KksError:
                outcomes["typed"] += 1
            # A purchase is at most 3 commands, each <= 1 + 1 + 2 x MAX_GET_RESPONSE exchanges.
            assert counting.count <= 3 * (2 + 2 * MAX_GET_RESPONSE), f"op {i}: {counting.count}"
    finally:
        transport.close()
    assert outcomes["typed"] > OPERATIONS // 2, outcomes
