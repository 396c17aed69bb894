"""Clearing of signed purse records: C-REPLAY and the issuer side of loads (no card needed)."""

from __future__ import annotations

import pytest

from kks_emulator.crypto import purse
from kks_emulator.keys import IssuerKeys
from tests.counts import sized

from .purse_kit import TERMINAL, TestCard, make_item, malleate

PAN = "6013010000000001"


@pytest.fixture
def funded(host):
    """A host with one KPM whose card float holds Rp 200,000, and one e-warong."""
    return fund(host)


def fund(host):
    """Open the KPM (with card float) and the e-warong, credit and load Rp 200,000."""
    keys = IssuerKeys.test_issuer("BRI")
    card = TestCard(keys, PAN)
    host.open_account("open", "0001", "KPM A", pan=PAN, card_id=card.hex_id)
    host.open_merchant("mer", "W1", "e-warong 1")
    host.credit("cr", "BPNT", "2026-11", "B1", "0001", 200_000)
    with host.ledger.transaction():  # a load, posted as the load handler would
        jid = host.ledger.post("load", "load:test", "load", [("SAV-0001", "D", 200_000),
                                                            (f"FLT-{card.hex_id}", "C", 200_000)])
        host.ledger.execute("INSERT INTO loads VALUES (?, 1, '00', 200000, ?)", (card.hex_id, jid))
    return host, card


def clear(host, key, items):
    return host.clear(key, {"merchant": "W1", "terminal": TERMINAL.hex(), "items": items})


def test_accepts_a_good_record_once(funded):
    host, card = funded
    item = card.item(1, 50_000)
    first = clear(host, "b1", [item])
    assert [a["amount"] for a in first["accepted"]] == [50_000] and first["refused"] == []
    assert host.balance("MER-W1") == 50_000 and host.balance(f"FLT-{card.hex_id}") == 150_000
    # same batch, same key: the stored answer, byte-identical, nothing posted
    raw = host.request("clear", "b1", {"merchant": "W1", "terminal": TERMINAL.hex(),
                                       "items": [item]})
    assert raw == host.request("clear", "b1", {"merchant": "W1", "terminal": TERMINAL.hex(),
                                               "items": [item]})
    again = clear(host, "b2", [item])
    assert again["accepted"] == [] and "duplicate" in again["refused"][0]["reason"]
    assert host.balance("MER-W1") == 50_000
    host.audit()


def test_replayed_records_are_refused(funded):
    """C-REPLAY: every accepted record re-presented as identical bytes, as (r, n-s), and with
    the same counter but another amount (re-signed, as a broken card would) is refused."""
    host, card = funded
    n = sized(10_000, 50_000)
    # every purchase is Rp 1; the Rp 200,000 float covers them all
    items = [card.item(c, 1) for c in range(1, n + 1)]
    done = clear(host, "first", items)
    assert len(done["accepted"]) == n and done["refused"] == []
    digest = host.ledger.digest()
    balances = host.ledger.balances()
    forged = []
    for it in items:
        raw = bytes.fromhex(it["record"])
        sig = bytes.fromhex(it["signature"])
        forged.append(it)
        forged.append(make_item(raw, malleate(sig), card.certificate))
        counter = purse.TransactionRecord.decode(raw).counter
        forged.append(card.item(counter, 2))
    chunks = [forged[i:i + 9_999] for i in range(0, len(forged), 9_999)]
    for i, chunk in enumerate(chunks):
        again = clear(host, f"replays-{i}", chunk)
        assert again["accepted"] == [] and len(again["refused"]) == len(chunk)
        assert all("duplicate" in r["reason"] for r in again["refused"])
    assert host.ledger.balances() == balances
    # the only change is the stored answers of the refused batches
    assert host.ledger.conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == (
        4 + len(chunks))
    assert digest != host.ledger.digest()
    host.audit()


def test_malleated_signature_verifies_but_clears_once(funded):
    host, card = funded
    raw = card.record(7, 1_000)
    sig = purse.sign(card.key, raw)
    assert purse.verify(card.key.public_key(), raw, malleate(sig))  # valid per Wycheproof
    first = clear(host, "m1", [make_item(raw, malleate(sig), card.certificate)])
    assert len(first["accepted"]) == 1
    second = clear(host, "m2", [make_item(raw, sig, card.certificate)])
    assert second["accepted"] == [] and "duplicate" in second["refused"][0]["reason"]


def test_altered_amount_and_foreign_items_are_refused(funded):
    host, card = funded
    keys_bni = IssuerKeys.test_issuer("BNI")
    good = card.item(1, 5_000)
    raw = bytearray(bytes.fromhex(good["record"]))
    raw[18] ^= 0x01  # a bit of the amount
    tampered = dict(good, record=bytes(raw).hex())
    other_bank = TestCard(keys_bni, PAN)
    wrong_terminal = card.item(2, 5_000, terminal=b"EDC99999")
    stranger = TestCard(IssuerKeys.test_issuer("BRI"), "6013010000000002")
    expired = TestCard(IssuerKeys.test_issuer("BRI"), PAN, expiry="2001")
    out = clear(host, "x", [tampered, other_bank.item(3, 5_000), wrong_terminal,
                            stranger.item(4, 5_000), expired.item(5, 5_000),
                            card.item(6, 999_999), {"record": "00"}, "junk"])
    reasons = [r["reason"] for r in out["refused"]]
    assert out["accepted"] == [] and len(reasons) == 8
    assert "signature" in reasons[0]
    assert "certificate" in reasons[1]
    assert "another terminal" in reasons[2]
    assert "no purse float" in reasons[3]
    assert "expired" in reasons[4]
    assert "exceeds" in reasons[5]
    assert host.balance("MER-W1") == 0
    host.audit()


def test_batch_with_good_and_bad_items_posts_only_the_good(funded):
    host, card = funded
    out = clear(host, "mix", [card.item(1, 100), {"record": "zz"}, card.item(2, 200),
                              card.item(1, 100)])
    assert [a["index"] for a in out["accepted"]] == [0, 2]
    assert [r["index"] for r in out["refused"]] == [1, 3]
    assert out["total"] == 300 and host.balance("MER-W1") == 300
    host.audit()
