"""The EMV plaintext offline PIN block (EMV Book 3 §6.5.12, ISO 9564 format 2).

One byte `2N` (control 2, N = number of digits), the digits in BCD, `F` filler to 8 bytes. The
terminal builds it for VERIFY and CHANGE REFERENCE DATA; the card parses it
(`kks_emulator.card.apps.pin.parse_plain_pin_block`, which answers malformed blocks with `6A80`).
"""

from __future__ import annotations


def plain_pin_block(pin: str) -> bytes:
    """The 8-byte plaintext PIN block of `pin` (4 to 12 decimal digits)."""
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
        raise ValueError("a PIN is 4 to 12 decimal digits")
    return bytes.fromhex(f"2{len(pin):X}{pin}".ljust(16, "F"))
