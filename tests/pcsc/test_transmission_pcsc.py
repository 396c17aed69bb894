"""Every row of the transmission table (docs/card.md) through a real pcscd, in T=0 and T=1.

The card is a real KKS `Card` served in-thread on vpcd slot 1, so the test sees exactly what the
card's command processing received (`Card.last_command`) next to what the PC/SC client got."""

from __future__ import annotations

import threading

import pytest

from kks_emulator.card import Card, MemoryStore
from kks_emulator.transport.pcsc import PcscTransport
from kks_emulator.transport.testing import virtual_reader, wait_for_reader
from kks_emulator.transport.vpcd import VPCD_BASE_PORT, VpcdServer
from tests.card import transmission as tx
from tests.card.helpers import loaded, seeded_rng

pytestmark = pytest.mark.pcsc

SLOT1 = virtual_reader(1)
ROWS = tx.rows()


@pytest.mark.parametrize("protocol", tx.PROTOCOLS)
def test_transmission_table_through_pcscd(pcscd, protocol):
    wait_for_reader(SLOT1, present=False, timeout_s=10)
    card = Card(MemoryStore(loaded().snapshot()), rng=seeded_rng(7), protocol=protocol)
    server = VpcdServer(card, port=VPCD_BASE_PORT + 1)
    thread = threading.Thread(target=server.serve_forever, name="vpcd-tx", daemon=True)
    thread.start()
    try:
        wait_for_reader(SLOT1, present=True, timeout_s=10)
        with PcscTransport(SLOT1, timeout_s=10, protocols=protocol) as transport:
            transport.connect()
            assert transport.protocol == protocol
            played = tx.play(ROWS, protocol, transport.transmit, lambda: card.last_command)
    finally:
        server.stop()
        thread.join(5)
    assert not thread.is_alive()
    wait_for_reader(SLOT1, present=False, timeout_s=10)
    for row, got in zip(ROWS, played, strict=True):
        assert got.receives == row.receives[protocol], (row.command, protocol)
        assert got.answer == row.answers[protocol], (row.command, protocol)
