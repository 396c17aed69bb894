"""Ledger invariants against an independent model (L-AUDITOR), replay (L-REPLAY), mismatch
(L-MISMATCH), immutability (L4), exactly-once credits (L3) and the audit's own teeth."""

from __future__ import annotations

import random
import sqlite3
import threading

import pytest

from kks_emulator.errors import IdempotencyError, IssuerError, LedgerInvariantError
from kks_emulator.issuer.schema import IMMUTABLE_TABLES
from tests.counts import sized

from .conftest import make_host
from .model import Model


def random_request(rng: random.Random, n: int) -> tuple[str, dict]:
    """One random ledger-only request; some are meant to be refused or rejected."""
    roll = rng.random()
    if roll < 0.15:
        return "open_account", {"account": f"{rng.randrange(60):04d}", "holder": "KPM"}
    if roll < 0.2:
        return "open_merchant", {"merchant": f"W{rng.randrange(5)}", "name": "e-warong"}
    if roll < 0.9:
        return "credit", {"programme": rng.choice(["BPNT", "PKH"]),
                          "period": f"2026-{rng.randrange(1, 4):02d}",
                          "beneficiary": f"B{rng.randrange(80)}",
                          "account": f"{rng.randrange(60):04d}",
                          "amount": rng.choice([200_000, 600_000, 1, 750_000])}
    return "settle", {"merchant": f"W{rng.randrange(5)}"}


def drive(host, model: Model, rng: random.Random, ops: int, *, audit_every: int = 1) -> list:
    """Send `ops` requests (new ones, replays and mismatches); check model and audit each time."""
    sent: list[tuple[str, str, dict]] = []
    for i in range(ops):
        roll = rng.random()
        if sent and roll < 0.15:
            key, op, body = rng.choice(sent)
            raw = host.request(op, key, body)
        elif sent and roll < 0.2:
            key, op, body = rng.choice(sent)
            altered = dict(body)
            altered["amount" if "amount" in altered else "zz"] = 123
            with pytest.raises(IdempotencyError):
                host.request(op, key, altered)
            continue
        else:
            op, body = random_request(rng, i)
            key = f"req-{i}"
            raw = host.request(op, key, body)
            sent.append((key, op, body))
        model.check_reply(key, op, body, raw)
        model.check_balances(host.ledger.balances())
        if i % audit_every == 0:
            host.audit()
    return sent


@pytest.mark.parametrize("seed", range(3))
def test_auditor_model_agrees_after_every_operation(host, seed):
    model = Model()
    drive(host, model, random.Random(seed), sized(1_500, 50_000))
    assert host.audit().ok


def test_replay_gives_identical_answers_and_no_double_posting(tmp_path):
    rng = random.Random(7)
    path = tmp_path / "replay.db"
    host = make_host(path)
    model = Model()
    sent = drive(host, model, rng, 600, audit_every=50)
    digest = host.ledger.digest()
    restarts = set(rng.sample(range(sized(10_000, 100_000)), 3))
    for i in range(sized(10_000, 100_000)):
        if i in restarts:  # replays also come after a restart of the host
            host.close()
            host = make_host(path)
        key, op, body = rng.choice(sent)
        for _ in range(rng.randint(1, 3)):
            assert host.request(op, key, body) == model.answers[key][2]
    assert host.ledger.digest() == digest
    model.check_balances(host.ledger.balances())
    host.audit()
    host.close()


def test_mismatch_is_an_explicit_error_and_ledger_unchanged(host):
    rng = random.Random(11)
    model = Model()
    sent = drive(host, model, rng, 300, audit_every=50)
    digest = host.ledger.digest()
    credits = [s for s in sent if s[1] == "credit"]
    for i in range(sized(1_000, 50_000)):
        key, op, body = rng.choice(credits)
        altered = dict(body)
        field = ("amount", "account", "beneficiary", "period")[i % 4]
        altered[field] = altered[field] + 1 if field == "amount" else altered[field] + "x"
        with pytest.raises(IdempotencyError):
            host.request(op, key, altered)
        with pytest.raises(IdempotencyError):  # same body under another operation name
            host.request("settle", key, body)
    assert host.ledger.digest() == digest


