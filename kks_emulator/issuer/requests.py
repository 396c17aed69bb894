"""Idempotent request handling (L5): same key + same body -> the stored response, byte for byte.

A request is (op, key, body). Its digest is SHA-256 over the canonical JSON of op and body. The
first request with a key runs its handler inside the ledger transaction and stores the exact
response bytes in the same transaction when the request was *processed*: accepted, or declined by
a business rule (as Stripe does), so a crash can never leave a posting without its stored answer
or an answer without its posting. A *malformed* request (a field of the wrong type, format or
length: `MalformedRequest`) is answered, `"malformed": true`, but nothing is stored, so the
corrected request may reuse its key. A later
request with the same key returns those bytes if the digest matches and raises
`IdempotencyError` otherwise. Concurrent duplicates serialise on BEGIN IMMEDIATE, so the second
one sees the first one's stored answer and nothing runs twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from kks_emulator.errors import (
    IdempotencyError,
    IssuerError,
    LedgerInvariantError,
    MalformedRequest,
)
from kks_emulator.issuer.ledger import Ledger

Handler = Callable[[dict[str, Any]], dict[str, Any]]

#: Longest idempotency key accepted (Stripe's limit).
MAX_KEY_LENGTH = 255


def canonical(obj: object) -> bytes:
    """Canonical JSON bytes: sorted keys, no whitespace, ASCII only."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          allow_nan=False).encode("ascii")
    except (TypeError, ValueError) as exc:
        raise IssuerError(f"request body is not canonical JSON: {exc}") from exc


def request_digest(op: str, body: dict[str, Any]) -> bytes:
    """SHA-256 of the canonical (op, body)."""
    return hashlib.sha256(canonical({"op": op, "body": body})).digest()


class RequestLog:
    """Runs handlers exactly once per idempotency key and replays their stored answers."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def run(self, op: str, key: str, body: dict[str, Any], handler: Handler) -> bytes:
        """Execute `handler(body)` once for `key` and return the stored response bytes."""
        if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH:
            raise IssuerError(f"idempotency key must be 1..{MAX_KEY_LENGTH} characters")
        if not isinstance(body, dict):
            raise IssuerError("request body must be a JSON object")
        digest = request_digest(op, body)
        led = self.ledger
        with led.transaction():
            row = led.conn.execute("SELECT op, digest, response FROM requests WHERE key = ?",
                                   (key,)).fetchone()
            if row is not None:
                if row["op"] != op or bytes(row["digest"]) != digest:
                    raise IdempotencyError(
                        f"idempotency key {key!r} was used for a different request "
                        f"({row['op']}); refusing to run this one")
                return bytes(row["response"])
            led.execute("SAVEPOINT handler")
            try:
                result = handler(body)
                response = canonical({"ok": True, "op": op, "result": result})
                led.execute("RELEASE handler")
            except (IdempotencyError, LedgerInvariantError):
                raise
            except MalformedRequest as exc:
                led.conn.execute("ROLLBACK TO handler")
                led.conn.execute("RELEASE handler")
                return canonical({"ok": False, "op": op, "error": str(exc), "malformed": True})
            except IssuerError as exc:
                led.conn.execute("ROLLBACK TO handler")
                led.conn.execute("RELEASE handler")
                response = canonical({"ok": False, "op": op, "error": str(exc)})
            led.execute("INSERT INTO requests(key, op, digest, response) VALUES (?, ?, ?, ?)",
                        (key, op, digest, response))
            return response


def parse_response(raw: bytes) -> dict[str, Any]:
    """Decode a stored response; a refusal becomes `IssuerError`, success returns its result."""
    try:
        msg = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IssuerError(f"unreadable issuer response: {exc}") from exc
    if not isinstance(msg, dict) or "ok" not in msg:
        raise IssuerError("issuer response without an ok field")
    if not msg["ok"]:
        raise IssuerError(f"issuer refused {msg.get('op')}: {msg.get('error')}")
    result = msg.get("result")
    if not isinstance(result, dict):
        raise IssuerError("issuer response without a result object")
    return result
