"""PC/SC round trips: the KKS card through pcscd + vpcd + pyscard, beside its floors, in one run.

Measured in the same run (group "pcsc"):

- `tcp-pingpong`: a bare loopback TCP request/response with a Python echo peer (length-prefixed
  frames, TCP_NODELAY + TCP_QUICKACK), the cost of any socket hop from Python.
- `floor-9000`: a minimal card answering `90 00` to everything, served by the same `VpcdServer`
  over the same vpcd socket: the transport floor (docs/performance.md §5: ~8-10k round trips/s).
- `get-balance-pcsc` / `get-balance-inproc`: GET BALANCE through pcscd and in process.
- `purchase-pcsc` / `purchase-inproc`: a full offline purse purchase by the EDC
  (`Edc.purchase_purse`: SELECT, VERIFY, PURCHASE, signature check, batch), in process on the
  same kind of store and through pcscd. Both keep the card in memory (`MemoryStore`; the server
  runs `kks card serve --volatile`): a card file costs a temp file + rename (+ fsync) per NVM
  write, 0.2-0.5 ms on an idle disk and up to 80 ms while other jobs write, which would drown
  the transport cost being measured.

A module fixture times all six (best of several repeats) before the benchmarks run, so every
benchmark stores the same-run ratios in extra_info:
`get_balance_rt_per_s`, `get_balance_share_of_floor` (goal >= 0.60 and >= 5,000 rt/s),
`purchase_budget_ms` = 1.5 x (in-process purchase + floor cost of its APDUs) and
`purchase_within_budget`.

Run: `make bench` or `pytest benchmarks/test_pcsc_bench.py -m benchmark --benchmark-only`.
"""

from __future__ import annotations

import random
import socket
import struct
import subprocess
import sys
import timeit
from pathlib import Path

import pytest

from kks_emulator.apdu import encode_command
from kks_emulator.card import Card, CardProfile, FileStore, MemoryStore, personalize
from kks_emulator.card.apps.directory import PURSE_AID
from kks_emulator.crypto import purse
from kks_emulator.keys import IssuerKeys
from kks_emulator.terminal.edc import Edc
from kks_emulator.terminal.exchange import Exchange
from kks_emulator.transport.inprocess import InProcessTransport
from kks_emulator.transport.testing import (
    PcscdDaemon,
    ServedProcess,
    kks_command,
    missing_components,
    virtual_reader,
)

PAN, PIN = "6013500012345678", "123456"
KEYS = IssuerKeys.test_issuer("BRI")
GET_BALANCE = bytes.fromhex("805C000204")
SELECT_PURSE = encode_command(0x00, 0xA4, 0x04, 0x00, PURSE_AID, 256)
NOW = 1_795_000_000

_ECHO = r"""
import socket, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(1)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while True:
    data = conn.recv(65536)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    if not data:
        break
    conn.sendall(b"\x00\x02\x90\x00")
"""


def _card_file(path: Path) -> Path:
    """A personalised test card with Rp 20,000,000 in its purse (so purchases never run dry)."""
    store = FileStore(path, fsync=False)
    personalize(store, CardProfile(bank="BRI", pan=PAN, pin=PIN, test_mode=True), KEYS)
    card = Card(store, rng=random.Random(1).randbytes)
    card.power_on()
    card.transmit(SELECT_PURSE)
    d = card.transmit(encode_command(0x80, 0x50, 0, 0, struct.pack(
        ">I8sI", 20_000_000, b"TERM0001", NOW), 256))[:-2]
    s2 = purse.load_s2(KEYS.card_keys(PAN, 1).load_key, d[:9], int.from_bytes(d[9:13], "big"),
                       20_000_000, b"TERM0001", NOW, d[17:25])
    assert card.transmit(encode_command(0x80, 0x52, 0, 0, s2, 256))[-2:] == b"\x90\x00"
    return path


def _edc(transport) -> Edc:
    rng = random.Random(9)
    edc = Edc(Exchange(transport), b"EDC00001", "W1", None, {"BRI": KEYS.ca_public_key},
              clock=lambda: NOW, rng=rng.randbytes)
    edc.insert()
    return edc