def test_exactly_once_per_programme_period_beneficiary(host):
    host.open_account("a", "0001", "KPM")
    first = host.credit("c1", "BPNT", "2026-11", "B1", "0001", 200_000)
    assert first["state"] == "credited"
    with pytest.raises(IssuerError, match="already credited"):
        host.credit("c2", "BPNT", "2026-11", "B1", "0001", 200_000)
    assert host.credit("c3", "BPNT", "2026-12", "B1", "0001", 200_000)["state"] == "credited"
    assert host.balance("SAV-0001") == 400_000
    assert host.balance("GOV-BPNT") == -400_000
    host.audit()


def test_credit_to_unknown_account_is_rejected_once(host):
    assert host.credit("c1", "BPNT", "2026-11", "B9", "9999", 200_000)["state"] == "rejected"
    host.open_account("a", "9999", "KPM")
    with pytest.raises(IssuerError, match="already rejected"):
        host.credit("c2", "BPNT", "2026-11", "B9", "9999", 200_000)
    assert host.balance("SAV-9999") == 0
    host.audit()


@pytest.mark.parametrize("bad", [0, -5, 1.5, "200000", True, None, 10**16])
def test_amounts_must_be_positive_integer_rupiah(host, bad):
    host.open_account("a", "0001", "KPM")
    raw = host.request("credit", "c", {"programme": "BPNT", "period": "2026-11",
                                       "beneficiary": "B1", "account": "0001", "amount": bad})
    assert raw.startswith(b'{"error":') and b'"malformed":true,"ok":false' in raw
    assert host.balance("SAV-0001") == 0
    # a malformed request is answered the same way again, but never stored under its key
    assert host.request("credit", "c", {"programme": "BPNT", "period": "2026-11",
                                        "beneficiary": "B1", "account": "0001",
                                        "amount": bad}) == raw
    assert host.ledger.conn.execute("SELECT COUNT(*) FROM requests WHERE key = 'c'"
                                    ).fetchone()[0] == 0


def test_unknown_op_and_bad_keys_are_not_stored(host):
    with pytest.raises(IssuerError):
        host.request("mint", "k", {})
    for key in ("", "x" * 256, 5):
        with pytest.raises(IssuerError):
            host.request("settle", key, {"merchant": "W1"})
    assert host.ledger.conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 0


@pytest.mark.parametrize("table", IMMUTABLE_TABLES)
def test_postings_cannot_be_updated_or_deleted(host, table):
    host.open_account("a", "0001", "KPM")
    host.credit("c1", "BPNT", "2026-11", "B1", "0001", 200_000)
    conn = host.ledger.conn
    # inserting is allowed (that is how the host writes), so every table has a row to attack
    conn.execute("INSERT INTO cleared VALUES ('C1', 1, 5, 'W1', 'T1', 1)")
    conn.execute("INSERT INTO loads VALUES ('C1', 1, '00', 5, 1)")
    conn.execute("INSERT INTO load_outcomes VALUES ('C1', 1, '00', 'confirmed', NULL)")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(f"DELETE FROM {table}")
    col = conn.execute(f"SELECT * FROM {table}").description[0][0]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(f"UPDATE {table} SET {col} = {col}")


def test_correction_is_a_reversing_posting(host):
    host.open_account("a", "0001", "KPM")
    jid = host.credit("c1", "BPNT", "2026-11", "B1", "0001", 200_000)["journal"]
    rev = host.reverse("r1", jid, "credited in error")
    assert rev["reverses"] == jid
    assert host.balance("SAV-0001") == 0 and host.balance("GOV-BPNT") == 0
    with pytest.raises(IssuerError):
        host.reverse("r2", jid, "twice")
    with pytest.raises(IssuerError):
        host.reverse("r3", rev["journal"], "reverse the reversal")
    assert len(host.statement("SAV-0001")) == 2
    host.audit()


