"""The vpcd protocol client against a fake vpcd (a plain TCP listener we drive byte by byte).

These need no pcscd: they pin the wire protocol (framing, control codes, empty ATR = no card),
the power semantics, back-off, reconnection and shutdown of `VpcdServer`.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from kks_emulator.errors import VpcdError
from kks_emulator.transport.vpcd import (
    CTRL_ATR,
    CTRL_OFF,
    CTRL_ON,
    CTRL_RESET,
    VPCD_BASE_PORT,
    VpcdServer,
    parse_vpcd_address,
)

from .conftest import RecordingCard


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeVpcd:
    """A listener that plays the vpcd side of the protocol."""

    def __init__(self, port: int) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(1)
        self.listener.settimeout(5)
        self.conn: socket.socket | None = None

    def accept(self) -> None:
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(5)

    def send(self, payload: bytes, split: bool = False) -> None:
        frame = struct.pack("!H", len(payload)) + payload
        if split:  # as Debian's vpcd does: length and body in two writes
            self.conn.sendall(frame[:2])
            time.sleep(0.01)
            self.conn.sendall(frame[2:])
        else:
            self.conn.sendall(frame)

    def recv(self) -> bytes:
        head = self._exact(2)
        return self._exact(struct.unpack("!H", head)[0])

    def _exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.conn.recv(n - len(out))
            assert chunk, "card server closed the connection"
            out += chunk
        return out

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


@pytest.fixture
def served():
    """A RecordingCard served by a VpcdServer thread against a FakeVpcd; stopped at the end."""
    port = _free_port()
    fake = FakeVpcd(port)
    card = RecordingCard()
    server = VpcdServer(card, port=port, backoff=(0.01, 0.05))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.accept()
    yield fake, server, card, thread
    server.stop()
    thread.join(5)
    assert not thread.is_alive(), "serve_forever did not return within 5 s of stop()"
    fake.close()


def _wait_for(predicate, timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_control_codes_and_apdus_follow_the_wire_protocol(served):
    fake, server, card, _ = served
    fake.send(bytes([CTRL_ATR]))
    assert fake.recv() == card.atr
    fake.send(bytes([CTRL_ON]))
    fake.send(bytes([CTRL_ATR]))
    assert fake.recv() == card.atr
    fake.send(bytes.fromhex("80500000"), split=True)
    assert fake.recv() == bytes.fromhex("805000009000")
    fake.send(bytes([CTRL_RESET]))
    long_apdu = bytes.fromhex("00D60000FF") + bytes(range(255))
    fake.send(long_apdu, split=True)
    assert fake.recv() == long_apdu + b"\x90\x00"
    fake.send(bytes([CTRL_OFF]))
    fake.send(bytes([CTRL_ATR]))  # a reply proves the OFF before it was processed
    assert fake.recv() == card.atr
    assert card.calls == ["on", "apdu", "reset", "apdu", "off"]
    assert server.stats.apdus == 2 and server.stats.atr_requests == 3


def test_two_frames_in_one_segment_are_both_answered(served):
    fake, _, card, _ = served
    payloads = (b"\x01", b"\x00\xa4\x04\x00", b"\x04")
    frames = b"".join(struct.pack("!H", len(p)) + p for p in payloads)
    fake.conn.sendall(frames)
    assert fake.recv() == b"\x00\xa4\x04\x00\x90\x00"
    assert fake.recv() == card.atr


def test_removed_card_closes_the_connection_and_loses_power(served):
    """Removal = closed socket (vpcd 3.3 hangs on an empty ATR; see the module docstring)."""
    fake, server, card, _ = served
    fake.send(bytes([CTRL_ON]))
    fake.send(bytes([CTRL_ATR]))
    assert fake.recv() == card.atr  # the ON is processed
    server.remove()
    assert fake.conn.recv(1) == b"", "removing the card must close the vpcd connection"
    assert card.calls[-1] == "off"
    fake.conn.close()
    with pytest.raises(TimeoutError):
        fake.listener.settimeout(0.3)
        fake.accept()  # no reconnection while the card is out
    fake.listener.settimeout(5)
    server.insert()
    fake.accept()
    fake.send(bytes([CTRL_ATR]))
    assert fake.recv() == card.atr
    assert server.stats.connections == 2


def test_scheduled_insert():
    port = _free_port()
    fake = FakeVpcd(port)
    card = RecordingCard()
    server = VpcdServer(card, port=port, inserted=False, backoff=(0.01, 0.05))
    server.schedule(0.3, insert=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        fake.accept()
        assert time.monotonic() - started >= 0.29, "connected before the scheduled insert"
        fake.send(bytes([CTRL_ATR]))
        assert fake.recv() == card.atr
    finally:
        server.stop()
        thread.join(5)
        fake.close()
    assert not thread.is_alive()


def test_dropped_connection_is_a_power_loss_and_the_server_reconnects(served):
    fake, server, card, _ = served
    fake.send(bytes([CTRL_ON]))
    fake.send(bytes([CTRL_ATR]))
    fake.recv()
    fake.conn.close()
    fake.accept()
    assert card.calls[-1] == "off", "a lost vpcd connection must power the card off"
    fake.send(bytes([CTRL_ATR]))
    assert fake.recv() == card.atr
    assert server.stats.connections == 2


def test_back_off_until_vpcd_is_up_then_stop_returns():
    port = _free_port()
    card = RecordingCard()
    server = VpcdServer(card, port=port, backoff=(0.01, 0.1))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    time.sleep(0.3)  # several refused attempts
    assert server.stats.connections == 0
    fake = FakeVpcd(port)
    try:
        fake.accept()
        fake.send(bytes([CTRL_ON]))
        fake.send(bytes([CTRL_ATR]))
        assert fake.recv() == card.atr
        started = time.monotonic()
        server.stop()
        thread.join(5)
        assert not thread.is_alive()
        assert time.monotonic() - started < 1.0, "stop() must take effect within a poll period"
        assert card.calls == ["on", "off"], "stopping powers the card off exactly once"
    finally:
        fake.close()


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:35964", ("127.0.0.1", 35964)),
    ("localhost", ("localhost", VPCD_BASE_PORT)),
    (":35965", ("127.0.0.1", 35965)),
])
def test_parse_vpcd_address(text, expected):
    assert parse_vpcd_address(text) == expected


@pytest.mark.parametrize("text", ["host:port", "host:0", "host:70000"])
def test_parse_vpcd_address_rejects_bad_ports(text):
    with pytest.raises(VpcdError):
        parse_vpcd_address(text)


def test_one_byte_payload_that_is_no_control_code_is_answered_as_an_apdu(served):
    fake, _, card, _ = served
    fake.send(bytes([CTRL_ON]))
    fake.send(b"\xae")
    assert fake.recv() == b"\xae\x90\x00", "vpcd would wait forever for this answer"
    assert card.calls == ["on", "apdu"]


def test_an_empty_card_answer_drops_the_connection_instead_of_wedging_vpcd():
    """vpcd blocks forever on a zero-length frame; a mute card is pulled and comes back."""

    class MuteCard(RecordingCard):
        def transmit(self, apdu: bytes) -> bytes:
            super().transmit(apdu)
            return b""

    port = _free_port()
    fake = FakeVpcd(port)
    server = VpcdServer(MuteCard(), port=port, backoff=(0.01, 0.05), reinsert_after_s=0.2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        fake.accept()
        fake.send(bytes([CTRL_ON]))
        fake.send(bytes.fromhex("80500000"))
        assert fake.conn.recv(2) == b"", "no zero-length frame: the connection is closed"
        fake.conn.close()
        fake.accept()  # back in the reader after reinsert_after_s
        _wait_for(lambda: server.stats.connections == 2)
    finally:
        server.stop()
        thread.join(5)
        fake.close()
