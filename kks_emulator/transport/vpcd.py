"""Serve a card to pcscd through the vsmartcard `vpcd` driver (our own client, not vpicc).

The driver (Debian package `vsmartcard-vpcd`) listens on 127.0.0.1, TCP port 35963 + slot, and
shows each slot to every PC/SC program as the reader "Virtual PCD 00 0<slot>". We connect to it
and answer its messages. Every message, both ways, is a 2-byte big-endian length and a payload:

- a 1-byte payload from the driver is a control code: 0 power off, 1 power on, 2 warm reset,
  4 "send the ATR" (answered with a length-prefixed ATR; an empty ATR means "no card");
- any longer payload is a command APDU, answered with the length-prefixed response APDU.

The driver asks for the ATR about every 0.3 s to poll presence. The protocol also allows an empty
ATR for "no card", but Debian's vpcd 3.3 then blocks forever: it reads the zero-byte body with
`recv(..., 0, MSG_WAITALL)`, which Linux only returns from once at least one byte (or a FIN)
arrives, and it holds the reader lock meanwhile. So a removed card here is a *closed connection*
(vpcd reports "card removed" at once), and inserting it again means connecting again.

`VpcdServer` is transport only: it moves bytes between the socket and any object satisfying
`ServedCard`. Power off and reset from the PC/SC side call the card's `power_off()`/`reset()`, so
they wipe exactly what an in-process power cycle wipes. A dropped connection is a power loss.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from kks_emulator.errors import VpcdError

log = logging.getLogger(__name__)

#: vpcd listens on this port for slot 0; slot N is on VPCD_BASE_PORT + N.
VPCD_BASE_PORT = 35963
VPCD_HOST = "127.0.0.1"

CTRL_OFF = 0x00
CTRL_ON = 0x01
CTRL_RESET = 0x02
CTRL_ATR = 0x04

_LEN = struct.Struct("!H")
#: How often a blocked read wakes up to look at the stop flag and the insert/remove schedule.
_POLL_S = 0.1


class ServedCard(Protocol):
    """What `VpcdServer` needs from a card: the four calls of a contact card's electrical life."""

    def power_on(self) -> bytes:
        """Power the card up (cold reset) and return its ATR."""
        ...

    def power_off(self) -> None:
        """Cut the power: RAM state is lost, persistent state stays."""
        ...

    def reset(self) -> object:
        """Warm reset: like a power cycle for RAM state."""
        ...

    def transmit(self, apdu: bytes) -> bytes:
        """Process one command APDU and return the response APDU (data ‖ SW1 SW2)."""
        ...


def parse_vpcd_address(text: str) -> tuple[str, int]:
    """Parse `HOST:PORT` (or just `HOST`, meaning the slot-0 port) into a host and a port."""
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, VPCD_BASE_PORT
    try:
        number = int(port)
    except ValueError as exc:
        raise VpcdError(f"bad vpcd address {text!r}: port must be a number") from exc
    if not 0 < number < 65536:
        raise VpcdError(f"bad vpcd address {text!r}: port out of range")
    return host or VPCD_HOST, number


@dataclass
class ServeStats:
    """Counters of one serving session, for logs and tests."""

    connections: int = 0
    apdus: int = 0
    power_ons: int = 0
    power_offs: int = 0
    resets: int = 0
    atr_requests: int = 0


