"""H-WIRE: the issuer host on loopback, ISO 8583 over TCP and JSON over HTTP.

A real server (`ServerThread`, port 0) over a ledger file, real card cryptograms from an
in-process card, and raw sockets for what a broken client sends: malformed messages, truncated
frames, slow clients, and 1,000 concurrent retries that must take effect exactly once.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest

from kks_emulator.errors import IdempotencyError, IssuerError
from kks_emulator.issuer import iso8583
from kks_emulator.issuer.host import Host
from kks_emulator.issuer.ledger import Ledger
from kks_emulator.issuer.server import ServerConfig, ServerThread
from kks_emulator.terminal.hostlink import HttpLink, IsoLink
from kks_emulator.terminal.parse import parse_tlv
from tests.issuer.wire_kit import arqc_message
from tests.terminal.kit import PIN, TERMINAL, make_world

CREDIT = 5_000_000


@pytest.fixture
def wire(tmp_path):
    """A card world whose issuer is a server on loopback; the EDC reaches it by ISO 8583."""
    path = tmp_path / "bri.db"
    world = make_world(path, credit=CREDIT)
    world.host.close()
    server = ServerThread(lambda: Host(Ledger(path, durable=False), "BRI"),
                          ServerConfig(iso_port=0, http_port=0, frame_timeout_s=1.0)).start()
    iso_host, iso_port = server.server.iso_address
    world.edc.issuer = IsoLink(f"{iso_host}:{iso_port}", TERMINAL)
    world.server = server
    world.http = HttpLink("http://{}:{}".format(*server.server.http_address))
    yield world
    world.edc.issuer.close()
    server.stop()


def balance(world, code: str = "SAV-0001") -> int:
    """An account balance, read over HTTP."""
    status, raw = world.http.request("GET", f"/v1/accounts/{code}")
    assert status == 200, raw
    return json.loads(raw)["balance"]


def frame(msg: dict[str, str] | bytes) -> bytes:
    """The 2-byte length header and the message."""
    raw = msg if isinstance(msg, bytes) else iso8583.encode(msg)
    return len(raw).to_bytes(2, "big") + raw


def exchange(world, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes on a fresh connection; return everything read until the server closes
    or one whole answer frame arrived."""
    with socket.create_connection(world.server.server.iso_address, timeout) as sock:
        sock.sendall(data)
        buf = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return buf
            buf += chunk
            if len(buf) >= 2 and len(buf) >= 2 + int.from_bytes(buf[:2], "big"):
                return buf


def answer(buf: bytes) -> dict[str, str]:
    """Decode one framed answer."""
    assert len(buf) >= 2, "no answer"
    return iso8583.decode(buf[2:2 + int.from_bytes(buf[:2], "big")])


def test_edc_flows_over_iso8583(wire):
    """Load and online savings purchase through the wire; the ledger moves exactly."""
    receipt = wire.edc.load(50_000, PIN)
    assert receipt.balance == 50_000
    sale = wire.edc.purchase_savings(20_000, PIN)
    assert sale.approved and sale.arc == "00" and sale.card_cid & 0xC0 == 0x40
    assert balance(wire) == CREDIT - 70_000
    assert balance(wire, "MER-W1") == 20_000
    declined = wire.edc.purchase_savings(CREDIT, PIN)  # more than what is left
    assert not declined.approved and declined.arc == "51"
    echo = answer(exchange(wire, frame({"t": "0800", "7": "1118080000", "11": "000001",
                                        "70": "301"})))
    assert echo["t"] == "0810" and echo["39"] == "00" and echo["11"] == "000001"
    wire.server.worker.call_sync(lambda host: host.audit())


def test_approval_carries_arc_and_arpc_in_field_55(wire):
    sale = frame(arqc_message(wire, 10_000, 7))
    reply_raw = exchange(wire, sale)
    reply = answer(reply_raw)
    assert reply["t"] == "0110" and reply["39"] == "00" and reply["11"] == "000007"
    icc = parse_tlv(bytes.fromhex(reply["55"]))
    assert icc[0x8A] == b"00" and len(icc[0x91]) == 10 and icc[0x91][8:] == b"00"
    journal = int(reply["37"])
    # the same message again is a replay: byte-identical answer, one debit
    assert exchange(wire, sale) == reply_raw
    # another sale under the same terminal, date-time and STAN (the default key): 94
    assert answer(exchange(wire, frame(arqc_message(wire, 10_000, 7))))["39"] == "94"
    # a reversal names the retrieval reference
    rev = answer(exchange(wire, frame({"t": "0400", "3": "000000", "7": "1118080100",
                                       "11": "000100", "37": f"{journal:012d}",
                                       "41": TERMINAL.decode()})))
    assert rev["t"] == "0410" and rev["39"] == "00"
    unknown = answer(exchange(wire, frame({"t": "0400", "3": "000000", "7": "1118080100",
                                           "11": "000101", "37": f"{99999:012d}",
                                           "41": TERMINAL.decode()})))
    assert unknown["39"] == "25"
    assert balance(wire) == CREDIT  # approved once, then reversed


