"""C-FUZZ-HOST: the terminal (and through it the issuer) against hostile card responses.

A hostile transport answers every command with random bytes, bare status words, endless `61xx`
chains, wrong `6Cxx`, structured TLV garbage (bad lengths, deep nesting, 0-length data) and
mutations of real card answers. Every EDC operation must end in a `KksError` subclass or succeed,
within a bounded number of exchanges; nothing else may escape.
"""

from __future__ import annotations

import contextlib
import random

from kks_emulator.card.atr import ATR
from kks_emulator.errors import KksError
from kks_emulator.issuer.host import Host
from kks_emulator.issuer.ledger import Ledger
from kks_emulator.keys import IssuerKeys
from kks_emulator.terminal import reader
from kks_emulator.terminal.edc import Edc
from kks_emulator.terminal.exchange import Exchange
from tests.counts import sized

from .kit import PIN, TERMINAL, make_world

#: Raw exchanges one operation may take at most: SELECT + GPO + 16 AFL entries x 16 records,
#: each up to 1 + 1 (6Cxx) + 16 GET RESPONSE (+1 6Cxx each).
MAX_EXCHANGES_PER_OP = 300 * 35
TAGS = [0x6F, 0x70, 0x77, 0x80, 0x84, 0x88, 0xA5, 0x61, 0x4F, 0x94, 0x82, 0x5A, 0x5F24, 0x8C,
        0x8D, 0x9F27, 0x9F36, 0x9F26, 0x9F10, 0xBF0C, 0x5F34, 0x57]


def real_answers() -> list[bytes]:
    """Every response of a real session (read, balance, load, purchases) as mutation seeds."""
    import io
    import json

    buf = io.StringIO()
    w = make_world(transcript=buf)
    reader.list_applications(w.edc.ex)
    w.edc.load(50_000, PIN)
    w.edc.purchase_purse(1_000, PIN)
    w.edc.purchase_savings(1_000, PIN, date="261118")
    return [bytes.fromhex(json.loads(line)["r"]) for line in buf.getvalue().splitlines()]


def tlv_garbage(rng: random.Random, depth: int = 0) -> bytes:
    """One random data object: plausible tags, lying lengths, nested templates."""
    tag = rng.choice(TAGS)
    tag_bytes = tag.to_bytes(2 if tag > 0xFF else 1, "big")
    if depth < 40 and rng.random() < 0.5:
        value = tlv_garbage(rng, depth + 1)
    else:
        value = rng.randbytes(rng.choice([0, 1, 2, 4, 6, 8, 9, 33, 43, 200]))
    n = len(value)
    length = rng.choice([bytes([n & 0x7F]) if n < 128 else bytes([0x81, n & 0xFF]),
                         bytes([rng.randrange(256)]), b"\x80", b"\x84\xff\xff\xff\xff",
                         bytes([0x81, rng.randrange(256)]), b"\x82\x00\x05"])
    return tag_bytes + length + value


class Hostile:
    """A transport whose card lies in every way we could think of."""

    def __init__(self, rng: random.Random, seeds: list[bytes]) -> None:
        self.rng = rng
        self.seeds = seeds
        self.count = 0

    def connect(self) -> bytes:
        return ATR

    def disconnect(self, unpower: bool = False) -> None:
        return None

    def transmit(self, apdu: bytes) -> bytes:
        self.count += 1
        rng = self.rng
        kind = rng.randrange(7)
        if kind == 0:
            return rng.randbytes(rng.randrange(4))  # truncated
        if kind == 1:
            sw = rng.choice([0x9000, 0x6100 | rng.randrange(256), 0x6C00 | rng.randrange(256),
                             0x6A83, 0x63C0 | rng.randrange(16), 0x6983, 0x6985,
                             rng.randrange(65536)])
            return rng.randbytes(rng.choice([0, 0, 1, 5])) + sw.to_bytes(2, "big")
        if kind == 2:
            return rng.randbytes(rng.randrange(1, 2)) + bytes([0x61, rng.choice([0, 1, 255])])
        if kind == 3:
            return tlv_garbage(rng) + b"\x90\x00"
        if kind == 4:
            return rng.randbytes(rng.randrange(300)) + b"\x90\x00"
        seed = bytearray(rng.choice(self.seeds))
        for _ in range(rng.randrange(1, 4)):
            op = rng.randrange(4)
            if op == 0 and seed:
                seed[rng.randrange(len(seed))] = rng.randrange(256)
            elif op == 1 and seed:
                del seed[rng.randrange(len(seed)):]
            elif op == 2:
                seed.insert(rng.randrange(len(seed) + 1), rng.randrange(256))
            else:
                seed += rng.randbytes(rng.randrange(1, 8))
        if rng.random() < 0.6:
            seed += b"\x90\x00"
        return bytes(seed)