def test_reversal_cannot_drive_savings_negative(host):
    host.open_account("a", "0001", "KPM")
    host.open_account("b", "0002", "KPM")
    jid = host.credit("c1", "BPNT", "2026-11", "B1", "0001", 200_000)["journal"]
    with host.ledger.transaction():
        host.ledger.post("transfer", "t1", "move", [("SAV-0001", "D", 150_000),
                                                    ("SAV-0002", "C", 150_000)])
    with pytest.raises(IssuerError, match="issuer refused"):
        host.reverse("r1", jid, "too late")
    assert host.balance("SAV-0001") == 50_000
    host.audit()


def test_ledger_refuses_negative_savings_and_unbalanced_postings(host):
    host.open_account("a", "0001", "KPM")
    with pytest.raises(IssuerError, match="negative"), host.ledger.transaction():
        host.ledger.post("x", "x1", "overdraw", [("SAV-0001", "D", 1), ("STL-BRI", "C", 1)])
    with pytest.raises(IssuerError, match="unbalanced"), host.ledger.transaction():
        host.ledger.post("x", "x2", "bad", [("STL-BRI", "D", 2), ("SAV-0001", "C", 1)])
    assert host.ledger.balances()["SAV-0001"] == 0


def test_audit_catches_tampering(host):
    host.open_account("a", "0001", "KPM")
    host.credit("c1", "BPNT", "2026-11", "B1", "0001", 200_000)
    assert host.audit().ok
    conn = host.ledger.conn
    conn.execute("DROP TRIGGER entries_no_update")
    conn.execute("UPDATE entries SET amount = 250000 WHERE side = 'C'")
    with pytest.raises(LedgerInvariantError) as err:
        host.audit()
    text = str(err.value)
    assert "L1" in text and "L2" in text and "L3" in text and "L4" in text


def test_audit_catches_a_second_credit_journal(host):
    host.open_account("a", "0001", "KPM")
    host.credit("c1", "BPNT", "2026-11", "B1", "0001", 200_000)
    with host.ledger.transaction():  # a bug that posts without the credits row
        host.ledger.post("credit", "dup", "double", [("GOV-BPNT", "D", 200_000),
                                                    ("SAV-0001", "C", 200_000)])
    with pytest.raises(LedgerInvariantError, match="L3"):
        host.audit()


def test_concurrent_duplicate_runs_once(tmp_path):
    path = tmp_path / "c.db"
    setup = make_host(path)
    setup.open_account("a", "0001", "KPM")
    setup.close()
    answers: list[bytes] = []
    body = {"programme": "BPNT", "period": "2026-11", "beneficiary": "B1", "account": "0001",
            "amount": 200_000}

    def worker() -> None:
        h = make_host(path)
        answers.append(h.request("credit", "same-key", body))
        h.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check = make_host(path)
    assert len(set(answers)) == 1 and len(answers) == 4
    assert check.balance("SAV-0001") == 200_000
    check.audit()
    check.close()


def test_ledger_belongs_to_one_bank(tmp_path):
    make_host(tmp_path / "x.db", "BNI").close()
    with pytest.raises(IssuerError, match="BNI"):
        make_host(tmp_path / "x.db", "BRI")
    with pytest.raises(IssuerError, match="unknown bank"):
        make_host(tmp_path / "y.db", "XYZ")


def test_not_a_ledger_file(tmp_path):
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(IssuerError):
        make_host(bad)


def test_audit_catches_a_drifted_running_balance(host):
    host.open_account("a", "0001", "KPM")
    host.credit("c1", "BPNT", "2026-11", "B1", "0001", 200_000)
    host.ledger.conn.execute("UPDATE balances SET balance = balance + 1")  # derived table
    with pytest.raises(LedgerInvariantError, match="running balances off"):
        host.audit()
