"""Unit tests per command and per status word (directory, savings, purse, T=0/T=1 shaping)."""

from __future__ import annotations

import struct

import pytest

from kks_emulator import tlv
from kks_emulator.apdu import encode_command
from kks_emulator.card import Card
from kks_emulator.card.apps.directory import PURSE_AID, SAVINGS_AID
from kks_emulator.crypto import purse
from kks_emulator.errors import CardError

from .helpers import CDOL1_DATA, T0, arpc_for, fresh_store, loaded, powered


def test_transmit_requires_power():
    card = Card(fresh_store())
    with pytest.raises(CardError):
        card.transmit(bytes.fromhex("00A4040000"))
    card.power_on()
    card.power_off()
    with pytest.raises(CardError):
        card.transmit(bytes.fromhex("00A4040000"))


def test_pse_directory_lists_only_the_payment_app():
    t = powered()
    r = t.select_pse()
    assert r.ok
    fci = tlv.flatten(tlv.decode(r.data))
    assert fci[0x84] == b"1PAY.SYS.DDF01" and fci[0x88] == b"\x01"
    rec = t.send(0x00, 0xB2, 1, (1 << 3) | 4, b"", 256)
    assert rec.ok
    (tmpl,) = tlv.decode(rec.data)
    aids = [tlv.find(e.children, 0x4F).value for e in tmpl.children]
    assert aids == [SAVINGS_AID]  # the purse is reachable by its AID only
    assert tlv.find(tmpl.children[0].children, 0x87).value == b"\x01"
    assert t.send(0x00, 0xB2, 2, 0x0C, b"", 256).sw == 0x6A83
    assert t.send(0x00, 0xB2, 1, 0x14, b"", 256).sw == 0x6A82


def test_ppse_lists_only_the_payment_app():
    t = powered()
    r = t.select_ppse()
    assert r.ok
    entries = tlv.find(tlv.decode(r.data), 0xBF0C).children
    assert [tlv.find(e.children, 0x4F).value for e in entries] == [SAVINGS_AID]
    assert t.select(PURSE_AID).ok  # by AID, as e-money readers do


def test_select_unknown_and_partial():
    t = powered()
    assert t.select(bytes.fromhex("A0000000031010")).sw == 0x6A82
    assert t.select(bytes.fromhex("A000000602")).ok  # partial AID
    assert t.card.s.selected == "savings"
    assert t.send(0x00, 0xA4, 0x04, 0x0C, SAVINGS_AID).sw == 0x6A86
    assert t.card.s.selected == "savings"  # a failed SELECT keeps the selection


def test_savings_flow_records():
    t = powered()
    fci = tlv.flatten(tlv.decode(t.select_savings().data))
    assert fci[0x84] == SAVINGS_AID and fci[0x50] == b"KKS TABUNGAN"
    assert fci[0x9F38] == bytes.fromhex("9F1A029F3501")  # PDOL: country, terminal type
    g = t.gpo()
    # AIP 7D00: SDA, DDA, CDA, CV, TRM, issuer auth; AFL SFI 1 rec 1-2 (both for ODA), SFI 2
    assert g.data == bytes.fromhex("800A7D00" "08010202" "10010300")
    assert t.gpo().sw == 0x6985
    r1 = tlv.flatten(tlv.decode(t.send(0, 0xB2, 1, 0x0C, b"", 256).data))
    r2 = tlv.flatten(tlv.decode(t.send(0, 0xB2, 2, 0x0C, b"", 256).data))
    assert r1[0x57].hex().upper().startswith("6013500012345678D3012220")
    assert r1[0x5F20] == b"KPM TEST"
    assert r2[0x5A] == bytes.fromhex("6013500012345678") and r2[0x5F24] == bytes.fromhex("301231")
    assert r2[0x8E] == bytes.fromhex("00000000000000000100")
    assert sum(n for _, n in tlv.parse_dol(r2[0x8C])) == 29
    assert sum(n for _, n in tlv.parse_dol(r2[0x8D])) == 21
    assert t.send(0, 0xB2, 3, 0x0C, b"", 256).sw == 0x6A83
    assert t.send(0, 0xB2, 4, 0x14, b"", 256).sw == 0x6A83
    assert t.send(0, 0xB2, 1, 0x1C, b"", 256).sw == 0x6A82
    assert t.send(0, 0xB2, 0, 0x0C, b"", 256).sw == 0x6A86
    assert t.send(0, 0xB2, 1, 0x0D, b"", 256).sw == 0x6A86


