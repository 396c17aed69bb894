"""Strict BER-TLV (ISO 7816-4 / EMV Book 3 Annex B) encode and decode.

Strict means: definite lengths only, minimal length encoding (`81` only for 128..255, `82` only
for 256..65535), tags of at most 3 bytes, no trailing or padding bytes. Every violation raises
`TlvError` with the offset. Tags are handled as integers (`0x9F36`), values as bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kks_emulator.errors import InputError


class TlvError(InputError):
    """Malformed BER-TLV data."""


@dataclass(frozen=True, slots=True)
class Tlv:
    """One decoded data object; `children` is set for constructed tags."""

    tag: int
    value: bytes
    children: tuple[Tlv, ...] | None = None

    @property
    def constructed(self) -> bool:
        """True when bit 6 of the first tag byte is set."""
        return is_constructed(self.tag)


def _tag_bytes(tag: int) -> bytes:
    if tag < 0 or tag > 0xFFFFFF:
        raise TlvError(f"tag {tag:#x} out of range")
    length = max(1, (tag.bit_length() + 7) // 8)
    raw = tag.to_bytes(length, "big")
    if _read_tag(raw, 0) != (tag, length):
        raise TlvError(f"{raw.hex().upper()} is not a well-formed BER tag")
    return raw


def is_constructed(tag: int) -> bool:
    """Whether a tag denotes a constructed data object."""
    first = _tag_bytes(tag)[0]
    return bool(first & 0x20)


def encode_length(n: int) -> bytes:
    """Minimal definite BER length."""
    if n < 0:
        raise TlvError(f"negative length {n}")
    if n < 0x80:
        return bytes((n,))
    if n <= 0xFF:
        return bytes((0x81, n))
    if n <= 0xFFFF:
        return b"\x82" + n.to_bytes(2, "big")
    if n <= 0xFFFFFF:
        return b"\x83" + n.to_bytes(3, "big")
    raise TlvError(f"length {n} too large")


def encode(tag: int, value: bytes) -> bytes:
    """Encode one data object."""
    return _tag_bytes(tag) + encode_length(len(value)) + bytes(value)


def encode_many(items: Iterable[tuple[int, bytes]]) -> bytes:
    """Encode a sequence of (tag, value) pairs back to back."""
    return b"".join(encode(t, v) for t, v in items)


def _read_tag(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise TlvError(f"tag expected at offset {pos}, data ended")
    first = data[pos]
    if first in (0x00, 0xFF):
        raise TlvError(f"padding byte {first:02X} at offset {pos} (not allowed in strict mode)")
    tag = first
    pos += 1
    if first & 0x1F == 0x1F:
        for count in range(2):
            if pos >= len(data):
                raise TlvError(f"multi-byte tag truncated at offset {pos}")
            b = data[pos]
            if count == 0 and b == 0x80:
                raise TlvError(f"non-minimal tag at offset {pos}")
            tag = (tag << 8) | b
            pos += 1
            if not b & 0x80:
                break
        else:
            raise TlvError(f"tag longer than 3 bytes at offset {pos}")
    return tag, pos


def _read_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise TlvError(f"length expected at offset {pos}, data ended")
    b = data[pos]
    pos += 1
    if b < 0x80:
        return b, pos
    if b == 0x80:
        raise TlvError(f"indefinite length at offset {pos - 1}")
    count = b & 0x7F
    if count > 3:
        raise TlvError(f"length of {count} bytes at offset {pos - 1}")
    if pos + count > len(data):
        raise TlvError(f"length field truncated at offset {pos}")
    n = int.from_bytes(data[pos:pos + count], "big")
    if encode_length(n) != data[pos - 1:pos + count]:
        raise TlvError(f"non-minimal length encoding at offset {pos - 1}")
    return n, pos + count


def decode(data: bytes, *, recurse: bool = True) -> list[Tlv]:
    """Decode back-to-back data objects; constructed ones are decoded recursively."""
    data = bytes(data)
    out: list[Tlv] = []
    pos = 0
    while pos < len(data):
        tag, pos = _read_tag(data, pos)
        n, pos = _read_length(data, pos)
        if pos + n > len(data):
            raise TlvError(f"value of tag {tag:X} needs {n} bytes, {len(data) - pos} left")
        value = data[pos:pos + n]
        pos += n
        children = tuple(decode(value)) if recurse and is_constructed(tag) else None
        out.append(Tlv(tag, value, children))
    return out


def decode_one(data: bytes) -> Tlv:
    """Decode exactly one data object covering all of `data`."""
    items = decode(data)
    if len(items) != 1:
        raise TlvError(f"expected one data object, found {len(items)}")
    return items[0]


def find(items: Iterable[Tlv], tag: int) -> Tlv | None:
    """Depth-first search for the first object with `tag`."""
    for item in items:
        if item.tag == tag:
            return item
        if item.children:
            hit = find(item.children, tag)
            if hit is not None:
                return hit
    return None


def flatten(items: Iterable[Tlv]) -> dict[int, bytes]:
    """Map every primitive tag (at any depth) to its first value."""
    out: dict[int, bytes] = {}
    for item in items:
        if item.children is not None:
            for k, v in flatten(item.children).items():
                out.setdefault(k, v)
        else:
            out.setdefault(item.tag, item.value)
    return out


def parse_dol(dol: bytes) -> list[tuple[int, int]]:
    """Parse a Data Object List (tag, length pairs without values), e.g. CDOL1."""
    dol = bytes(dol)
    out = []
    pos = 0
    while pos < len(dol):
        tag, pos = _read_tag(dol, pos)
        if pos >= len(dol):
            raise TlvError(f"DOL length missing for tag {tag:X}")
        out.append((tag, dol[pos]))
        pos += 1
    return out


def encode_dol(entries: Iterable[tuple[int, int]]) -> bytes:
    """Encode (tag, length) pairs as a Data Object List."""
    return b"".join(_tag_bytes(t) + bytes((n,)) for t, n in entries)
