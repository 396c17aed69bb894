"""A deterministic, adaptive APDU corpus for the in-process vs PC/SC differential test (C-DIFF).

The corpus is built by driving an in-process reference card: load commands need the issuer's
S2 over the card's challenge, so each step may look at the previous answer. The result is a flat
list of steps (an APDU, or a "reset"/"unpower" power event) that a second card replays blindly.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from kks_emulator.apdu import encode_command
from kks_emulator.card.apps.directory import PPSE_NAME, PSE_NAME, PURSE_AID, SAVINGS_AID
from kks_emulator.crypto import purse
from kks_emulator.pinblock import plain_pin_block
from tests.card.helpers import CARD_KEYS, CDOL1_DATA, PIN, WRONG_PIN

T0 = 1_795_000_000
TERMINAL = b"TERM0001"


@dataclass(frozen=True)
class Step:
    """One corpus step: `apdu` bytes, or a power `event` ("reset" or "unpower")."""

    apdu: bytes = b""
    event: str = ""


def _select(name: bytes) -> bytes:
    return encode_command(0x00, 0xA4, 0x04, 0x00, name, 256)


def _noise(rng: random.Random) -> bytes:
    """A hostile or odd APDU: random header, bad lengths, extended forms, truncations."""
    kind = rng.randrange(6)
    if kind == 0:  # Lc announces more data than follows (PC/SC cannot carry < 4 bytes)
        return bytes([0x80, rng.choice([0x54, 0x50, 0x20]), 0, 0, 24]) + rng.randbytes(
            rng.randrange(0, 24))
    if kind == 1:
        return bytes([rng.randrange(256) for _ in range(4)])
    if kind == 2:
        body = rng.randbytes(rng.randrange(1, 40))
        return bytes([rng.choice([0x00, 0x80, 0x84]), rng.randrange(256), rng.randrange(256),
                      rng.randrange(256), len(body) + rng.choice([0, 0, 1, -1]) & 0xFF]) + body
    if kind == 3:
        return encode_command(rng.choice([0x00, 0x80]), rng.choice([0xB2, 0xCA, 0x5C, 0xA4]),
                              rng.randrange(256), rng.randrange(256), b"",
                              rng.choice([1, 4, 255, 256, 300]))
    if kind == 4:
        return encode_command(0x00, 0xC0, 0, 0, b"", rng.choice([1, 8, 32, 256]))
    return encode_command(0x80, rng.choice([0x50, 0x52, 0x54]), 0, 0,
                          rng.randbytes(rng.choice([0, 7, 8, 16, 24, 25])))


def build_corpus(card, n: int, seed: int = 2026) -> tuple[list[Step], list[bytes]]:
    """Drive `card` (powered, in process) with >= `n` APDUs; return the steps and answers.

    Power events are applied to `card` as they are generated (reset = `card.reset()`, unpower
    = `power_off()` + `power_on()`), so the answers are the reference for a blind replay.
    """
    rng = random.Random(seed)
    steps: list[Step] = []
    answers: list[bytes] = []

    def send(apdu: bytes) -> bytes:
        steps.append(Step(apdu=apdu))
        answers.append(card.transmit(apdu))
        return answers[-1]

    def power(event: str) -> None:
        steps.append(Step(event=event))
        if event == "reset":
            card.reset()
        else:
            card.power_off()
            card.power_on()

    clock = T0
    while sum(1 for s in steps if s.apdu) < n:
        clock += 60
        action = rng.randrange(100)
        if action < 10:
            send(_select(rng.choice([PSE_NAME, PPSE_NAME, SAVINGS_AID, PURSE_AID])))
        elif action < 18:
            send(_select(PURSE_AID))
            send(encode_command(0x80, 0x5C, 0x00, 0x02, b"", 4))
        elif action < 28:  # purchase, mostly with the right PIN
            send(_select(PURSE_AID))
            send(encode_command(0x00, 0x20, 0x00, 0x80,
                                plain_pin_block(PIN if rng.random() < 0.9 else WRONG_PIN)))
            amount = rng.choice([1, 500, 2_500, 10_000, 10**9])
            send(encode_command(0x80, 0x54, 0, 0, struct.pack(
                ">I8s8sI", amount, TERMINAL, rng.randbytes(8), clock), 256))
        elif action < 36:  # a load: INITIALIZE FOR LOAD, then the issuer's S2 (sometimes wrong)
            send(_select(PURSE_AID))
            amount = rng.choice([1_000, 50_000, 100_000])
            r = send(encode_command(0x80, 0x50, 0, 0,
                                    struct.pack(">I8sI", amount, TERMINAL, clock), 256))
            if r[-2:] == b"\x90\x00":
                cid, nt, challenge = r[:9], int.from_bytes(r[9:13], "big"), r[17:25]
                s2 = purse.load_s2(CARD_KEYS.load_key, cid, nt, amount, TERMINAL, clock,
                                   challenge)
                if rng.random() < 0.1:
                    s2 = bytes(8)
                if rng.random() < 0.1:
                    power(rng.choice(["reset", "unpower"]))  # the session must not survive
                send(encode_command(0x80, 0x52, 0, 0, s2, 256))
        elif action < 44:  # savings: GPO, READ RECORD, GENERATE AC
            send(_select(SAVINGS_AID))
            send(encode_command(0x80, 0xA8, 0, 0, bytes.fromhex("8303036022"), 256))
            send(encode_command(0x00, 0xB2, 1, 0x0C, b"", 256))
            if rng.random() < 0.3:  # DDA
                send(encode_command(0x00, 0x88, 0, 0, rng.randbytes(4), 256))
            r = send(encode_command(0x80, 0xAE, rng.choice([0x80, 0x90]), 0, CDOL1_DATA, 256))
            if r[-2:] == b"\x90\x00" and b"\x9f\x26\x08" in r and rng.random() < 0.3:
                from kks_emulator.issuer.scripts import script_command

                i = r.index(b"\x9f\x26\x08") + 3
                j = r.index(b"\x9f\x36\x02") + 3
                atc, ac = int.from_bytes(r[j:j + 2], "big"), r[i:i + 8]
                for action in ("application-block", "application-unblock"):
                    send(script_command(CARD_KEYS, atc, ac, action))
        elif action < 52:
            send(encode_command(0x80, 0xCA, 0x9F, rng.choice([0x17, 0x36, 0x13, 0x4F]), b"",
                                256))
        elif action < 58:
            send(encode_command(0x00, 0x84, 0, 0, b"", 8))
        elif action < 64:
            send(encode_command(0x00, 0xB2, rng.randrange(0, 12), rng.choice([0x0C, 0x14, 0x1C]),
                                b"", 256))
        elif action < 67:
            power(rng.choice(["reset", "unpower"]))
        else:
            send(_noise(rng))
    return steps, answers
