"""Session fixtures for the PC/SC tests: a real pcscd and real card servers in subprocesses.

- `pcscd`: reuses a running pcscd (its socket answers) or starts `pcscd --foreground` and stops
  that PID at the end of the session. A machine without pcscd/vpcd/pyscard skips loudly (and
  fails under KKS_REQUIRE_ALL=1, which `.ci/run` sets).
- `recording_server`: an in-thread `VpcdServer` on vpcd slot 1 serving a card that records its
  power calls, to check exactly what PC/SC does to the card.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kks_emulator.errors import TransportError
from kks_emulator.transport.testing import (
    PcscdDaemon,
    ServedProcess,
    kill_live_servers,
    kks_command,
    missing_components,
    virtual_reader,
    wait_for_reader,
)
from kks_emulator.transport.vpcd import VPCD_BASE_PORT, VpcdServer
from tests.conftest import skip_or_fail  # the loud-skip policy

#: No single PC/SC test may take longer than this (the whole directory targets ~1-2 minutes).
WATCHDOG_S = 120


@pytest.fixture(autouse=True)
def _watchdog():
    """Kill the card servers of a test that hangs, so its blocked PC/SC call fails instead.

    `SCardTransmit` has no timeout; a served card that never answers would hang CI forever.
    """
    fired = threading.Event()

    def bite() -> None:
        fired.set()
        kill_live_servers()

    timer = threading.Timer(WATCHDOG_S, bite)
    timer.daemon = True
    timer.start()
    yield
    timer.cancel()
    assert not fired.is_set(), f"test hung for {WATCHDOG_S} s: its card servers were killed"


@pytest.fixture(scope="session")
def pcsc_logs(tmp_path_factory) -> Path:
    """A directory for the logs of pcscd and the card servers (kept for post-mortems)."""
    return tmp_path_factory.mktemp("pcsc-logs")


@pytest.fixture(scope="session")
def pcscd(pcsc_logs) -> Iterator[PcscdDaemon]:
    """A running pcscd with the vpcd readers; started (and later stopped by PID) if needed."""
    missing = missing_components()
    if missing:
        skip_or_fail("PC/SC stack incomplete: " + "; ".join(missing)
                          + " (run scripts/system-deps.sh)")
    daemon = PcscdDaemon(pcsc_logs / "pcscd.log")
    try:
        daemon.ensure()
    except TransportError as exc:  # e.g. not root: pcscd cannot create /run/pcscd
        daemon.stop()
        skip_or_fail(f"cannot start pcscd ({exc}); start it yourself: sudo pcscd --foreground &")
    yield daemon
    daemon.stop()


class RecordingCard:
    """A card that answers `90 00` plus the command's INS, and records every electrical call."""

    atr = bytes.fromhex("3B800181")

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def power_on(self) -> bytes:
        """Record and return the ATR."""
        with self.lock:
            self.calls.append("on")
        return self.atr

    def power_off(self) -> None:
        """Record a power-off."""
        with self.lock:
            self.calls.append("off")

    def reset(self) -> bytes:
        """Record a warm reset."""
        with self.lock:
            self.calls.append("reset")
        return self.atr

    def transmit(self, apdu: bytes) -> bytes:
        """Echo the command body back, then 90 00 (so framing errors show)."""
        with self.lock:
            self.calls.append("apdu")
        return bytes(apdu) + b"\x90\x00"


@pytest.fixture
def recording_server(pcscd) -> Iterator[tuple[VpcdServer, RecordingCard]]:
    """An in-thread server on vpcd slot 1 with a `RecordingCard`; stopped at the end."""
    wait_for_reader(virtual_reader(1), present=False, timeout_s=10)  # a previous card is gone
    card = RecordingCard()
    server = VpcdServer(card, port=VPCD_BASE_PORT + 1)
    thread = threading.Thread(target=server.serve_forever, name="vpcd-slot1", daemon=True)
    thread.start()
    wait_for_reader(virtual_reader(1), present=True, timeout_s=10)
    yield server, card
    server.stop()
    thread.join(5)
    assert not thread.is_alive(), "vpcd server thread did not stop within 5 s"
    wait_for_reader(virtual_reader(1), present=False, timeout_s=10)


PURSE_BALANCE = 500_000


def make_card_file(path: Path, balance: int = PURSE_BALANCE) -> Path:
    """Personalise the standard test card (tests/card/helpers) into `path`, purse at `balance`."""
    from kks_emulator.card import Card, FileStore, personalize
    from tests.card.helpers import KEYS, Terminal, profile, seeded_rng

    store = FileStore(path, fsync=False)
    personalize(store, profile(), KEYS)
    if balance:
        t = Terminal(Card(store, rng=seeded_rng(3)))
        t.card.power_on()
        assert t.select_purse().ok
        assert t.load(balance).ok
        t.card.power_off()
    return path


def serve_argv(card_file: Path, slot: int = 0, *extra: str) -> list[str]:
    """`kks card serve CARD --slot N --test-rng 7 ...` for this environment."""
    return [*kks_command(), "card", "serve", str(card_file), "--slot", str(slot),
            "--test-rng", "7", *extra]


@pytest.fixture(scope="module")
def served_card(pcscd, pcsc_logs, tmp_path_factory) -> Iterator[ServedProcess]:
    """A personalised card (purse Rp 500,000) served by `kks card serve` on slot 0."""
    path = make_card_file(tmp_path_factory.mktemp("card") / "card.kks")
    proc = ServedProcess(serve_argv(path, 0), slot=0,
                         log_path=pcsc_logs / f"serve-{path.parent.name}.log")
    proc.card_file = path  # type: ignore[attr-defined]
    proc.start()
    yield proc
    code = proc.stop()
    assert code == 0, f"kks card serve did not stop cleanly ({code}): {proc.tail()}"