def test_terminal_survives_hostile_cards():
    rng = random.Random(2026)
    seeds = real_answers()
    keys = IssuerKeys.test_issuer("BRI")
    host = Host(Ledger(":memory:", durable=False), "BRI")
    host.open_account("o", "0001", "KPM", pan="6013010000000001", card_id="601301000000000101")
    host.open_merchant("m", "W1", "e-warong")
    host.credit("c", "BPNT", "2026-11", "B1", "0001", 1_000_000)
    transport = Hostile(rng, seeds)
    edc = Edc(Exchange(transport), TERMINAL, "W1", host, {"BRI": keys.ca_public_key},
              clock=lambda: 1_795_000_000, rng=rng.randbytes)
    ops = [
        lambda: reader.list_applications(edc.ex),
        lambda: reader.read_savings(edc.ex),
        edc.balance,
        lambda: edc.purchase_purse(1_000, PIN),
        lambda: edc.load(1_000, PIN),
        lambda: edc.purchase_savings(1_000, PIN, date="261118"),
    ]
    budget = sized(100_000, 10_000_000)
    outcomes: dict[str, int] = {}
    while transport.count < budget:
        before = transport.count
        edc.ex = Exchange(transport)
        op = rng.choice(ops)
        try:
            op()
            outcomes["ok"] = outcomes.get("ok", 0) + 1
        except KksError as exc:
            outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
        assert transport.count - before <= MAX_EXCHANGES_PER_OP
    assert transport.count >= budget
    # the fuzz reached past the first parser: several typed error families were raised
    assert {"CardError", "CardResponseError", "ExchangeError"} <= set(outcomes), outcomes
    assert host.ledger.balances()["SAV-0001"] == 1_000_000
    host.audit()


def test_issuer_survives_hostile_requests():
    """Random bodies for every operation: only `IssuerError`s, and the ledger stays sound."""
    rng = random.Random(7)
    host = Host(Ledger(":memory:", durable=False), "BRI")
    host.open_account("o", "0001", "KPM", pan="6013010000000001", card_id="601301000000000101")
    host.open_merchant("m", "W1", "e-warong")
    values = [None, True, -1, 0, 1, 2**63, 1.5, "", "x" * 300, "0001", "W1", "ZZ", "00" * 9,
              "601301000000000101", "6013010000000001", [], {}, [{"record": "00"}], "GG",
              "00" * 43, 200_000]
    names = ["account", "holder", "pan", "card_id", "merchant", "name", "programme", "period",
             "beneficiary", "amount", "journal", "memo", "psn", "atc", "arqc", "data", "nt",
             "balance", "terminal", "time", "challenge", "s1", "s3", "nt_after",
             "balance_after", "items"]
    ops = sorted(["open_account", "open_merchant", "credit", "reverse", "settle",
                  "authorise_purchase", "authorise_load", "confirm_load", "clear"])
    for i in range(sized(5_000, 200_000)):
        body = {rng.choice(names): rng.choice(values) for _ in range(rng.randrange(12))}
        with contextlib.suppress(KksError):
            host.request(rng.choice(ops), f"k{i}", body)
    host.audit()


class OneLie(Hostile):
    """A real card behind the wire, but each answer is replaced by a hostile one with
    probability `p`, so the fuzz reaches the parsers deep inside each flow."""

    def __init__(self, rng: random.Random, seeds: list[bytes], card, p: float) -> None:
        super().__init__(rng, seeds)
        self.card = card
        self.p = p

    def connect(self) -> bytes:
        return self.card.power_on()

    def disconnect(self, unpower: bool = False) -> None:
        if unpower:
            self.card.power_off()

    def transmit(self, apdu: bytes) -> bytes:
        if self.rng.random() < self.p:
            return super().transmit(apdu)
        self.count += 1
        return self.card.transmit(apdu)


def test_terminal_survives_one_lie_deep_in_real_flows():
    rng = random.Random(99)
    seeds = real_answers()
    w = make_world(credit=10_000_000)
    transport = OneLie(rng, seeds, w.card, p=0.08)
    w.edc.ex = Exchange(transport)
    ops = [lambda: w.edc.load(1_000, PIN), lambda: w.edc.purchase_purse(500, PIN),
           lambda: w.edc.purchase_savings(700, PIN, date="261118"), w.edc.balance,
           lambda: w.edc.upload(rng.randrange(10**9))]
    budget = sized(15_000, 3_000_000)
    outcomes: dict[str, int] = {}
    while transport.count < budget:
        before = transport.count
        transport.connect()
        w.edc.ex = Exchange(transport)
        try:
            rng.choice(ops)()
            outcomes["ok"] = outcomes.get("ok", 0) + 1
        except KksError as exc:
            outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
        assert transport.count - before <= MAX_EXCHANGES_PER_OP
    assert outcomes.get("ok", 0) > 100 and len(outcomes) >= 3, outcomes
    w.host.audit()  # whatever the card said, the ledger is sound
