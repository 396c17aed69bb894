"""Keyed pseudonyms for NIKs in exported data (docs/reliability.md, targets P-PSEUDO and P-LOGS).

A raw NIK carries sex, birth date and kecamatan, and an unkeyed hash of it can be reversed by
enumerating the ~10^12 structurally valid NIKs, so exports never write either. They write
`pseudonym = HMAC-SHA256(scope_key, NIK)[:16]` as 32 hex characters (128 bits), where

    scope_key = HMAC-SHA256(master_key, "kks-pseudonym-scope:" + scope)

so one master key serves several export scopes whose pseudonyms cannot be linked to each other.

The master key (at least 256 bits) comes from outside the repository and the dataset, first found:
the `key_file` argument; the environment variable `KKS_PSEUDONYM_KEY` (hex); a file named by
`KKS_PSEUDONYM_KEY_FILE` (hex text, or at least 32 raw bytes). Runs on synthetic data may pass
`allow_synthetic=True` to fall back to a fixed, public key derived from `SYNTHETIC_KEY_LABEL`; such
a key's `source` is "synthetic-test-fallback" and exports must record it in their manifest. The
fallback gives reproducible outputs for tests and demos and no protection at all.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kks_emulator.errors import InputError
from sim.registry import nik as _nik

ENV_KEY = "KKS_PSEUDONYM_KEY"
ENV_KEY_FILE = "KKS_PSEUDONYM_KEY_FILE"
SYNTHETIC_KEY_LABEL = b"kks-bansos synthetic-test pseudonym key: PUBLIC, NOT A SECRET"
SYNTHETIC_SOURCE = "synthetic-test-fallback"
#: what every export made with the fallback key says (manifest, report, stderr)
NOT_PROTECTIVE = ("Pseudonyms are NOT protective: no pseudonym key was set, so they are HMACs "
                  "under a public key and anyone can recompute them from a NIK. Set "
                  f"{ENV_KEY} (64 hex digits) or {ENV_KEY_FILE} before sharing any export.")
PSEUDONYM_BYTES = 16
#: characters of a pseudonym (hex digits)
PSEUDONYM_CHARS = 2 * PSEUDONYM_BYTES
MIN_KEY_BYTES = 32


@dataclass(frozen=True)
class PseudonymKey:
    """A per-scope HMAC key; `source` says where the master key came from (never the key)."""

    scope: str
    source: str
    key: bytes = field(repr=False)

    @property
    def synthetic(self) -> bool:
        """True for the public fallback key of synthetic test runs."""
        return self.source == SYNTHETIC_SOURCE

    def describe(self) -> dict[str, str]:
        """What a manifest records about the key: scope, source and a key id (not the key)."""
        key_id = hmac.new(self.key, b"kks-pseudonym-key-id", hashlib.sha256).hexdigest()[:16]
        return {"scope": self.scope, "source": self.source, "key_id": key_id,
                "algorithm": "HMAC-SHA256, first 128 bits, hex"}


def _parse_master(raw: bytes, where: str) -> bytes:
    text = raw.strip()
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = raw if where.startswith("file") else b""
        if not key:
            raise InputError(f"pseudonym key from {where}: expected hex digits") from None
    if len(key) < MIN_KEY_BYTES:
        raise InputError(f"pseudonym key from {where}: {len(key) * 8} bits, need at least "
                         f"{MIN_KEY_BYTES * 8}")
    return key


def derive(master: bytes, scope: str, source: str) -> PseudonymKey:
    """The key of one export scope from a master key of at least 256 bits."""
    if len(master) < MIN_KEY_BYTES:
        raise InputError(f"pseudonym master key: need at least {MIN_KEY_BYTES * 8} bits")
    if not scope:
        raise InputError("pseudonym scope must be a non-empty name")
    scoped = hmac.new(master, b"kks-pseudonym-scope:" + scope.encode(), hashlib.sha256).digest()
    return PseudonymKey(scope=scope, source=source, key=scoped)


def load_key(scope: str = "households", *, key_file: str | Path | None = None,
             allow_synthetic: bool = False) -> PseudonymKey:
    """The pseudonym key for `scope` (see the module docstring for where it comes from).

    Raises `InputError` when no key is configured and `allow_synthetic` is False, or when the
    configured key is malformed or shorter than 256 bits.
    """
    if key_file is not None:
        path = Path(key_file)
        return derive(_read_key_file(path), scope, f"file:{path}")
    env = os.environ.get(ENV_KEY)
    if env:
        return derive(_parse_master(env.encode(), f"${ENV_KEY}"), scope, f"env:{ENV_KEY}")
    env_file = os.environ.get(ENV_KEY_FILE)
    if env_file:
        return derive(_read_key_file(Path(env_file)), scope, f"file:${ENV_KEY_FILE}")
    if allow_synthetic:
        return derive(hashlib.sha256(SYNTHETIC_KEY_LABEL).digest(), scope, SYNTHETIC_SOURCE)
    raise InputError(f"no pseudonym key: set {ENV_KEY} (hex, >= 256 bits) or {ENV_KEY_FILE}")


def _read_key_file(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"pseudonym key file {path}: {exc.strerror}") from None
    return _parse_master(raw, f"file {path}")


def _nik_bytes(nik: str | int) -> bytes:
    text = nik if isinstance(nik, str) else f"{int(nik):016d}"
    return text.encode("ascii")


def pseudonym(nik: str | int, key: PseudonymKey) -> str:
    """The 32-hex-digit pseudonym of one NIK (given as a 16-digit string or an int)."""
    digest = hmac.new(key.key, _nik_bytes(nik), hashlib.sha256).digest()
    return digest[:PSEUDONYM_BYTES].hex()


def pseudonyms(niks: np.ndarray | Iterable[int], key: PseudonymKey) -> np.ndarray:
    """Pseudonyms of many NIKs (int64 array or strings) as a `<U32` array, about 1 M/s.

    Uses the HMAC construction with the padded key states hashed once and copied per NIK, which
    gives exactly `hmac.new(key, nik, sha256)`.
    """
    arr = np.asarray(niks)
    texts = _nik.to_strings(arr) if arr.dtype.kind in "iu" else arr.astype(str)
    block = key.key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    out = []
    for text in texts.tolist():
        i = inner.copy()
        i.update(text.encode("ascii"))
        o = outer.copy()
        o.update(i.digest())
        out.append(o.digest()[:PSEUDONYM_BYTES].hex())
    return np.array(out, dtype="<U32")


def mask(nik: str | int) -> str:
    """A NIK safe for logs: `3171**********01` (region digits and the last two only)."""
    return _nik.mask(nik if isinstance(nik, str) else f"{int(nik):016d}")
