"""The ledger audit: invariants L1-L6 of docs/reliability.md, recomputed from the raw tables.

The audit trusts nothing cached: it re-adds every entry, re-derives what must have been credited
from the `credits` table, and checks the float of every card against its authorised loads and
cleared purchases. `AuditReport.raise_if_failed()` raises `LedgerInvariantError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kks_emulator.errors import LedgerInvariantError
from kks_emulator.issuer.ledger import Ledger
from kks_emulator.issuer.schema import IMMUTABLE_TABLES, NON_NEGATIVE_KINDS


@dataclass(frozen=True)
class Check:
    """One audited invariant and what was found."""

    name: str
    ok: bool
    detail: str


@dataclass
class AuditReport:
    """All checks of one audit run."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        """Record one check."""
        self.checks.append(Check(name, bool(ok), detail))

    def raise_if_failed(self) -> None:
        """Raise `LedgerInvariantError` naming every failed check."""
        bad = [f"{c.name}: {c.detail}" for c in self.checks if not c.ok]
        if bad:
            raise LedgerInvariantError("ledger audit failed: " + "; ".join(bad))


def _one(led: Ledger, sql: str, params: tuple[object, ...] = ()) -> int:
    return int(led.conn.execute(sql, params).fetchone()[0] or 0)


def audit_ledger(led: Ledger) -> AuditReport:
    """Run every check on `led` and return the report (never raises for a failed check)."""
    r = AuditReport()
    signed = "CASE e.side WHEN 'C' THEN e.amount ELSE -e.amount END"
    # L1: every journal transaction balances, and so does the whole ledger.
    unbalanced = led.conn.execute(
        f"SELECT j.id FROM journal j LEFT JOIN entries e ON e.journal_id = j.id GROUP BY j.id "
        f"HAVING COALESCE(SUM({signed}), 0) != 0 OR COUNT(e.id) < 2").fetchall()
    debits = _one(led, "SELECT SUM(amount) FROM entries WHERE side = 'D'")
    credits = _one(led, "SELECT SUM(amount) FROM entries WHERE side = 'C'")
    drift = led.conn.execute(
        f"SELECT a.code FROM accounts a LEFT JOIN balances b ON b.account_id = a.id WHERE "
        f"b.balance IS NULL OR b.balance != (SELECT COALESCE(SUM({signed}), 0) FROM entries e "
        "WHERE e.account_id = a.id)").fetchall()
    r.add("L1 debits = credits", not unbalanced and debits == credits and not drift,
          f"debits {debits}, credits {credits}, unbalanced journals {[u[0] for u in unbalanced]}"
          f", running balances off {[d[0] for d in drift]}")
    # L2: money enters only from funding; what the non-funding accounts hold is exactly what was
    # credited minus reversed credits.
    credited = _one(led, "SELECT SUM(amount) FROM credits WHERE state = 'credited'")
    reversed_ = _one(led, "SELECT SUM(e.amount) FROM journal j JOIN journal o ON o.id = j.reverses "
                          "JOIN entries e ON e.journal_id = j.id JOIN accounts a ON "
                          "a.id = e.account_id WHERE o.kind = 'credit' AND a.kind = 'funding'")
    held = _one(led, f"SELECT SUM({signed}) FROM entries e JOIN accounts a ON a.id = e.account_id "
                     "WHERE a.kind != 'funding'")
    funding = _one(led, f"SELECT SUM({signed}) FROM entries e JOIN accounts a ON "
                        "a.id = e.account_id WHERE a.kind = 'funding'")
    stray = _one(led, "SELECT COUNT(*) FROM entries e JOIN accounts a ON a.id = e.account_id "
                      "JOIN journal j ON j.id = e.journal_id WHERE a.kind = 'funding' AND NOT "
                      "((j.kind = 'credit' AND e.side = 'D') OR (j.kind = 'reversal' AND "
                      "e.side = 'C'))")
    r.add("L2 nothing created or lost",
          held == credited - reversed_ and funding == -held and stray == 0,
          f"held {held}, credited {credited} - reversed {reversed_}, funding {funding}, "
          f"stray funding entries {stray}")
    # L3: exactly one credit journal per credited instruction, none for rejected ones.
    orphans = _one(led, "SELECT COUNT(*) FROM credits c LEFT JOIN journal j ON j.id = c.journal_id "
                        "WHERE (c.state = 'credited' AND (j.id IS NULL OR j.kind != 'credit')) OR "
                        "(c.state = 'rejected' AND c.journal_id IS NOT NULL)")
    n_journals = _one(led, "SELECT COUNT(*) FROM journal WHERE kind = 'credit'")
    n_credited = _one(led, "SELECT COUNT(*) FROM credits WHERE state = 'credited'")
    mismatch = _one(led, "SELECT COUNT(*) FROM credits c JOIN journal j ON j.id = c.journal_id "
                         "JOIN entries e ON e.journal_id = j.id WHERE e.side = 'C' AND "
                         "e.amount != c.amount")
    r.add("L3 exactly-once credits", orphans == 0 and n_journals == n_credited and mismatch == 0,
          f"{n_credited} credited, {n_journals} credit journals, {orphans} orphans, "
          f"{mismatch} amount mismatches")
    # L4: the triggers that make postings append-only are in place.
    triggers = {row[0] for row in led.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    missing = [f"{t}_no_{v}" for t in IMMUTABLE_TABLES for v in ("update", "delete")
               if f"{t}_no_{v}" not in triggers]
    r.add("L4 postings immutable", not missing, f"missing triggers {missing}")
    # L6: no negative balance outside funding; every card's float = loads - cleared purchases.
    kinds = ",".join(f"'{k}'" for k in NON_NEGATIVE_KINDS)
    negative = led.conn.execute(
        f"SELECT a.code, SUM({signed}) AS b FROM accounts a JOIN entries e ON e.account_id = a.id "
        f"WHERE a.kind IN ({kinds}) GROUP BY a.id HAVING b < 0").fetchall()
    negative += led.conn.execute(
        f"SELECT a.code, b.balance FROM accounts a JOIN balances b ON b.account_id = a.id "
        f"WHERE a.kind IN ({kinds}) AND b.balance < 0").fetchall()
    r.add("L6 no negative KPM/merchant/float balance", not negative,
          f"negative: {[(n[0], n[1]) for n in negative]}")
    float_bad = led.conn.execute(
        f"SELECT a.code, (SELECT COALESCE(SUM({signed}), 0) FROM entries e WHERE "
        "e.account_id = a.id) AS bal, (SELECT COALESCE(SUM(l.amount), 0) FROM loads l "
        "LEFT JOIN load_outcomes o USING (card_id, seq, challenge) WHERE l.card_id = a.card_id "
        "AND COALESCE(o.outcome, '') != 'voided') AS ld, (SELECT COALESCE(SUM(amount), 0) "
        "FROM cleared c WHERE c.card_id = a.card_id) AS cl FROM accounts a "
        "WHERE a.kind = 'float'").fetchall()
    wrong = [(row[0], row[1], row[2], row[3]) for row in float_bad if row[1] != row[2] - row[3]]
    r.add("float = loads - voided - cleared", not wrong, f"mismatched floats {wrong}")
    return r


def open_loads(led: Ledger) -> list[tuple[str, int, int]]:
    """Loads authorised but neither confirmed nor voided: (card id, NT, amount), for recon."""
    return [(card, nt, amount) for card, nt, amount, _, _ in open_items(led)]


def open_items(led: Ledger) -> list[tuple[str, int, int, str, str]]:
    """Reconciliation open items (L-RECON): (card id, NT, amount, since, reason) of every load
    the issuer authorised whose outcome on the card is not known yet."""
    rows = led.conn.execute(
        "SELECT l.card_id, l.seq, l.amount, j.posted FROM loads l JOIN journal j ON "
        "j.id = l.journal_id LEFT JOIN load_outcomes o USING (card_id, seq, challenge) "
        "WHERE o.outcome IS NULL ORDER BY j.id")
    return [(r[0], int(r[1]), int(r[2]), r[3],
             "load authorised, no S3 from the card and no later load at this NT")
            for r in rows]
