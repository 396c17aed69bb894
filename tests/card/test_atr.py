"""The ATR offers T=0 and T=1 and its TCK is right (computed here independently)."""

from __future__ import annotations

from kks_emulator.card import Card
from kks_emulator.card.atr import ATR, parse_atr

from .helpers import fresh_store


def test_atr_tck_independent():
    x = 0
    for b in ATR[1:-1]:
        x ^= b
    assert ATR[-1] == x
    assert ATR.hex().upper() == "3B858031FE4580534B4B530F"


def test_atr_offers_t0_and_t1():
    info = parse_atr(ATR)
    assert info.protocols == (0, 1)
    assert info.tck_ok
    assert info.historical == bytes.fromhex("80534B4B53")


def test_bad_tck_detected():
    assert not parse_atr(ATR[:-1] + b"\x00").tck_ok


def test_power_on_and_reset_return_atr():
    card = Card(fresh_store())
    assert card.power_on() == ATR
    assert card.reset() == ATR
