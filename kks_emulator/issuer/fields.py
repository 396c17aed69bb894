"""Typed access to request body fields: every malformed field is an `IssuerError`, never a crash."""

from __future__ import annotations

import re
from typing import Any

from kks_emulator.errors import IssuerError
from kks_emulator.issuer.ledger import check_amount

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")


def text(body: dict[str, Any], name: str, *, pattern: re.Pattern[str] = _NAME) -> str:
    """A short identifier field (letters, digits, `._:/-`, at most 64 characters)."""
    value = body.get(name)
    if not isinstance(value, str) or not pattern.match(value):
        raise IssuerError(f"field {name!r} must be an identifier (letters, digits, ._:/-)")
    return value


def free_text(body: dict[str, Any], name: str, limit: int = 200) -> str:
    """A free-text field of at most `limit` characters."""
    value = body.get(name)
    if not isinstance(value, str) or len(value) > limit:
        raise IssuerError(f"field {name!r} must be text of at most {limit} characters")
    return value


def amount(body: dict[str, Any], name: str = "amount") -> int:
    """A positive integer rupiah amount."""
    return check_amount(body.get(name), name)


def integer(body: dict[str, Any], name: str, lo: int, hi: int) -> int:
    """An integer field in lo..hi."""
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise IssuerError(f"field {name!r} must be an integer in {lo}..{hi}")
    return value


def hexbytes(body: dict[str, Any], name: str, *, size: int | None = None,
             limit: int = 4096) -> bytes:
    """A hex-encoded byte string, of exactly `size` bytes if given."""
    value = body.get(name)
    if not isinstance(value, str) or len(value) > 2 * limit:
        raise IssuerError(f"field {name!r} must be a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise IssuerError(f"field {name!r} is not valid hex") from exc
    if size is not None and len(raw) != size:
        raise IssuerError(f"field {name!r} must be {size} bytes")
    return raw


def optional_text(body: dict[str, Any], name: str) -> str | None:
    """An identifier field that may be absent."""
    return None if body.get(name) is None else text(body, name)