class VpcdServer:
    """Connect to vpcd and serve one card until `stop()` is called.

    Args:
        card: the card to serve.
        host, port: where vpcd listens (`VPCD_BASE_PORT + slot` on 127.0.0.1 by default).
        atr: the ATR to report while the card is inserted; by default the card's `atr`
            attribute, or else the ATR of one power-up at the start.
        inserted: whether the card starts in the reader.
        backoff: (first, max) seconds between connection attempts while vpcd is not up.
        on_event: called with a short text for every connection change and insert/remove, so
            the CLI can report them (library code never prints).
        power_loss: exceptions from `card.transmit` that mean "power was cut in the middle of
            this command" (the card's simulated `PowerCut`). The command gets no answer: the
            connection is dropped (the PC/SC caller sees the card removed) and the card is
            inserted again after `reinsert_after_s`, which must exceed one vpcd presence poll
            (~0.4 s) so that pcscd notices the removal.
    """

    def __init__(self, card: ServedCard, host: str = VPCD_HOST, port: int = VPCD_BASE_PORT, *,
                 atr: bytes | None = None, inserted: bool = True,
                 backoff: tuple[float, float] = (0.05, 1.0),
                 on_event: Callable[[str], None] | None = None,
                 power_loss: tuple[type[BaseException], ...] = (),
                 reinsert_after_s: float = 0.6) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.backoff = backoff
        self.stats = ServeStats()
        self._on_event = on_event or (lambda text: log.info("%s", text))
        self._stop = threading.Event()
        self._inserted = inserted
        self._powered = False
        self._schedule: list[tuple[float, bool]] = []
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.power_loss = power_loss
        self.reinsert_after_s = reinsert_after_s
        self._atr = atr if atr is not None else self._learn_atr()

    # -- control from other threads / signal handlers -----------------------------------------

    def stop(self) -> None:
        """Ask the serving loop to finish after the current message (safe from signal handlers)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """True once `stop()` was called."""
        return self._stop.is_set()

    @property
    def inserted(self) -> bool:
        """Whether the card is currently in the (virtual) reader."""
        return self._inserted

    def insert(self) -> None:
        """Put the card into the reader (connect); pcscd notices at its next poll (~0.4 s)."""
        with self._lock:
            self._schedule.append((0.0, True))

    def remove(self) -> None:
        """Pull the card out of the reader: it loses power and the vpcd connection is closed."""
        with self._lock:
            self._schedule.append((0.0, False))

    def schedule(self, after_s: float, insert: bool) -> None:
        """Insert (`insert=True`) or remove the card `after_s` seconds from now."""
        with self._lock:
            self._schedule.append((time.monotonic() + after_s, insert))

    # -- the loop -------------------------------------------------------------------------------

    def serve_forever(self) -> ServeStats:
        """Connect (with back-off), serve, reconnect on a dropped connection; return on `stop()`.

        The card is powered off when the loop ends or a connection drops, exactly as if the
        reader lost power.
        """
        delay = self.backoff[0]
        try:
            while not self._stop.is_set():
                self._apply_schedule()
                if not self._inserted:
                    self._stop.wait(_POLL_S / 2)
                    continue
                try:
                    sock = socket.create_connection((self.host, self.port), timeout=1.0)
                except OSError as exc:
                    if delay == self.backoff[0]:  # once per outage, not at every retry
                        self._on_event(f"vpcd at {self.host}:{self.port} not reachable "
                                       f"({exc.strerror or exc}); is pcscd running with "
                                       "vsmartcard-vpcd? retrying with back-off")
                    self._stop.wait(delay)
                    delay = min(delay * 2, self.backoff[1])
                    continue
                delay = self.backoff[0]
                self.stats.connections += 1
                self._on_event(f"connected to vpcd at {self.host}:{self.port}")
                try:
                    self._serve_connection(sock)
                except OSError as exc:
                    self._on_event(f"vpcd connection lost: {exc}")
                finally:
                    sock.close()
                    self._sock = None
                    self._power_off()
        finally:
            self._power_off()
        return self.stats

    def _serve_connection(self, sock: socket.socket) -> None:
        """Serve one TCP connection until vpcd closes it or `stop()` is called."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(_POLL_S)
        self._sock = sock
        buf = bytearray()
        recv = sock.recv
        quickack = _quickack_setter(sock)
        while not self._stop.is_set():
            if self._schedule:
                self._apply_schedule()
            if not self._inserted:
                return  # pulled out: closing the socket is how vpcd learns it
            # Frame: 2-byte length, then the payload. Read whatever is there and parse frames
            # out of the buffer; a frame may arrive split across reads.
            while len(buf) < 2 or len(buf) < 2 + _LEN.unpack_from(buf)[0]:
                try:
                    chunk = recv(65538)
                except TimeoutError:
                    if self._stop.is_set():
                        return
                    if self._schedule:
                        self._apply_schedule()
                        if not self._inserted:
                            return
                    continue
                # Why QUICKACK after *every* read: vpcd writes the 2-byte length and the body with
                # two send() calls on a socket without TCP_NODELAY. Nagle holds the body back
                # until the length segment is ACKed, and Linux delays our ACK by ~40 ms, so each
                # APDU would cost ~45 ms. TCP_QUICKACK makes the kernel ACK at once, but it is not
                # sticky (the kernel drops back to delayed ACKs), so it must be set again after
                # each read. Measured: 48 ms -> ~0.1 ms per round trip (docs/performance.md §5).
                quickack()
                if not chunk:
                    self._on_event("vpcd closed the connection")
                    return
                buf += chunk
            size = _LEN.unpack_from(buf)[0]
            payload = bytes(buf[2:2 + size])
            del buf[:2 + size]
            try:
                reply = self._handle(payload)
            except self.power_loss as exc:
                self._powered = False
                self._inserted = False
                self.schedule(self.reinsert_after_s, insert=True)
                self._on_event(f"power cut during a command ({exc}): card pulled, back in "
                               f"{self.reinsert_after_s:g} s")
                return
            if reply is not None and not reply:
                # A card that answers nothing is mute. A zero-length frame would wedge vpcd
                # (see the module docstring), so treat it like a card that stopped responding:
                # drop the connection; the PC/SC caller sees the card gone.
                self._inserted = False
                self.schedule(self.reinsert_after_s, insert=True)
                self._on_event(f"card gave an empty answer: pulled, back in "
                               f"{self.reinsert_after_s:g} s")
                return
            if reply is not None:
                sock.sendall(_LEN.pack(len(reply)) + reply)

    def _handle(self, payload: bytes) -> bytes | None:
        """Answer one message from vpcd; `None` means "no reply expected"."""
        if len(payload) == 1:
            code = payload[0]
            if code == CTRL_ATR:
                self.stats.atr_requests += 1
                return self._atr
            if code == CTRL_ON:
                self.stats.power_ons += 1
                self._power_on()
            elif code == CTRL_OFF:
                self.stats.power_offs += 1
                self._power_off()
            elif code == CTRL_RESET:
                self.stats.resets += 1
                if self._powered:
                    self.card.reset()
                else:
                    self._power_on()
            else:
                # Not a control code, so a 1-byte command APDU that a PC/SC program sent.
                # vpcd's framing cannot tell them apart; answering (the card says 6700) keeps
                # vpcd from waiting forever for a reply. 00/01/02/04 cannot be sent at all:
                # PcscTransport refuses APDUs shorter than a 4-byte header.
                log.warning("1-byte payload 0x%02X is no vpcd control code: answered as an APDU",
                            code)
                return self._command(payload)
            return None
        return self._command(payload)

    def _command(self, payload: bytes) -> bytes:
        self.stats.apdus += 1
        if not self._powered:
            # pcscd powers the card before any transmit; answer anyway, as a reader would after
            # an implicit activation.
            self._power_on()
        return self.card.transmit(payload)

    # -- helpers --------------------------------------------------------------------------------

    def _learn_atr(self) -> bytes:
        atr = getattr(self.card, "atr", None)
        if isinstance(atr, bytes | bytearray) and atr:
            return bytes(atr)
        atr = self.card.power_on()
        self.card.power_off()
        return bytes(atr)

    def _power_on(self) -> None:
        atr = self.card.power_on()
        self._powered = True
        if atr and bytes(atr) != self._atr:
            self._atr = bytes(atr)

    def _power_off(self) -> None:
        if self._powered:
            self._powered = False
            self.card.power_off()

    def _apply_schedule(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [item for item in self._schedule if item[0] <= now]
            self._schedule = [item for item in self._schedule if item[0] > now]
        for _, insert in due:
            if insert and not self._inserted:
                self._inserted = True
                self._on_event("card inserted")
            elif not insert and self._inserted:
                self._inserted = False
                self._power_off()
                self._on_event("card removed")


def _quickack_setter(sock: socket.socket) -> Callable[[], None]:
    """Return a cheap callable that re-arms TCP_QUICKACK on `sock` (a no-op where unsupported)."""
    option = getattr(socket, "TCP_QUICKACK", None)
    if option is None:  # pragma: no cover - not Linux
        return lambda: None
    setsockopt = sock.setsockopt
    level = socket.IPPROTO_TCP

    def arm() -> None:
        setsockopt(level, option, 1)

    return arm


class StatusOnlyCard:
    """A card that answers every APDU with `90 00`: the transport floor for benchmarks.

    It has the same electrical interface as the KKS card, so the same `VpcdServer` serves it.
    """

    atr = bytes.fromhex("3B800181")  # T=1, no historical bytes (as vpicc_min in the baselines)

    def __init__(self) -> None:
        self.powered = False

    def power_on(self) -> bytes:
        """Power up; return the fixed ATR."""
        self.powered = True
        return self.atr

    def power_off(self) -> None:
        """Power down."""
        self.powered = False

    def reset(self) -> bytes:
        """Warm reset; return the fixed ATR."""
        self.powered = True
        return self.atr

    def transmit(self, apdu: bytes) -> bytes:
        """Answer `90 00` to anything."""
        return b"\x90\x00"
