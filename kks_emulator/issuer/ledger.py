"""A double-entry ledger in SQLite (WAL): accounts, balanced journal transactions, statements.

All writes go through `Ledger.transaction()` (BEGIN IMMEDIATE ... COMMIT) so one host request is
one atomic SQLite transaction. Every statement inside a write transaction and the COMMIT itself is
a *persistence point*: an optional `fault` hook is called with the point's name before it runs, so
tests can crash the host at any of them (L-CRASH-EXH).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kks_emulator.errors import IssuerError
from kks_emulator.issuer.schema import ACCOUNT_KINDS, DDL, SCHEMA_VERSION, trigger_ddl

#: Largest amount one entry may carry (Rp 10^15), far above anything a bansos flow moves.
MAX_AMOUNT = 10**15

FaultHook = Callable[[str], None]
Clock = Callable[[], str]


def utc_clock() -> str:
    """The default clock: the current UTC time as ISO 8601 with seconds."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def check_amount(amount: object, what: str = "amount") -> int:
    """Return `amount` if it is an int rupiah amount in 1..MAX_AMOUNT, else raise `IssuerError`."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise IssuerError(f"{what} must be an integer number of rupiah")
    if not 0 < amount <= MAX_AMOUNT:
        raise IssuerError(f"{what} {amount} out of range 1..{MAX_AMOUNT}")
    return amount


@dataclass(frozen=True)
class Account:
    """One ledger account."""

    id: int
    code: str
    kind: str
    holder: str
    pan: str | None
    card_id: str | None


@dataclass(frozen=True)
class StatementLine:
    """One entry of an account statement with the running balance after it."""

    journal_id: int
    posted: str
    kind: str
    memo: str
    debit: int
    credit: int
    balance: int


Leg = tuple[str, str, int]  # (account code, 'D' or 'C', amount)


class Ledger:
    """The ledger database of one issuer (one SQLite file, or `:memory:`).

    `fault(point)` is called before every write statement and the COMMIT (crash injection);
    `clock()` stamps accounts and postings; `durable=False` skips fsync (tests only).
    """

    def __init__(self, path: str | Path, *, fault: FaultHook | None = None,
                 clock: Clock = utc_clock, durable: bool = True) -> None:
        self.path = str(path)
        self.fault = fault
        self.clock = clock
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        except sqlite3.Error as exc:
            raise IssuerError(f"cannot open ledger {self.path}: {exc}") from exc
        self.conn.row_factory = sqlite3.Row
        self._in_txn = False
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            # FULL survives power loss; tests that only simulate process crashes may turn it off.
            self.conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.executescript(DDL + trigger_ddl())
            self.conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', ?)",
                              (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise IssuerError(f"{self.path} is not an issuer ledger: {exc}") from exc

    # -- low level -----------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (an open transaction is rolled back by SQLite)."""
        self.conn.close()

    def _point(self, name: str) -> None:
        if self.fault is not None:
            self.fault(name)

    def execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        """Run one statement; inside a write transaction it is a persistence point."""
        if self._in_txn:
            self._point(" ".join(sql.split()[:3]).lower())
        try:
            return self.conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise IssuerError(f"ledger refused the write: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write transaction; any exception rolls it back."""
        if self._in_txn:
            raise IssuerError("nested ledger transaction")
        self.conn.execute("BEGIN IMMEDIATE")
        self._in_txn = True
        try:
            yield
            self._point("commit")
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        finally:
            self._in_txn = False

    # -- accounts ------------------------------------------------------------------------------
    def open_account(self, code: str, kind: str, holder: str, *, pan: str | None = None,
                     card_id: str | None = None) -> Account:
        """Create an account; the code (and PAN, card id) must be new."""
        if kind not in ACCOUNT_KINDS:
            raise IssuerError(f"unknown account kind {kind!r}")
        if self.find(code) is not None:
            raise IssuerError(f"account {code} already exists")
        self.execute("INSERT INTO accounts(code, kind, holder, pan, card_id, opened) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (code, kind, holder, pan, card_id, self.clock()))
        found = self.find(code)
        assert found is not None
        return found

    def find(self, code: str) -> Account | None:
        """Return the account with this code, or None."""
        row = self.conn.execute("SELECT id, code, kind, holder, pan, card_id FROM accounts "
                                "WHERE code = ?", (code,)).fetchone()
        return Account(**dict(row)) if row else None

    def get(self, code: str) -> Account:
        """Return the account with this code or raise `IssuerError`."""
        acct = self.find(code)
        if acct is None:
            raise IssuerError(f"unknown account {code}")
        return acct

    def find_by(self, column: str, value: str) -> Account | None:
        """Return the account whose `pan` or `card_id` equals `value`, or None."""
        if column not in ("pan", "card_id"):
            raise IssuerError(f"cannot look accounts up by {column}")
        row = self.conn.execute(f"SELECT id, code, kind, holder, pan, card_id FROM accounts "
                                f"WHERE {column} = ?", (value,)).fetchone()
        return Account(**dict(row)) if row else None

    def accounts(self) -> list[Account]:
        """Every account, in opening order."""
        rows = self.conn.execute("SELECT id, code, kind, holder, pan, card_id FROM accounts "
                                 "ORDER BY id").fetchall()
        return [Account(**dict(r)) for r in rows]

    # -- postings ------------------------------------------------------------------------------
    def post(self, kind: str, reference: str, memo: str, legs: Sequence[Leg],
             reverses: int | None = None) -> int:
        """Post one balanced journal transaction and return its id (call inside `transaction`)."""
        if not self._in_txn:
            raise IssuerError("post() outside a ledger transaction")
        if len(legs) < 2:
            raise IssuerError("a journal transaction needs at least two legs")
        debits = sum(check_amount(a) for _, s, a in legs if s == "D")
        credits = sum(check_amount(a) for _, s, a in legs if s == "C")
        if debits != credits or debits + credits != sum(a for _, _, a in legs):
            raise IssuerError("unbalanced journal transaction")
        ids = [(self.get(code).id, side, amount) for code, side, amount in legs]
        cur = self.execute("INSERT INTO journal(kind, reference, memo, reverses, posted) "
                           "VALUES (?, ?, ?, ?, ?)", (kind, reference, memo, reverses,
                                                      self.clock()))
        jid = int(cur.lastrowid or 0)
        # Credits first, so a transfer within one account kind never dips below zero midway.
        for acct_id, side, amount in sorted(ids, key=lambda x: x[1] != "C"):
            self.execute("INSERT INTO entries(journal_id, account_id, side, amount) "
                         "VALUES (?, ?, ?, ?)", (jid, acct_id, side, amount))
        return jid

    def balance(self, code: str) -> int:
        """Credits minus debits of one account, in rupiah."""
        row = self.conn.execute("SELECT b.balance FROM accounts a JOIN balances b ON "
                                "b.account_id = a.id WHERE a.code = ?", (code,)).fetchone()
        if row is None:
            raise IssuerError(f"unknown account {code}")
        return int(row[0])

    def balances(self) -> dict[str, int]:
        """Balance of every account, by code (accounts without entries are 0)."""
        rows = self.conn.execute("SELECT a.code, b.balance FROM accounts a JOIN balances b ON "
                                 "b.account_id = a.id ORDER BY a.id").fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def statement(self, code: str) -> list[StatementLine]:
        """Every entry of one account in posting order, with the running balance."""
        acct = self.get(code)
        rows = self.conn.execute(
            "SELECT j.id, j.posted, j.kind, j.memo, e.side, e.amount FROM entries e "
            "JOIN journal j ON j.id = e.journal_id WHERE e.account_id = ? ORDER BY e.id",
            (acct.id,)).fetchall()
        out, running = [], 0
        for jid, posted, kind, memo, side, amount in rows:
            running += amount if side == "C" else -amount
            out.append(StatementLine(jid, posted, kind, memo, amount if side == "D" else 0,
                                     amount if side == "C" else 0, running))
        return out

    def digest(self) -> str:
        """SHA-256 over every table's rows in key order: equal digests mean equal ledgers."""
        h = hashlib.sha256()
        for table, order in (("accounts", "id"), ("journal", "id"), ("entries", "id"),
                             ("credits", "programme, period, beneficiary"),
                             ("cleared", "card_id, counter"), ("loads", "card_id, seq, challenge"),
                             ("load_outcomes", "card_id, seq, challenge"),
                             ("balances", "account_id"),
                             ("requests", "key")):
            h.update(table.encode())
            for row in self.conn.execute(f"SELECT * FROM {table} ORDER BY {order}"):
                h.update(repr(tuple(row)).encode())
        return h.hexdigest()
