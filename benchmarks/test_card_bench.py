"""Card-side benchmarks, each reported beside one raw ECDSA P-256 signature of the same run.

- `card-apdu`: in-process APDU round trip (GET BALANCE: parse, dispatch, sealed-record read).
- `card-purchase`: one signed PURCHASE APDU (checks, journaled commit of balance + counter +
  log, ECDSA signature), and the card's part of a terminal purchase (SELECT + VERIFY + PURCHASE).
- `raw-sign`: ECDSA P-256 / SHA-256 of a 64-byte message, building the ECDSA context per call
  (random k: the reference of every ratio), and the same with RFC 6979 deterministic k, which
  is what the card uses (ratio ~1.12: the HMAC-DRBG that derives k costs ~1.7 us).

The raw signature is also timed in-process (best of 7 x 2,000 before, best of 7 x 1,000 right
after each benchmark; the faster figure is used) so every benchmark stores
`ratio_to_raw_sign` (its median / raw sign) in extra_info. Goal (issue 2): a full offline purse
purchase at most 3x one raw signature (measured in benchmarks/test_issuer_bench.py, group
`edc-offline-purchase`); the card's share here must stay well below that.
"""

from __future__ import annotations

import struct
import timeit

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from kks_emulator.apdu import encode_command
from kks_emulator.card import Card, CardProfile, MemoryStore, personalize
from kks_emulator.card.apps.directory import PURSE_AID
from kks_emulator.crypto import purse
from kks_emulator.keys import IssuerKeys
from kks_emulator.pinblock import plain_pin_block

KEY = ec.derive_private_key(0xC0FFEE, ec.SECP256R1())
MESSAGE = bytes(64)
KEYS = IssuerKeys.test_issuer("BRI")
PURCHASE = encode_command(0x80, 0x54, 0, 0, struct.pack(">I8s8sI", 1, b"TERM0001", b"NONCE001",
                                                        1_764_000_000), 256)
SELECT = encode_command(0x00, 0xA4, 0x04, 0x00, PURSE_AID, 256)
VERIFY = encode_command(0x00, 0x20, 0x00, 0x80, plain_pin_block("123456"))
GET_BALANCE = bytes.fromhex("805C000204")


def raw_sign() -> bytes:
    """One raw signature (random k), context built per call."""
    return KEY.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))


def raw_sign_deterministic() -> bytes:
    """One raw RFC 6979 signature (deterministic k, as the card signs), context per call."""
    return KEY.sign(MESSAGE, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))


@pytest.fixture(scope="module")
def raw_sign_seconds() -> float:
    """Best-of-7 in-process time of one raw signature."""
    return min(timeit.repeat(raw_sign, number=2_000, repeat=7)) / 2_000


def _card(pin_threshold: int) -> Card:
    store = MemoryStore()
    personalize(store, CardProfile(bank="BRI", pan="6013500012345678", pin="123456",
                                   pin_threshold=pin_threshold, test_mode=True), KEYS)
    card = Card(store)
    card.power_on()
    card.transmit(SELECT)
    resp = card.transmit(encode_command(0x80, 0x50, 0, 0, struct.pack(
        ">I8sI", 20_000_000, b"TERM0001", 1_764_000_000), 256))
    d = resp[:-2]
    ck = KEYS.card_keys("6013500012345678", 1)
    s2 = purse.load_s2(ck.load_key, d[:9], int.from_bytes(d[9:13], "big"), 20_000_000,
                       b"TERM0001", 1_764_000_000, d[17:25])
    assert card.transmit(encode_command(0x80, 0x52, 0, 0, s2, 256))[-2:] == b"\x90\x00"
    return card


def _report(benchmark, raw: float) -> None:
    # re-time the raw signature right after the benchmark and keep the faster figure, so a
    # burst of load on the shared machine during one measurement cannot flatter the ratio
    raw = min(raw, min(timeit.repeat(raw_sign, number=1_000, repeat=7)) / 1_000)
    median = benchmark.stats.stats.median
    benchmark.extra_info["raw_sign_us"] = round(raw * 1e6, 2)
    benchmark.extra_info["ratio_to_raw_sign"] = round(median / raw, 2)


@pytest.mark.benchmark
def test_bench_raw_sign(benchmark, raw_sign_seconds):
    benchmark.group = "raw-sign"
    sig = benchmark(raw_sign)
    assert sig[0] == 0x30
    _report(benchmark, raw_sign_seconds)


@pytest.mark.benchmark
def test_bench_raw_sign_deterministic(benchmark, raw_sign_seconds):
    benchmark.group = "raw-sign"
    sig = benchmark(raw_sign_deterministic)
    assert sig == raw_sign_deterministic()  # same key, same message: same bytes
    _report(benchmark, raw_sign_seconds)


