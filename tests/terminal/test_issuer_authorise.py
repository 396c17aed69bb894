"""Online authorisations with real card cryptograms: ARQC purchase declines and load MACs."""

from __future__ import annotations

import pytest

from kks_emulator.errors import IssuerError
from kks_emulator.terminal import apdus, reader
from kks_emulator.terminal.parse import parse_tlv

from .kit import PIN, make_world


def arqc_body(w, amount: int = 20_000, pin: bool = True) -> dict:
    """Run the card to its first GENERATE AC and build the issuer request from its answer."""
    ex = w.edc.ex
    w.transport.disconnect(unpower=True)
    w.edc.insert()
    card = reader.read_savings(ex)
    if pin:
        reader.verify_pin(ex, PIN)
    cdol1 = (bytes.fromhex(f"{amount * 100:012d}") + bytes(6) + bytes.fromhex("0360") + bytes(5)
             + bytes.fromhex("0360") + bytes.fromhex("261118") + b"\x00" + b"\x01\x02\x03\x04")
    f = parse_tlv(ex.transmit(apdus.generate_ac(0x80, cdol1)).expect("GAC"))
    atc = int.from_bytes(f[0x9F36], "big")
    data = cdol1 + card.aip + f[0x9F36] + f[0x9F10][2:]
    return {"pan": card.pan, "psn": card.psn, "atc": atc, "arqc": f[0x9F26].hex(),
            "data": data.hex(), "amount": amount, "merchant": "W1"}


def test_approval_and_its_replay():
    w = make_world()
    body = arqc_body(w)
    ok = w.host.authorise_purchase("a1", body)
    assert ok["approved"] and ok["arc"] == "00" and len(bytes.fromhex(ok["arpc"])) == 8
    again = w.host.authorise_purchase("a2", body)  # same cryptogram, new key: ATC replay
    assert not again["approved"] and "replay" in again["reason"]
    assert w.host.balance("SAV-0001") == 180_000
    w.host.audit()


@pytest.mark.parametrize("change, arc, reason", [
    ({"amount": 19_999}, "05", "differs"),
    ({"arqc": "00" * 8}, "05", "does not verify"),
    ({"atc": 77}, "05", "does not verify"),
    ({"pan": "6013010000000099"}, "05", "no savings account"),
])
def test_declines(change, arc, reason):
    w = make_world()
    out = w.host.authorise_purchase("a", {**arqc_body(w), **change})
    assert not out["approved"] and out["arc"] == arc and reason in out["reason"]
    assert w.host.balance("SAV-0001") == 200_000


def test_tampered_data_does_not_verify():
    w = make_world()
    body = arqc_body(w)
    data = bytearray(bytes.fromhex(body["data"]))
    data[5] ^= 0x01  # the amount inside the MACed data
    out = w.host.authorise_purchase("a", {**body, "data": data.hex()})
    assert not out["approved"] and "does not verify" in out["reason"]


def test_pin_not_verified_and_insufficient_funds():
    w = make_world()
    no_pin = w.host.authorise_purchase("a", arqc_body(w, pin=False))
    assert not no_pin["approved"] and no_pin["arc"] == "55"
    poor = w.host.authorise_purchase("b", arqc_body(w, amount=300_000))
    assert not poor["approved"] and poor["arc"] == "51" and poor["arpc"]
    assert w.host.balance("SAV-0001") == 200_000
    w.host.audit()


def load_body(w, amount: int = 50_000, pin: bool = True) -> dict:
    ex = w.edc.ex
    reader.select_app(ex, apdus.PURSE_AID)
    if pin:
        reader.verify_pin(ex, PIN)
    data = ex.transmit(apdus.initialize_for_load(amount, b"EDC00001", 1_795_000_000)).expect("I")
    return {"card_id": data[:9].hex(), "nt": int.from_bytes(data[9:13], "big"),
            "balance": int.from_bytes(data[13:17], "big"), "amount": amount,
            "terminal": b"EDC00001".hex(), "time": 1_795_000_000, "challenge": data[17:25].hex(),
            "s1": data[25:33].hex(), "pin_verified": data[33] == 1}


def test_load_without_the_pin_is_declined_and_the_flag_cannot_be_forged():
    """H-PIN: a load from savings needs the PIN verified in the card session (S1 shows it)."""
    w = make_world()
    body = load_body(w, pin=False)
    assert body["pin_verified"] is False
    with pytest.raises(IssuerError, match="S1"):  # a terminal claiming the PIN: S1 fails
        w.host.authorise_load("l-forged", {**body, "pin_verified": True})
    with pytest.raises(IssuerError, match="PIN not verified"):
        w.host.authorise_load("l-nopin", body)
    assert w.host.balance("SAV-0001") == 200_000
    # an issuer whose preset does not require the PIN authorises the same request
    w.host.load_requires_pin = False
    assert w.host.authorise_load("l-open", body)["amount"] == 50_000
    w.host.audit()


def test_load_mac_checks():
    w = make_world()
    body = load_body(w)
    with pytest.raises(IssuerError, match="S1"):
        w.host.authorise_load("l0", {**body, "amount": 60_000})  # amount not what the card MACed
    ok = w.host.authorise_load("l1", body)
    with pytest.raises(IssuerError, match="already authorised"):
        w.host.authorise_load("l2", body)  # same challenge, new key
    s3 = w.edc.ex.transmit(apdus.credit_for_load(bytes.fromhex(ok["s2"]))).expect("CREDIT")
    confirm = {"card_id": body["card_id"], "nt_after": int.from_bytes(s3[:4], "big"),
               "balance_after": int.from_bytes(s3[4:8], "big"), "s3": s3[8:].hex()}
    with pytest.raises(IssuerError, match="S3"):
        w.host.confirm_load("c0", {**confirm, "balance_after": 1})
    assert w.host.confirm_load("c1", confirm)["amount"] == 50_000
    with pytest.raises(IssuerError, match="no open load"):
        w.host.confirm_load("c2", confirm)
    assert w.edc.balance() == 50_000 == w.host.balance(f"FLT-{w.card_hex}")
    w.host.audit()
