"""Benchmarks of the card world's money paths, each beside one raw ECDSA P-256 signature.

- group `edc-offline-purchase`: a full EDC offline purse purchase, terminal + card in process
  (SELECT, VERIFY PIN, PURCHASE with the card's RFC 6979 signature, the terminal's checks of
  the record, batch append; the card certificate is fetched once per card id).
  **Goal (issue 2): at most 3x one raw signature.** It applies to the offline purchase as the
  card + terminal exchange with the signature verified at the issuer's clearing
  (`verify-at-clearing`, `Edc(verify_offline=False)`; clearing always verifies, see
  `issuer-clearing`). The `terminal-verifies` variant (the EDC default) adds one ECDSA
  verification, which alone costs ~2.6x a signature, so it cannot reach 3x; it is reported
  beside it. `card-only` is the card's share (its three APDUs into `Card.transmit`).
- group `issuer-clearing`: clearing one signed record at the issuer (idempotent request,
  certificate and signature check, dedup, double-entry posting, SQLite commit), alone and
  amortised over a 100-record batch.

The raw signature (random k) is benchmarked in each group and also timed in-process (best of
7 x 2,000 at the start and best of 7 x 1,000 right after each benchmark; the faster is used, so
a burst of load during one measurement cannot flatter a ratio). Every benchmark stores
`raw_sign_us` and `ratio_to_raw_sign` (median / raw sign) in its extra_info; the purchase
variants also store `goal_max_ratio` and `meets_goal`.
"""

from __future__ import annotations

import itertools
import random
import timeit

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from kks_emulator.card import Card, CardProfile, MemoryStore, personalize
from kks_emulator.crypto import purse
from kks_emulator.issuer.host import Host
from kks_emulator.issuer.ledger import Ledger
from kks_emulator.keys import IssuerKeys, card_id, test_card_signing_key
from kks_emulator.terminal import apdus
from kks_emulator.terminal.edc import Edc
from kks_emulator.terminal.exchange import Exchange
from kks_emulator.transport.inprocess import InProcessTransport

PAN = "6013010000000001"
PIN = "123456"
TERMINAL = b"EDC00001"
KEY = ec.derive_private_key(0xC0FFEE, ec.SECP256R1())
MESSAGE = bytes(43)


#: Issue 2: a full offline purse purchase costs at most this many raw signatures.
GOAL_MAX_RATIO = 3.0


def raw_sign() -> bytes:
    """One ECDSA P-256 / SHA-256 signature (random k) over a 43-byte record, nothing else."""
    return KEY.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))


def raw_sign_deterministic() -> bytes:
    """The same with RFC 6979 deterministic k, as the card signs."""
    return KEY.sign(MESSAGE, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))


@pytest.fixture(scope="module")
def sign_seconds() -> float:
    """Best-of-7 time of one raw signature, measured in this run."""
    return min(timeit.repeat(raw_sign, number=2_000, repeat=7)) / 2_000


def _ratio(benchmark, sign_seconds: float, per: int = 1, goal: bool = False) -> float:
    raw = min(sign_seconds, min(timeit.repeat(raw_sign, number=1_000, repeat=7)) / 1_000)
    median = benchmark.stats.stats.median / per
    ratio = median / raw
    benchmark.extra_info["raw_sign_us"] = round(raw * 1e6, 2)
    benchmark.extra_info["per_record_us"] = round(median * 1e6, 2)
    benchmark.extra_info["ratio_to_raw_sign"] = round(ratio, 2)
    if goal:
        benchmark.extra_info["goal_max_ratio"] = GOAL_MAX_RATIO
        benchmark.extra_info["meets_goal"] = ratio <= GOAL_MAX_RATIO
    return ratio


@pytest.mark.benchmark(group="edc-offline-purchase")
def test_raw_sign_edc(benchmark, sign_seconds):
    benchmark(raw_sign)
    _ratio(benchmark, sign_seconds)


@pytest.mark.benchmark(group="edc-offline-purchase")
def test_raw_sign_deterministic_edc(benchmark, sign_seconds):
    """What the card's signature costs by itself (RFC 6979), beside the random-k reference."""
    benchmark(raw_sign_deterministic)
    _ratio(benchmark, sign_seconds)


def _edc(verify_offline: bool) -> tuple[Edc, Card]:
    keys = IssuerKeys.test_issuer("BRI")
    store = MemoryStore()
    personalize(store, CardProfile(bank="BRI", pan=PAN, pin=PIN, test_mode=True), keys)
    card = Card(store, rng=random.Random(1).randbytes)
    host = Host(Ledger(":memory:", durable=False), "BRI")
    host.open_account("o", "0001", "KPM", pan=PAN, card_id=card_id(PAN, 1).hex().upper())
    host.open_merchant("m", "W1", "e-warong")
    host.credit("c", "BPNT", "2026-11", "B1", "0001", 20_000_000)
    transport = InProcessTransport(card)
    edc = Edc(Exchange(transport), TERMINAL, "W1", host, {"BRI": keys.ca_public_key},
              clock=lambda: 1_795_000_000, rng=random.Random(2).randbytes,
              verify_offline=verify_offline)
    edc.insert()
    edc.load(20_000_000, PIN)
    return edc, card


