"""The KKS test-card deck: one card per path a terminal must handle, with its expected outcome.

Like the decks card schemes hand terminal vendors, each profile personalises a test-mode card
(test issuer keys, deterministic ICC key) forced onto one path, and names the flow the EDC runs
(`emv`: savings purchase through the EMV kernel; `purse-purchase`, `purse-load`) with the
amount and the outcome the EDC must reach. `kks card personalize OUT --profile NAME` makes one;
`kks card profiles` lists them. All deck cards share PAN 6013500012345678 (PSN 01), PIN 123456,
and the transaction date 2026-12-07 (`DECK_DATE`).

Post-personalisation states (PIN blocked, one try left, purse at its cap) are reached with real
commands (wrong VERIFYs, an issuer-MACed load), never by writing NVM behind the card's back.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from kks_emulator.card.card import Card
from kks_emulator.card.profile import CardProfile, personalize
from kks_emulator.card.store import Store
from kks_emulator.crypto import purse
from kks_emulator.errors import InputError
from kks_emulator.keys import IssuerKeys
from kks_emulator.pinblock import plain_pin_block
from kks_emulator.policy import BI_2022_07

DECK_PAN = "6013500012345678"
DECK_PIN = "123456"
DECK_DATE = "261207"  # YYMMDD of every deck transaction
DECK_TIME = 1_796_601_600  # 2026-12-07 00:00 UTC: purse transaction time
#: The deck's base: offline-capable (a TC asked for is granted), CDA, PIN always.
BASE = {"gac_policy": "offline"}


@dataclass(frozen=True)
class DeckProfile:
    """One deck card: what is special, how it is made, what the EDC must reach."""

    name: str
    description: str
    overrides: dict = field(default_factory=dict)
    flow: str = "emv"
    amount: int = 25_000
    outcome: str = "APPROVED OFFLINE"
    expect: str = ""  # a phrase of the outcome's reason or TVR reasons that must appear
    setup: str = ""  # "pin-blocked", "pin-one-try", "purse-cap"


PROFILES: dict[str, DeckProfile] = {p.name: p for p in (
    DeckProfile("standard", "the deck's reference card: CDA, offline-capable, PIN always",
                expect="card accepted offline"),
    DeckProfile("expired", "application expired 11/2025", {"expiry": "2511"},
                outcome="DECLINED OFFLINE", expect="application expired"),
    DeckProfile("not-yet-effective", "application effective from 12/2027",
                {"effective": "2712"}, outcome="DECLINED OFFLINE",
                expect="not yet effective"),
    DeckProfile("pin-blocked", "PIN try counter 0", setup="pin-blocked",
                outcome="DECLINED OFFLINE", expect="PIN try limit exceeded"),
    DeckProfile("pin-one-try", "one PIN try left (right PIN entered)", setup="pin-one-try",
                expect="last PIN try"),
    DeckProfile("always-aac", "the card declines every GENERATE AC (AAC)",
                {"gac_policy": "decline"}, outcome="DECLINED BY CARD",
                expect="card declined"),
    DeckProfile("online-only", "the card answers a TC request with an ARQC",
                {"gac_policy": "online"}, outcome="APPROVED ONLINE", expect="approved"),
    DeckProfile("floor-exceeded", "offline-capable card, amount above the EDC floor limit",
                amount=150_000, outcome="APPROVED ONLINE", expect="above the floor limit"),
    DeckProfile("purse-empty", "purse balance 0", flow="purse-purchase", amount=10_000,
                outcome="DECLINED BY CARD", expect="6985"),
    DeckProfile("purse-at-cap", "purse at its cap (registered, Rp 20,000,000)",
                setup="purse-cap", flow="purse-load", amount=10_000,
                outcome="DECLINED BY CARD", expect="6985"),
    DeckProfile("emoney-unregistered", "unregistered e-money: cap Rp 2,000,000",
                {"policy": BI_2022_07}, flow="purse-load", amount=2_500_000,
                outcome="DECLINED BY CARD", expect="6985"),
    DeckProfile("counter-max", "ATC at FFFF and purse counter at its maximum",
                {"initial_atc": 0xFFFF, "initial_counter": 0xFFFFFFFF},
                outcome="TERMINATED", expect="6985"),
    DeckProfile("issuer-cert-expired", "issuer certificate expired 12/2024",
                {"oda_fault": "issuer-expired"}, outcome="DECLINED OFFLINE",
                expect="issuer certificate: expired"),
    DeckProfile("issuer-revoked", "issuer certificate serial 0000DE on the revocation list",
                {"oda_fault": "issuer-revoked"}, outcome="DECLINED OFFLINE",
                expect="issuer certificate: revoked"),
    DeckProfile("sda-corrupt", "SDA-only card whose signed static data is corrupted",
                {"oda": "sda", "oda_fault": "sda-corrupt"}, outcome="DECLINED OFFLINE",
                expect="SDA failed"),
    DeckProfile("cda-wrong", "CDA signature over a wrong transaction data hash",
                {"oda_fault": "cda-wrong"}, outcome="DECLINED OFFLINE", expect="CDA failed"),
    DeckProfile("no-common-cvm", "CVM list: online PIN or signature only",
                {"cvm_list": "00000000000000004203" "1E03"}, outcome="DECLINED OFFLINE",
                expect="cardholder verification was not successful"),
)}


def deck_profile(name: str) -> DeckProfile:
    """The deck profile `name`; an unknown name is an `InputError` listing the deck."""
    if name not in PROFILES:
        raise InputError(f"unknown deck profile {name!r}; one of: {', '.join(PROFILES)}")
    return PROFILES[name]


def card_profile(p: DeckProfile, bank: str = "BRI") -> CardProfile:
    """The `CardProfile` of a deck card."""
    kw = {"bank": bank, "pan": DECK_PAN, "pin": DECK_PIN, "name": f"DECK {p.name.upper()}"[:26],
          "test_mode": True, **BASE, **p.overrides}
    return CardProfile(**kw)


def personalize_deck(store: Store, name: str, bank: str = "BRI") -> DeckProfile:
    """Personalise `store` as deck card `name` and bring it to its starting state."""
    p = deck_profile(name)
    keys = IssuerKeys.test_issuer(bank)
    personalize(store, card_profile(p, bank), keys)
    if p.setup:
        _setup(store, p.setup, keys)
    return p


def _send(card: Card, apdu: bytes) -> bytes:
    return card.transmit(apdu)


def _setup(store: Store, what: str, keys: IssuerKeys) -> None:
    card = Card(store, rng=lambda n: bytes(n))  # setup draws no secrets
    card.power_on()
    select_savings = bytes.fromhex("00A4040007A000000602101000")
    if what in ("pin-blocked", "pin-one-try"):
        _send(card, select_savings)
        wrong = bytes.fromhex("0020008008") + plain_pin_block("000000")
        for _ in range(3 if what == "pin-blocked" else 2):
            _send(card, wrong)
    elif what == "purse-cap":
        _send(card, bytes.fromhex("00A4040009F04B4B53505552534500"))
        policy = card.policy()
        amount = policy.cap
        init = _send(card, b"\x80\x50\x00\x00\x10" + struct.pack(
            ">I8sI", amount, b"DECKPERS", DECK_TIME - 86_400) + b"\x00")
        if init[-2:] != b"\x90\x00":
            raise InputError(f"deck setup: load to the cap refused ({init[-2:].hex()})")
        d = init[:-2]
        ck = keys.card_keys(DECK_PAN, 1)
        s2 = purse.load_s2(ck.load_key, d[:9], int.from_bytes(d[9:13], "big"), amount,
                           b"DECKPERS", DECK_TIME - 86_400, d[17:25])
        done = _send(card, b"\x80\x52\x00\x00\x08" + s2 + b"\x00")
        if done[-2:] != b"\x90\x00":
            raise InputError("deck setup: CREDIT FOR LOAD refused")
    else:
        raise InputError(f"unknown deck setup {what!r}")
    card.power_off()


def profiles_table() -> list[tuple[str, str, str, str]]:
    """(name, description, flow and amount, expected outcome) for every deck card."""
    return [(p.name, p.description, f"{p.flow} Rp {p.amount:,}", p.outcome)
            for p in PROFILES.values()]