def test_gpo_wrong_pdol_data():
    t = powered()
    t.select_savings()
    assert t.send(0x80, 0xA8, 0, 0, bytes.fromhex("8400036022"), 256).sw == 0x6A80
    assert t.send(0x80, 0xA8, 0, 0, bytes.fromhex("8304036022"), 256).sw == 0x6A80
    assert t.send(0x80, 0xA8, 0, 0, b"\x83\x00", 256).sw == 0x6700  # the PDOL wants data


def test_get_data():
    t = powered()
    t.select_savings()
    assert t.get_data(0x9F17).data == bytes.fromhex("9F170103")
    assert t.get_data(0x9F36).data == bytes.fromhex("9F36020000")
    assert t.get_data(0x9F13).data == bytes.fromhex("9F13020000")
    assert t.get_data(0x9F4F).sw == 0x6A88
    assert t.send(0x80, 0xCA, 0x9F, 0x17, b"", 3).sw == 0x6C04


def test_generate_ac_states_and_aac():
    t = powered()
    t.select_savings()
    assert t.gac(0x80, CDOL1_DATA).sw == 0x6985  # no GPO
    t.gpo()
    assert t.gac(0x80, CDOL1_DATA[:21]).sw == 0x6700
    assert t.gac(0xC0, CDOL1_DATA).sw == 0x6A86
    assert t.gac(0xA0, CDOL1_DATA).sw == 0x6A86  # RFU bit 20
    r = t.gac(0x00, CDOL1_DATA)
    f = tlv.flatten(tlv.decode(r.data))
    assert r.ok and f[0x9F27] == b"\x00"
    assert t.gac(0x40, bytes(21)).sw == 0x6985  # after an AAC the transaction is over


def test_tc_request_gives_arqc_then_bad_arpc_gives_aac():
    t = powered()
    t.select_savings()
    t.gpo()
    r = t.gac(0x40, CDOL1_DATA)
    f = tlv.flatten(tlv.decode(r.data))
    assert f[0x9F27] == b"\x80"
    assert f[0x9F10][3] & 0x80 == 0  # no PIN in this session
    assert t.gac(0x80, bytes(21)).sw == 0x6A86
    before = t.card.store.snapshot()
    r2 = t.gac(0x40, b"00" + bytes(8) + b"00" + bytes(9))
    f2 = tlv.flatten(tlv.decode(r2.data))
    assert r2.ok and f2[0x9F27] == b"\x00" and f2[0x9F10][3] & 0x08
    assert t.card.store.snapshot() == before  # failed issuer auth leaves 9F13 alone
    assert t.get_data(0x9F13).data == bytes.fromhex("9F13020000")


def test_declined_arc_gives_aac_but_updates_last_online():
    t = powered()
    t.select_savings()
    t.gpo()
    r = t.gac(0x80, CDOL1_DATA)
    _arqc, arpc = arpc_for(r.data, b"05")
    r2 = t.gac(0x40, b"05" + arpc + b"05" + bytes(9))
    assert tlv.flatten(tlv.decode(r2.data))[0x9F27] == b"\x00"
    assert t.get_data(0x9F13).data == bytes.fromhex("9F13020001")


def test_purse_balance_load_purchase_log():
    t = powered()
    fci = tlv.flatten(tlv.decode(t.select_purse().data))
    assert fci[0x84] == PURSE_AID
    assert t.balance() == 0
    assert t.send(0x80, 0x5C, 0, 2, b"", 2).sw == 0x6C04
    assert t.send(0x80, 0x5C, 0, 2).sw == 0x6700
    r = t.load(100_000)
    assert r.ok and r.data[:8] == (1).to_bytes(4, "big") + (100_000).to_bytes(4, "big")
    assert t.balance() == 100_000
    assert t.purchase(10_000).sw == 0x6982  # PIN always required by default
    assert t.verify().ok
    p = t.purchase(10_000, nonce=b"ABCDEFGH")
    assert p.ok
    rec = purse.TransactionRecord.decode(p.data[:43])
    assert (rec.counter, rec.amount, rec.balance_after, rec.terminal_nonce) == \
        (2, 10_000, 90_000, b"ABCDEFGH")
    assert t.purchase(10_000).sw == 0x6982  # the verified flag is cleared per purchase
    newest = t.send(0x00, 0xB2, 1, 0x1C, b"", 256)
    assert newest.data == p.data[:43]
    load_rec = purse.TransactionRecord.decode(t.send(0x00, 0xB2, 2, 0x1C, b"", 256).data)
    assert load_rec.type == purse.TYPE_LOAD and load_rec.amount == 100_000
    assert t.send(0x00, 0xB2, 3, 0x1C, b"", 256).sw == 0x6A83
    assert t.send(0x00, 0xB2, 1, 0x0C, b"", 256).sw == 0x6A82


