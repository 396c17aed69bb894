"""Strict BER-TLV: encode/decode, nesting, DOLs and every rejection path."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kks_emulator import tlv
from kks_emulator.tlv import TlvError


def test_encode_lengths():
    assert tlv.encode(0x5A, b"\x01") == b"\x5A\x01\x01"
    assert tlv.encode(0x9F36, b"\x00\x01") == bytes.fromhex("9F36020001")
    assert tlv.encode(0x70, bytes(128))[:3] == bytes.fromhex("708180")
    assert tlv.encode(0x70, bytes(256))[:4] == bytes.fromhex("70820100")
    assert tlv.encode(0xBF0C, b"")[:3] == bytes.fromhex("BF0C00")


def test_decode_nested_and_find():
    raw = bytes.fromhex("6F0E8402AABBA5085002414287010199")
    with pytest.raises(TlvError):  # trailing byte 99 starts a tag without length
        tlv.decode(raw)
    raw = bytes.fromhex("6F0D8402AABBA50750024142870101")
    (fci,) = tlv.decode(raw)
    assert fci.constructed and fci.children is not None
    assert tlv.find([fci], 0x87).value == b"\x01"
    assert tlv.flatten([fci]) == {0x84: b"\xAA\xBB", 0x50: b"AB", 0x87: b"\x01"}
    assert tlv.decode_one(raw).tag == 0x6F


@pytest.mark.parametrize("hexstr", [
    "5A", "5A02AA", "5A80", "5A8101AA", "5A820001AA", "5A84000000", "9F", "9F8001AA",
    "9FFFFF0100", "00", "FF", "5A01AA00", "5A83",
])
def test_strict_rejections(hexstr):
    with pytest.raises(TlvError):
        tlv.decode(bytes.fromhex(hexstr))


def test_encode_rejects_malformed_tags():
    for bad in (0x9F7F01, 0x9F, 0x1F, 0x9F81):
        with pytest.raises(TlvError):
            tlv.encode(bad, b"")


def test_decode_one_needs_exactly_one():
    with pytest.raises(TlvError):
        tlv.decode_one(bytes.fromhex("5A01AA5A01BB"))


def test_dol():
    dol = bytes.fromhex("9F02069F03069F1A0295055F2A029A039C019F3704")
    entries = tlv.parse_dol(dol)
    assert sum(n for _, n in entries) == 29
    assert tlv.encode_dol(entries) == dol
    with pytest.raises(TlvError):
        tlv.parse_dol(bytes.fromhex("9F02"))


tags = st.sampled_from([0x5A, 0x57, 0x9F36, 0x5F20, 0x8C, 0xDF01, 0xDF8101])


@given(st.lists(st.tuples(tags, st.binary(max_size=300)), max_size=5))
def test_roundtrip(items):
    raw = tlv.encode_many(items)
    assert [(t.tag, t.value) for t in tlv.decode(raw)] == items
