"""Transactions over the simulated NVM: a redo journal plus sealed (CRC-32, optional MAC) records.

`commit(updates)` is the card's only way to change persistent state, and it is all-or-nothing
across a power cut at any write, like a Java Card transaction:

1. write the journal cell: every (name, new value) and a CRC-32 over the journal (commit point);
2. write each target cell;
3. write an empty journal.

`recover()` runs at every power-on: a journal whose CRC holds is re-applied (idempotent) and then
cleared; a torn journal (bad CRC) means the commit point was never reached and is discarded.
Records are sealed as payload || [HMAC-SHA256(key, name || payload)[:8]] || CRC-32(name || payload
|| MAC). A powered card seals and checks with a `MacKey` built once per power session (the HMAC
key schedule precomputed); a raw key is accepted too and gives the same bytes.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

from kks_emulator.card.store import Store
from kks_emulator.crypto import ct
from kks_emulator.errors import StoreError

JOURNAL = "jnl"


class IntegrityError(StoreError):
    """A record failed its CRC-32 or MAC check; the card refuses value operations."""


_HMAC_BLOCK = 64  # SHA-256 block size
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


class MacKey:
    """HMAC-SHA256/64 record MAC under one record key, its key schedule computed once.

    `tag(data)` equals `hmac.digest(key, data, "sha256")[:8]` (RFC 2104): the inner and outer
    SHA-256 states after the padded key block are kept and copied per MAC, which saves the two
    key-block compressions and the digest lookup of every `hmac.digest` call.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        key = bytes(key)
        if len(key) > _HMAC_BLOCK:
            key = hashlib.sha256(key).digest()
        block = key.ljust(_HMAC_BLOCK, b"\x00")
        self._inner = hashlib.sha256(block.translate(_IPAD))
        self._outer = hashlib.sha256(block.translate(_OPAD))

    def tag(self, data: bytes) -> bytes:
        """The first 8 bytes of HMAC-SHA256(key, data)."""
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:8]

    def seal(self, name: str, payload: bytes) -> bytes:
        """`seal(name, payload, key)` under this key: payload || MAC(8) || CRC-32(4)."""
        tagged = name.encode() + payload
        inner = self._inner.copy()
        inner.update(tagged)
        outer = self._outer.copy()
        outer.update(inner.digest())
        mac = outer.digest()[:8]
        return payload + mac + zlib.crc32(mac, zlib.crc32(tagged)).to_bytes(4, "big")


def _mac_key(mac_key: bytes | MacKey | None) -> MacKey | None:
    if mac_key is None or isinstance(mac_key, MacKey):
        return mac_key
    return MacKey(mac_key) if mac_key else None


def seal(name: str, payload: bytes, mac_key: bytes | MacKey | None = None) -> bytes:
    """Append the integrity tags to a record payload."""
    mk = _mac_key(mac_key)
    if mk is not None:
        return mk.seal(name, payload)
    tagged = name.encode() + payload
    return payload + struct.pack(">I", zlib.crc32(tagged))


def unseal(name: str, sealed: bytes | None, mac_key: bytes | MacKey | None = None) -> bytes:
    """Check and strip the integrity tags; raise `IntegrityError` on any mismatch."""
    if sealed is None:
        raise IntegrityError(f"record {name} is missing")
    mk = _mac_key(mac_key)
    extra = 12 if mk is not None else 4
    if len(sealed) < extra:
        raise IntegrityError(f"record {name} is truncated")
    payload = sealed[:-extra]
    mac = sealed[-extra:-4]
    tagged = name.encode() + payload
    if zlib.crc32(tagged + mac) != struct.unpack(">I", sealed[-4:])[0]:
        raise IntegrityError(f"record {name} failed its CRC-32 check")
    if mk is not None and not ct.equal(mk.tag(tagged), mac):
        raise IntegrityError(f"record {name} failed its MAC check")
    return payload


def _encode_journal(updates: dict[str, bytes]) -> bytes:
    """count(1), then per cell: name length(1) name value length(2) value; then CRC-32(4)."""
    body = bytearray((len(updates),))
    for name, value in updates.items():
        enc = name.encode()
        body.append(len(enc))
        body += enc
        body += len(value).to_bytes(2, "big")
        body += value
    body += zlib.crc32(body).to_bytes(4, "big")
    return bytes(body)


def _decode_journal(raw: bytes) -> dict[str, bytes] | None:
    if len(raw) < 5 or zlib.crc32(raw[:-4]) != struct.unpack(">I", raw[-4:])[0]:
        return None
    out: dict[str, bytes] = {}
    pos = 1
    try:
        for _ in range(raw[0]):
            n = raw[pos]
            name = raw[pos + 1:pos + 1 + n].decode()
            pos += 1 + n
            (size,) = struct.unpack(">H", raw[pos:pos + 2])
            out[name] = raw[pos + 2:pos + 2 + size]
            pos += 2 + size
    except (IndexError, struct.error, UnicodeDecodeError):
        return None
    return out if pos == len(raw) - 4 else None


def commit(store: Store, updates: dict[str, bytes]) -> None:
    """Write all `updates` (cell name -> sealed bytes) atomically."""
    if not updates:
        return
    store.write(JOURNAL, _encode_journal(updates))
    for name, value in updates.items():
        store.write(name, value)
    store.write(JOURNAL, b"")


def recover(store: Store) -> bool:
    """Finish or discard an interrupted commit; return True if a journal was re-applied."""
    raw = store.read(JOURNAL)
    if not raw:
        return False
    updates = _decode_journal(raw)
    if updates is not None:
        for name, value in updates.items():
            if store.read(name) != value:
                store.write(name, value)
    store.write(JOURNAL, b"")
    return updates is not None
