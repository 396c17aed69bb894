"""Transmission fidelity (T=0 TPDU mapping, T=1 Le forms): the docs table in process, the
mapping rules case by case, and the PIN try counter behind a VERIFY with a trailing Le."""

from __future__ import annotations

import pytest

from kks_emulator.apdu import ApduFormatError
from kks_emulator.card import Card, MemoryStore
from kks_emulator.card.t0 import apdu_to_tpdu, parse_tpdu

from . import transmission as tx
from .helpers import PIN, WRONG_PIN, loaded, powered, seeded_rng

ROWS = tx.rows()


def test_table_covers_every_command():
    from kks_emulator.card.commands import COMMANDS

    names = " ".join(r.command for r in ROWS)
    for spec in COMMANDS:
        assert spec.name in names, f"{spec.name} has no row in the transmission table"


@pytest.mark.parametrize("protocol", tx.PROTOCOLS)
def test_transmission_table_in_process(protocol):
    card = Card(MemoryStore(loaded().snapshot()), rng=seeded_rng(7), protocol=protocol)
    card.power_on()
    played = tx.play(ROWS, protocol, card.transmit, lambda: card.last_command)
    for row, got in zip(ROWS, played, strict=True):
        assert got.receives == row.receives[protocol], (row.command, protocol)
        assert got.answer == row.answers[protocol], (row.command, protocol)


@pytest.mark.parametrize(("apdu", "tpdu"), [
    ("00200080", "0020008000"),                              # case 1 gets P3 = 00
    ("805C000204", "805C000204"),                            # case 2S unchanged
    ("002000800826123456FFFFFFFF", "002000800826123456FFFFFFFF"),  # case 3S unchanged
    ("002000800826123456FFFFFFFF00", "002000800826123456FFFFFFFF"),  # case 4S: Le dropped
    ("805C0002000004", "805C000204"),                        # case 2E, Ne <= 256
    ("805C0002000000", "805C000200"),                        # case 2E, Ne = 65536 -> 00
    ("80A800000000028300", "80A80000028300"),                # case 3E, short data
    ("80A8000000000283000000", "80A80000028300"),            # case 4E: short, no Le
    ("00A4", "00A4"),                                        # not an APDU: passed on
    ("00A4040005AABB", "00A4040005AABB"),                    # Lc mismatch: passed on
])
def test_apdu_to_tpdu(apdu, tpdu):
    assert apdu_to_tpdu(bytes.fromhex(apdu)).hex().upper() == tpdu


def test_long_extended_command_becomes_envelope():
    apdu = bytes.fromhex("80A8000000012C") + bytes(300)
    tpdu = apdu_to_tpdu(apdu)
    assert tpdu[:5] == bytes.fromhex("80C20000FF") and tpdu[5:] == apdu[:255]
    t = powered(protocol="T=0")
    assert t.select_savings().sw >> 8 == 0x61
    assert t.raw(apdu).sw == 0x6D00


def test_parse_tpdu_rules():
    assert parse_tpdu(bytes.fromhex("0020008000"), True, True).data == b""
    with pytest.raises(ApduFormatError):
        parse_tpdu(bytes.fromhex("80A8000000"), True, False)  # GPO needs data
    with pytest.raises(ApduFormatError):
        parse_tpdu(bytes.fromhex("80A80000038300"), True, False)  # P3 says 3, 2 follow
    with pytest.raises(ApduFormatError):
        parse_tpdu(bytes.fromhex("805C00020400"), False, False)  # data to a case-2 command
    assert parse_tpdu(bytes.fromhex("805C000200"), False, False).ne == 256
    with pytest.raises(ApduFormatError):
        parse_tpdu(bytes.fromhex("805C0002"), False, False)


@pytest.mark.parametrize("protocol", tx.PROTOCOLS)
@pytest.mark.parametrize("app", ["savings", "purse"])
def test_verify_with_trailing_le_moves_the_counter(protocol, app):
    """The issue's client: VERIFY always sent with a trailing Le; right and wrong PIN work."""
    from kks_emulator.pinblock import plain_pin_block

    t = powered(protocol=protocol)
    sel = t.select_savings() if app == "savings" else t.select_purse()
    assert sel.ok or sel.sw >> 8 == 0x61
    wrong = t.raw(bytes.fromhex("0020008008") + plain_pin_block(WRONG_PIN) + b"\x00")
    assert wrong.sw == 0x63C2
    right = t.raw(bytes.fromhex("0020008008") + plain_pin_block(PIN) + b"\x00")
    assert right.sw == 0x9000
    assert t.card.pin_record().ptc == 3
    assert t.raw(bytes.fromhex("0020008000")).sw == 0x9000  # status, case 2 shape


def test_t0_case4_never_delivers_le_to_the_card():
    t = powered(protocol="T=0")
    r = t.raw(bytes.fromhex("00A4040007A000000602101000"))
    assert r.sw >> 8 == 0x61 and t.card.last_command == bytes.fromhex("00A4040007A0000006021010")
