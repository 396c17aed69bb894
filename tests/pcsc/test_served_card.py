"""`kks card serve` in a subprocess, driven through pcscd by third-party tools and by us."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from kks_emulator.card import Card, FileStore
from kks_emulator.card.info import card_info
from kks_emulator.transport.pcsc import PcscTransport
from kks_emulator.transport.testing import (
    ServedProcess,
    kks_command,
    virtual_reader,
    wait_for_reader,
)
from tests.card.helpers import PIN, Terminal
from tests.conftest import skip_or_fail

from .conftest import PURSE_BALANCE, make_card_file, serve_argv

pytestmark = pytest.mark.pcsc

READER = virtual_reader(0)
KKS_ATR = "3B 85 80 31 FE 45 80 53 4B 4B 53 0F"
SELECT_SAVINGS = "00A4040007A000000602101000"
SELECT_PURSE = "00A4040009F04B4B53505552534500"
GET_BALANCE = "805C000204"
BALANCE_HEX = f"{PURSE_BALANCE:08X}"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"{name} not installed (apt-get install pcsc-tools opensc)")
    return path


def _spaced(hex_text: str) -> str:
    return " ".join(hex_text[i:i + 2] for i in range(0, len(hex_text), 2))


def test_pcsc_scan_shows_the_card(served_card):
    proc = subprocess.run([_tool("pcsc_scan"), "-t", "1", "-n"], capture_output=True, text=True,
                          timeout=20)
    out = proc.stdout
    assert f"Reader 0: {READER}" in out, out
    block = out[out.index(f"Reader 0: {READER}"):]
    assert "Card inserted" in block.split("Reader 1")[0], out
    assert f"ATR: {KKS_ATR}" in out, out


def test_opensc_tool_selects_both_applications_and_reads_the_balance(served_card):
    proc = subprocess.run([_tool("opensc-tool"), "--reader", "0", "-c", "default",
                           "--send-apdu", SELECT_SAVINGS, "--send-apdu", SELECT_PURSE,
                           "--send-apdu", GET_BALANCE], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    statuses = re.findall(r"Received \(SW1=0x(..), SW2=0x(..)\)", proc.stdout)
    assert statuses == [("90", "00")] * 3, proc.stdout
    assert "4B 53 20 54 41 42 55 4E 47 41 4E" in proc.stdout  # "KS TABUNGAN": savings FCI
    assert "4B 4B 53 50 55 52 53 45" in proc.stdout  # "KKSPURSE": purse AID in its FCI
    assert _spaced(BALANCE_HEX) in proc.stdout.split("80 5C 00 02 04")[-1], proc.stdout


def test_scriptor_selects_both_applications_and_reads_the_balance(served_card):
    script = "\n".join(_spaced(a) for a in (SELECT_SAVINGS, SELECT_PURSE, GET_BALANCE)) + "\n"
    proc = subprocess.run([_tool("scriptor"), "-r", READER], input=script, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    answers = [line for line in proc.stdout.splitlines() if "Normal processing" in line]
    assert len(answers) == 3, proc.stdout
    assert f"< {_spaced(BALANCE_HEX)} 90 00 : Normal processing." in proc.stdout, proc.stdout


def test_kks_card_apdu_through_the_reader_matches_in_process(served_card, tmp_path):
    apdus = [SELECT_PURSE, GET_BALANCE, "00B2011400", SELECT_SAVINGS, "80CA9F1700"]
    via = subprocess.run([*kks_command(), "card", "apdu", "--reader", READER, *apdus],
                         capture_output=True, text=True, timeout=30)
    assert via.returncode == 0, via.stderr
    copy = tmp_path / "copy.kks"
    shutil.copy(served_card.card_file, copy)
    local = subprocess.run([*kks_command(), "card", "apdu", str(copy), *apdus],
                           capture_output=True, text=True, timeout=30)
    assert local.returncode == 0, local.stderr
    assert via.stdout.splitlines()[1:] == local.stdout.splitlines()[1:]
    assert via.stdout.startswith(f"ATR {KKS_ATR.replace(' ', '')} ({READER}, T=1)")


def test_unpower_and_reset_from_pcsc_wipe_ram_but_not_the_purse(served_card):
    transport = PcscTransport(READER, timeout_s=5)
    t = Terminal(transport)  # the helper terminal only needs .transmit
    try:
        transport.connect()
        assert t.select_purse().ok and t.verify(PIN).ok
        for unpower in (True, False):
            transport.reconnect(unpower=unpower)
            assert t.select_purse().ok
            r = t.purchase(1_000)
            assert r.sw == 0x6982, f"PIN-verified flag survived {'unpower' if unpower else 'reset'}"
            assert t.balance() == PURSE_BALANCE
            assert t.verify(PIN).ok
    finally:
        transport.close()


def _edc_over(transport, card_file, protocol_seed: int = 5):
    """An EDC wired like tests/terminal/kit.py, but to a PC/SC transport."""
    import io
    import random

    from kks_emulator.issuer.host import Host
    from kks_emulator.issuer.ledger import Ledger
    from kks_emulator.keys import IssuerKeys, card_id
    from kks_emulator.terminal.edc import Edc
    from kks_emulator.terminal.exchange import Exchange
    from tests.card.helpers import PAN

    keys = IssuerKeys.test_issuer("BRI")
    host = Host(Ledger(":memory:", clock=lambda: "2026-11-18T00:00:00+00:00", durable=False),
                "BRI")
    host.open_account("open-0001", "0001", "KPM A", pan=PAN,
                      card_id=card_id(PAN, 1).hex().upper())
    host.open_merchant("open-W1", "W1", "e-warong Sejahtera")
    host.credit("credit-B1", "BPNT", "2026-11", "B1", "0001", 300_000)
    rng = random.Random(protocol_seed)
    exchange = Exchange(transport, transcript=io.StringIO())
    edc = Edc(exchange, b"EDC00001", "W1", host, {"BRI": keys.ca_public_key},
              clock=lambda: 1_795_000_000, rng=rng.randbytes)
    return edc, exchange, host


@pytest.mark.parametrize("protocol", ["T=1", "T=0"])
def test_every_terminal_flow_runs_through_pcsc(pcscd, pcsc_logs, tmp_path, protocol):
    """Load, purse purchase, savings purchase, balance, upload; T=0 needs the 61xx/6Cxx layer."""
    path = make_card_file(tmp_path / "flows.kks")
    server = ServedProcess(serve_argv(path, 1, "--protocol", protocol), slot=1,
                           log_path=pcsc_logs / f"flows-{protocol[-1]}.log").start()
    transport = PcscTransport(virtual_reader(1), timeout_s=5,
                              protocols="T0" if protocol == "T=0" else "T1")
    try:
        edc, exchange, host = _edc_over(transport, path)
        edc.insert()
        assert transport.protocol == protocol
        start = edc.balance()
        assert start == PURSE_BALANCE
        loaded = edc.load(100_000, PIN)
        assert loaded.balance == start + 100_000
        receipt = edc.purchase_purse(25_000, PIN)
        assert receipt.record.balance_after == start + 75_000
        savings = edc.purchase_savings(10_000, PIN)
        assert savings.approved, savings.reason
        assert edc.balance() == start + 75_000
        cleared = edc.upload()
        assert cleared["total"] == 25_000 and not cleared["refused"]
        lines = [json.loads(x) for x in exchange._transcript.getvalue().splitlines()]
        chained = any(a["r"][-4:-2] == "61" and b["c"].startswith("00C0")
                      for a, b in itertools.pairwise(lines))
        assert chained == (protocol == "T=0"), "T=0 answers must be fetched with GET RESPONSE"
        edc.remove()
        host.close()
    finally:
        transport.close()
        assert server.stop() == 0, server.tail()
    info = card_info(FileStore(path, create=False))
    assert int(info["balance"]) == start + 75_000 and info["integrity"] == "ok", info


def test_sigterm_and_sigint_stop_cleanly_with_a_consistent_card_file(pcscd, pcsc_logs, tmp_path):
    for signum in (signal.SIGTERM, signal.SIGINT):
        path = make_card_file(tmp_path / f"stop-{signum}.kks")
        server = ServedProcess(serve_argv(path, 1), slot=1,
                               log_path=pcsc_logs / f"stop-{signum}.log").start()
        transport = PcscTransport(virtual_reader(1), timeout_s=5)
        try:
            transport.connect()
            t = Terminal(transport)
            assert t.select_purse().ok and t.verify(PIN).ok
            assert t.purchase(1_000).ok
        finally:
            transport.close()
        server.signal(signum)
        assert server.proc.wait(10) == 0, server.tail()
        server.stop()
        wait_for_reader(virtual_reader(1), present=False, timeout_s=5)
        card = Card(FileStore(path, create=False))  # CRC-checked on open
        t = Terminal(card)
        card.power_on()
        assert t.select_purse().ok and t.balance() == PURSE_BALANCE - 1_000


def test_insert_after_remove_after_and_signals(pcscd, pcsc_logs, tmp_path):
    path = make_card_file(tmp_path / "insert.kks", balance=0)
    reader = virtual_reader(1)
    server = ServedProcess(serve_argv(path, 1, "--insert-after", "0.8", "--remove-after", "2.5"),
                           slot=1, log_path=pcsc_logs / "insert.log")
    started = time.monotonic()
    server.start(wait_present=False)
    try:
        time.sleep(0.3)
        assert wait_for_reader(reader, timeout_s=5) == b"", "card present before --insert-after"
        server.wait_present(True, timeout_s=5)
        assert time.monotonic() - started >= 0.8
        server.wait_present(False, timeout_s=5)
        assert time.monotonic() - started >= 2.5
        server.signal(signal.SIGUSR1)
        server.wait_present(True, timeout_s=5)
        server.signal(signal.SIGUSR2)
        server.wait_present(False, timeout_s=5)
        log = server.tail()
        assert log.count("card inserted") == 2 and log.count("card removed") == 2, log
    finally:
        assert server.stop() == 0, server.tail()


def test_card_comes_back_when_pcscd_restarts(pcscd, served_card):
    if not pcscd.started_by_us:
        pytest.skip("pcscd belongs to the system here; restarting it is not ours to do")
    pcscd.stop()
    time.sleep(0.5)
    pcscd.ensure()
    served_card.wait_present(True, timeout_s=10)
    transport = PcscTransport(READER, timeout_s=5)
    try:
        transport.connect()
        assert Terminal(transport).select_purse().ok
    finally:
        transport.close()
    assert os.path.exists("/run/pcscd/pcscd.comm")


def test_kks_readers_wait_reports_insert_and_remove(pcscd, pcsc_logs, tmp_path):
    path = make_card_file(tmp_path / "watch.kks", balance=0)
    server = ServedProcess(serve_argv(path, 1, "--insert-after", "1.5", "--remove-after", "3.0"),
                           slot=1, log_path=pcsc_logs / "watch.log")
    server.start(wait_present=False)
    try:
        proc = subprocess.run([*kks_command(), "readers", "--wait", "5"], capture_output=True,
                              text=True, timeout=30)
    finally:
        assert server.stop() == 0, server.tail()
    assert proc.returncode == 0, proc.stderr
    assert f"{virtual_reader(1)}: card inserted, ATR {KKS_ATR}" in proc.stdout, proc.stdout
    assert f"{virtual_reader(1)}: card removed" in proc.stdout, proc.stdout


def _proc_fds_rss(pid: int) -> tuple[int, int]:
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/status") as fh:
        rss = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
    return fds, rss


def test_storm_against_kks_card_serve_leaks_nothing(served_card):
    """1,000 connect/SELECT+GET BALANCE/disconnect cycles; the server's fds and RSS stay flat."""
    pid = served_card.proc.pid

    def cycle(i: int) -> None:
        transport = PcscTransport(READER, timeout_s=5)
        try:
            transport.connect()
            assert transport.transmit(bytes.fromhex(SELECT_PURSE))[-2:] == b"\x90\x00"
            assert transport.transmit(bytes.fromhex(GET_BALANCE)) == bytes.fromhex(
                BALANCE_HEX + "9000")
            transport.disconnect(unpower=(i % 10 == 0))
        finally:
            transport.close()

    for i in range(50):
        cycle(i)
    fds, rss = _proc_fds_rss(pid)
    started = time.monotonic()
    for i in range(1_000):
        cycle(i)
    assert time.monotonic() - started < 90
    fds_after, rss_after = _proc_fds_rss(pid)
    assert fds_after <= fds, f"kks card serve holds {fds_after - fds} more descriptors"
    assert rss_after < rss + 4 * 1024, f"kks card serve grew by {rss_after - rss} KiB"
