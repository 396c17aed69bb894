"""A small in-process world for terminal tests: one BRI card, its issuer host and an EDC."""

from __future__ import annotations

import random
from dataclasses import dataclass

from kks_emulator.card import Card, CardProfile, MemoryStore, personalize
from kks_emulator.issuer.host import Host
from kks_emulator.issuer.ledger import Ledger
from kks_emulator.keys import IssuerKeys, card_id
from kks_emulator.terminal.edc import Edc
from kks_emulator.terminal.exchange import Exchange
from kks_emulator.transport.inprocess import InProcessTransport

PAN = "6013010000000001"
PIN = "123456"
TERMINAL = b"EDC00001"
NOW = 1_795_000_000  # 2026-11-18, a fixed terminal clock



@dataclass
class World:
    """Card, transport, exchange, host and terminal wired together."""

    card: Card
    transport: InProcessTransport
    host: Host
    edc: Edc

    @property
    def card_hex(self) -> str:
        """The card id as the issuer writes it."""
        return card_id(PAN, 1).hex().upper()


def make_world(path=":memory:", *, protocol: str = "T=1", credit: int = 200_000,
               seed: int = 1, transcript=None) -> World:
    """Personalise a test card, open its account and an e-warong, credit `credit` rupiah."""
    keys = IssuerKeys.test_issuer("BRI")
    store = MemoryStore()
    personalize(store, CardProfile(bank="BRI", pan=PAN, pin=PIN, test_mode=True), keys)
    rng = random.Random(seed)
    card = Card(store, rng=rng.randbytes, protocol=protocol)
    host = Host(Ledger(path, clock=lambda: "2026-11-18T00:00:00+00:00", durable=False), "BRI")
    host.open_account("open-0001", "0001", "KPM A", pan=PAN, card_id=card_id(PAN, 1).hex().upper())
    host.open_merchant("open-W1", "W1", "e-warong Sejahtera")
    if credit:
        host.credit("credit-B1", "BPNT", "2026-11", "B1", "0001", credit)
    transport = InProcessTransport(card)
    edc = Edc(Exchange(transport, transcript=transcript, clock=lambda: "2026-11-18T00:00:00Z"),
              TERMINAL, "W1", host,
              {"BRI": keys.ca_public_key}, clock=lambda: NOW, rng=rng.randbytes)
    edc.insert()
    return World(card, transport, host, edc)
