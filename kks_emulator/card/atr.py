"""The card's Answer To Reset (ISO/IEC 7816-3) and a small ATR parser for tests and readers.

ATR = 3B 85 80 31 FE 45 80 53 4B 4B 53 TCK
- TS 3B direct convention; T0 85: TD1 present, 5 historical bytes
- TD1 80: TD2 present, protocol T=0
- TD2 31: TA3 and TB3 present, protocol T=1; TA3 FE: IFSC 254; TB3 45: BWI 4, CWI 5
- historical bytes 80 53 4B 4B 53: category 80, compact-TLV tag 5 (card issuer data) "KKS"
- TCK: XOR of T0 .. last historical byte (present because T=1 is offered)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from kks_emulator.errors import InputError

_BODY = bytes.fromhex("858031FE4580534B4B53")


def tck(body: bytes) -> int:
    """XOR of all bytes from T0 to the last historical byte."""
    return reduce(lambda a, b: a ^ b, body, 0)


ATR = b"\x3B" + _BODY + bytes((tck(_BODY),))


@dataclass(frozen=True)
class AtrInfo:
    """Decoded ATR: offered protocols and historical bytes."""

    protocols: tuple[int, ...]
    historical: bytes
    tck_ok: bool


def parse_atr(atr: bytes) -> AtrInfo:
    """Parse an ATR's interface bytes; check TCK when any protocol other than T=0 is offered."""
    if len(atr) < 2 or atr[0] not in (0x3B, 0x3F):
        raise InputError("ATR must start with TS 3B or 3F")
    t0 = atr[1]
    k = t0 & 0x0F
    y = t0 >> 4
    pos = 2
    protocols: list[int] = []
    while True:
        for bit in (0x1, 0x2, 0x4):
            if y & bit:
                pos += 1
        if y & 0x8:
            if pos >= len(atr):
                raise InputError("ATR truncated in interface bytes")
            td = atr[pos]
            pos += 1
            protocols.append(td & 0x0F)
            y = td >> 4
        else:
            break
    if not protocols:
        protocols = [0]
    historical = atr[pos:pos + k]
    pos += k
    needs_tck = any(p != 0 for p in protocols)
    tck_ok = True
    if needs_tck:
        if pos != len(atr) - 1:
            raise InputError("ATR length does not match its T0/TDi bytes")
        tck_ok = tck(atr[1:]) == 0
    elif pos != len(atr):
        raise InputError("ATR length does not match its T0/TDi bytes")
    return AtrInfo(tuple(dict.fromkeys(protocols)), bytes(historical), tck_ok)
