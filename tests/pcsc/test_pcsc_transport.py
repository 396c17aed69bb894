"""The pyscard transport against a real pcscd + vpcd: power semantics, typed errors, storms."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from kks_emulator.errors import (
    CardRemoved,
    NoCard,
    PcscError,
    ReaderNotFound,
    SharingViolation,
)
from kks_emulator.transport.pcsc import PcscContext, PcscTransport, list_readers
from kks_emulator.transport.testing import kks_command, virtual_reader, wait_for_reader

pytestmark = pytest.mark.pcsc

SLOT1 = virtual_reader(1)


def _fd_count(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_kib(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_both_vpcd_slots_are_listed(pcscd):
    names = [info.name for info in list_readers()]
    assert virtual_reader(0) in names and SLOT1 in names


def test_pcsc_power_calls_reach_the_card_exactly(recording_server):
    _, card = recording_server
    transport = PcscTransport(SLOT1, timeout_s=5)
    try:
        assert transport.connect() == card.atr
        assert transport.protocol == "T=1"
        assert transport.transmit(bytes.fromhex("80500000")) == bytes.fromhex("805000009000")
        card.calls.clear()
        transport.reconnect(unpower=True)
        assert card.calls[:2] == ["off", "on"], card.calls
        card.calls.clear()
        transport.reconnect(unpower=False)
        assert card.calls[:1] == ["reset"], card.calls
        card.calls.clear()
        transport.disconnect(unpower=True)
        # vpcd's OFF control has no reply, so SCardDisconnect can return before the card's thread
        # has handled it (the reconnects above are ordered by the ATR exchange that follows).
        deadline = time.monotonic() + 5
        while not card.calls and time.monotonic() < deadline:
            time.sleep(0.005)
        assert card.calls == ["off"], card.calls
    finally:
        transport.close()


def test_reader_selection_by_index_substring_and_errors(recording_server):
    with PcscContext() as ctx:
        names = ctx.readers()
        assert ctx.resolve(names.index(SLOT1)) == SLOT1
        assert ctx.resolve(str(names.index(SLOT1))) == SLOT1
        assert ctx.resolve("pcd 00 01") == SLOT1
        with pytest.raises(ReaderNotFound, match="no reader matches 'Nonexistent'"):
            ctx.resolve("Nonexistent")
        with pytest.raises(ReaderNotFound, match="ambiguous"):
            ctx.resolve("Virtual PCD")
        with pytest.raises(ReaderNotFound, match="no reader with index 99"):
            ctx.resolve(99)


def test_no_card_times_out_with_a_typed_error(pcscd):
    wait_for_reader(SLOT1, present=False, timeout_s=10)
    transport = PcscTransport(SLOT1, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(NoCard, match=r"no card in Virtual PCD 00 01 after 0\.5 s"):
        transport.connect()
    assert time.monotonic() - started < 3
    transport.close()


def test_sharing_violation(recording_server):
    first = PcscTransport(SLOT1, timeout_s=5, exclusive=True)
    second = PcscTransport(SLOT1, timeout_s=5)
    try:
        first.connect()
        with pytest.raises(SharingViolation, match="another program holds the card"):
            second.connect()
    finally:
        first.close()
        second.close()


def test_card_removed_mid_transaction_then_inserted_is_reported(recording_server):
    server, card = recording_server
    events: list[str] = []
    transport = PcscTransport(SLOT1, timeout_s=5, on_event=events.append)
    try:
        transport.connect()
        server.remove()
        wait_for_reader(SLOT1, present=False, timeout_s=5)
        with pytest.raises(CardRemoved, match="card removed"):
            transport.transmit(bytes.fromhex("80500000"))
        assert not transport.connected
        server.schedule(0.3, insert=True)
        assert transport.connect() == card.atr
        assert any("waiting for a card" in e for e in events), events
        assert any("card inserted" in e for e in events), events
        assert transport.transmit(b"\x00\xb0\x00\x00") == b"\x00\xb0\x00\x00\x90\x00"
    finally:
        transport.close()


def test_pcscd_not_running_is_one_line_with_how_to_start_it(tmp_path):
    env = dict(os.environ, PCSCLITE_CSOCK_NAME=str(tmp_path / "no-such.comm"))
    proc = subprocess.run([*kks_command(), "readers"], env=env, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "pcscd is not running" in lines[0] and "pcscd --foreground" in lines[0]


def test_kks_readers_lists_the_served_card(recording_server):
    proc = subprocess.run([*kks_command(), "readers"], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert any(line.endswith(f"{SLOT1}  card  ATR 3B 80 01 81") for line in
               proc.stdout.splitlines()), proc.stdout


def test_connect_transmit_disconnect_storm_does_not_leak_or_hang(recording_server):
    """1,000 full cycles (context, connect, transmit, disconnect) with bounded fds and RSS."""
    _, card = recording_server
    pcscd_pid = _pcscd_pid()

    def cycle(i: int) -> None:
        transport = PcscTransport(SLOT1, timeout_s=5)
        try:
            transport.connect()
            apdu = bytes([0x80, 0x50, i & 0xFF, i >> 8 & 0xFF])
            assert transport.transmit(apdu) == apdu + b"\x90\x00"
            transport.disconnect(unpower=(i % 10 == 0))
        finally:
            transport.close()

    for i in range(50):  # warm-up: let allocators and pcscd reach their steady state
        cycle(i)
    fds, rss = _fd_count(), _rss_kib()
    daemon = (_fd_count(pcscd_pid), _rss_kib(pcscd_pid)) if pcscd_pid else None
    started = time.monotonic()
    for i in range(1000):
        cycle(i)
    elapsed = time.monotonic() - started
    assert elapsed < 60, f"1,000 cycles took {elapsed:.1f} s"
    assert _fd_count() <= fds + 2, "file descriptors leak in the PC/SC transport"
    assert _rss_kib() < rss + 8 * 1024, "RSS grew by more than 8 MiB over 1,000 cycles"
    if daemon:
        assert _fd_count(pcscd_pid) <= daemon[0] + 2, "pcscd keeps descriptors of closed clients"
        assert _rss_kib(pcscd_pid) < daemon[1] + 8 * 1024
    assert card.calls.count("apdu") >= 1050


def _pcscd_pid() -> int | None:
    try:
        with open("/run/pcscd/pcscd.pid") as fh:
            pid = int(fh.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def test_transmit_before_connect_is_a_typed_error(pcscd):
    with pytest.raises(PcscError, match="transmit before connect"):
        PcscTransport(SLOT1).transmit(b"\x00\xa4\x04\x00")


def test_kks_readers_json_from_a_fresh_process_is_parseable(recording_server):
    import json

    proc = subprocess.run([sys.executable, "-c",
                           "from kks_emulator.cli.main import main; import sys; "
                           "sys.exit(main(['readers', '--json']))"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {"index", "name", "card", "atr"} <= set(rows[0])
    assert any(r["name"] == SLOT1 and r["card"] and r["atr"] == "3B800181" for r in rows)


def test_apdus_shorter_than_a_header_are_refused_before_sending(recording_server):
    _, card = recording_server
    transport = PcscTransport(SLOT1, timeout_s=5)
    try:
        transport.connect()
        card.calls.clear()
        for short in (b"", b"\x01", b"\x00\xa4\x04"):
            with pytest.raises(PcscError, match="shorter than its 4-byte header"):
                transport.transmit(short)
        assert card.calls == [], "a 1-byte APDU would reach the card as a vpcd control code"
    finally:
        transport.close()
