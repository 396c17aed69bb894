"""ISO 7816-4 command/response codec: every case, short and extended, and malformed lengths."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kks_emulator.apdu import (
    ApduFormatError,
    Command,
    encode_command,
    encode_response,
    parse_command,
    parse_response,
)


@pytest.mark.parametrize(("hexstr", "case", "data", "ne", "ext"), [
    ("00A40400", 1, b"", None, False),
    ("00B2010C00", 2, b"", 256, False),
    ("00B2010C10", 2, b"", 16, False),
    ("00A4040002AABB", 3, b"\xAA\xBB", None, False),
    ("00A4040002AABB00", 4, b"\xAA\xBB", 256, False),
    ("00A4040002AABB05", 4, b"\xAA\xBB", 5, False),
    ("00B2010C000000", 2, b"", 65536, True),
    ("00B2010C000102", 2, b"", 258, True),
    ("00A404000000020102", 3, b"\x01\x02", None, True),
    ("00A4040000000201020000", 4, b"\x01\x02", 65536, True),
    ("00A4040000000201020100", 4, b"\x01\x02", 256, True),
])
def test_parse_cases(hexstr, case, data, ne, ext):
    cmd = parse_command(bytes.fromhex(hexstr))
    assert (cmd.case, cmd.data, cmd.ne, cmd.extended) == (case, data, ne, ext)
    assert cmd.encode().hex().upper() == hexstr


@pytest.mark.parametrize("hexstr", [
    "", "00", "00A404", "00A4040002AA", "00A4040002AABBCCDD", "00A404000001",
    "00A4040000000201", "00A404000000020102030405",
    "00A40400000000AA",
])
def test_parse_rejects_inconsistent_lengths(hexstr):
    with pytest.raises(ApduFormatError):
        parse_command(bytes.fromhex(hexstr))


def test_encode_validation():
    with pytest.raises(ApduFormatError):
        encode_command(0x100, 0, 0, 0)
    with pytest.raises(ApduFormatError):
        encode_command(0, 0, 0, 0, ne=0)
    with pytest.raises(ApduFormatError):
        encode_command(0, 0, 0, 0, bytes(300), extended=False)
    assert encode_command(0, 0xB2, 1, 0x0C, ne=300) == bytes.fromhex("00B2010C00012C")


def test_response_codec():
    r = parse_response(bytes.fromhex("01029000"))
    assert (r.data, r.sw, r.sw1, r.sw2, r.ok) == (b"\x01\x02", 0x9000, 0x90, 0, True)
    assert encode_response(b"\x01", 0x6A82) == b"\x01\x6A\x82"
    with pytest.raises(ApduFormatError):
        parse_response(b"\x90")
    with pytest.raises(ApduFormatError):
        encode_response(b"", 0x10000)


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255),
       st.binary(max_size=300), st.one_of(st.none(), st.integers(1, 65536)))
def test_roundtrip(cla, ins, p1, p2, data, ne):
    raw = encode_command(cla, ins, p1, p2, data, ne)
    cmd = parse_command(raw)
    assert cmd == Command(cla, ins, p1, p2, data, ne, cmd.extended)
    assert cmd.encode() == raw
