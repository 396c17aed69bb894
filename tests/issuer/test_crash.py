"""L-CRASH-EXH: crash the issuer at every persistence point of a credit batch, restart, let the
client retry with the same keys; the final ledger must equal a crash-free run's (digest equal).

In-process crashes raise at the point and drop the connection (SQLite discards the open
transaction, as after a process death); a second test kills a real subprocess with os._exit at
sampled points on a durable (fsync) WAL ledger.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.counts import sized

from .conftest import make_host

N_CREDITS = sized(30, 1_000)
ITEMS = [(f"B{i:05d}", f"{i:05d}", 200_000) for i in range(N_CREDITS)]


def crash_at(k: int):
    """A fault hook that lets k persistence points pass and crashes at the next one."""
    seen = 0

    def fault(point: str) -> None:
        nonlocal seen
        if seen == k:
            raise SimulatedCrash(point)
        seen += 1

    return fault


class SimulatedCrash(Exception):
    """Raised by the fault hook at the chosen persistence point."""


def setup_accounts(path) -> None:
    """Open every beneficiary's account (not part of the crashed batch)."""
    host = make_host(path)
    for _, account, _ in ITEMS:
        host.open_account(f"open-{account}", account, "KPM")
    host.close()


def run_batch(path, fault=None, durable: bool = False) -> None:
    """The client: send the whole batch with its fixed keys."""
    host = make_host(path, fault=fault, durable=durable)
    try:
        host.credit_batch("batch-2026-11", "BPNT", "2026-11", ITEMS)
    finally:
        host.close()


def final_digest(path) -> str:
    """Digest of the ledger after a successful audit."""
    host = make_host(path)
    host.audit()
    digest = host.ledger.digest()
    assert host.balance("GOV-BPNT") == -200_000 * N_CREDITS
    host.close()
    return digest


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A crash-free run: its digest and the number of persistence points in the batch."""
    path = tmp_path_factory.mktemp("ref") / "ref.db"
    setup_accounts(path)
    points: list[str] = []
    run_batch(path, fault=points.append)
    return final_digest(path), points


def test_every_persistence_point(tmp_path, reference):
    digest, points = reference
    assert "commit" in points and len(points) >= 5 * N_CREDITS
    for k in range(len(points)):
        path = tmp_path / f"crash-{k}.db"
        setup_accounts(path)
        fault = crash_at(k)
        with pytest.raises(SimulatedCrash):
            run_batch(path, fault=fault)
        run_batch(path)  # restart and retry with the same keys
        run_batch(path)  # a second full retry is a pure replay
        assert final_digest(path) == digest, f"crash at point {k} ({points[k]}) diverged"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{path}{suffix}"):
                os.remove(f"{path}{suffix}")


CHILD = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {root!r})
    from tests.issuer.test_crash import run_batch
    k = int(sys.argv[2]); seen = 0
    def fault(point):
        global seen
        if seen == k:
            os._exit(9)
        seen += 1
    run_batch(sys.argv[1], fault=fault, durable=True)
""")


def test_killed_process_then_retry(tmp_path, reference):
    digest, points = reference
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=root))
    last = len(points) - 1
    for k in sorted({0, 3, len(points) // 2, last - 1, last}):
        path = tmp_path / f"kill-{k}.db"
        setup_accounts(path)
        proc = subprocess.run([sys.executable, str(script), str(path), str(k)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 9, proc.stderr
        run_batch(path)
        assert final_digest(path) == digest, f"kill at point {k} ({points[k]}) diverged"


def test_clearing_batch_crash_at_every_point(tmp_path):
    """The same exhaustive crash for a clearing batch of signed purse records."""
    from kks_emulator.keys import IssuerKeys

    from .purse_kit import TERMINAL, TestCard

    card = TestCard(IssuerKeys.test_issuer("BRI"), "6013010000000001")
    items = [card.item(c, 1_000) for c in range(1, 11)]
    body = {"merchant": "W1", "terminal": TERMINAL.hex(), "items": items}

    def prepare(path) -> None:
        host = make_host(path)
        host.open_account("o", "0001", "KPM", pan=card.pan, card_id=card.hex_id)
        host.open_merchant("m", "W1", "e-warong")
        host.credit("c", "BPNT", "2026-11", "B1", "0001", 200_000)
        with host.ledger.transaction():
            jid = host.ledger.post("load", "l", "load", [("SAV-0001", "D", 200_000),
                                                         (f"FLT-{card.hex_id}", "C", 200_000)])
            host.ledger.execute("INSERT INTO loads VALUES (?, 0, '00', 200000, ?)",
                                (card.hex_id, jid))
        host.close()

    def upload(path, fault=None) -> bytes:
        host = make_host(path, fault=fault)
        try:
            return host.request("clear", "batch-1", body)
        finally:
            host.close()

    ref = tmp_path / "ref.db"
    prepare(ref)
    points: list[str] = []
    answer = upload(ref, fault=points.append)
    digest = final_digest_of(ref)
    for k in range(len(points)):
        path = tmp_path / f"c{k}.db"
        prepare(path)
        fault = crash_at(k)
        with pytest.raises(SimulatedCrash):
            upload(path, fault=fault)
        assert upload(path) == answer  # the retry gets the answer a crash-free run gave
        assert final_digest_of(path) == digest, f"crash at point {k} ({points[k]}) diverged"


def final_digest_of(path) -> str:
    """Digest of a ledger after a successful audit."""
    host = make_host(path)
    host.audit()
    digest = host.ledger.digest()
    host.close()
    return digest
