"""EDC flows end to end in process: card ↔ exchange ↔ terminal ↔ issuer, checked at the ledger."""

from __future__ import annotations

import io
import json
import random

import pytest

from kks_emulator.errors import CardError, IssuerError, TransportError
from kks_emulator.terminal import apdus, reader
from kks_emulator.transport.inprocess import InProcessTransport

from .kit import PAN, PIN, make_world


@pytest.mark.parametrize("protocol", ["T=1", "T=0"])
def test_read_card(protocol):
    w = make_world(protocol=protocol)
    aids = reader.list_applications(w.edc.ex)
    assert aids == [apdus.SAVINGS_AID]  # the purse is not offered to payment kernels
    data = reader.read_savings(w.edc.ex)
    assert (data.pan, data.psn, data.expiry) == (PAN, 1, "301231")
    assert data.aip == bytes.fromhex("7D00") and len(data.cdol1) > 0
    assert data.pdol_data == bytes.fromhex("036022") and not data.oda_record_error
    assert data.static_data.endswith(data.aip) and len(data.static_data) > 100  # recs 1-2, AIP


@pytest.mark.parametrize("protocol", ["T=1", "T=0"])
def test_load_buy_upload_settle(protocol):
    w = make_world(protocol=protocol)
    load = w.edc.load(150_000, PIN)
    assert (load.amount, load.balance) == (150_000, 150_000)
    assert w.edc.balance() == 150_000
    receipt = w.edc.purchase_purse(50_000, PIN)
    assert receipt.record.amount == 50_000 and receipt.record.balance_after == 100_000
    assert len(w.edc.batch.items) == 1
    cleared = w.edc.upload(1)
    assert cleared["total"] == 50_000 and cleared["refused"] == []
    assert w.edc.batch.items == []
    settled = w.host.settle("settle-W1", "W1")
    assert settled["amount"] == 50_000
    b = w.host.ledger.balances()
    assert b["SAV-0001"] == 50_000 and b[f"FLT-{w.card_hex}"] == 100_000
    assert b["MER-W1"] == 0 and b["STL-BRI"] == 50_000 and sum(b.values()) == 0
    w.host.audit()


@pytest.mark.parametrize("protocol", ["T=1", "T=0"])
def test_purse_purchase_and_savings_in_t0_and_t1(protocol):
    w = make_world(protocol=protocol)
    # fund the purse through the issuer in T=1, then run the purchases in the chosen protocol
    w.card.set_protocol("T=1")
    w.edc.load(60_000, PIN)
    w.card.set_protocol(protocol)
    assert w.edc.purchase_purse(10_000, PIN).record.balance_after == 50_000
    w.transport.disconnect(unpower=True)
    w.edc.insert()
    assert w.edc.purchase_savings(5_000, PIN, date="261118").approved
    assert w.edc.upload(1)["total"] == 10_000
    w.host.audit()


def test_savings_purchase_online_and_decline():
    w = make_world()
    ok = w.edc.purchase_savings(20_000, PIN, date="261118")
    assert ok.approved and ok.arc == "00" and ok.card_cid & 0xC0 == 0x40
    assert w.host.balance("SAV-0001") == 180_000 and w.host.balance("MER-W1") == 20_000
    w.transport.disconnect(unpower=True)
    w.edc.insert()
    no = w.edc.purchase_savings(500_000, PIN, date="261118")
    assert not no.approved and no.arc == "51" and no.card_cid & 0xC0 == 0x00
    assert w.host.balance("SAV-0001") == 180_000
    w.host.audit()


def test_issuer_approval_that_the_card_refuses_is_reversed():
    w = make_world()

    class Corrupting:
        """Passes calls to the host but breaks the ARPC, so the card answers AAC."""

        def call(self, op, key, body):
            out = w.host.call(op, key, body)
            if op == "authorise_purchase":
                out = dict(out, arpc="00" * 8)
            return out

    w.edc.issuer = Corrupting()
    r = w.edc.purchase_savings(20_000, PIN, date="261118")
    assert not r.approved and r.card_cid & 0xC0 == 0x00
    assert w.host.balance("SAV-0001") == 200_000 and w.host.balance("MER-W1") == 0
    w.host.audit()


def test_wrong_pin_and_insufficient_purse():
    w = make_world()
    with pytest.raises(CardError, match="2 tries left"):
        w.edc.purchase_purse(1_000, "000000")
    with pytest.raises(CardError) as err:
        w.edc.purchase_purse(1_000, PIN)  # purse is empty
    assert err.value.sw == 0x6985
    assert w.edc.batch.items == []


def test_load_beyond_savings_is_refused_by_issuer():
    w = make_world(credit=100_000)
    with pytest.raises(IssuerError, match="insufficient"):
        w.edc.load(150_000, PIN)
    assert w.edc.balance() == 0
    w.host.audit()


class CutBefore(InProcessTransport):
    """Loses the card (TransportError) at the `nth` command with this INS, once."""

    def __init__(self, card, ins: int, nth: int = 1) -> None:
        super().__init__(card)
        self.ins = ins
        self.left = nth

    def transmit(self, apdu: bytes) -> bytes:
        if apdu[1] == self.ins and self.left:
            self.left -= 1
            if not self.left:
                raise TransportError("card removed")
        return super().transmit(apdu)


def test_card_lost_before_second_generate_ac_reverses_the_debit():
    w = make_world()
    cut = CutBefore(w.card, 0xAE, nth=2)
    w.edc.ex.transport = cut
    cut.connect()
    with pytest.raises(TransportError):
        w.edc.purchase_savings(20_000, PIN, date="261118")
    assert w.host.balance("SAV-0001") == 200_000 and w.host.balance("MER-W1") == 0
    kinds = [r[0] for r in w.host.ledger.conn.execute("SELECT kind FROM journal ORDER BY id")]
    assert kinds == ["credit", "purchase", "reversal"]
    w.host.audit()


