"""Typed access to request body fields: a malformed field is a `MalformedRequest`, not a crash.

`MalformedRequest` (an `IssuerError`) marks a refusal that no business rule made: the request log
answers it without storing it, so the idempotency key stays free for the corrected request.
"""

from __future__ import annotations

import re
from typing import Any

from kks_emulator.errors import IssuerError, MalformedRequest
from kks_emulator.issuer.ledger import check_amount

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")


def text(body: dict[str, Any], name: str, *, pattern: re.Pattern[str] = _NAME) -> str:
    """A short identifier field (letters, digits, `._:/-`, at most 64 characters)."""
    value = body.get(name)
    if not isinstance(value, str) or not pattern.match(value):
        raise MalformedRequest(f"field {name!r} must be an identifier (letters, digits, ._:/-)")
    return value


def free_text(body: dict[str, Any], name: str, limit: int = 200) -> str:
    """A free-text field of at most `limit` characters."""
    value = body.get(name)
    if not isinstance(value, str) or len(value) > limit:
        raise MalformedRequest(f"field {name!r} must be text of at most {limit} characters")
    return value


def amount(body: dict[str, Any], name: str = "amount") -> int:
    """A positive integer rupiah amount."""
    try:
        return check_amount(body.get(name), name)
    except IssuerError as exc:
        raise MalformedRequest(str(exc)) from None


def integer(body: dict[str, Any], name: str, lo: int, hi: int) -> int:
    """An integer field in lo..hi."""
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise MalformedRequest(f"field {name!r} must be an integer in {lo}..{hi}")
    return value


def boolean(body: dict[str, Any], name: str) -> bool:
    """A JSON true/false field."""
    value = body.get(name)
    if not isinstance(value, bool):
        raise MalformedRequest(f"field {name!r} must be true or false")
    return value


def hexbytes(body: dict[str, Any], name: str, *, size: int | None = None,
             limit: int = 4096) -> bytes:
    """A hex-encoded byte string, of exactly `size` bytes if given."""
    value = body.get(name)
    if not isinstance(value, str) or len(value) > 2 * limit:
        raise MalformedRequest(f"field {name!r} must be a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise MalformedRequest(f"field {name!r} is not valid hex") from exc
    if size is not None and len(raw) != size:
        raise MalformedRequest(f"field {name!r} must be {size} bytes")
    return raw


#: A terminal id as printed and as in ISO 8583 field 41: 8 printable ASCII characters.
_TERMINAL_TEXT = re.compile(r"^[\x20-\x7E]{8}$")
_TERMINAL_HEX = re.compile(r"^[0-9A-Fa-f]{16}$")


def terminal_id(body: dict[str, Any], name: str = "terminal") -> bytes:
    """The 8-byte terminal id: 8 printable ASCII characters (`EDCJKT01`) or their 16 hex digits.

    The two forms cannot be confused (8 versus 16 characters); both give the same 8 bytes, the
    ones the card puts in its records.
    """
    value = body.get(name)
    if isinstance(value, str) and _TERMINAL_TEXT.match(value):
        return value.encode("ascii")
    if isinstance(value, str) and _TERMINAL_HEX.match(value):
        return bytes.fromhex(value)
    raise MalformedRequest(f"field {name!r} must be the 8-character terminal id (e.g. EDCJKT01) "
                           "or its 16 hex digits")


def optional_text(body: dict[str, Any], name: str) -> str | None:
    """An identifier field that may be absent."""
    return None if body.get(name) is None else text(body, name)