@pytest.mark.parametrize("mutate, rc", [
    (lambda m: m.pop("55"), "30"),                             # no ICC data
    (lambda m: m.update({"4": "000001000050"}), "30"),          # sen in an IDR amount
    (lambda m: m.update({"49": "840"}), "30"),                  # not rupiah
    (lambda m: m.update({"3": "310000"}), "12"),                # balance inquiry: unsupported
    (lambda m: m.update({"55": "9F26"}), "30"),                 # truncated TLV
])
def test_malformed_requests_answer_30_and_burn_no_key(wire, mutate, rc):
    good = arqc_message(wire, 10_000, 11, key="sale-1")
    bad = dict(good)
    mutate(bad)
    reply = answer(exchange(wire, frame(bad)))
    assert reply["t"] == "0110" and reply["39"] == rc, reply
    assert balance(wire) == CREDIT
    fixed = answer(exchange(wire, frame(good)))  # the same key, now well formed
    assert fixed["39"] == "00"
    assert balance(wire) == CREDIT - 10_000


def test_undecodable_and_bad_frames(wire):
    # a known MTI with a broken bitmap: answered 30
    reply = answer(exchange(wire, frame(b"0100ZZZZZZZZZZZZZZZZ")))
    assert reply["t"] == "0110" and reply["39"] == "30"
    # not ISO 8583 at all: the connection is closed without an answer
    assert exchange(wire, frame(b"GET / HTTP/1.1\r\n\r\n")) == b""
    # a zero length header and an oversized one: closed
    assert exchange(wire, b"\x00\x00") == b""
    assert exchange(wire, b"\xff\xff" + b"x" * 100) == b""
    # the conflicting reuse of a processed key: 94, nothing written
    first = arqc_message(wire, 10_000, 21, key="k-94")
    assert answer(exchange(wire, frame(first)))["39"] == "00"
    other = arqc_message(wire, 12_000, 22, key="k-94")
    assert answer(exchange(wire, frame(other)))["39"] == "94"
    assert balance(wire) == CREDIT - 10_000


def test_truncated_frame_and_slow_clients_do_not_block_others(wire):
    addr = wire.server.server.iso_address
    echo = {"t": "0800", "7": "1118080000", "11": "000002", "70": "301"}
    with socket.create_connection(addr, 5) as stalled:
        stalled.sendall(b"\x00\x64" + b"0800")  # announces 100 bytes, sends 4, then stalls
        started = time.monotonic()
        # others are served meanwhile
        assert answer(exchange(wire, frame(echo)))["39"] == "00"
        # a slow but steady client: its frame in 20 ms steps, well inside the frame timeout
        with socket.create_connection(addr, 5) as slow:
            data = frame(echo)
            for i in range(0, len(data), 4):
                slow.sendall(data[i:i + 4])
                time.sleep(0.02)
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + int.from_bytes(buf[:2], "big"):
                buf += slow.recv(4096)
            assert answer(buf)["39"] == "00"
        # the stalled one is dropped after the frame timeout (1 s here), without an answer
        stalled.settimeout(5)
        assert stalled.recv(10) == b""
        assert time.monotonic() - started < 4


def test_1000_concurrent_retries_take_effect_exactly_once(wire):
    """20 authorisations, each sent 50 times at once on 1,000 connections."""
    messages = [arqc_message(wire, 1_000 * (i + 1), 500 + i) for i in range(20)]
    frames = [frame(m) for m in messages]

    async def send(data: bytes) -> bytes:
        host, port = wire.server.server.iso_address
        r, w = await asyncio.open_connection(host, port)
        w.write(data)
        await w.drain()
        head = await r.readexactly(2)
        body = await r.readexactly(int.from_bytes(head, "big"))
        w.close()
        return body

    async def storm() -> list[bytes]:
        return await asyncio.gather(*(send(frames[i % 20]) for i in range(1_000)))

    replies = asyncio.run(storm())
    for i in range(20):
        mine = {replies[j] for j in range(i, 1_000, 20)}
        assert len(mine) == 1, f"authorisation {i} got {len(mine)} different answers"
        assert iso8583.decode(mine.pop())["39"] == "00"
    total = sum(1_000 * (i + 1) for i in range(20))
    assert balance(wire) == CREDIT - total
    assert balance(wire, "MER-W1") == total
    journals = wire.server.worker.call_sync(lambda host: host.ledger.conn.execute(
        "SELECT COUNT(*) FROM journal WHERE kind = 'purchase'").fetchone()[0])
    assert journals == 20
    wire.server.worker.call_sync(lambda host: host.audit())


def test_json_over_http(wire):
    http = wire.http
    status, raw = http.request("GET", "/v1/health")
    assert status == 200 and json.loads(raw) == {"bank": "BRI", "ok": True}
    body = {"programme": "PKH", "period": "2026-11", "beneficiary": "B1", "account": "0001",
            "amount": "750000"}
    with pytest.raises(IssuerError, match="amount"):  # malformed: 400, key not burned
        http.call("credit", "pkh-1", body)
    done = http.call("credit", "pkh-1", {**body, "amount": 750_000})
    assert done["state"] == "credited"
    assert http.call("credit", "pkh-1", {**body, "amount": 750_000}) == done  # replay
    with pytest.raises(IdempotencyError):
        http.call("credit", "pkh-1", {**body, "amount": 1})
    assert http.request("POST", "/v1/mint", b"{}", {"Idempotency-Key": "x"})[0] == 404
    assert http.request("POST", "/v1/credit", b"not json", {"Idempotency-Key": "y"})[0] == 400
    assert balance(wire) == CREDIT + 750_000