class _Stack:
    """pcscd, the KKS card on slot 0, the 9000 card on slot 1, a TCP echo peer, and clients."""

    def __init__(self, tmp: Path) -> None:
        from kks_emulator.transport.pcsc import PcscTransport

        self.daemon = PcscdDaemon(tmp / "pcscd.log").ensure()
        card_file = _card_file(tmp / "bench.kks")
        self.kks = ServedProcess([*kks_command(), "card", "serve", str(card_file), "--slot", "0",
                                  "--volatile", "-q"], slot=0, log_path=tmp / "kks.log").start()
        self.floor = ServedProcess([sys.executable, "-m", "kks_emulator.transport.testing",
                                    "--slot", "1"], slot=1, log_path=tmp / "floor.log").start()
        self.echo = subprocess.Popen([sys.executable, "-c", _ECHO], stdout=subprocess.PIPE,
                                     text=True)
        port = int(self.echo.stdout.readline())
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.card = PcscTransport(virtual_reader(0), timeout_s=10, protocols="T1")
        self.card.connect()
        assert self.card.transmit(SELECT_PURSE)[-2:] == b"\x90\x00"
        self.floor_card = PcscTransport(virtual_reader(1), timeout_s=10)
        self.floor_card.connect()
        self.edc_pcsc = _edc(PcscTransport(virtual_reader(0), timeout_s=10, protocols="T1"))
        cells = FileStore(card_file, create=False).snapshot()
        self.inproc = Card(MemoryStore(dict(cells)))  # the same store as the server's
        self.inproc.power_on()
        self.inproc.transmit(SELECT_PURSE)
        self.edc_inproc = _edc(InProcessTransport(Card(MemoryStore(dict(cells)))))

    def tcp_round_trip(self) -> bytes:
        """One framed request/response over the bare loopback socket."""
        self.sock.sendall(b"\x00\x05" + GET_BALANCE)
        reply = self.sock.recv(16)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return reply

    def close(self) -> None:
        for transport in (self.card, self.floor_card, self.edc_pcsc.ex.transport):
            transport.close()
        self.sock.close()
        self.echo.wait(5)
        self.kks.stop()
        self.floor.stop()
        self.daemon.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The whole PC/SC stack for this module (skipped loudly without pcscd/vpcd/pyscard)."""
    missing = missing_components()
    if missing:
        pytest.skip("MISSING COMPONENT: " + "; ".join(missing))
    s = _Stack(tmp_path_factory.mktemp("pcsc-bench"))
    yield s
    s.close()


def _best(fn, number: int, repeat: int = 5) -> float:
    fn()  # warm
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


@pytest.fixture(scope="module")
def baselines(stack) -> dict[str, float]:
    """Seconds per operation of all six measurements, taken back to back in this run."""
    n_purchase_apdus = stack.edc_pcsc.ex.raw_exchanges
    stack.edc_pcsc.purchase_purse(1, PIN)
    n_purchase_apdus = stack.edc_pcsc.ex.raw_exchanges - n_purchase_apdus
    return {
        "tcp": _best(stack.tcp_round_trip, 2_000),
        "floor": _best(lambda: stack.floor_card.transmit(GET_BALANCE), 2_000),
        "balance_pcsc": _best(lambda: stack.card.transmit(GET_BALANCE), 2_000),
        "balance_inproc": _best(lambda: stack.inproc.transmit(GET_BALANCE), 20_000),
        "purchase_pcsc": _best(lambda: stack.edc_pcsc.purchase_purse(1, PIN), 100),
        "purchase_inproc": _best(lambda: stack.edc_inproc.purchase_purse(1, PIN), 100),
        "purchase_apdus": float(n_purchase_apdus),
    }


def _report(benchmark, b: dict[str, float]) -> None:
    info = benchmark.extra_info
    info["tcp_rt_us"] = round(b["tcp"] * 1e6, 1)
    info["floor_rt_us"] = round(b["floor"] * 1e6, 1)
    info["floor_rt_per_s"] = round(1 / b["floor"])
    info["get_balance_pcsc_rt_per_s"] = round(1 / b["balance_pcsc"])
    info["get_balance_inproc_rt_per_s"] = round(1 / b["balance_inproc"])
    info["get_balance_share_of_floor"] = round(b["floor"] / b["balance_pcsc"], 3)
    info["floor_over_tcp"] = round(b["floor"] / b["tcp"], 2)
    info["get_balance_pcsc_over_inproc"] = round(b["balance_pcsc"] / b["balance_inproc"], 1)
    info["get_balance_goal_met"] = (1 / b["balance_pcsc"] >= 5_000
                                    and b["floor"] / b["balance_pcsc"] >= 0.6)
    budget = 1.5 * (b["purchase_inproc"] + b["purchase_apdus"] * b["floor"])
    info["purchase_apdus"] = int(b["purchase_apdus"])
    info["purchase_pcsc_ms"] = round(b["purchase_pcsc"] * 1e3, 3)
    info["purchase_inproc_ms"] = round(b["purchase_inproc"] * 1e3, 3)
    info["purchase_budget_ms"] = round(budget * 1e3, 3)
    info["purchase_within_budget"] = b["purchase_pcsc"] <= budget


@pytest.mark.benchmark
def test_bench_tcp_pingpong(benchmark, stack, baselines):
    benchmark.group = "pcsc"
    assert benchmark(stack.tcp_round_trip) == b"\x00\x02\x90\x00"
    _report(benchmark, baselines)


@pytest.mark.benchmark
def test_bench_floor_9000_card_via_pcscd(benchmark, stack, baselines):
    benchmark.group = "pcsc"
    assert benchmark(stack.floor_card.transmit, GET_BALANCE) == b"\x90\x00"
    _report(benchmark, baselines)


@pytest.mark.benchmark
def test_bench_get_balance_via_pcscd(benchmark, stack, baselines):
    benchmark.group = "pcsc"
    assert benchmark(stack.card.transmit, GET_BALANCE)[-2:] == b"\x90\x00"
    _report(benchmark, baselines)


@pytest.mark.benchmark
def test_bench_get_balance_in_process(benchmark, stack, baselines):
    benchmark.group = "pcsc"
    assert benchmark(stack.inproc.transmit, GET_BALANCE)[-2:] == b"\x90\x00"
    _report(benchmark, baselines)


@pytest.mark.benchmark
def test_bench_purchase_via_pcscd(benchmark, stack, baselines):
    benchmark.group = "pcsc"
    receipt = benchmark.pedantic(stack.edc_pcsc.purchase_purse, args=(1, PIN), rounds=200,
                                 warmup_rounds=5)
    assert receipt.record.amount == 1
    _report(benchmark, baselines)


@pytest.mark.benchmark
def test_bench_purchase_in_process(benchmark, stack, baselines):
    benchmark.group = "pcsc"
    receipt = benchmark.pedantic(stack.edc_inproc.purchase_purse, args=(1, PIN), rounds=200,
                                 warmup_rounds=5)
    assert receipt.record.amount == 1
    _report(benchmark, baselines)
