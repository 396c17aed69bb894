"""Defensive parsing of card responses on the terminal side (C-FUZZ-HOST).

A card is untrusted input. These helpers decode BER-TLV with `kks_emulator.tlv` one level at a
time (never recursing without a bound), so any malformed, truncated or absurdly nested answer
ends in `CardResponseError`, a typed `CardError`, and never in an unrelated exception.
"""

from __future__ import annotations

from kks_emulator import tlv
from kks_emulator.errors import CardError, KksError

#: Deepest template nesting the terminal accepts (EMV responses use at most 3-4 levels).
MAX_DEPTH = 8


class CardResponseError(CardError):
    """A card response the terminal cannot interpret (bad TLV, missing or malformed fields)."""


def parse_tlv(data: bytes, *, depth: int = 0) -> dict[int, bytes]:
    """Flatten TLV `data` into {tag: first value}, descending into templates up to MAX_DEPTH."""
    if depth > MAX_DEPTH:
        raise CardResponseError("TLV nesting deeper than the terminal accepts")
    try:
        items = tlv.decode(bytes(data), recurse=False)
    except KksError as exc:
        raise CardResponseError(f"malformed TLV from card: {exc}") from None
    out: dict[int, bytes] = {}
    for item in items:
        if tlv.is_constructed(item.tag):
            for tag, value in parse_tlv(item.value, depth=depth + 1).items():
                out.setdefault(tag, value)
        out.setdefault(item.tag, item.value)
    return out


def require(fields: dict[int, bytes], tag: int, what: str, *, size: int | None = None,
            max_size: int = 256) -> bytes:
    """Return the value of `tag` or raise `CardResponseError` if it is absent or mis-sized."""
    value = fields.get(tag)
    if value is None:
        raise CardResponseError(f"card response lacks {what} (tag {tag:X})")
    if (size is not None and len(value) != size) or len(value) > max_size:
        raise CardResponseError(f"{what} (tag {tag:X}) has a bad length {len(value)}")
    return value


def parse_afl(afl: bytes) -> list[tuple[int, int, int]]:
    """Decode an AFL into (SFI, first record, last record) entries; malformed → typed error."""
    if len(afl) % 4 or not afl or len(afl) > 64:
        raise CardResponseError(f"AFL of {len(afl)} bytes is not a non-empty multiple of 4")
    out = []
    for i in range(0, len(afl), 4):
        sfi, first, last, _oda = afl[i] >> 3, afl[i + 1], afl[i + 2], afl[i + 3]
        if not 1 <= sfi <= 30 or first == 0 or last < first or afl[i] & 0x07:
            raise CardResponseError(f"bad AFL entry {afl[i:i + 4].hex().upper()}")
        out.append((sfi, first, last))
    return out


def parse_gpo(data: bytes) -> tuple[bytes, bytes]:
    """GET PROCESSING OPTIONS response (format 1 `80` or format 2 `77`) → (AIP, AFL)."""
    if not data:
        raise CardResponseError("empty GET PROCESSING OPTIONS response")
    if data[0] == 0x80:
        try:
            item = tlv.decode_one(data)
        except KksError as exc:
            raise CardResponseError(f"malformed GPO format 1: {exc}") from None
        if len(item.value) < 6:
            raise CardResponseError("GPO format 1 too short for AIP + AFL")
        aip, afl = item.value[:2], item.value[2:]
    else:
        fields = parse_tlv(data)
        aip = require(fields, 0x82, "AIP", size=2)
        afl = require(fields, 0x94, "AFL")
    parse_afl(afl)
    return aip, afl


def as_int(value: bytes, what: str, size: int) -> int:
    """Big-endian unsigned integer of exactly `size` bytes."""
    if len(value) != size:
        raise CardResponseError(f"{what} must be {size} bytes, got {len(value)}")
    return int.from_bytes(value, "big")


def bcd_amount(value: bytes) -> int:
    """Decode an EMV n12 BCD amount (6 bytes); a non-BCD nibble is a typed error."""
    text = value.hex()
    if len(value) != 6 or not text.isdigit():
        raise CardResponseError("amount is not 6 bytes of BCD")
    return int(text)
