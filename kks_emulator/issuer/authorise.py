"""Online authorisations: purse loads from savings (S1 → S2) and ARQC purchases from savings.

Load (CEPS-shaped, kks_emulator.crypto.purse): the card MACs its load request (S1) under its load
key; the host re-derives that key from the purse master key, verifies S1, debits the KPM's savings
into the card's float and answers S2, which only a holder of the load key can compute, so only the
issuer can make a card credit its purse. Each (card, NT) is authorised at most once.

Purchase: the host re-derives the card's AC session key (EMV option A + common session key),
verifies the ARQC over the transaction data the card signed, checks that the amount in that data is
the amount asked for, debits savings to the merchant and answers ARC + ARPC (method 1). A decline
(insufficient funds, bad cryptogram, replayed ATC) is an answer too: approved=false with its ARC.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kks_emulator.crypto import emv, purse
from kks_emulator.errors import IssuerError, KksError
from kks_emulator.issuer import fields
from kks_emulator.issuer.operations import float_code, merchant_code

if TYPE_CHECKING:
    from kks_emulator.issuer.host import Host

#: Authorisation response codes (ISO 8583 field 39 style, two ASCII characters).
ARC_APPROVED = b"00"
ARC_INSUFFICIENT = b"51"
ARC_DECLINED = b"05"


def authorise_load(host: Host, body: dict[str, Any]) -> dict[str, Any]:
    """Handler of `authorise_load`: verify S1, move savings into the float, answer S2."""
    card_hex = fields.text(body, "card_id")
    card_id = fields.hexbytes(body, "card_id", size=purse.CARD_ID_LEN)
    nt = fields.integer(body, "nt", 0, 0xFFFFFFFF)
    balance = fields.integer(body, "balance", 0, 0xFFFFFFFF)
    amount = fields.amount(body)
    terminal = fields.hexbytes(body, "terminal", size=8)
    time = fields.integer(body, "time", 0, 0xFFFFFFFF)
    challenge = fields.hexbytes(body, "challenge", limit=16)
    s1 = fields.hexbytes(body, "s1", size=8)
    led = host.ledger
    flt = led.find(float_code(card_hex.upper()))
    if flt is None or flt.kind != "float":
        raise IssuerError(f"card {card_hex} has no purse at this issuer")
    key = host.keys.load_key(card_id)
    try:
        expected = purse.load_s1(key, card_id, nt, balance, amount, terminal, time, challenge)
    except (KksError, OverflowError) as exc:
        raise IssuerError(f"malformed load request: {exc}") from None
    if not purse.mac_equal(expected, s1):
        raise IssuerError("load request MAC (S1) does not verify")
    seen = led.conn.execute("SELECT 1 FROM loads WHERE card_id = ? AND seq = ?",
                            (flt.card_id, nt)).fetchone()
    if seen is not None:
        raise IssuerError(f"load {nt} of card {flt.card_id} was already authorised")
    savings = flt.holder  # the float account's holder is the savings account behind the card
    if led.balance(savings) < amount:
        raise IssuerError(f"insufficient funds in {savings} for a load of Rp {amount}")
    jid = led.post("load", f"load:{flt.card_id}:{nt}", f"purse load {flt.card_id}#{nt}",
                   [(savings, "D", amount), (flt.code, "C", amount)])
    led.execute("INSERT INTO loads(card_id, seq, amount, journal_id) VALUES (?, ?, ?, ?)",
                (flt.card_id, nt, amount, jid))
    s2 = purse.load_s2(key, card_id, nt, amount, terminal, time, challenge)
    return {"card_id": flt.card_id, "nt": nt, "amount": amount, "journal": jid,
            "s2": s2.hex().upper()}


def _decline(arc: bytes, reason: str, session_key: bytes | None, arqc: bytes) -> dict[str, Any]:
    arpc = emv.compute_arpc(session_key, arqc, arc).hex().upper() if session_key else None
    return {"approved": False, "arc": arc.decode(), "arpc": arpc, "reason": reason,
            "journal": None}


def authorise_purchase(host: Host, body: dict[str, Any]) -> dict[str, Any]:
    """Handler of `authorise_purchase`: verify the ARQC, debit savings, answer ARC + ARPC.

    Body: pan, psn, atc, arqc (hex 8), data (hex: the exact bytes the card MACed, which begin
    with the CDOL1 data whose first field is the 6-byte BCD amount 9F02), amount, merchant.
    """
    pan = fields.text(body, "pan")
    psn = fields.integer(body, "psn", 0, 99)
    atc = fields.integer(body, "atc", 0, 0xFFFF)
    arqc = fields.hexbytes(body, "arqc", size=8)
    data = fields.hexbytes(body, "data", limit=256)
    amount = fields.amount(body)
    merchant = fields.text(body, "merchant")
    led = host.ledger
    acct = led.find_by("pan", pan)
    if acct is None or acct.kind != "savings":
        return _decline(ARC_DECLINED, f"no savings account for PAN {pan}", None, arqc)
    mer = led.get(merchant_code(merchant))
    if mer.kind != "merchant":
        raise IssuerError(f"{mer.code} is not a merchant account")
    try:
        session_key = host.keys.ac_session_key(pan, psn, atc)
    except KksError as exc:
        raise IssuerError(f"cannot derive the card's keys: {exc}") from None
    if not emv.verify_arqc(session_key, data, arqc):
        return _decline(ARC_DECLINED, "ARQC does not verify", None, arqc)
    if len(data) < 6 or data[:6].hex() != f"{amount:012d}":
        return _decline(ARC_DECLINED, "amount in the cryptogram data differs", session_key, arqc)
    seen = led.conn.execute("SELECT 1 FROM journal WHERE reference = ?",
                            (f"arqc:{pan}:{psn}:{atc}",)).fetchone()
    if seen is not None:
        return _decline(ARC_DECLINED, f"ATC {atc} was already used (replay)", session_key, arqc)
    if led.balance(acct.code) < amount:
        return _decline(ARC_INSUFFICIENT, "insufficient funds", session_key, arqc)
    jid = led.post("purchase", f"arqc:{pan}:{psn}:{atc}", f"debit purchase at {merchant}",
                   [(acct.code, "D", amount), (mer.code, "C", amount)])
    return {"approved": True, "arc": ARC_APPROVED.decode(), "reason": "approved",
            "arpc": emv.compute_arpc(session_key, arqc, ARC_APPROVED).hex().upper(),
            "journal": jid}
