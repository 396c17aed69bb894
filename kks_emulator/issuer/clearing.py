"""Clearing of signed purse purchase records (C-REPLAY).

Each item of a batch is (record, signature, card certificate). An item is accepted when the
certificate verifies under the bank's CA, the record decodes as a purchase of the certified card
made at the uploading terminal, the ECDSA signature verifies over the exact record bytes, the card
has float to cover it, and (card id, counter) was never cleared before. Deduplication is by that
signed content, never by signature bytes: ECDSA is malleable ((r, n-s) verifies too), so a host that
remembered signatures would clear the same purchase twice. Refused items leave the ledger untouched;
the batch answer lists every item's fate and is stored under the batch's idempotency key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kks_emulator.crypto import purse
from kks_emulator.errors import IssuerError, KksError, MalformedRequest
from kks_emulator.issuer import fields
from kks_emulator.issuer.operations import float_code, merchant_code

if TYPE_CHECKING:
    from kks_emulator.issuer.host import Host

#: Most records one clearing request may carry.
MAX_BATCH = 10_000


def _expiry_ok(expiry: str, unix_time: int) -> bool:
    import datetime as dt

    t = dt.datetime.fromtimestamp(unix_time, dt.UTC)
    return (t.year % 100) * 100 + t.month <= int(expiry)


#: Verified certificates remembered per host (exact bytes -> result); a batch from one card
#: verifies its certificate once. Bounded so a flood of distinct certificates cannot grow it.
CERT_CACHE_SIZE = 4096


def verified_certificate(host: Host, raw: bytes) -> tuple[purse.CardCertificate, Any]:
    """`purse.verify_certificate` under the host's CA, memoised on the exact certificate bytes."""
    cache = host.cert_cache
    hit = cache.get(raw)
    if hit is None:
        hit = purse.verify_certificate(raw, host.keys.ca_public_key)
        if len(cache) >= CERT_CACHE_SIZE:
            cache.clear()
        cache[raw] = hit
    return hit


def verify_item(host: Host, item: object, terminal: bytes) -> purse.TransactionRecord:
    """Check one uploaded item cryptographically; return its record or raise `IssuerError`."""
    if not isinstance(item, dict):
        raise IssuerError("item must be an object with record, signature and certificate")
    raw = fields.hexbytes(item, "record", size=purse.RECORD_LEN)
    sig = fields.hexbytes(item, "signature", limit=80)
    cert_raw = fields.hexbytes(item, "certificate", limit=400)
    try:
        cert, card_key = verified_certificate(host, cert_raw)
        record = purse.TransactionRecord.decode(raw)
    except KksError as exc:
        raise IssuerError(f"rejected: {exc}") from None
    if record.type != purse.TYPE_PURCHASE:
        raise IssuerError("rejected: not a purchase record")
    if record.card_id != cert.card_id:
        raise IssuerError("rejected: record and certificate name different cards")
    if not cert.expiry.isdigit() or not _expiry_ok(cert.expiry, record.time):
        raise IssuerError("rejected: card certificate expired at the time of the purchase")
    if record.terminal_id != terminal:
        raise IssuerError("rejected: record was made at another terminal")
    if not purse.verify(card_key, raw, sig):
        raise IssuerError("rejected: signature does not verify over the record")
    return record


def clear_one(host: Host, item: object, merchant: str, terminal: bytes) -> dict[str, Any]:
    """Verify and post one item (inside the batch transaction, under its own savepoint)."""
    record = verify_item(host, item, terminal)
    led = host.ledger
    card = record.card_id.hex().upper()
    seen = led.conn.execute("SELECT 1 FROM cleared WHERE card_id = ? AND counter = ?",
                            (card, record.counter)).fetchone()
    if seen is not None:
        raise IssuerError(f"duplicate: card {card} counter {record.counter} already cleared")
    flt = led.find(float_code(card))
    if flt is None or flt.kind != "float":
        raise IssuerError(f"rejected: card {card} has no purse float at this issuer")
    if record.amount <= 0 or record.amount > led.balance(flt.code):
        raise IssuerError(f"rejected: amount {record.amount} exceeds the card's float")
    jid = led.post("clearing", f"clear:{card}:{record.counter}",
                   f"purse purchase {card}#{record.counter} at {merchant}",
                   [(flt.code, "D", record.amount), (merchant_code(merchant), "C",
                                                     record.amount)])
    led.execute("INSERT INTO cleared(card_id, counter, amount, merchant, terminal, journal_id) "
                "VALUES (?, ?, ?, ?, ?, ?)", (card, record.counter, record.amount, merchant,
                                              terminal.hex().upper(), jid))
    return {"card_id": card, "counter": record.counter, "amount": record.amount, "journal": jid}


def clear(host: Host, body: dict[str, Any]) -> dict[str, Any]:
    """Handler of `clear`: every item accepted once or refused with a reason."""
    merchant = fields.text(body, "merchant")
    terminal = fields.terminal_id(body, "terminal")
    items = body.get("items")
    if not isinstance(items, list) or len(items) > MAX_BATCH:
        raise MalformedRequest(f"items must be a list of at most {MAX_BATCH} records")
    acct = host.ledger.get(merchant_code(merchant))
    if acct.kind != "merchant":
        raise IssuerError(f"{acct.code} is not a merchant account")
    accepted, refused = [], []
    for index, item in enumerate(items):
        host.ledger.execute("SAVEPOINT item")
        try:
            done = clear_one(host, item, merchant, terminal)
        except IssuerError as exc:
            host.ledger.conn.execute("ROLLBACK TO item")
            refused.append({"index": index, "reason": str(exc)})
        else:
            accepted.append({"index": index, **done})
        host.ledger.execute("RELEASE item")
    return {"merchant": acct.code, "accepted": accepted, "refused": refused,
            "total": sum(a["amount"] for a in accepted)}
