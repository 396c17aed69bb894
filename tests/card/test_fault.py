"""C-FAULT: single faults injected into the emulator.

- Skipped NVM writes: covered for every write of every value command by C-TEAR-EXH ("skip").
- Bit flips: every single-bit flip of every sealed record (purse, PIN, EMV counters, log, KYC)
  is detected (CRC-32 + MAC) and the card refuses with 6581, writing nothing.
- Forced comparison results: every secret comparison (PIN, S2, unblock MAC, registration MAC,
  ARPC, record MAC) runs twice (`crypto.ct.equal`), so forcing one compare_digest call to
  "equal" never yields an accepted PIN, load, unblock, registration or TC.
- Known single points of failure (documented, not double-checked): the integer comparisons of
  the balance / cap / monthly limit / counter limit, and the RAM PIN-verified flag read by
  PURCHASE. The emulator has no fault model for integer compares or RAM.
"""

from __future__ import annotations

import hmac

import pytest

from kks_emulator.card import Card, MemoryStore
from kks_emulator.card.apps.pin import unblock_mac_input

from .helpers import CDOL1_DATA, PIN, WRONG_PIN, Terminal, loaded, seeded_rng
from .test_policy import _set_registered


def _flip_cases():
    base = loaded(100_000)
    t = Terminal(Card(base, rng=seeded_rng(5)))
    t.card.power_on()
    t.select_purse()
    assert _set_registered(t, b"\x01").ok
    return base.snapshot()


CELLS = {
    "purse": lambda t: [t.send(0x80, 0x5C, 0, 2, b"", 4), t.init_load(10)],
    "pin": lambda t: [t.verify(PIN)],
    "emv": lambda t: [t.get_data(0x9F36)],
    "log.0": lambda t: [t.send(0x00, 0xB2, 1, 0x1C, b"", 256)],
    "kyc": lambda t: [t.init_load(10)],
}


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_every_single_bit_flip_is_detected(cell):
    cells = _flip_cases()
    sealed = cells[cell]
    for i in range(len(sealed)):
        for bit in range(8):
            raw = bytearray(sealed)
            raw[i] ^= 1 << bit
            store = MemoryStore({**cells, cell: bytes(raw)})
            t = Terminal(Card(store, rng=seeded_rng(1)))
            t.card.power_on()
            t.select_purse()
            before = store.snapshot()
            for r in CELLS[cell](t):
                assert r.sw == 0x6581, f"{cell} byte {i} bit {bit}: {r.sw:04X}"
            assert store.snapshot() == before


@pytest.fixture
def force_first_compare(monkeypatch):
    """Make the next hmac.compare_digest call answer 'equal' whatever its inputs."""
    real = hmac.compare_digest
    state = {"armed": False, "fired": 0}

    def faulty(a, b):
        if state["armed"]:
            state["armed"] = False
            state["fired"] += 1
            return True
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", faulty)
    return state


def test_forced_pin_compare(force_first_compare):
    t = Terminal(Card(loaded(), rng=seeded_rng(2)))
    t.card.power_on()
    t.select_purse()
    force_first_compare["armed"] = True
    assert t.verify(WRONG_PIN).sw == 0x63C2
    assert force_first_compare["fired"] == 1
    assert t.purchase(100).sw == 0x6982


def test_forced_load_mac_compare(force_first_compare):
    t = Terminal(Card(loaded(), rng=seeded_rng(2)))
    t.card.power_on()
    t.select_purse()
    assert t.init_load(1000).ok
    before = t.card.store.snapshot()
    force_first_compare["armed"] = True
    assert t.send(0x80, 0x52, 0, 0, bytes(8), 256).sw == 0x6982
    assert force_first_compare["fired"] == 1
    assert t.card.store.snapshot() == before


def test_forced_unblock_and_registration_mac_compare(force_first_compare):
    t = Terminal(Card(loaded(), rng=seeded_rng(2)))
    t.card.power_on()
    t.select_purse()
    for _ in range(3):
        t.verify(WRONG_PIN)
    before = t.card.store.snapshot()
    t.send(0x00, 0x84, 0, 0, b"", 8)
    force_first_compare["armed"] = True
    assert t.send(0x84, 0x24, 0, 0, bytes(8)).sw == 0x6982
    t.send(0x00, 0x84, 0, 0, b"", 8)
    force_first_compare["armed"] = True
    assert t.send(0x84, 0xDA, 0xDF, 0x01, bytes(9)).sw == 0x6982
    assert force_first_compare["fired"] == 2
    assert t.card.store.snapshot() == before
    assert unblock_mac_input(bytes(8))[:5] == bytes.fromhex("8424000008")


def test_forced_arpc_compare(force_first_compare):
    t = Terminal(Card(loaded(), rng=seeded_rng(2)))
    t.card.power_on()
    t.select_savings()
    t.gpo()
    assert t.gac(0x80, CDOL1_DATA).ok
    force_first_compare["armed"] = True
    r = t.gac(0x40, b"00" + bytes(8) + b"00" + bytes(9))
    assert r.ok and b"\x9F\x27\x01\x00" in r.data  # AAC, not TC
    assert t.get_data(0x9F13).data == bytes.fromhex("9F13020000")
