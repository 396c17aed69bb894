"""Run a real pcscd and served cards for tests and benchmarks, and stop exactly what we started.

- `PcscdDaemon.ensure()` reuses a running pcscd (found through its socket) or starts
  `pcscd --foreground` as a child and remembers its PID; `stop()` ends only that PID.
- `ServedProcess` runs a card server (`kks card serve ...` or the status-only floor card of this
  module) in a subprocess and waits, through PC/SC, until its reader shows the card.

Run `python -m kks_emulator.transport.testing --slot N` to serve the status-only card (answers
`90 00` to everything): the transport floor used by `benchmarks/test_pcsc_bench.py`.

Every wait has a timeout, so nothing here can hang a CI run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from kks_emulator.errors import TransportError
from kks_emulator.transport.pcsc import PCSCD_SOCKET, VIRTUAL_READER_PREFIX, PcscContext
from kks_emulator.transport.vpcd import VPCD_BASE_PORT, StatusOnlyCard, VpcdServer

VPCD_DRIVER_PATHS = ("/usr/lib/pcsc/drivers/serial/libifdvpcd.so",
                     "/usr/lib64/pcsc/drivers/serial/libifdvpcd.so",
                     "/usr/local/lib/pcsc/drivers/serial/libifdvpcd.so")


def virtual_reader(slot: int = 0) -> str:
    """The PC/SC name of vpcd slot `slot`."""
    return f"{VIRTUAL_READER_PREFIX}{slot:02d}"


def missing_components() -> list[str]:
    """What this machine lacks to run the PC/SC stack for real (empty list = all there)."""
    missing = []
    if shutil.which("pcscd") is None and not Path("/usr/sbin/pcscd").exists():
        missing.append("pcscd (apt-get install pcscd)")
    if not any(Path(p).exists() for p in VPCD_DRIVER_PATHS):
        missing.append("vpcd driver (apt-get install vsmartcard-vpcd)")
    try:
        import smartcard.scard  # noqa: F401
    except ImportError:
        missing.append("pyscard (pip install -e '.[pcsc]', needs libpcsclite-dev and swig)")
    return missing


def pcscd_running() -> bool:
    """True if something accepts connections on pcscd's socket."""
    if not os.path.exists(PCSCD_SOCKET):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(PCSCD_SOCKET)
        except OSError:
            return False
    return True


def wait_for_reader(name: str, *, present: bool | None = None, timeout_s: float = 10.0) -> bytes:
    """Wait until reader `name` exists (and, if `present` is given, holds a card or not).

    Returns the ATR (empty when no card). Raises `TransportError` on timeout.
    """
    deadline = time.monotonic() + timeout_s
    last = "no answer from pcscd"
    while time.monotonic() < deadline:
        try:
            with PcscContext() as ctx:
                for info in ctx.status():
                    if info.name == name:
                        if present is None or info.card_present == present:
                            return info.atr
                        last = f"{name} card present={info.card_present}"
                        break
                else:
                    last = f"{name} not among the readers"
        except TransportError as exc:
            last = str(exc)
        time.sleep(0.05)
    raise TransportError(f"timed out after {timeout_s:g} s waiting for {name}: {last}")


