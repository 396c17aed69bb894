"""The shared cardholder PIN: VERIFY, CHANGE REFERENCE DATA and the issuer's PIN UNBLOCK.

Rules (docs/reliability.md, design rule (b)): 6 digits, try counter decremented and committed
*before* the comparison, reset only after a successful comparison, `63Cx` for a wrong PIN and `6983`
once the counter is 0; comparisons with `hmac.compare_digest`, twice (`crypto.ct.equal`); the
verified flag is RAM only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kks_emulator.apdu import (
    SW_BLOCKED,
    SW_CONDITIONS,
    SW_PIN_TRIES,
    SW_SECURITY,
    SW_WRONG_DATA,
    Command,
)
from kks_emulator.card import records
from kks_emulator.card.sw import SwError
from kks_emulator.crypto import ct, emv

if TYPE_CHECKING:
    from kks_emulator.card.card import Card

PIN_LEN = 6


_BLOCK_HEAD = 0x20 | PIN_LEN  # control field 2, PIN length 6
_BLOCK_FILLER = b"\xff" * (7 - PIN_LEN // 2)
#: The 100 bytes made of two decimal nibbles (00 .. 99).
_BCD_BYTES = bytes(hi << 4 | lo for hi in range(10) for lo in range(10))


def parse_plain_pin_block(block: bytes) -> bytes:
    """EMV plaintext offline PIN block (control 2, length 6, digits, F filler) -> 3 BCD bytes."""
    if len(block) != 8 or block[0] != _BLOCK_HEAD:
        raise SwError(SW_WRONG_DATA)
    digits = bytes(block[1:1 + PIN_LEN // 2])
    # every nibble a decimal digit (nothing left once the BCD bytes are deleted), F filler
    if digits.translate(None, _BCD_BYTES) or block[1 + PIN_LEN // 2:] != _BLOCK_FILLER:
        raise SwError(SW_WRONG_DATA)
    return digits



def _store_pin(card: Card, rec: records.PinRecord) -> None:
    """Commit a new PIN record (one NVM transaction)."""
    card.commit({records.PIN: rec.encode()}, {records.PIN: rec})


def _check(card: Card, candidate: bytes) -> records.PinRecord | None:
    """Pre-decrement, compare, reset on success. Raises 6983 / 63Cx; returns the record on match."""
    rec = card.pin_record()
    if rec.ptc == 0:
        raise SwError(SW_BLOCKED)
    _store_pin(card, records.PinRecord(rec.ptl, rec.ptc - 1, rec.pin_bcd))
    if not ct.equal(candidate, rec.pin_bcd):
        card.s.pin_verified = False
        card.s.pin_failed = True
        raise SwError(SW_PIN_TRIES | (rec.ptc - 1))
    return rec


def verify(card: Card, cmd: Command) -> bytes:
    """VERIFY, P2=80 plaintext PIN. Without data: report the state (9000 or 63Cx / 6983)."""
    if not cmd.data:
        rec = card.pin_record()
        if rec.ptc == 0:
            raise SwError(SW_BLOCKED)
        if card.s.pin_verified:
            return b""
        raise SwError(SW_PIN_TRIES | rec.ptc)
    candidate = parse_plain_pin_block(cmd.data)
    rec = _check(card, candidate)
    assert rec is not None
    _store_pin(card, records.PinRecord(rec.ptl, rec.ptl, rec.pin_bcd))
    card.s.pin_verified = True
    return b""


def change_reference_data(card: Card, cmd: Command) -> bytes:
    """CHANGE REFERENCE DATA: old PIN block || new PIN block (both plaintext format)."""
    old = parse_plain_pin_block(cmd.data[:8])
    new = parse_plain_pin_block(cmd.data[8:])
    rec = _check(card, old)
    assert rec is not None
    _store_pin(card, records.PinRecord(rec.ptl, rec.ptl, new))
    card.s.pin_verified = True
    return b""


def unblock_mac_input(challenge: bytes) -> bytes:
    """What the issuer MACs for PIN UNBLOCK: the command header with Lc, then the challenge."""
    return bytes((0x84, 0x24, 0x00, 0x00, 0x08)) + challenge


def pin_unblock(card: Card, cmd: Command) -> bytes:
    """PIN UNBLOCK (EMV PIN CHANGE/UNBLOCK, P2=00): data = MAC alg. 3 under the card's script
    key over header || card challenge from the preceding GET CHALLENGE. Resets the counter.
    Without a challenge, in the savings application after a GENERATE AC, it is an issuer script
    command with secure messaging (`card.apps.scripts`, P2 00 or 02)."""
    if card.s.challenge is None or cmd.p2 != 0x00:
        from kks_emulator.card.apps import scripts

        return scripts.pin_change_unblock(card, cmd)
    challenge = card.s.challenge
    card.s.challenge = None
    if challenge is None:
        raise SwError(SW_CONDITIONS)
    assert card.static is not None
    expected = emv.mac_alg3(card.static.mk_smi, unblock_mac_input(challenge))
    if not ct.equal(expected, cmd.data):
        raise SwError(SW_SECURITY)
    rec = card.pin_record()
    _store_pin(card, records.PinRecord(rec.ptl, rec.ptl, rec.pin_bcd))
    card.s.pin_failed = False
    return b""

