"""Transactions over the simulated NVM: a redo journal plus sealed (CRC-32, optional MAC) records.

`commit(updates)` is the card's only way to change persistent state, and it is all-or-nothing
across a power cut at any write, like a Java Card transaction:

1. write the journal cell: every (name, new value) and a CRC-32 over the journal (commit point);
2. write each target cell;
3. write an empty journal.

`recover()` runs at every power-on: a journal whose CRC holds is re-applied (idempotent) and then
cleared; a torn journal (bad CRC) means the commit point was never reached and is discarded.
Records are sealed as payload || [HMAC-SHA256(key, name || payload)[:8]] || CRC-32(name || payload).
"""

from __future__ import annotations

import hmac
import struct
import zlib

from kks_emulator.card.store import Store
from kks_emulator.crypto import ct
from kks_emulator.errors import StoreError

JOURNAL = "jnl"


class IntegrityError(StoreError):
    """A record failed its CRC-32 or MAC check; the card refuses value operations."""


def seal(name: str, payload: bytes, mac_key: bytes | None = None) -> bytes:
    """Append the integrity tags to a record payload."""
    tagged = name.encode() + payload
    mac = hmac.digest(mac_key, tagged, "sha256")[:8] if mac_key else b""
    return payload + mac + struct.pack(">I", zlib.crc32(tagged + mac))


def unseal(name: str, sealed: bytes | None, mac_key: bytes | None = None) -> bytes:
    """Check and strip the integrity tags; raise `IntegrityError` on any mismatch."""
    if sealed is None:
        raise IntegrityError(f"record {name} is missing")
    extra = 12 if mac_key else 4
    if len(sealed) < extra:
        raise IntegrityError(f"record {name} is truncated")
    payload = sealed[:-extra]
    mac = sealed[-extra:-4]
    tagged = name.encode() + payload
    if zlib.crc32(tagged + mac) != struct.unpack(">I", sealed[-4:])[0]:
        raise IntegrityError(f"record {name} failed its CRC-32 check")
    if mac_key and not ct.equal(hmac.digest(mac_key, tagged, "sha256")[:8], mac):
        raise IntegrityError(f"record {name} failed its MAC check")
    return payload


def _encode_journal(updates: dict[str, bytes]) -> bytes:
    parts = [bytes((len(updates),))]
    for name, value in updates.items():
        enc = name.encode()
        parts.append(bytes((len(enc),)) + enc + struct.pack(">H", len(value)) + value)
    body = b"".join(parts)
    return body + struct.pack(">I", zlib.crc32(body))


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
