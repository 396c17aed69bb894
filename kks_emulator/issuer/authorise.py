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
from kks_emulator.errors import IssuerError, KksError, MalformedRequest
from kks_emulator.issuer import fields
from kks_emulator.issuer.operations import float_code, merchant_code

if TYPE_CHECKING:
    from kks_emulator.issuer.host import Host

#: Authorisation response codes (ISO 8583 field 39 style, two ASCII characters).
ARC_APPROVED = b"00"
ARC_INSUFFICIENT = b"51"
ARC_DECLINED = b"05"
ARC_PIN = b"55"

#: IDR has two decimals in ISO 4217: EMV amounts (9F02) are rupiah x 100.
AMOUNT_SCALE = 100
#: CDOL1 of the KKS savings application: 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 (29 bytes).
CDOL1_DATA_LEN = 29
#: Cryptogram input: CDOL1 data || AIP (2) || ATC (2) || CVR (4).
CRYPTOGRAM_DATA_LEN = CDOL1_DATA_LEN + 8
#: CVR byte 2, bit 8: offline PIN verification performed and successful.
CVR_PIN_VERIFIED = 0x80


def _void_stale_loads(host: Host, card: str, nt: int, flt_code: str, savings: str) -> None:
    """A fresh S1 at NT proves the card never credited earlier loads authorised at that NT:
    give their money back to savings (a reversal) and mark them voided."""
    led = host.ledger
    stale = led.conn.execute(
        "SELECT l.challenge, l.amount, l.journal_id FROM loads l LEFT JOIN load_outcomes o "
        "USING (card_id, seq, challenge) WHERE l.card_id = ? AND l.seq = ? AND o.outcome IS NULL",
        (card, nt)).fetchall()
    for challenge, amount, jid in stale:
        void = led.post("reversal", f"void-load:{card}:{nt}:{challenge}",
                        f"void uncredited load {card}#{nt}",
                        [(flt_code, "D", amount), (savings, "C", amount)], reverses=jid)
        led.execute("INSERT INTO load_outcomes(card_id, seq, challenge, outcome, journal_id) "
                    "VALUES (?, ?, ?, 'voided', ?)", (card, nt, challenge, void))


def authorise_load(host: Host, body: dict[str, Any]) -> dict[str, Any]:
    """Handler of `authorise_load`: verify S1, move savings into the float, answer S2.

    Body: card_id (hex 9), nt, balance, amount, terminal (8 characters or hex 8), time,
    challenge (hex 8), s1, pin_verified (the card's PIN flag) — the fields of the card's
    INITIALIZE FOR LOAD answer and the terminal's request. S1 covers the PIN flag, so a terminal
    cannot claim a PIN the card did not see; the host declines a load without it when its load
    PIN policy requires one (`Host.load_requires_pin`, the default).
    """
    card_id = fields.hexbytes(body, "card_id", size=purse.CARD_ID_LEN)
    nt = fields.integer(body, "nt", 0, 0xFFFFFFFF)
    balance = fields.integer(body, "balance", 0, 0xFFFFFFFF)
    amount = fields.amount(body)
    terminal = fields.terminal_id(body, "terminal")
    time = fields.integer(body, "time", 0, 0xFFFFFFFF)
    challenge = fields.hexbytes(body, "challenge", size=8)
    s1 = fields.hexbytes(body, "s1", size=8)
    pin_verified = fields.boolean(body, "pin_verified")
    if amount > 0xFFFFFFFF:
        raise MalformedRequest("load amount does not fit the card's 4-byte field")
    led = host.ledger
    card = card_id.hex().upper()
    flt = led.find(float_code(card))
    if flt is None or flt.kind != "float":
        raise IssuerError(f"card {card} has no purse at this issuer")
    key = host.keys.load_key(card_id)
    expected = purse.load_s1(key, card_id, nt, balance, amount, terminal, time, challenge,
                             pin_verified)
    if not purse.mac_equal(expected, s1):
        raise IssuerError("load request MAC (S1) does not verify")
    if host.load_requires_pin and not pin_verified:
        raise IssuerError("PIN not verified in this card session: a load from savings needs "
                          "the cardholder's PIN (VERIFY before INITIALIZE FOR LOAD)")
    chal = challenge.hex().upper()
    if led.conn.execute("SELECT 1 FROM loads WHERE card_id = ? AND seq = ? AND challenge = ?",
                        (card, nt, chal)).fetchone():
        raise IssuerError(f"load {card}#{nt} with this challenge was already authorised")
    savings = flt.holder  # the float account's holder is the savings account behind the card
    _void_stale_loads(host, card, nt, flt.code, savings)
    if led.balance(savings) < amount:
        raise IssuerError(f"insufficient funds in {savings} for a load of Rp {amount}")
    jid = led.post("load", f"load:{card}:{nt}:{chal}", f"purse load {card}#{nt}",
                   [(savings, "D", amount), (flt.code, "C", amount)])
    led.execute("INSERT INTO loads(card_id, seq, challenge, amount, journal_id) "
                "VALUES (?, ?, ?, ?, ?)", (card, nt, chal, amount, jid))
    s2 = purse.load_s2(key, card_id, nt, amount, terminal, time, challenge)
    return {"card_id": card, "nt": nt, "amount": amount, "journal": jid,
            "s2": s2.hex().upper()}


