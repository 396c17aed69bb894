"""The EDC terminal at an e-warong: balance, purse and savings purchases, loads, batch upload.

The terminal talks to the card only through an `Exchange` over a `Transport`, and to its issuer
through an `IssuerLink` (in process: `kks_emulator.issuer.host.Host`). Idempotency keys are made
from what identifies each transaction (card, counter/ATC, challenge, terminal, batch number), so a
retried request is always a replay at the issuer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from kks_emulator.crypto import purse
from kks_emulator.errors import CardError, IssuerError, KksError
from kks_emulator.terminal import apdus, reader
from kks_emulator.terminal.batch import Batch, BatchItem
from kks_emulator.terminal.exchange import Exchange
from kks_emulator.terminal.kernel import EmvOutcome, Kernel, KernelConfig
from kks_emulator.terminal.parse import CardResponseError, as_int, parse_tlv, require

#: EMV amounts are rupiah x 100 (IDR has two decimals in ISO 4217).
AMOUNT_SCALE = 100
#: ISO 3166 / ISO 4217 numeric code of Indonesia / the rupiah (both 360).
IDR = bytes.fromhex("0360")
_LOAD_INIT = struct.Struct(">9sII8s8sB")
_LOAD_DONE = struct.Struct(">II8s")


class IssuerLink(Protocol):
    """How a terminal reaches its issuer: one idempotent call returning the decoded result."""

    def call(self, op: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """Send one request; a refusal raises `IssuerError`."""
        ...


@dataclass(frozen=True)
class PurseReceipt:
    """An offline purse purchase: the verified record and what is kept for clearing."""

    record: purse.TransactionRecord
    item: BatchItem


@dataclass(frozen=True)
class LoadReceipt:
    """A completed purse load."""

    card_id: str
    amount: int
    counter: int
    balance: int


@dataclass(frozen=True)
class SavingsReceipt:
    """An online savings purchase: issuer decision and the card's final cryptogram type."""

    approved: bool
    arc: str
    reason: str
    card_cid: int
    journal: int | None


