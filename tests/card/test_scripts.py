"""Issuer script processing (templates 71/72 commands, EMV Book 2 secure messaging): the MACs
are recomputed here with the independent DES of test_crypto_kat, not the card's code."""

from __future__ import annotations

import pytest

from kks_emulator import tlv
from kks_emulator.issuer.scripts import ScriptQueue, ScriptRequest, issuer_script, script_command

from .helpers import CARD_KEYS, CDOL1_DATA, PIN, arpc_for, powered
from .test_crypto_kat import _e, ind_mac

NEW_PIN = "246810"


def ind_sm_key(mk: bytes, ac: bytes) -> bytes:
    """EMV Book 2 A1.3 common session key derivation with R = AC (written out)."""
    return _e(mk, ac[:2] + b"\xF0" + ac[3:]) + _e(mk, ac[:2] + b"\x0F" + ac[3:])


def _online(t):
    assert t.select_savings().ok and t.gpo().ok and t.verify().ok
    r = t.gac(0x80, CDOL1_DATA)
    flat = tlv.flatten(tlv.decode(r.data))
    return int.from_bytes(flat[0x9F36], "big"), flat[0x9F26], r.data


def _finish(t, first: bytes):
    _, arpc = arpc_for(first)
    r = t.gac(0x40, b"00" + arpc + b"00" + bytes(5) + CDOL1_DATA[-4:])
    return tlv.flatten(tlv.decode(r.data))[0x9F27]


def test_script_mac_is_the_documented_one():
    t = powered()
    atc, ac, _ = _online(t)
    cmd = script_command(CARD_KEYS, atc, ac, "application-block")
    assert cmd[:5] == bytes.fromhex("841E000008")
    mac_in = cmd[:5] + atc.to_bytes(2, "big") + ac
    assert cmd[5:] == ind_mac(ind_sm_key(CARD_KEYS.mk_smi, ac), mac_in)


def test_application_block_then_unblock():
    t = powered()
    atc, ac, first = _online(t)
    assert t.raw(script_command(CARD_KEYS, atc, ac, "application-block")).ok
    assert _finish(t, first) == b"\x00"  # blocked: the approved transaction ends in an AAC
    atc, ac, first = _online(t)
    assert tlv.flatten(tlv.decode(first))[0x9F27] == b"\x00"  # first GAC: AAC
    assert t.raw(script_command(CARD_KEYS, atc, ac, "application-unblock")).ok
    atc, ac, first = _online(t)
    assert tlv.flatten(tlv.decode(first))[0x9F27] == b"\x80"
    assert _finish(t, first) == b"\x40"


def test_pin_unblock_and_change_by_script():
    t = powered()
    t.select_savings()
    for _ in range(3):
        t.verify("000000")
    assert t.ptc() == 0
    assert t.select_savings().ok and t.gpo().ok
    r = t.gac(0x80, CDOL1_DATA)
    flat = tlv.flatten(tlv.decode(r.data))
    atc, ac = int.from_bytes(flat[0x9F36], "big"), flat[0x9F26]
    cmd = script_command(CARD_KEYS, atc, ac, "pin-change", NEW_PIN)
    # the enciphered PIN block decrypts (independent DES) to the new PIN's plaintext block
    from .test_crypto_kat import _d

    sk_enc = ind_sm_key(CARD_KEYS.mk_smc, ac)
    k1, k2 = sk_enc[:8], sk_enc[8:]
    assert _d(k1, _e(k2, _d(k1, cmd[5:13]))) == bytes.fromhex("26246810FFFFFFFF")
    assert t.raw(cmd).ok
    assert t.ptc() == 3
    t.select_savings()
    assert t.verify(PIN).sw == 0x63C2
    assert t.verify(NEW_PIN).ok


def test_wrong_mac_and_no_transaction():
    t = powered()
    t.select_savings()
    before = t.card.store.snapshot()
    cmd = bytearray(script_command(CARD_KEYS, 1, bytes(8), "application-block"))
    assert t.raw(bytes(cmd)).sw == 0x6985  # no GENERATE AC in this selection
    atc, ac, _ = _online(t)
    good = script_command(CARD_KEYS, atc, ac, "application-block")
    bad = good[:-1] + bytes((good[-1] ^ 1,))
    mid = t.card.store.snapshot()
    assert t.raw(bad).sw == 0x6982
    assert t.card.store.snapshot() == mid and mid != before  # (the GAC wrote the ATC)
    t.select_purse()
    assert t.raw(good).sw == 0x6D00  # no APPLICATION BLOCK in the purse


def test_queue_builds_templates_71_and_72():
    q = ScriptQueue()
    q.add("6013500012345678", ScriptRequest("pin-unblock", template=0x71))
    q.add("6013500012345678", ScriptRequest("application-block"))
    out = q.take("6013500012345678", CARD_KEYS, 5, bytes(range(8)))
    assert [bytes.fromhex(h)[0] for h in out] == [0x71, 0x72]
    (t72,) = tlv.decode(bytes.fromhex(out[1]))
    assert tlv.find(t72.children, 0x9F18).value == (2).to_bytes(4, "big")
    assert tlv.find(t72.children, 0x86).value[:4] == bytes.fromhex("841E0000")
    assert q.take("6013500012345678", CARD_KEYS, 5, bytes(8)) == []
    with pytest.raises(Exception, match="71 or 72"):
        issuer_script(0x73, bytes(4), [])
