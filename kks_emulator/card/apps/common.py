"""Commands shared by every context: GET RESPONSE, GET CHALLENGE and GET DATA."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kks_emulator.apdu import SW_BYTES_REMAINING, SW_CONDITIONS, SW_OK, SW_WRONG_LE, Command
from kks_emulator.card.sw import SwError

if TYPE_CHECKING:
    from kks_emulator.card.card import Card

CHALLENGE_LEN = 8
#: How many challenges of the session are remembered to refuse repeats.
MAX_REMEMBERED = 1 << 16
TAG_PTC = 0x9F17
TAG_ATC = 0x9F36
TAG_LAST_ONLINE_ATC = 0x9F13
GET_DATA_TAGS = frozenset({TAG_PTC, TAG_ATC, TAG_LAST_ONLINE_ATC})


def get_response(card: Card, cmd: Command) -> tuple[bytes, int]:
    """GET RESPONSE: hand out the buffered rest of the previous answer (61xx chain)."""
    buf = card.s.out_buffer
    if not buf:
        raise SwError(SW_CONDITIONS)
    assert cmd.ne is not None
    wildcard = card.protocol == "T=1" and cmd.ne in (256, 65536)
    if cmd.ne > len(buf) and not wildcard:
        raise SwError(SW_WRONG_LE | (len(buf) & 0xFF))
    take = min(cmd.ne, len(buf))
    out, rest = buf[:take], buf[take:]
    card.s.out_buffer = rest
    if rest:
        return out, SW_BYTES_REMAINING | (min(len(rest), 256) & 0xFF)
    return out, SW_OK


def get_challenge(card: Card, cmd: Command) -> bytes:
    """GET CHALLENGE: 8 fresh random bytes, valid for the next command (PIN UNBLOCK)."""
    if cmd.ne not in (CHALLENGE_LEN, 256, 65536) or (card.protocol == "T=0"
                                                    and cmd.ne != CHALLENGE_LEN):
        raise SwError(SW_WRONG_LE | CHALLENGE_LEN)
    seen = card.s.seen_challenges
    if len(seen) >= MAX_REMEMBERED:  # bounded RAM; 64-bit challenges from a CSPRNG anyway
        seen.clear()
    challenge = card.random(CHALLENGE_LEN)
    while challenge in seen:  # never repeat within a session
        challenge = card.random(CHALLENGE_LEN)
    seen.add(challenge)
    card.s.challenge = challenge
    return challenge


def get_data(card: Card, cmd: Command) -> bytes:
    """GET DATA for 9F17 (PIN try counter), 9F36 (ATC) and 9F13 (last online ATC)."""
    tag = cmd.p1p2
    if tag == TAG_PTC:
        return b"\x9F\x17\x01" + bytes((card.pin_record().ptc,))
    emv = card.emv_record()
    if tag == TAG_ATC:
        return b"\x9F\x36\x02" + emv.atc.to_bytes(2, "big")
    return b"\x9F\x13\x02" + emv.last_online_atc.to_bytes(2, "big")