@pytest.mark.benchmark
def test_bench_get_balance_round_trip(benchmark, raw_sign_seconds):
    benchmark.group = "card-apdu"
    card = _card(0)
    resp = benchmark(card.transmit, GET_BALANCE)
    assert resp[-2:] == b"\x90\x00"
    _report(benchmark, raw_sign_seconds)


@pytest.mark.benchmark
def test_bench_signed_purchase_apdu(benchmark, raw_sign_seconds):
    benchmark.group = "card-purchase"
    card = _card(1_000_000)  # Rp 1 purchases below the PIN threshold: the APDU alone
    resp = benchmark(card.transmit, PURCHASE)
    assert resp[-2:] == b"\x90\x00"
    _report(benchmark, raw_sign_seconds)


@pytest.mark.benchmark
def test_bench_card_side_of_purchase(benchmark, raw_sign_seconds):
    benchmark.group = "card-purchase"
    card = _card(0)

    def session() -> bytes:
        card.transmit(SELECT)
        card.transmit(VERIFY)
        return card.transmit(PURCHASE)

    resp = benchmark(session)
    assert resp[-2:] == b"\x90\x00"
    _report(benchmark, raw_sign_seconds)


# -- CDA: GENERATE AC with a signature (issue 14) ----------------------------------------------
GPO = encode_command(0x80, 0xA8, 0, 0, bytes.fromhex("8303036022"), 256)
SELECT_SAVINGS = encode_command(0x00, 0xA4, 0x04, 0x00, bytes.fromhex("A0000006021010"), 256)
CDOL1 = bytes.fromhex("000000010000" "000000000000" "0360" "0000000000" "0360" "261124" "00"
                      "11223344")
CDA_GAC = encode_command(0x80, 0xAE, 0x90, 0x00, CDOL1, 256)


def _raw_rsa_and_mac_seconds(card: Card) -> tuple[float, float]:
    """Median times (150 single calls each, as the benchmark's rounds) of one raw RSA-1024
    private operation with the card's ICC key (the card's own CRT implementation) and of one
    3DES MAC (MAC algorithm 3 over the AC input)."""
    import statistics

    from kks_emulator.crypto import emv

    assert card.static is not None and card.static.icc_key is not None
    key = card.static.icc_key
    block = bytes((0x6A,)) + bytes(range(key.size - 2)) + bytes((0xBC,))
    sk = emv.derive_session_key(card.static.mk_ac, 1)
    data = CDOL1 + bytes(10)
    rsa_s = statistics.median(timeit.repeat(lambda: key.private(block), number=1, repeat=150))
    mac_s = statistics.median(timeit.repeat(lambda: emv.mac_alg3(sk, data), number=1,
                                            repeat=150))
    return rsa_s, mac_s


@pytest.mark.benchmark
def test_bench_cda_generate_ac(benchmark):
    """One CDA GENERATE AC (ARQC + signed dynamic data) in process, against one raw RSA-1024
    private operation plus the 3DES MAC. Goal (issue 14): ratio_to_rsa_plus_mac <= 3."""
    from cryptography.hazmat.primitives.asymmetric import padding

    benchmark.group = "card-cda"
    card = _card(0)

    def setup():
        card.transmit(SELECT_SAVINGS)
        assert card.transmit(GPO)[-2:] == b"\x90\x00"
        return (CDA_GAC,), {}

    resp = benchmark.pedantic(card.transmit, setup=setup, rounds=150, iterations=1)
    assert resp[-2:] == b"\x90\x00" and b"\x9f\x4b" in resp
    rsa_s, mac_s = _raw_rsa_and_mac_seconds(card)
    assert card.static is not None and card.static.icc_key is not None
    ossl = card.static.icc_key.to_cryptography()
    ossl_s = min(timeit.repeat(lambda: ossl.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA1()),
                               number=200, repeat=5)) / 200
    median = benchmark.stats.stats.median
    benchmark.extra_info["raw_rsa1024_private_us"] = round(rsa_s * 1e6, 1)
    benchmark.extra_info["mac_3des_us"] = round(mac_s * 1e6, 2)
    benchmark.extra_info["ratio_to_rsa_plus_mac"] = round(median / (rsa_s + mac_s), 3)
    benchmark.extra_info["goal_ratio_le_3"] = median <= 3 * (rsa_s + mac_s)
    benchmark.extra_info["openssl_rsa1024_pkcs1_sign_us"] = round(ossl_s * 1e6, 1)
