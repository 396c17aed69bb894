"""Test helpers: a personalised card factory and a tiny terminal that speaks the card's APDUs."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

from kks_emulator.apdu import Response, encode_command, parse_response
from kks_emulator.card import Card, CardProfile, MemoryStore, personalize
from kks_emulator.card.apps.directory import PPSE_NAME, PSE_NAME, PURSE_AID, SAVINGS_AID
from kks_emulator.crypto import emv, purse
from kks_emulator.keys import IssuerKeys
from kks_emulator.pinblock import plain_pin_block

PAN = "6013500012345678"
PIN = "123456"
WRONG_PIN = "654321"
BANK = "BRI"
KEYS = IssuerKeys.test_issuer(BANK)
CARD_KEYS = KEYS.card_keys(PAN, 1)
T0 = 1_764_000_000  # 2025-11-24 15:00 UTC
CDOL1_DATA = bytes.fromhex("000000010000" "000000000000" "0360" "0000000000" "0360" "261124"
                           "00" "11223344")


#: GPO data: template 83 with the PDOL data (9F1A 0360, 9F35 22).
GPO_DATA = bytes.fromhex("8303036022")


def profile(**kw) -> CardProfile:
    """The standard test profile with overrides."""
    base = {"bank": BANK, "pan": PAN, "pin": PIN, "test_mode": True}
    base.update(kw)
    return CardProfile(**base)


_BASE_CELLS: dict[str, bytes] = {}


def fresh_store(**kw) -> MemoryStore:
    """A personalised MemoryStore (the default profile is personalised once and cloned)."""
    if kw:
        store = MemoryStore()
        personalize(store, profile(**kw), KEYS)
        return store
    if not _BASE_CELLS:
        store = MemoryStore()
        personalize(store, profile(), KEYS)
        _BASE_CELLS.update(store.snapshot())
    return MemoryStore(dict(_BASE_CELLS))


def seeded_rng(seed: int):
    """A deterministic challenge generator (labelled test mode)."""
    return random.Random(seed).randbytes


@dataclass
class Terminal:
    """Drives one card in-process."""

    card: Card
    log: list[tuple[bytes, bytes]] = field(default_factory=list)

    def raw(self, apdu: bytes) -> Response:
        """Send raw bytes."""
        resp = self.card.transmit(apdu)
        self.log.append((apdu, resp))
        return parse_response(resp)

    def send(self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"",
             ne: int | None = None) -> Response:
        """Send one command."""
        return self.raw(encode_command(cla, ins, p1, p2, data, ne))

    def select(self, name: bytes) -> Response:
        """SELECT by name."""
        return self.send(0x00, 0xA4, 0x04, 0x00, name, 256)

    def select_pse(self) -> Response:
        """SELECT 1PAY.SYS.DDF01."""
        return self.select(PSE_NAME)

    def select_ppse(self) -> Response:
        """SELECT 2PAY.SYS.DDF01."""
        return self.select(PPSE_NAME)

    def select_savings(self) -> Response:
        """SELECT the savings AID."""
        return self.select(SAVINGS_AID)

    def select_purse(self) -> Response:
        """SELECT the purse AID."""
        return self.select(PURSE_AID)

    def verify(self, pin: str = PIN) -> Response:
        """VERIFY plaintext PIN."""
        return self.send(0x00, 0x20, 0x00, 0x80, plain_pin_block(pin))

    def get_data(self, tag: int) -> Response:
        """GET DATA."""
        return self.send(0x80, 0xCA, tag >> 8, tag & 0xFF, b"", 256)

    def ptc(self) -> int:
        """PIN try counter via GET DATA 9F17."""
        r = self.get_data(0x9F17)
        assert r.ok, hex(r.sw)
        return r.data[3]

    def balance(self) -> int:
        """GET BALANCE."""
        r = self.send(0x80, 0x5C, 0x00, 0x02, b"", 4)
        assert r.ok, hex(r.sw)
        return int.from_bytes(r.data, "big")

    def purchase(self, amount: int, time: int = T0, nonce: bytes = b"NONCE001",
                 terminal_id: bytes = b"TERM0001") -> Response:
        """PURCHASE."""
        return self.send(0x80, 0x54, 0, 0, struct.pack(">I8s8sI", amount, terminal_id, nonce,
                                                       time), 256)

    def init_load(self, amount: int, time: int = T0, terminal_id: bytes = b"TERM0001"
                  ) -> Response:
        """INITIALIZE FOR LOAD."""
        return self.send(0x80, 0x50, 0, 0, struct.pack(">I8sI", amount, terminal_id, time), 256)

    def load(self, amount: int, time: int = T0, terminal_id: bytes = b"TERM0001",
             s2_override: bytes | None = None) -> Response:
        """INITIALIZE FOR LOAD then CREDIT FOR LOAD with the issuer's S2."""
        r = self.init_load(amount, time, terminal_id)
        if not r.ok:
            return r
        d = r.data
        cid, nt, challenge = d[:9], int.from_bytes(d[9:13], "big"), d[17:25]
        s2 = s2_override if s2_override is not None else purse.load_s2(
            CARD_KEYS.load_key, cid, nt, amount, terminal_id, time, challenge)
        return self.send(0x80, 0x52, 0, 0, s2, 256)

    def gpo(self) -> Response:
        """GET PROCESSING OPTIONS with the PDOL data (country 0360, terminal type 22)."""
        return self.send(0x80, 0xA8, 0, 0, GPO_DATA, 256)

    def gac(self, p1: int, data: bytes) -> Response:
        """GENERATE AC."""
        return self.send(0x80, 0xAE, p1, 0, data, 256)


def powered(store: MemoryStore | None = None, **kw) -> Terminal:
    """A powered card over a (fresh) store, with a deterministic challenge generator."""
    card = Card(store if store is not None else fresh_store(), rng=seeded_rng(1), **kw)
    card.power_on()
    return Terminal(card)


def loaded(amount: int = 500_000) -> MemoryStore:
    """A personalised store whose purse holds `amount`."""
    store = fresh_store()
    t = powered(store)
    assert t.select_purse().ok
    assert t.load(amount).ok
    t.card.power_off()
    return store


def arpc_for(response_77: bytes, arc: bytes = b"00") -> tuple[bytes, bytes]:
    """(ARQC, ARPC) for a first GENERATE AC response, computed with the issuer keys."""
    from kks_emulator import tlv

    flat = tlv.flatten(tlv.decode(response_77))
    atc = int.from_bytes(flat[0x9F36], "big")
    sk = emv.derive_session_key(CARD_KEYS.mk_ac, atc)
    arqc = flat[0x9F26]
    return arqc, emv.compute_arpc(sk, arqc, arc)