def test_purchase_conditions():
    t = powered(loaded(50_000))
    t.select_purse()
    t.verify()
    assert t.purchase(0).sw == 0x6A80
    before = t.card.store.snapshot()
    assert t.purchase(50_001).sw == 0x6985
    assert t.card.store.snapshot() == before
    assert t.purchase(50_000).ok
    assert t.balance() == 0


def test_pin_threshold_profile():
    store = fresh_store(pin_threshold=20_000)
    t = powered(store)
    t.select_purse()
    t.load(100_000)
    assert t.purchase(19_999).ok  # below threshold: no PIN
    assert t.purchase(20_000).sw == 0x6982


def test_load_needs_issuer_mac_and_fresh_init():
    t = powered()
    t.select_purse()
    assert t.send(0x80, 0x52, 0, 0, bytes(8), 256).sw == 0x6985  # no INIT
    before = t.card.store.snapshot()
    assert t.load(1000, s2_override=bytes(8)).sw == 0x6982
    assert t.card.store.snapshot() == before
    # the pending load is gone after a failed CREDIT and after any other command
    assert t.send(0x80, 0x52, 0, 0, bytes(8), 256).sw == 0x6985
    r = t.init_load(1000)
    assert r.ok and len(r.data) == 34 and r.data[33] == 0  # no VERIFY: PIN flag 00
    t.balance()
    assert t.send(0x80, 0x52, 0, 0, bytes(8), 256).sw == 0x6985
    assert t.init_load(0).sw == 0x6A80


def test_s1_verifies_for_issuer():
    t = powered()
    t.select_purse()
    d = t.init_load(777, time=T0).data
    from .helpers import CARD_KEYS
    s1 = purse.load_s1(CARD_KEYS.load_key, d[:9], int.from_bytes(d[9:13], "big"),
                       int.from_bytes(d[13:17], "big"), 777, b"TERM0001", T0, d[17:25], False)
    assert s1 == d[25:33] and d[33] == 0


def test_s1_carries_the_pin_verified_in_this_session():
    """After VERIFY the flag is 01 and S1 covers it; SELECT (a new context) clears it again."""
    from .helpers import CARD_KEYS, PIN

    t = powered()
    t.select_purse()
    assert t.verify(PIN).ok
    d = t.init_load(777, time=T0).data
    assert d[33] == 1
    s1 = purse.load_s1(CARD_KEYS.load_key, d[:9], int.from_bytes(d[9:13], "big"),
                       int.from_bytes(d[13:17], "big"), 777, b"TERM0001", T0, d[17:25], True)
    assert s1 == d[25:33]
    t.select_purse()
    assert t.init_load(777, time=T0).data[33] == 0


def test_t0_case4_uses_61xx_and_get_response():
    t = powered(protocol="T=0")
    r = t.select_purse()
    assert r.sw >> 8 == 0x61 and r.data == b""
    n = r.sw & 0xFF
    assert t.send(0x00, 0xC0, 0, 0, b"", n + 1).sw == 0x6C00 | n
    g = t.send(0x00, 0xC0, 0, 0, b"", 10)
    assert g.sw == 0x6100 | (n - 10) and len(g.data) == 10
    g2 = t.send(0x00, 0xC0, 0, 0, b"", n - 10)
    assert g2.ok and tlv.decode(g.data + g2.data)[0].tag == 0x6F
    assert t.send(0x00, 0xC0, 0, 0, b"", 5).sw == 0x6985  # nothing left
    # case 2 with Le=00 in T=0 must get 6Cxx, then the exact Le works
    assert t.send(0x80, 0x5C, 0, 2, b"", 256).sw == 0x6C04
    assert t.send(0x80, 0x5C, 0, 2, b"", 4).ok


def test_t0_buffer_dropped_by_other_command():
    t = powered(protocol="T=0")
    r = t.select_purse()
    assert r.sw >> 8 == 0x61
    assert t.send(0x80, 0x5C, 0, 2, b"", 4).ok
    assert t.send(0x00, 0xC0, 0, 0, b"", r.sw & 0xFF).sw == 0x6985


def test_t1_short_le_chains_with_61xx():
    t = powered()
    r = t.send(0x00, 0xA4, 0x04, 0x00, PURSE_AID, 8)
    assert len(r.data) == 8 and r.sw >> 8 == 0x61
    rest = t.send(0x00, 0xC0, 0, 0, b"", 256)
    assert rest.ok and tlv.decode(r.data + rest.data)[0].tag == 0x6F


