"""T=0 handling in the transport-independent exchange layer: 61xx, 6Cxx, bounds, transcript."""

from __future__ import annotations

import io
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kks_emulator.errors import CardError, TransportError
from kks_emulator.terminal.exchange import (
    MAX_GET_RESPONSE,
    Exchange,
    ExchangeError,
    split_sw,
    with_le,
)
from kks_emulator.transport.base import Transport
from kks_emulator.transport.inprocess import InProcessTransport


class Scripted:
    """A transport that answers from a list and records what it was sent."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = list(answers)
        self.sent: list[bytes] = []

    def connect(self) -> bytes:
        return b"\x3b\x00"

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu)
        return self.answers.pop(0)

    def disconnect(self, unpower: bool = False) -> None:
        return None


def test_scripted_is_a_transport():
    assert isinstance(Scripted([]), Transport)


def test_61xx_chain_is_collected_with_get_response():
    t = Scripted([b"\x61\x03", b"abc\x61\x02", b"de\x90\x00"])
    r = Exchange(t).transmit(bytes.fromhex("00A404000102"))
    assert r.data == b"abcde" and r.sw == 0x9000
    assert t.sent[1] == bytes.fromhex("00C0000003")
    assert t.sent[2] == bytes.fromhex("00C0000002")


def test_6cxx_resends_with_the_right_le():
    t = Scripted([b"\x6c\x05", b"hello\x90\x00"])
    r = Exchange(t).transmit(bytes.fromhex("80CA9F1700"))
    assert r.data == b"hello"
    assert t.sent[1] == bytes.fromhex("80CA9F1705")


def test_6cxx_on_case1_appends_le():
    t = Scripted([b"\x6c\x02", b"ok\x90\x00"])
    Exchange(t).transmit(bytes.fromhex("80CA9F17"))
    assert t.sent[1] == bytes.fromhex("80CA9F1702")


def test_double_6cxx_is_a_typed_error():
    t = Scripted([b"\x6c\x05", b"\x6c\x06"])
    with pytest.raises(ExchangeError):
        Exchange(t).transmit(bytes.fromhex("80CA9F1700"))


def test_endless_61xx_is_bounded():
    t = Scripted([b"\x61\x01"] + [b"x\x61\x01"] * 100)
    with pytest.raises(ExchangeError):
        Exchange(t).transmit(bytes.fromhex("00B2010C00"))
    assert len(t.sent) == 1 + MAX_GET_RESPONSE


def test_sixteen_get_responses_are_allowed():
    t = Scripted([b"\x61\x01"] + [b"x\x61\x01"] * (MAX_GET_RESPONSE - 1) + [b"y\x90\x00"])
    r = Exchange(t).transmit(bytes.fromhex("00B2010C00"))
    assert r.data == b"x" * (MAX_GET_RESPONSE - 1) + b"y"


def test_truncated_response_and_overlong_chunk_are_typed():
    with pytest.raises(ExchangeError):
        Exchange(Scripted([b"\x90"])).transmit(b"\x00\xa4\x04\x00")
    with pytest.raises(ExchangeError):
        Exchange(Scripted([b"\x61\x01", b"toolong\x90\x00"])).transmit(b"\x00\xa4\x04\x00")
    assert issubclass(ExchangeError, TransportError)


def test_with_le_cases():
    assert with_le(bytes.fromhex("00B2010C"), 0) == bytes.fromhex("00B2010C00")
    assert with_le(bytes.fromhex("00B2010C10"), 0x20) == bytes.fromhex("00B2010C20")
    assert with_le(bytes.fromhex("00A4040002AABB"), 0) == bytes.fromhex("00A4040002AABB00")
    assert with_le(bytes.fromhex("00A4040002AABB05"), 9) == bytes.fromhex("00A4040002AABB09")
    with pytest.raises(ExchangeError):
        with_le(bytes.fromhex("00A4040005AA"), 0)
    with pytest.raises(ExchangeError):
        with_le(b"\x00\xa4", 0)


def test_split_sw_and_expect():
    assert split_sw(b"\x01\x90\x00") == (b"\x01", 0x9000)
    t = Scripted([b"\x69\x82"])
    r = Exchange(t).transmit(b"\x80\x50\x00\x00")
    with pytest.raises(CardError) as e:
        r.expect("purchase")
    assert e.value.sw == 0x6982


def test_transcript_json_lines():
    buf = io.StringIO()
    Exchange(Scripted([b"\x61\x01", b"z\x90\x00"]), transcript=buf).transmit(b"\x00\xa4\x04\x00")
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert [x["n"] for x in lines] == [1, 2]
    stamp = lines[1].pop("t")
    assert lines[1] == {"n": 2, "c": "00C0000001", "r": "7A9000"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp), stamp
    fixed = io.StringIO()
    Exchange(Scripted([b"\x90\x00"]), transcript=fixed, clock=lambda: "T0").transmit(b"\0\xa4\4\0")
    assert json.loads(fixed.getvalue())["t"] == "T0"


class FakeCard:
    def __init__(self) -> None:
        self.on = False

    def power_on(self) -> bytes:
        self.on = True
        return b"\x3b\x00"

    def transmit(self, command: bytes) -> bytes:
        return b"\x90\x00"

    def power_off(self) -> None:
        self.on = False


def test_in_process_transport_power_cycle():
    card = FakeCard()
    t = InProcessTransport(card)
    with pytest.raises(TransportError):
        t.transmit(b"\x00\xa4\x04\x00")
    assert t.connect() == b"\x3b\x00"
    assert t.transmit(b"\x00\xa4\x04\x00") == b"\x90\x00"
    t.disconnect(unpower=True)
    assert not card.on and not t.connected


class ChainingCard:
    """Answers one command with `data` split into 61xx chunks (optionally after a 6Cxx)."""

    def __init__(self, data: bytes, first: int, chunks: list[int], wrong_le: bool) -> None:
        self.out = data
        self.first = first
        self.chunks = chunks
        self.wrong_le = wrong_le
        self.sent: list[bytes] = []

    def connect(self) -> bytes:
        return b"\x3b\x00"

    def disconnect(self, unpower: bool = False) -> None:
        return None

    def _next(self, n: int) -> bytes:
        chunk, self.out = self.out[:n], self.out[n:]
        if not self.out:
            return chunk + b"\x90\x00"
        announce = self.chunks.pop(0) if self.chunks else len(self.out)
        announce = min(announce, len(self.out), 256)
        return chunk + bytes([0x61, announce & 0xFF])

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu)
        if self.wrong_le:
            self.wrong_le = False
            return bytes([0x6C, 0x10])
        if apdu[1] == 0xC0:
            return self._next(apdu[4] or 256)
        return self._next(self.first)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(min_size=1, max_size=600), first=st.integers(0, 40),
       chunks=st.lists(st.integers(1, 256), max_size=20), wrong_le=st.booleans())
def test_any_61xx_chain_is_reassembled_exactly(data, first, chunks, wrong_le):
    card = ChainingCard(data, first, chunks, wrong_le)
    try:
        r = Exchange(card).transmit(bytes.fromhex("80CA9F1700"))
    except ExchangeError:
        # only legitimate refusal: the card needed more than 16 GET RESPONSE
        assert sum(1 for a in card.sent if a[1] == 0xC0) == MAX_GET_RESPONSE
        return
    assert r.data == data and r.sw == 0x9000
    assert sum(1 for a in card.sent if a[1] == 0xC0) <= MAX_GET_RESPONSE