def test_load_whose_s2_never_reached_the_card_is_voided_on_retry():
    w = make_world()
    cut = CutBefore(w.card, 0x52)  # CREDIT FOR LOAD
    w.edc.ex.transport = cut
    cut.connect()
    with pytest.raises(TransportError):
        w.edc.load(100_000, PIN)
    # the issuer moved the money into the float; the card did not credit it
    assert w.host.balance("SAV-0001") == 100_000
    cut.disconnect(unpower=True)
    cut.connect()
    done = w.edc.load(100_000, PIN)  # same NT, new challenge: first load voided
    assert done.balance == 100_000
    assert w.host.balance("SAV-0001") == 100_000
    assert w.host.balance(f"FLT-{w.card_hex}") == 100_000
    from kks_emulator.issuer.audit import open_loads

    assert open_loads(w.host.ledger) == []
    w.host.audit()


def test_upload_retry_is_a_replay_and_a_resent_record_is_refused():
    w = make_world()
    w.edc.load(100_000, PIN)
    item = w.edc.purchase_purse(10_000, PIN).item
    body = {"merchant": "W1", "terminal": w.edc.terminal_id.hex().upper(),
            "items": [item.to_json()]}
    first = w.host.request("clear", f"batch:{w.edc.terminal_id.hex()}:1", body)
    w.edc.upload(1)  # the answer was lost; the terminal retries with the same batch number
    assert w.host.request("clear", f"batch:{w.edc.terminal_id.hex()}:1", body) == first
    w.edc.batch.add(item)
    again = w.edc.upload(2)
    assert again["accepted"] == [] and "duplicate" in again["refused"][0]["reason"]
    assert w.host.balance("MER-W1") == 10_000
    w.host.audit()


def test_transcript_is_json_lines():
    buf = io.StringIO()
    w = make_world(transcript=buf)
    w.edc.balance()
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert lines[0]["c"].startswith("00A40400") and lines[-1]["r"].endswith("9000")


@pytest.mark.parametrize("protocol", ["T=1", "T=0"])
def test_rerun_gives_a_byte_identical_transcript(protocol):
    """Same card, same seeds, same clock: every command *and every answer* is the same, the
    purchase signatures included (the card signs with RFC 6979 deterministic ECDSA)."""
    transcripts = []
    for _ in range(2):
        buf = io.StringIO()
        w = make_world(protocol=protocol, transcript=buf)
        w.edc.load(50_000, PIN)
        w.edc.purchase_purse(12_345, PIN)
        w.edc.purchase_purse(1_000, PIN)
        transcripts.append(buf.getvalue())
    assert transcripts[0] == transcripts[1]
    assert transcripts[0].count('"c": "80540000') == 2


def test_random_walk_against_a_model():
    """Loads, purse and savings purchases, uploads and settlements at random; after each step the
    ledger audit passes and every balance equals the model's (L-AUDITOR through the terminal)."""
    rng = random.Random(5)
    w = make_world(credit=1_000_000)
    savings, purse_bal, merchant, float_, paid = 1_000_000, 0, 0, 0, 0
    pending = 0
    batch_no = 0
    for _ in range(60):
        roll = rng.random()
        amount = rng.choice([1_000, 25_000, 200_000])
        if roll < 0.3:
            try:
                w.edc.load(amount, PIN)
                savings, purse_bal, float_ = savings - amount, purse_bal + amount, float_ + amount
            except (IssuerError, CardError):
                assert amount > savings or purse_bal + amount > 20_000_000
        elif roll < 0.6:
            try:
                w.edc.purchase_purse(amount, PIN)
                purse_bal -= amount
                pending += amount
            except CardError as e:
                assert e.sw == 0x6985 and amount > purse_bal
        elif roll < 0.75:
            w.transport.disconnect(unpower=True)
            w.edc.insert()
            r = w.edc.purchase_savings(amount, PIN, date="261118")
            assert r.approved == (amount <= savings)
            if r.approved:
                savings, merchant = savings - amount, merchant + amount
        elif roll < 0.9:
            batch_no += 1
            w.edc.upload(batch_no)
            float_, merchant, pending = float_ - pending, merchant + pending, 0
        else:
            out = w.host.settle(f"settle-{batch_no}-{merchant}", "W1")
            assert out["amount"] == merchant
            paid, merchant = paid + merchant, 0
        b = w.host.ledger.balances()
        assert (b["SAV-0001"], b[f"FLT-{w.card_hex}"], b["MER-W1"], b["STL-BRI"]) == (
            savings, float_, merchant, paid)
        assert w.edc.balance() == purse_bal == float_ - pending
        w.host.audit()


def test_unconfirmed_load_is_an_open_item_until_resolved():
    from kks_emulator.issuer.audit import open_items

    w = make_world()
    cut = CutBefore(w.card, 0x52)  # S2 never reaches the card
    w.edc.ex.transport = cut
    cut.connect()
    with pytest.raises(TransportError):
        w.edc.load(100_000, PIN)
    items = open_items(w.host.ledger)
    assert [(i[0], i[1], i[2]) for i in items] == [(w.card_hex, 0, 100_000)]
    assert "no S3" in items[0][4]
    w.edc.load(50_000, PIN)  # the card asks again at NT 0: the first load is voided
    assert open_items(w.host.ledger) == []
    assert w.host.balance("SAV-0001") == 150_000