def test_set_protocol_and_extended_apdu():
    t = powered()
    t.card.set_protocol("T=0")
    assert t.card.protocol == "T=0"
    with pytest.raises(Exception, match="protocol"):
        t.card.set_protocol("T=2")
    t.card.set_protocol("T=1")
    raw = encode_command(0x00, 0xA4, 0x04, 0x00, PURSE_AID, 65536, extended=True)
    assert t.raw(raw).ok
    assert t.raw(encode_command(0x80, 0x5C, 0, 2, b"", 65536, extended=True)).ok


def test_get_challenge():
    t = powered()
    a = t.send(0x00, 0x84, 0, 0, b"", 8)
    b = t.send(0x00, 0x84, 0, 0, b"", 8)
    assert a.ok and b.ok and len(a.data) == 8 and a.data != b.data
    assert t.send(0x00, 0x84, 0, 0, b"", 4).sw == 0x6C08


def test_unexpected_exception_is_6f00_and_card_survives(monkeypatch):
    t = powered()
    t.select_purse()

    def boom():
        raise RuntimeError("bug")

    monkeypatch.setattr(t.card, "purse_record", boom)
    before = t.card.store.snapshot()
    assert t.send(0x80, 0x5C, 0, 2, b"", 4).sw == 0x6F00
    assert t.card.store.snapshot() == before
    monkeypatch.undo()
    assert t.balance() == 0
    assert t.select_purse().ok


def test_unpersonalised_card():
    from kks_emulator.card import MemoryStore
    t = powered(MemoryStore())
    assert t.card.lifecycle == "blank"
    assert t.select_purse().sw == 0x6A82
    assert t.send(0x80, 0x5C, 0, 2, b"", 4).sw == 0x6E00


def test_purchase_response_layout():
    t = powered(loaded(10_000))
    t.select_purse()
    t.verify()
    r = t.purchase(1, time=T0 + 5)
    assert r.ok
    rec, sig = r.data[:43], r.data[43:]
    assert purse.is_strict_der(sig)
    assert struct.unpack(">I", rec[-4:])[0] == T0 + 5


def test_t0_load_and_purchase_through_get_response():
    """In T=0 the GET RESPONSE that fetches S1 must not drop the pending load."""
    from .helpers import CARD_KEYS

    t = powered(protocol="T=0")
    r = t.select_purse()
    t.send(0x00, 0xC0, 0, 0, b"", r.sw & 0xFF)
    r = t.send(0x80, 0x50, 0, 0, struct.pack(">I8sI", 5000, b"TERM0001", T0))
    assert r.sw == 0x6122
    d = t.send(0x00, 0xC0, 0, 0, b"", 0x22).data
    s2 = purse.load_s2(CARD_KEYS.load_key, d[:9], int.from_bytes(d[9:13], "big"), 5000,
                       b"TERM0001", T0, d[17:25])
    r = t.send(0x80, 0x52, 0, 0, s2)
    assert r.sw == 0x6110
    assert len(t.send(0x00, 0xC0, 0, 0, b"", 0x10).data) == 16
    assert t.send(0x80, 0x5C, 0, 2, b"", 4).data == (5000).to_bytes(4, "big")
    assert t.verify().ok
    r = t.send(0x80, 0x54, 0, 0, struct.pack(">I8s8sI", 100, b"TERM0001", b"NONCE001", T0))
    assert r.sw >> 8 == 0x61
    full = t.send(0x00, 0xC0, 0, 0, b"", r.sw & 0xFF)
    assert full.ok and purse.TransactionRecord.decode(full.data[:43]).balance_after == 4900


def test_c_rnd_challenges_never_repeat_in_a_session():
    from kks_emulator.card import Card

    card = Card(fresh_store())  # default generator: secrets
    card.power_on()
    draws = {card.transmit(bytes.fromhex("0084000008"))[:-2] for _ in range(10_000)}
    assert len(draws) == 10_000
    # even a generator that repeats itself cannot make the card repeat a challenge
    seq = iter([b"A" * 8, b"A" * 8, b"B" * 8])
    card = Card(fresh_store(), rng=lambda n: next(seq))
    card.power_on()
    assert card.transmit(bytes.fromhex("0084000008"))[:-2] == b"A" * 8
    assert card.transmit(bytes.fromhex("0084000008"))[:-2] == b"B" * 8