def confirm_load(host: Host, body: dict[str, Any]) -> dict[str, Any]:
    """Handler of `confirm_load`: the card's S3 proves it credited the load made at NT - 1."""
    card_id = fields.hexbytes(body, "card_id", size=purse.CARD_ID_LEN)
    nt_after = fields.integer(body, "nt_after", 1, 0xFFFFFFFF)
    balance_after = fields.integer(body, "balance_after", 0, 0xFFFFFFFF)
    s3 = fields.hexbytes(body, "s3", size=8)
    card = card_id.hex().upper()
    expected = purse.load_s3(host.keys.load_key(card_id), card_id, nt_after, balance_after)
    if not purse.mac_equal(expected, s3):
        raise IssuerError("load confirmation MAC (S3) does not verify")
    led = host.ledger
    row = led.conn.execute(
        "SELECT l.challenge, l.amount FROM loads l LEFT JOIN load_outcomes o "
        "USING (card_id, seq, challenge) WHERE l.card_id = ? AND l.seq = ? AND o.outcome IS NULL",
        (card, nt_after - 1)).fetchone()
    if row is None:
        raise IssuerError(f"no open load {card}#{nt_after - 1} to confirm")
    led.execute("INSERT INTO load_outcomes(card_id, seq, challenge, outcome, journal_id) "
                "VALUES (?, ?, ?, 'confirmed', NULL)", (card, nt_after - 1, row[0]))
    return {"card_id": card, "nt": nt_after - 1, "amount": int(row[1]),
            "balance_after": balance_after}


def _decline(arc: bytes, reason: str, session_key: bytes | None, arqc: bytes) -> dict[str, Any]:
    arpc = emv.compute_arpc(session_key, arqc, arc).hex().upper() if session_key else None
    return {"approved": False, "arc": arc.decode(), "arpc": arpc, "reason": reason,
            "journal": None}


def authorise_purchase(host: Host, body: dict[str, Any]) -> dict[str, Any]:
    """Handler of `authorise_purchase`: verify the ARQC, debit savings, answer ARC + ARPC.

    Body: pan, psn, atc, arqc (hex 8), data (hex: the exact bytes the card MACed, CDOL1 data ||
    AIP || ATC || CVR, see `parse_cryptogram_data`), amount (rupiah), merchant. The amount, the
    ATC and "PIN verified" are read from the MACed data, so a terminal cannot change them.
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
    try:
        signed_amount, signed_atc, pin_ok = parse_cryptogram_data(data)
    except IssuerError as exc:
        return _decline(ARC_DECLINED, str(exc), session_key, arqc)
    if signed_amount != amount * AMOUNT_SCALE or signed_atc != atc:
        return _decline(ARC_DECLINED, "amount or ATC differs from the cryptogram data",
                        session_key, arqc)
    if not pin_ok:
        return _decline(ARC_PIN, "the card did not verify the PIN", session_key, arqc)
    reference = f"arqc:{pan}:{psn}:{atc}"
    if led.conn.execute("SELECT 1 FROM journal WHERE reference = ?", (reference,)).fetchone():
        return _decline(ARC_DECLINED, f"ATC {atc} was already used (replay)", session_key, arqc)
    if led.balance(acct.code) < amount:
        return _decline(ARC_INSUFFICIENT, "insufficient funds", session_key, arqc)
    jid = led.post("purchase", reference, f"debit purchase at {merchant}",
                   [(acct.code, "D", amount), (mer.code, "C", amount)])
    return {"approved": True, "arc": ARC_APPROVED.decode(), "reason": "approved",
            "arpc": emv.compute_arpc(session_key, arqc, ARC_APPROVED).hex().upper(),
            "journal": jid, "scripts": _scripts(host, pan, psn, atc, arqc)}


def _scripts(host: Host, pan: str, psn: int, atc: int, arqc: bytes) -> list[str]:
    """Issuer scripts (hex templates 71/72) queued for this card, MACed for this transaction."""
    if not host.scripts.pending.get(pan):
        return []
    return host.scripts.take(pan, host.keys.keys.card_keys(pan, psn), atc, arqc)


def parse_cryptogram_data(data: bytes) -> tuple[int, int, bool]:
    """(amount authorised in minor units, ATC, PIN verified) from CDOL1 || AIP || ATC || CVR."""
    if len(data) != CRYPTOGRAM_DATA_LEN:
        raise IssuerError(f"cryptogram data must be {CRYPTOGRAM_DATA_LEN} bytes")
    digits = data[:6].hex()
    if not digits.isdigit():
        raise IssuerError("amount authorised is not BCD")
    atc = int.from_bytes(data[CDOL1_DATA_LEN + 2:CDOL1_DATA_LEN + 4], "big")
    cvr = data[CDOL1_DATA_LEN + 4:]
    return int(digits), atc, bool(cvr[1] & CVR_PIN_VERIFIED)
