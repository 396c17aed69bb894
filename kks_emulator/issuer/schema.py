"""The issuer ledger's SQLite schema: append-only tables guarded by triggers (L4, L6).

Money is integer rupiah (SQLite INTEGER) everywhere. A journal transaction has two or more entries;
each entry debits (D) or credits (C) one account by a positive amount. An account's balance is
credits minus debits, so liabilities (savings, float, merchant) are positive and the government
funding account, the source of all money, is negative by exactly what it has paid out.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

#: Account kinds. `funding` is the only kind allowed below zero.
ACCOUNT_KINDS = ("funding", "savings", "float", "merchant", "settlement", "suspense")

DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS accounts (
    id       INTEGER PRIMARY KEY,
    code     TEXT NOT NULL UNIQUE,
    kind     TEXT NOT NULL CHECK (kind IN ('funding','savings','float','merchant',
                                           'settlement','suspense')),
    holder   TEXT NOT NULL,
    pan      TEXT UNIQUE,
    card_id  TEXT UNIQUE,
    opened   TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS journal (
    id        INTEGER PRIMARY KEY,
    kind      TEXT NOT NULL,
    reference TEXT NOT NULL UNIQUE,
    memo      TEXT NOT NULL,
    reverses  INTEGER REFERENCES journal(id),
    posted    TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS entries (
    id         INTEGER PRIMARY KEY,
    journal_id INTEGER NOT NULL REFERENCES journal(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    side       TEXT NOT NULL CHECK (side IN ('D','C')),
    amount     INTEGER NOT NULL CHECK (amount > 0)
) STRICT;
CREATE INDEX IF NOT EXISTS entries_account ON entries(account_id);

-- Running balance per account (credits - debits), kept by the triggers below so a balance read
-- or the non-negative check costs one row, not a scan. Derived data: the audit recomputes it.
CREATE TABLE IF NOT EXISTS balances (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    balance    INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS entries_journal ON entries(journal_id);

-- L3: one credit per (programme, period, beneficiary), with its terminal state.
CREATE TABLE IF NOT EXISTS credits (
    programme   TEXT NOT NULL,
    period      TEXT NOT NULL,
    beneficiary TEXT NOT NULL,
    account     TEXT NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    state       TEXT NOT NULL CHECK (state IN ('credited','rejected')),
    journal_id  INTEGER REFERENCES journal(id),
    PRIMARY KEY (programme, period, beneficiary)
) STRICT;

-- Purse records accepted at clearing: keyed by (card id, counter), never by signature bytes.
CREATE TABLE IF NOT EXISTS cleared (
    card_id    TEXT NOT NULL,
    counter    INTEGER NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount > 0),
    merchant   TEXT NOT NULL,
    terminal   TEXT NOT NULL,
    journal_id INTEGER NOT NULL REFERENCES journal(id),
    PRIMARY KEY (card_id, counter)
) STRICT;

-- Purse loads the issuer authorised: card, purse counter NT at the load, card challenge.
CREATE TABLE IF NOT EXISTS loads (
    card_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    challenge  TEXT NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount > 0),
    journal_id INTEGER NOT NULL REFERENCES journal(id),
    PRIMARY KEY (card_id, seq, challenge)
) STRICT;

-- The one terminal state of an authorised load: confirmed by the card's S3, or voided because
-- the card asked again at the same NT (proof it never credited the first one).
CREATE TABLE IF NOT EXISTS load_outcomes (
    card_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    challenge  TEXT NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('confirmed','voided')),
    journal_id INTEGER REFERENCES journal(id),
    PRIMARY KEY (card_id, seq, challenge),
    FOREIGN KEY (card_id, seq, challenge) REFERENCES loads(card_id, seq, challenge)
) STRICT;

-- L5: every external request, its body digest and the exact response bytes.
CREATE TABLE IF NOT EXISTS requests (
    key      TEXT PRIMARY KEY,
    op       TEXT NOT NULL,
    digest   BLOB NOT NULL,
    response BLOB NOT NULL
) STRICT;
"""

#: Tables whose rows may never change or disappear once written (L4).
IMMUTABLE_TABLES = ("accounts", "journal", "entries", "credits", "cleared", "loads",
                    "load_outcomes", "requests")

#: Account kinds that may never go below zero (L6), enforced by a trigger on every entry.
NON_NEGATIVE_KINDS = ("savings", "float", "merchant", "settlement", "suspense")


def trigger_ddl() -> str:
    """Return the triggers that forbid UPDATE/DELETE and negative non-funding balances."""
    parts = []
    for table in IMMUTABLE_TABLES:
        for verb in ("UPDATE", "DELETE"):
            parts.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;"
            )
    kinds = ",".join(f"'{k}'" for k in NON_NEGATIVE_KINDS)
    parts.append(
        "CREATE TRIGGER IF NOT EXISTS accounts_open_balance AFTER INSERT ON accounts "
        "BEGIN INSERT INTO balances(account_id, balance) VALUES (NEW.id, 0); END;")
    # One trigger, two statements in order: apply the entry, then refuse a negative result.
    parts.append(
        "CREATE TRIGGER IF NOT EXISTS entries_post AFTER INSERT ON entries BEGIN "
        "UPDATE balances SET balance = balance + CASE NEW.side WHEN 'C' THEN NEW.amount "
        "ELSE -NEW.amount END WHERE account_id = NEW.account_id; "
        "SELECT RAISE(ABORT, 'balance would go negative') WHERE NEW.side = 'D' AND "
        f"(SELECT kind FROM accounts WHERE id = NEW.account_id) IN ({kinds}) AND "
        "(SELECT balance FROM balances WHERE account_id = NEW.account_id) < 0; END;")
    return "\n".join(parts)
