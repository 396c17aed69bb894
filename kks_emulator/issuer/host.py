"""The issuer host of one HIMBARA bank: idempotent operations over its double-entry ledger.

`Host.request(op, key, body) -> bytes` is the wire entry point (the exact stored response bytes);
the typed methods (`credit`, `authorise_purchase`, ...) call it and decode the answer. Accounts:

- `GOV-<programme>`: the government disbursement account, source of all money (funding kind);
- `SAV-<account>`: a KPM's savings account behind the KKS (never below zero);
- `FLT-<card id>`: the e-money float backing one card's purse (loads in, cleared purchases out);
- `MER-<merchant>`: an e-warong's merchant account; `STL-<bank>`: payouts to merchants.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from kks_emulator.errors import IssuerError
from kks_emulator.issuer import operations
from kks_emulator.issuer.audit import AuditReport, audit_ledger
from kks_emulator.issuer.keystore import KeyStore
from kks_emulator.issuer.ledger import Ledger, StatementLine
from kks_emulator.issuer.requests import Handler, RequestLog, parse_response
from kks_emulator.issuer.scripts import ScriptQueue

#: The HIMBARA banks that issue KKS, by the code on their cards (at most 4 characters, the
#: width of the bank field in the card certificate; Mandiri is BMRI, its stock code).
BANKS = ("BRI", "BNI", "BMRI", "BTN")
BANK_ALIASES = {"MANDIRI": "BMRI"}
#: Load PIN policy per bank preset: a purse load from savings needs the cardholder's PIN,
#: verified by the card in the same session and shown in S1 (docs/issuer.md, "Loads").
LOAD_PIN_PRESETS = {"BRI": True, "BNI": True, "BMRI": True, "BTN": True}


def normalise_bank(bank: str) -> str:
    """Return the canonical bank code (upper case; MANDIRI -> BMRI) or raise `IssuerError`."""
    code = str(bank).strip().upper()
    code = BANK_ALIASES.get(code, code)
    if code not in BANKS:
        raise IssuerError(f"unknown bank {bank!r}; expected one of {', '.join(BANKS)} "
                          "(or MANDIRI)")
    return code


class Host:
    """One bank's issuer host: ledger + key store + request log."""

    def __init__(self, ledger: Ledger | str | os.PathLike[str], bank: str = "BRI",
                 keys: KeyStore | None = None, *, load_requires_pin: bool | None = None) -> None:
        """Serve `ledger` (a `Ledger`, or the path of its SQLite file) for `bank`.

        `load_requires_pin`: decline purse loads whose S1 shows no verified PIN; None takes the
        bank's preset (`LOAD_PIN_PRESETS`: every HIMBARA bank requires it).
        """
        if not isinstance(ledger, Ledger):
            ledger = Ledger(ledger)
        self.bank = normalise_bank(bank)
        self.load_requires_pin = (LOAD_PIN_PRESETS[self.bank] if load_requires_pin is None
                                  else load_requires_pin)
        self.ledger = ledger
        self._keys = keys
        self.log = RequestLog(ledger)
        #: certificate bytes -> (certificate, card public key), filled by clearing
        self.cert_cache: dict[bytes, tuple[Any, Any]] = {}
        #: issuer script actions waiting for each card's next online authorisation
        self.scripts = ScriptQueue()
        stored = ledger.conn.execute("SELECT value FROM meta WHERE key = 'bank'").fetchone()
        if stored is None:
            with ledger.transaction():
                ledger.execute("INSERT INTO meta(key, value) VALUES ('bank', ?)", (self.bank,))
                ledger.open_account(self.settlement_code, "settlement", f"{self.bank} payouts")
        elif stored[0] != self.bank:
            raise IssuerError(f"ledger {ledger.path} belongs to {stored[0]}, not {self.bank}")
        self._ops: dict[str, Handler] = {
            name: (lambda body, fn=fn: fn(self, body))
            for name, fn in operations.HANDLERS.items()
        }

    @classmethod
    def open(cls, path: str | os.PathLike[str], bank: str = "BRI", *,
             load_requires_pin: bool | None = None, **ledger_kwargs: Any) -> Host:
        """Open (or create) the ledger at `path` and return the host over it."""
        return cls(Ledger(path, **ledger_kwargs), bank, load_requires_pin=load_requires_pin)

    @property
    def keys(self) -> KeyStore:
        """The bank's key store (test keys derived deterministically on first use)."""
        if self._keys is None:
            self._keys = KeyStore.test(self.bank)
        return self._keys

    @property
    def settlement_code(self) -> str:
        """Code of the account merchants are paid out to."""
        return f"STL-{self.bank}"

    def close(self) -> None:
        """Close the ledger."""
        self.ledger.close()

    # -- the wire ------------------------------------------------------------------------------
    def request(self, op: str, key: str, body: dict[str, Any]) -> bytes:
        """Run one idempotent request and return its stored response bytes."""
        handler = self._ops.get(op)
        if handler is None:
            raise IssuerError(f"unknown operation {op!r}")
        return self.log.run(op, key, body, handler)

    def call(self, op: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """`request` and decode: the result dict, or `IssuerError` for a refusal."""
        return parse_response(self.request(op, key, body))

    # -- typed operations ----------------------------------------------------------------------
    def open_account(self, key: str, account: str, holder: str, *, pan: str | None = None,
                     card_id: str | None = None) -> dict[str, Any]:
        """Open a KPM savings account (and the float account of its card, if given)."""
        body: dict[str, Any] = {"account": account, "holder": holder}
        if pan is not None:
            body["pan"] = pan
        if card_id is not None:
            body["card_id"] = card_id
        return self.call("open_account", key, body)

    def open_merchant(self, key: str, merchant: str, name: str) -> dict[str, Any]:
        """Open an e-warong merchant account."""
        return self.call("open_merchant", key, {"merchant": merchant, "name": name})

    def credit(self, key: str, programme: str, period: str, beneficiary: str, account: str,
               amount: int) -> dict[str, Any]:
        """Credit one disbursement; at most once per (programme, period, beneficiary) (L3)."""
        return self.call("credit", key, {"programme": programme, "period": period,
                                         "beneficiary": beneficiary, "account": account,
                                         "amount": amount})

    def credit_batch(self, key: str, programme: str, period: str,
                     items: Sequence[tuple[str, str, int]]) -> list[dict[str, Any]]:
        """Credit (beneficiary, account, amount) items; item i uses key `<key>:<beneficiary>`.

        Each item is its own atomic request, so a crash mid-batch leaves a prefix posted and a
        retry with the same batch key finishes the rest without posting anything twice.
        """
        return [self.credit(f"{key}:{b}", programme, period, b, a, amt) for b, a, amt in items]

    def reverse(self, key: str, journal: int, memo: str) -> dict[str, Any]:
        """Post the mirror image of journal transaction `journal` (a correction, L4)."""
        return self.call("reverse", key, {"journal": journal, "memo": memo})

    def settle(self, key: str, merchant: str) -> dict[str, Any]:
        """Pay the merchant's whole balance out to the settlement account."""
        return self.call("settle", key, {"merchant": merchant})

    def authorise_purchase(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """Verify an ARQC, debit savings to the merchant, and return the ARPC."""
        return self.call("authorise_purchase", key, body)

    def authorise_load(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """Move savings into the card's purse float and return the card's load authorisation."""
        return self.call("authorise_load", key, body)

    def confirm_load(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """Record the card's S3: the load it proves is confirmed (no longer open)."""
        return self.call("confirm_load", key, body)

    def clear(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """Clear a batch of signed purse records for one merchant."""
        return self.call("clear", key, body)

    # -- reads ---------------------------------------------------------------------------------
    def balance(self, code: str) -> int:
        """Balance of one account (credits minus debits)."""
        return self.ledger.balance(code)

    def statement(self, code: str) -> list[StatementLine]:
        """Statement of one account."""
        return self.ledger.statement(code)

    def audit(self, *, strict: bool = True) -> AuditReport:
        """Check invariants L1-L6; with `strict` a failure raises `LedgerInvariantError`."""
        report = audit_ledger(self.ledger)
        if strict:
            report.raise_if_failed()
        return report
