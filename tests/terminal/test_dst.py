"""L-DST (card world): deterministic simulation of card ↔ terminal ↔ issuer over a faulty link.

The terminal reaches the issuer through a link that drops requests (5%), delivers them twice (10%),
loses the reply after the issuer committed (5%) and restarts the issuer process (0.5% of requests,
reopening the same ledger file; above docs/reliability.md L-DST's 1e-3 so every block sees some).
The terminal retries with the same idempotency key. After every step L1-L6 hold (audit), every
balance equals an independent model, and every duplicate delivery got byte-identical answers. A
failing seed is named in the assertion and replays identically (all randomness is seeded).
"""

from __future__ import annotations

import random

import pytest

from kks_emulator.errors import CardError, IssuerError, TransportError
from kks_emulator.issuer.host import Host
from kks_emulator.issuer.ledger import Ledger
from tests.counts import sized

from .kit import PIN, make_world


class FaultyLink:
    """The network and the issuer process between terminal and ledger."""

    def __init__(self, path, rng: random.Random) -> None:
        self.path = path
        self.rng = rng
        self.host = self._open()
        self.faults = {"drop": 0, "duplicate": 0, "reply_lost": 0, "restart": 0}

    def _open(self) -> Host:
        return Host(Ledger(self.path, clock=lambda: "2026-11-18T00:00:00+00:00",
                           durable=False), "BRI")

    def call(self, op, key, body):
        from kks_emulator.issuer.requests import parse_response

        if self.rng.random() < 0.005:
            self.faults["restart"] += 1
            self.host.close()
            self.host = self._open()
        roll = self.rng.random()
        if roll < 0.05:
            self.faults["drop"] += 1
            raise TransportError("request lost")
        raw = self.host.request(op, key, body)
        if roll < 0.15:
            self.faults["duplicate"] += 1
            assert self.host.request(op, key, body) == raw, "duplicate got another answer"
        elif roll < 0.20:
            self.faults["reply_lost"] += 1
            raise TransportError("reply lost")
        return parse_response(raw)


class Retrying:
    """The terminal's retry policy: same key until an answer arrives (bounded)."""

    def __init__(self, link: FaultyLink) -> None:
        self.link = link

    def call(self, op, key, body):
        for _ in range(50):
            try:
                return self.link.call(op, key, body)
            except TransportError:
                continue
        raise AssertionError("50 transport failures in a row")


def run_seed(seed: int, steps: int, tmp_path) -> dict:
    rng = random.Random(seed)
    path = tmp_path / f"dst-{seed}.db"
    w = make_world(path, credit=0, seed=seed)
    w.host.close()
    link = FaultyLink(path, rng)
    w.edc.issuer = Retrying(link)
    savings = purse_bal = float_ = merchant = paid = pending = 0
    month = 0
    for step in range(steps):
        roll = rng.random()
        amount = rng.choice([1_000, 25_000, 200_000])
        if roll < 0.15:
            month += 1
            out = Retrying(link).call("credit", f"credit-{month}", {
                "programme": "BPNT", "period": f"M{month}", "beneficiary": "B1",
                "account": "0001", "amount": 200_000})
            assert out["state"] == "credited"
            savings += 200_000
        elif roll < 0.4:
            try:
                w.edc.load(amount, PIN)
                savings, purse_bal, float_ = savings - amount, purse_bal + amount, float_ + amount
            except IssuerError:
                assert amount > savings, f"seed {seed} step {step}: load refused with funds"
        elif roll < 0.65:
            try:
                w.edc.purchase_purse(amount, PIN)
                purse_bal, pending = purse_bal - amount, pending + amount
            except CardError as e:
                assert e.sw == 0x6985 and amount > purse_bal, f"seed {seed} step {step}"
        elif roll < 0.8:
            w.transport.disconnect(unpower=True)
            w.edc.insert()
            r = w.edc.purchase_savings(amount, PIN, date="261118")
            assert r.approved == (amount <= savings), f"seed {seed} step {step}"
            if r.approved:
                savings, merchant = savings - amount, merchant + amount
        elif roll < 0.92:
            if w.edc.batch.items:
                out = w.edc.upload(step)
                assert out["total"] == pending and not out["refused"], f"seed {seed} step {step}"
                float_, merchant, pending = float_ - pending, merchant + pending, 0
        else:
            out = Retrying(link).call("settle", f"settle-{step}", {"merchant": "W1"})
            paid, merchant = paid + out["amount"], 0
        b = link.host.ledger.balances()
        got = (b["SAV-0001"], b[f"FLT-{w.card_hex}"], b["MER-W1"], b["STL-BRI"])
        assert got == (savings, float_, merchant, paid), f"seed {seed} step {step}: {got}"
        assert w.edc.balance() == purse_bal == float_ - pending, f"seed {seed} step {step}"
        link.host.audit()
    link.host.close()
    return link.faults


@pytest.mark.parametrize("block", range(4))
def test_dst_seeds(tmp_path, block):
    seeds = sized(200, 10_000) // 4
    totals = {"drop": 0, "duplicate": 0, "reply_lost": 0, "restart": 0}
    for seed in range(block * seeds, (block + 1) * seeds):
        for name, n in run_seed(seed, sized(40, 200), tmp_path).items():
            totals[name] += n
    assert all(totals.values()), totals  # every fault kind fired in every block