def terminate(proc: subprocess.Popen, timeout_s: float) -> int:
    """SIGTERM `proc` if it still runs, SIGKILL it after `timeout_s`; return its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)
    return proc.returncode


class PcscdDaemon:
    """The machine's pcscd: reused when one runs, else started by us and stopped by PID."""

    def __init__(self, log_path: Path | None = None) -> None:
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def started_by_us(self) -> bool:
        """True if `ensure()` started the daemon (so `stop()` will end it)."""
        return self.proc is not None

    @property
    def pid(self) -> int | None:
        """PID of the daemon we started (None when we reuse another one)."""
        return self.proc.pid if self.proc is not None else None

    def ensure(self, timeout_s: float = 10.0) -> PcscdDaemon:
        """Make sure pcscd runs and shows vpcd slot 0; start it in the foreground if needed."""
        if not pcscd_running():
            exe = shutil.which("pcscd") or "/usr/sbin/pcscd"
            self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
            self.proc = subprocess.Popen([exe, "--foreground"], stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
            deadline = time.monotonic() + timeout_s
            while not pcscd_running():
                if self.proc.poll() is not None:
                    raise TransportError(f"pcscd exited at start with code {self.proc.returncode}"
                                         f" (log: {self.log_path})")
                if time.monotonic() > deadline:
                    self.stop()
                    raise TransportError(f"pcscd did not open {PCSCD_SOCKET} in {timeout_s:g} s")
                time.sleep(0.05)
        wait_for_reader(virtual_reader(0), timeout_s=timeout_s)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the daemon if we started it (SIGTERM, then SIGKILL), by its PID only."""
        if self.proc is not None:
            terminate(self.proc, timeout_s)
            self.proc = None
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self._log = None


#: Card servers started by `ServedProcess` and not yet stopped (for watchdogs and cleanup).
LIVE: set[ServedProcess] = set()


def kill_live_servers() -> int:
    """SIGKILL every card server still running; return how many there were.

    A PC/SC call has no timeout of its own: if a served card never answers, `SCardTransmit`
    waits forever. Killing the server closes its vpcd socket, which makes that call fail.
    """
    victims = list(LIVE)
    for server in victims:
        server.kill()
    return len(victims)


class ServedProcess:
    """A card server in a subprocess, serving vpcd slot `slot`.

    Args:
        argv: the command (e.g. `[kks, "card", "serve", CARD, "--slot", "0"]`).
        slot: the vpcd slot it serves (to find its reader).
        log_path: where its stderr/stdout go.
    """

    def __init__(self, argv: Sequence[str], slot: int = 0, log_path: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.slot = slot
        self.reader = virtual_reader(slot)
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self, *, wait_present: bool = True, timeout_s: float = 15.0) -> ServedProcess:
        """Start the server; by default wait until pcscd sees its card.

        A card left by an earlier server on the same slot is waited out first (pcscd notices a
        removal only at its next poll), so "present" really means *this* server's card.
        """
        wait_for_reader(self.reader, present=False, timeout_s=timeout_s)
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = dict(os.environ, **(self.env or {}))
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        LIVE.add(self)
        if wait_present:
            try:
                self.wait_present(True, timeout_s)
            except BaseException:
                self.kill()
                raise
        return self

    def wait_present(self, present: bool = True, timeout_s: float = 15.0) -> bytes:
        """Wait until the reader shows (or no longer shows) the card; return the ATR."""
        try:
            return wait_for_reader(self.reader, present=present, timeout_s=timeout_s)
        except TransportError:
            if self.proc is not None and self.proc.poll() is not None:
                raise TransportError(f"card server exited with {self.proc.returncode}: "
                                     f"{self.tail()}") from None
            raise

    def signal(self, signum: int) -> None:
        """Send `signum` to the server process."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM and wait (SIGKILL after `timeout_s`); return the exit code."""
        code = None
        if self.proc is not None:
            terminate(self.proc, timeout_s)
            code = self.proc.returncode
        LIVE.discard(self)
        self._close_log()
        return code

    def wait_gone(self, timeout_s: float = 10.0) -> None:
        """Wait until pcscd no longer shows this slot's card (after `stop()` or `kill()`)."""
        wait_for_reader(self.reader, present=False, timeout_s=timeout_s)

    def kill(self, timeout_s: float = 10.0) -> int | None:
        """SIGKILL (a power cut for the process) and wait; return the exit code."""
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            code = self.proc.wait(timeout_s)
        LIVE.discard(self)
        self._close_log()
        return code

    def tail(self, n: int = 2000) -> str:
        """The last `n` characters of the server's log (for failure messages)."""
        if self.log_path and Path(self.log_path).exists():
            return Path(self.log_path).read_text(errors="replace")[-n:]
        return "(no log)"

    def _close_log(self) -> None:
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self._log = None


def kks_command() -> list[str]:
    """The `kks` console script of this interpreter's environment (or `python -m` fallback)."""
    candidate = Path(sys.executable).with_name("kks")
    if candidate.exists():
        return [str(candidate)]
    return [sys.executable, "-c", "import sys; from kks_emulator.cli.main import main; "
                                  "sys.exit(main())"]


def _serve_status_only(argv: Sequence[str] | None = None) -> None:
    """Entry point of `python -m kks_emulator.transport.testing`: the floor card on a slot."""
    parser = argparse.ArgumentParser(description="Serve a card answering 9000 to everything.")
    parser.add_argument("--slot", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    server = VpcdServer(StatusOnlyCard(), args.host, VPCD_BASE_PORT + args.slot)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    signal.signal(signal.SIGINT, lambda *_: server.stop())
    server.serve_forever()


if __name__ == "__main__":  # pragma: no cover - exercised by the benchmarks in a subprocess
    _serve_status_only()
