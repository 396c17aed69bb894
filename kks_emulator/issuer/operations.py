"""Handlers of the ledger-only operations (accounts, credits, reversals, settlement).

Each handler runs inside the request's ledger transaction and returns a JSON-able result; a
business refusal is an `IssuerError`, which the request log stores as the answer. The
cryptographic operations live in `authorise.py` and `clearing.py` and are registered here too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kks_emulator.errors import IssuerError
from kks_emulator.issuer import fields

if TYPE_CHECKING:
    from kks_emulator.issuer.host import Host

Body = dict[str, Any]


def savings_code(account: str) -> str:
    """Ledger code of a KPM savings account, from its number (`0001`) or its code (`SAV-0001`)."""
    return account if account.startswith("SAV-") else f"SAV-{account}"


def float_code(card_id: str) -> str:
    """Ledger code of the e-money float account of one card."""
    return f"FLT-{card_id}"


def merchant_code(merchant: str) -> str:
    """Ledger code of an e-warong merchant account."""
    return f"MER-{merchant}"


def funding_code(programme: str) -> str:
    """Ledger code of the government disbursement account of a programme."""
    return f"GOV-{programme}"


def open_account(host: Host, body: Body) -> Body:
    """Open SAV-<account> (and FLT-<card id> when the KKS carries a purse)."""
    account = fields.text(body, "account")
    holder = fields.free_text(body, "holder", 100)
    pan = fields.optional_text(body, "pan")
    card_id = fields.optional_text(body, "card_id")
    led = host.ledger
    if pan is not None and led.find_by("pan", pan) is not None:
        raise IssuerError(f"PAN {pan} already belongs to an account")
    led.open_account(savings_code(account), "savings", holder, pan=pan)
    flt = None
    if card_id is not None:
        if led.find_by("card_id", card_id) is not None:
            raise IssuerError(f"card {card_id} already has a float account")
        flt = led.open_account(float_code(card_id), "float", savings_code(account),
                               card_id=card_id).code
    return {"account": savings_code(account), "float": flt}


def open_merchant(host: Host, body: Body) -> Body:
    """Open MER-<merchant> for an e-warong."""
    merchant = fields.text(body, "merchant")
    name = fields.free_text(body, "name", 100)
    host.ledger.open_account(merchant_code(merchant), "merchant", name)
    return {"merchant": merchant_code(merchant)}


def credit(host: Host, body: Body) -> Body:
    """Credit a disbursement from GOV-<programme> to a savings account, once per beneficiary."""
    programme = fields.text(body, "programme")
    period = fields.text(body, "period")
    beneficiary = fields.text(body, "beneficiary")
    account = fields.text(body, "account")
    amount = fields.amount(body)
    led = host.ledger
    prior = led.conn.execute("SELECT state FROM credits WHERE programme = ? AND period = ? AND "
                             "beneficiary = ?", (programme, period, beneficiary)).fetchone()
    if prior is not None:
        raise IssuerError(f"{programme} {period} for {beneficiary} is already {prior[0]}")
    target = led.find(savings_code(account))
    if target is None or target.kind != "savings":
        led.execute("INSERT INTO credits(programme, period, beneficiary, account, amount, state, "
                    "journal_id) VALUES (?, ?, ?, ?, ?, 'rejected', NULL)",
                    (programme, period, beneficiary, account, amount))
        return {"state": "rejected", "reason": f"no savings account {account}", "journal": None}
    source = funding_code(programme)
    if led.find(source) is None:
        led.open_account(source, "funding", f"government disbursement, {programme}")
    jid = led.post("credit", f"credit:{programme}:{period}:{beneficiary}",
                   f"{programme} {period} {beneficiary}",
                   [(source, "D", amount), (target.code, "C", amount)])
    led.execute("INSERT INTO credits(programme, period, beneficiary, account, amount, state, "
                "journal_id) VALUES (?, ?, ?, ?, ?, 'credited', ?)",
                (programme, period, beneficiary, account, amount, jid))
    return {"state": "credited", "journal": jid, "account": target.code, "amount": amount}


def reverse(host: Host, body: Body) -> Body:
    """Post the mirror of one journal transaction, referencing it (corrections never update)."""
    journal = fields.integer(body, "journal", 1, 2**62)
    memo = fields.free_text(body, "memo", 200)
    led = host.ledger
    row = led.conn.execute("SELECT kind, reverses FROM journal WHERE id = ?",
                           (journal,)).fetchone()
    if row is None:
        raise IssuerError(f"no journal transaction {journal}")
    if row["reverses"] is not None or row["kind"] == "reversal":
        raise IssuerError(f"journal {journal} is itself a reversal")
    if row["kind"] in ("load", "clearing"):
        raise IssuerError(f"journal {journal} is a {row['kind']}, bound to card state; "
                          "it cannot be reversed at the ledger")
    legs = [(code, "C" if side == "D" else "D", amount) for code, side, amount in
            led.conn.execute("SELECT a.code, e.side, e.amount FROM entries e JOIN accounts a ON "
                             "a.id = e.account_id WHERE e.journal_id = ? ORDER BY e.id",
                             (journal,))]
    jid = led.post("reversal", f"reverse:{journal}", memo, legs, reverses=journal)
    return {"journal": jid, "reverses": journal}


def settle(host: Host, body: Body) -> Body:
    """Pay an e-warong's whole merchant balance out to the bank's settlement account."""
    merchant = fields.text(body, "merchant")
    led = host.ledger
    code = merchant_code(merchant)
    acct = led.get(code)
    if acct.kind != "merchant":
        raise IssuerError(f"{code} is not a merchant account")
    due = led.balance(code)
    if due == 0:
        return {"merchant": code, "amount": 0, "journal": None}
    n = led.conn.execute("SELECT COUNT(*) FROM journal WHERE kind = 'settlement'").fetchone()[0]
    jid = led.post("settlement", f"settle:{merchant}:{n + 1}", f"payout to {merchant}",
                   [(code, "D", due), (host.settlement_code, "C", due)])
    return {"merchant": code, "amount": due, "journal": jid}


def _crypto_handlers() -> dict[str, Callable[[Host, Body], Body]]:
    from kks_emulator.issuer import authorise, clearing

    return {"authorise_purchase": authorise.authorise_purchase,
            "authorise_load": authorise.authorise_load,
            "confirm_load": authorise.confirm_load,
            "clear": clearing.clear}


HANDLERS: dict[str, Callable[[Host, Body], Body]] = {
    "open_account": open_account,
    "open_merchant": open_merchant,
    "credit": credit,
    "reverse": reverse,
    "settle": settle,
    **_crypto_handlers(),
}