class Edc:
    """One EDC terminal: its id, merchant, CA keys, clock and random source."""

    def __init__(self, exchange: Exchange | None, terminal_id: bytes, merchant: str,
                 issuer: IssuerLink | None, ca_keys: dict[str, ec.EllipticCurvePublicKey], *,
                 clock: Callable[[], int] | None = None,
                 rng: Callable[[int], bytes] = secrets.token_bytes,
                 batch: Batch | None = None, verify_offline: bool = True) -> None:
        if len(terminal_id) != 8:
            raise KksError("terminal id must be 8 bytes")
        self._ex = exchange
        self.terminal_id = terminal_id
        self.merchant = merchant
        self._issuer = issuer
        self.ca_keys = ca_keys
        self.clock = clock or (lambda: int(dt.datetime.now(dt.UTC).timestamp()))
        self.rng = rng
        self.batch = batch if batch is not None else Batch()
        self.verify_offline = verify_offline
        # verified certificate -> (card key, certified card id)
        self._certs: dict[bytes, tuple[ec.EllipticCurvePublicKey, bytes]] = {}
        self._cert_of: dict[bytes, bytes] = {}  # card id -> its certificate

    @property
    def ex(self) -> Exchange:
        """The exchange to the card; an EDC built without a card (upload only) has none."""
        if self._ex is None:
            raise KksError("no card in this terminal")
        return self._ex

    @ex.setter
    def ex(self, exchange: Exchange) -> None:
        self._ex = exchange

    @property
    def issuer(self) -> IssuerLink:
        """The link to the issuer; an offline-only terminal has none."""
        if self._issuer is None:
            raise KksError("this terminal has no issuer link (offline only)")
        return self._issuer

    @issuer.setter
    def issuer(self, link: IssuerLink) -> None:
        self._issuer = link

    # -- card session --------------------------------------------------------------------------
    def insert(self) -> bytes:
        """Power the card (ATR)."""
        return self.ex.transport.connect()

    def remove(self) -> None:
        """Power the card off."""
        self.ex.transport.disconnect(unpower=True)

    # -- purse ---------------------------------------------------------------------------------
    def balance(self) -> int:
        """Purse balance in rupiah."""
        return reader.purse_balance(self.ex)

    def _card_key(self, cert_raw: bytes) -> tuple[ec.EllipticCurvePublicKey, bytes]:
        """(card public key, card id) of a certificate verified under the bank's CA key
        (memoised on the exact certificate bytes)."""
        known = self._certs.get(cert_raw)
        if known is None:
            try:
                cert = purse.CardCertificate.decode(cert_raw)
                ca = self.ca_keys.get(cert.bank)
                if ca is None:
                    raise CardResponseError(f"no CA key for bank {cert.bank!r}")
                _, key = purse.verify_certificate(cert_raw, ca)
            except KksError as exc:
                raise CardResponseError(f"card certificate refused: {exc}") from None
            if len(self._certs) >= 4096:
                self._certs.clear()
            known = self._certs[cert_raw] = (key, cert.card_id)
        return known

    def purchase_purse(self, amount: int, pin: str) -> PurseReceipt:
        """Offline purse purchase with PIN: the card signs the record, the terminal checks it
        and keeps it in the batch for clearing.

        The card certificate is fetched once per card id and remembered (a signature that does
        not verify under the remembered certificate triggers one fresh GET CERTIFICATE).
        """
        if not 0 < amount <= 0xFFFFFFFF:
            raise KksError("purchase amount out of range")
        ex = self.ex
        reader.select_app(ex, apdus.PURSE_AID)
        reader.verify_pin(ex, pin)
        nonce, now = self.rng(8), self.clock()
        data = ex.transmit(apdus.purchase(amount, self.terminal_id, nonce, now)).expect(
            "PURCHASE")
        if len(data) <= purse.RECORD_LEN:
            raise CardResponseError("PURCHASE answer lacks the signature")
        raw, sig = data[:purse.RECORD_LEN], data[purse.RECORD_LEN:]
        try:
            record = purse.TransactionRecord.decode(raw)
        except KksError as exc:
            raise CardResponseError(f"bad purchase record: {exc}") from None
        if (record.amount, record.terminal_id, record.terminal_nonce, record.time) != (
                amount, self.terminal_id, nonce, now) or record.type != purse.TYPE_PURCHASE:
            raise CardResponseError("purchase record does not match the request")
        cert_raw = self._cert_of.get(record.card_id)
        if cert_raw is None or (self.verify_offline and not self._verifies(cert_raw, raw, sig)):
            cert_raw = ex.transmit(apdus.get_certificate()).expect("GET CERTIFICATE")
            if self.verify_offline and not self._verifies(cert_raw, raw, sig):
                raise CardResponseError("purchase signature does not verify")
            if len(self._cert_of) >= 4096:
                self._cert_of.clear()
            self._cert_of[record.card_id] = cert_raw
        item = BatchItem(raw, sig, cert_raw)
        self.batch.add(item)
        return PurseReceipt(record, item)

    def _verifies(self, cert_raw: bytes, raw: bytes, sig: bytes) -> bool:
        """True if `cert_raw` is a valid certificate of the record's card and `sig` verifies."""
        key, card_id = self._card_key(cert_raw)
        if card_id != raw[2:2 + purse.CARD_ID_LEN]:
            return False
        return purse.verify(key, raw, sig)

    def load(self, amount: int, pin: str) -> LoadReceipt:
        """Load the purse from savings: PIN, INITIALIZE FOR LOAD, issuer S2, CREDIT FOR LOAD,
        then the card's S3 back to the issuer."""
        if not 0 < amount <= 0xFFFFFFFF:
            raise KksError("load amount out of range")
        reader.select_app(self.ex, apdus.PURSE_AID)
        reader.verify_pin(self.ex, pin)
        now = self.clock()
        data = self.ex.transmit(apdus.initialize_for_load(amount, self.terminal_id, now)).expect(
            "INITIALIZE FOR LOAD")
        if len(data) != _LOAD_INIT.size:
            raise CardResponseError("INITIALIZE FOR LOAD answer has the wrong length")
        card_id, nt, bal, challenge, s1, pin_flag = _LOAD_INIT.unpack(data)
        card = card_id.hex().upper()
        auth = self.issuer.call("authorise_load", f"load:{card}:{nt}:{challenge.hex()}", {
            "card_id": card, "nt": nt, "balance": bal, "amount": amount,
            "terminal": self.terminal_id.hex().upper(), "time": now,
            "challenge": challenge.hex().upper(), "s1": s1.hex().upper(),
            "pin_verified": pin_flag == 1})
        try:
            s2 = bytes.fromhex(str(auth["s2"]))
        except (KeyError, ValueError) as exc:
            raise IssuerError(f"issuer answer lacks a valid S2: {exc}") from None
        done = self.ex.transmit(apdus.credit_for_load(s2)).expect("CREDIT FOR LOAD")
        if len(done) != _LOAD_DONE.size:
            raise CardResponseError("CREDIT FOR LOAD answer has the wrong length")
        nt_after, bal_after, s3 = _LOAD_DONE.unpack(done)
        self.issuer.call("confirm_load", f"confirm:{card}:{nt_after}", {
            "card_id": card, "nt_after": nt_after, "balance_after": bal_after,
            "s3": s3.hex().upper()})
        return LoadReceipt(card, amount, nt_after, bal_after)

    # -- savings (EMV online) ------------------------------------------------------------------
    def purchase_savings(self, amount: int, pin: str, *, date: str | None = None
                         ) -> SavingsReceipt:
        """Online debit from savings: READ, VERIFY, 1st GENERATE AC (ARQC), issuer ARPC, 2nd
        GENERATE AC; an issuer approval the card does not accept is reversed at the issuer."""
        if not 0 < amount <= 10**10:
            raise KksError("purchase amount out of range")
        card = reader.read_savings(self.ex)
        reader.verify_pin(self.ex, pin)
        when = date or dt.datetime.fromtimestamp(self.clock(), dt.UTC).strftime("%y%m%d")
        if len(when) != 6 or not when.isdigit():
            raise KksError("transaction date must be YYMMDD")
        un = self.rng(4)
        # CDOL1: 9F02 amount, 9F03 other amount, 9F1A country, 95 TVR, 5F2A currency, 9A date,
        # 9C type, 9F37 unpredictable number (docs/card.md)
        cdol1 = (bytes.fromhex(f"{amount * AMOUNT_SCALE:012d}") + bytes(6) + IDR + bytes(5) + IDR
                 + bytes.fromhex(when) + b"\x00" + un)
        first = parse_tlv(self.ex.transmit(apdus.generate_ac(0x80, cdol1)).expect(
            "GENERATE AC"))
        cid = as_int(require(first, 0x9F27, "CID", size=1), "CID", 1)
        atc = as_int(require(first, 0x9F36, "ATC", size=2), "ATC", 2)
        arqc = require(first, 0x9F26, "cryptogram", size=8)
        iad = require(first, 0x9F10, "issuer application data", size=6)
        if cid & 0xC0 != 0x80:
            raise CardError("card declined offline (AAC)")
        data = cdol1 + card.aip + atc.to_bytes(2, "big") + iad[2:]
        key = f"arqc:{card.pan}:{card.psn}:{atc}"
        auth = self.issuer.call("authorise_purchase", key, {
            "pan": card.pan, "psn": card.psn, "atc": atc, "arqc": arqc.hex().upper(),
            "data": data.hex().upper(), "amount": amount, "merchant": self.merchant})
        arc = str(auth.get("arc", "05")).encode()[:2].ljust(2, b"0")
        arpc = bytes.fromhex(auth["arpc"]) if auth.get("arpc") else bytes(8)
        approved = bool(auth.get("approved"))
        cdol2 = arc + arpc + arc + bytes(5) + un
        journal = auth.get("journal")
        try:
            second = parse_tlv(self.ex.transmit(apdus.generate_ac(
                0x40 if approved else 0x00, cdol2)).expect("GENERATE AC 2"))
            cid2 = as_int(require(second, 0x9F27, "CID", size=1), "CID", 1)
        except KksError:
            if approved:  # the sale did not complete at the card: undo the debit, then report
                self._reverse(key, journal, "card lost before the second GENERATE AC")
            raise
        if approved and cid2 & 0xC0 != 0x40:
            # the issuer approved but the card declined: undo the debit at the issuer
            self._reverse(key, journal, "card declined after issuer approval")
            return SavingsReceipt(False, auth["arc"], "card declined (AAC)", cid2, None)
        return SavingsReceipt(approved, str(auth.get("arc")), str(auth.get("reason")), cid2,
                              journal if approved else None)

    def emv_purchase(self, amount: int, pin: str, *, date: str | None = None,
                     config: KernelConfig | None = None) -> EmvOutcome:
        """A savings purchase through the EMV kernel (`terminal.kernel`): Book 1 selection,
        ODA, processing restrictions, CVM list, floor limit, action analysis, CDA, online
        authorisation and issuer scripts; the outcome carries TVR, TSI and the steps."""
        if not 0 < amount <= 10**10:
            raise KksError("purchase amount out of range")
        when = date or dt.datetime.fromtimestamp(self.clock(), dt.UTC).strftime("%y%m%d")
        if len(when) != 6 or not when.isdigit():
            raise KksError("transaction date must be YYMMDD")
        kernel = Kernel(self.ex, self.issuer, self.merchant, config or KernelConfig(), self.rng)
        return kernel.purchase(amount, pin, when)

    def _reverse(self, key: str, journal: object, memo: str) -> None:
        """Reverse an approved debit at the issuer (idempotent on the authorisation's key)."""
        self.issuer.call("reverse", f"reverse:{key}", {"journal": journal, "memo": memo})

    # -- batch ---------------------------------------------------------------------------------
    def upload(self, batch_no: int | None = None, archive: Path | None = None
               ) -> dict[str, Any]:
        """Send the batch for clearing under key `batch:<terminal>:<n>` (n defaults to a digest
        of the batch, so re-sending the same batch is a replay); empty it on success, keeping
        its file as `archive` when given (else the file is deleted)."""
        body = {"merchant": self.merchant, "terminal": self.terminal_id.hex().upper(),
                "items": [i.to_json() for i in self.batch.items]}
        if batch_no is None:
            digest = hashlib.sha256(json.dumps(body["items"]).encode()).hexdigest()[:24]
            key = f"batch:{self.terminal_id.hex()}:{digest}"
        else:
            key = f"batch:{self.terminal_id.hex()}:{batch_no}"
        result = self.issuer.call("clear", key, body)
        self.batch.close(archive)
        return result