@pytest.mark.benchmark(group="edc-offline-purchase")
@pytest.mark.parametrize("verify_offline", [True, False], ids=["terminal-verifies",
                                                                "verify-at-clearing"])
def test_full_edc_offline_purchase(benchmark, sign_seconds, verify_offline):
    """The goal's benchmark: `verify-at-clearing` must stay <= 3x raw sign (meets_goal);
    `terminal-verifies` adds one ECDSA verification (~2.6x) and is reported for honesty."""
    edc, _ = _edc(verify_offline)

    def purchase() -> None:
        edc.purchase_purse(1, PIN)
        edc.batch.items.clear()

    benchmark(purchase)
    _ratio(benchmark, sign_seconds, goal=True)
    benchmark.extra_info["variant"] = (
        "card + terminal, signature verified by the terminal (includes one ECDSA verify)"
        if verify_offline else "card + terminal, signature verified at clearing (the goal)")
    assert edc.balance() < 20_000_000


@pytest.mark.benchmark(group="edc-offline-purchase")
def test_card_only_purchase_apdus(benchmark, sign_seconds):
    """The card's share: SELECT, VERIFY and PURCHASE sent straight to `Card.transmit`."""
    _, card = _edc(False)

    sel, pin = apdus.select(apdus.PURSE_AID), apdus.verify_pin(PIN)
    buy = apdus.purchase(1, TERMINAL, bytes(8), 1_795_000_000)

    def apdus_only() -> None:
        card.transmit(sel)
        card.transmit(pin)
        assert card.transmit(buy)[-2:] == b"\x90\x00"

    benchmark(apdus_only)
    _ratio(benchmark, sign_seconds)


def _clearing_host(n: int):
    keys = IssuerKeys.test_issuer("BRI")
    cid = card_id(PAN, 1)
    sk = test_card_signing_key("BRI", PAN, 1)
    cert = purse.issue_certificate(keys.ca_key, "BRI", cid, "3012", sk.public_key())
    host = Host(Ledger(":memory:", durable=False), "BRI")
    host.open_account("o", "0001", "KPM", pan=PAN, card_id=cid.hex().upper())
    host.open_merchant("m", "W1", "e-warong")
    host.credit("c", "BPNT", "2026-11", "B1", "0001", 10**9)
    with host.ledger.transaction():
        jid = host.ledger.post("load", "l", "load", [("SAV-0001", "D", 10**9),
                                                     (f"FLT-{cid.hex().upper()}", "C", 10**9)])
        host.ledger.execute("INSERT INTO loads VALUES (?, 0, '00', ?, ?)",
                            (cid.hex().upper(), 10**9, jid))
    items = []
    for counter in range(1, n + 1):
        raw = purse.TransactionRecord(cid, counter, 1, 0, TERMINAL, bytes(8), 1_795_000_000
                                      ).encode()
        items.append({"record": raw.hex(), "signature": purse.sign(sk, raw).hex(),
                      "certificate": cert.hex()})
    return host, items


@pytest.mark.benchmark(group="issuer-clearing")
def test_raw_sign_clearing(benchmark, sign_seconds):
    benchmark(raw_sign)
    _ratio(benchmark, sign_seconds)


@pytest.mark.benchmark(group="issuer-clearing")
def test_issuer_clearing_per_record(benchmark, sign_seconds):
    rounds = 2_000
    host, items = _clearing_host(rounds + 1)
    feed = iter(items)
    keys = itertools.count()

    def clear_one() -> None:
        out = host.clear(f"b{next(keys)}", {"merchant": "W1", "terminal": TERMINAL.hex(),
                                            "items": [next(feed)]})
        assert out["accepted"]

    benchmark.pedantic(clear_one, rounds=rounds, iterations=1, warmup_rounds=1)
    _ratio(benchmark, sign_seconds)
    host.audit()


@pytest.mark.benchmark(group="issuer-clearing")
def test_issuer_clearing_batch_of_100_per_record(benchmark, sign_seconds):
    rounds = 40
    host, items = _clearing_host(100 * (rounds + 1))
    batches = iter([items[i:i + 100] for i in range(0, len(items), 100)])
    keys = itertools.count()

    def clear_batch() -> None:
        out = host.clear(f"b{next(keys)}", {"merchant": "W1", "terminal": TERMINAL.hex(),
                                            "items": next(batches)})
        assert len(out["accepted"]) == 100

    benchmark.pedantic(clear_batch, rounds=rounds, iterations=1, warmup_rounds=1)
    _ratio(benchmark, sign_seconds, per=100)
    host.audit()
