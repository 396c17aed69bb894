"""The terminal side of PC/SC: a `Transport` over pyscard for any reader, virtual or physical.

`PcscTransport` implements `kks_emulator.transport.base.Transport` (`connect() -> ATR`,
`transmit(apdu) -> bytes`, `disconnect(unpower=False)`). It moves raw bytes only; T=0 procedure
bytes (`61xx` GET RESPONSE, `6Cxx` re-send) are resolved above every transport by
`kks_emulator.terminal.exchange.Exchange`, so wrap the transport in an `Exchange` (the CLI does).

Every PC/SC failure becomes one of our typed errors with a one-line message:
`PcscdNotRunning`, `ReaderNotFound`, `NoCard`, `CardRemoved`, `SharingViolation`, or `PcscError`.

We use pyscard's thin `smartcard.scard` layer (one C call per APDU) rather than its object
framework: it is ~25% faster per round trip and gives us the raw `hresult` to classify.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from kks_emulator.errors import (
    CardRemoved,
    NoCard,
    PcscdNotRunning,
    PcscError,
    ReaderNotFound,
    SharingViolation,
)

try:  # pyscard is the optional `pcsc` extra
    from smartcard import scard as _scard
except ImportError:  # pragma: no cover - exercised on machines without pyscard
    _scard = None

#: Where pcsc-lite's daemon listens (overridable by pcsc-lite's own environment variable).
PCSCD_SOCKET = os.environ.get("PCSCLITE_CSOCK_NAME", "/run/pcscd/pcscd.comm")
START_PCSCD_HINT = ("start it with `sudo systemctl start pcscd` "
                    "or `sudo pcscd --foreground &`")

#: The name pcscd gives to vpcd slot N is VIRTUAL_READER_PREFIX + f"0{N}".
VIRTUAL_READER_PREFIX = "Virtual PCD 00 "

#: Protocol names by PC/SC protocol bit.
PROTOCOL_NAMES = {1: "T=0", 2: "T=1"}


def _require_pyscard():
    if _scard is None:
        raise PcscError("pyscard is not installed: `pip install 'kks-bansos[pcsc]'` "
                        "(needs libpcsclite-dev and swig to build)")
    return _scard


def pcsc_error(hresult: int, action: str, reader: str | None = None) -> PcscError:
    """Turn a failed PC/SC `hresult` into our typed exception with a one-line message."""
    s = _require_pyscard()
    where = f" ({reader})" if reader else ""
    try:
        text = s.SCardGetErrorMessage(hresult).strip().rstrip(".")
    except Exception:  # the message is decoration only
        text = "PC/SC error"
    code = hresult & 0xFFFFFFFF
    detail = f"{text}, 0x{code:08X}"
    if hresult in (s.SCARD_E_NO_SERVICE, s.SCARD_E_SERVICE_STOPPED):
        return PcscdNotRunning(f"{action}: pcscd is not running ({detail}); {START_PCSCD_HINT}",
                               hresult)
    if hresult in (s.SCARD_E_NO_READERS_AVAILABLE, s.SCARD_E_UNKNOWN_READER,
                   s.SCARD_E_READER_UNAVAILABLE):
        return ReaderNotFound(f"{action}{where}: reader not available ({detail})", hresult)
    if hresult == s.SCARD_E_NO_SMARTCARD:
        return NoCard(f"{action}{where}: no card in the reader ({detail})", hresult)
    if hresult in (s.SCARD_W_REMOVED_CARD, s.SCARD_W_RESET_CARD, s.SCARD_W_UNPOWERED_CARD,
                   s.SCARD_W_UNRESPONSIVE_CARD, s.SCARD_E_NOT_TRANSACTED,
                   s.SCARD_E_COMM_DATA_LOST):
        return CardRemoved(f"{action}{where}: card removed, reset or unpowered during the "
                           f"transaction ({detail})", hresult)
    if hresult == s.SCARD_E_SHARING_VIOLATION:
        return SharingViolation(f"{action}{where}: another program holds the card exclusively "
                                f"({detail}); close it or connect in shared mode", hresult)
    if hresult == s.SCARD_E_TIMEOUT:
        return NoCard(f"{action}{where}: timed out waiting for a card ({detail})", hresult)
    return PcscError(f"{action}{where}: {detail}", hresult)


def _check(hresult: int, action: str, reader: str | None = None) -> None:
    if hresult != 0:
        raise pcsc_error(hresult, action, reader)


@dataclass(frozen=True)
class ReaderInfo:
    """One reader as `kks readers` shows it."""

    index: int
    name: str
    card_present: bool
    atr: bytes
    in_use_exclusively: bool = False


class PcscContext:
    """An established PC/SC context (one per thread of use); close it when done."""

    def __init__(self) -> None:
        s = _require_pyscard()
        if not os.path.exists(PCSCD_SOCKET):
            raise PcscdNotRunning(f"pcscd is not running (no {PCSCD_SOCKET}); {START_PCSCD_HINT}")
        hresult, self.handle = s.SCardEstablishContext(s.SCARD_SCOPE_USER)
        _check(hresult, "establish PC/SC context")

    def readers(self) -> list[str]:
        """Names of the readers pcscd knows, in its order (the index the CLI accepts)."""
        s = _scard
        hresult, names = s.SCardListReaders(self.handle, [])
        if hresult == s.SCARD_E_NO_READERS_AVAILABLE:
            return []
        _check(hresult, "list readers")
        return list(names)

    def status(self) -> list[ReaderInfo]:
        """Every reader with its card presence and ATR (a non-blocking status query)."""
        s = _scard
        names = self.readers()
        if not names:
            return []
        hresult, states = s.SCardGetStatusChange(
            self.handle, 0, [(name, s.SCARD_STATE_UNAWARE) for name in names])
        _check(hresult, "read reader states")
        out = []
        for index, (name, state, atr) in enumerate(states):
            out.append(ReaderInfo(index, name, bool(state & s.SCARD_STATE_PRESENT),
                                  bytes(atr) if state & s.SCARD_STATE_PRESENT else b"",
                                  bool(state & s.SCARD_STATE_EXCLUSIVE)))
        return out

    def resolve(self, reader: str | int | None) -> str:
        """Pick a reader by exact name, unique case-insensitive substring, or index.

        `None` picks the only reader, or the first one holding a card.
        """
        names = self.readers()
        if not names:
            raise ReaderNotFound("no PC/SC reader found: plug in a reader, or serve a card "
                                 "with `kks card serve CARD` (needs vsmartcard-vpcd)")
        listing = ", ".join(f"{i}: {n}" for i, n in enumerate(names))
        if reader is None:
            if len(names) == 1:
                return names[0]
            present = [info.name for info in self.status() if info.card_present]
            return present[0] if present else names[0]
        if isinstance(reader, int) or (isinstance(reader, str) and reader.isdigit()):
            index = int(reader)
            if 0 <= index < len(names):
                return names[index]
            raise ReaderNotFound(f"no reader with index {index} (readers: {listing})")
        if reader in names:
            return reader
        matches = [n for n in names if reader.lower() in n.lower()]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ReaderNotFound(f"reader name {reader!r} is ambiguous (readers: {listing})")
        raise ReaderNotFound(f"no reader matches {reader!r} (readers: {listing})")

    def wait_for_change(self, reader: str, known_state: int, timeout_s: float) -> tuple[int, bytes]:
        """Block until the reader's state differs from `known_state` or `timeout_s` passes.

        Returns the new (state, ATR); on timeout returns `known_state` and the current ATR.
        """
        s = _scard
        hresult, states = s.SCardGetStatusChange(
            self.handle, max(0, int(timeout_s * 1000)), [(reader, known_state)])
        if hresult == s.SCARD_E_TIMEOUT:
            return known_state, b""
        _check(hresult, "wait for a reader event", reader)
        _, state, atr = states[0]
        return state & ~s.SCARD_STATE_CHANGED, bytes(atr)

    def close(self) -> None:
        """Release the context (idempotent)."""
        if self.handle is not None:
            _scard.SCardReleaseContext(self.handle)
            self.handle = None

    def __enter__(self) -> PcscContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def list_readers() -> list[ReaderInfo]:
    """Every PC/SC reader with card presence and ATR."""
    with PcscContext() as ctx:
        return ctx.status()


class PcscTransport:
    """A `Transport` to the card in one PC/SC reader.

    Args:
        reader: name, unique substring or index of the reader; `None` = the only/first one with
            a card.
        timeout_s: how long `connect()` waits for a card to be inserted.
        exclusive: connect in exclusive mode (others get a sharing violation) instead of shared.
        protocols: "T0"/"T=0", "T1"/"T=1" or "any" (what the ATR offers; the reader
            negotiates).
        on_event: called with a short text when a card is inserted or removed while waiting.
    """

    def __init__(self, reader: str | int | None = None, *, timeout_s: float = 10.0,
                 exclusive: bool = False, protocols: str = "any",
                 on_event: Callable[[str], None] | None = None) -> None:
        s = _require_pyscard()
        self.reader_query = reader
        self.timeout_s = timeout_s
        self.share = s.SCARD_SHARE_EXCLUSIVE if exclusive else s.SCARD_SHARE_SHARED
        self.protocols = {"T0": s.SCARD_PROTOCOL_T0, "T1": s.SCARD_PROTOCOL_T1,
                          "any": s.SCARD_PROTOCOL_T0 | s.SCARD_PROTOCOL_T1}.get(
                              protocols.replace("=", ""))
        if self.protocols is None:
            raise PcscError(f"unknown protocol {protocols!r}: use T=0, T=1 or any")
        self._on_event = on_event or (lambda text: None)
        self._ctx: PcscContext | None = None
        self._card = None
        self._protocol = 0
        self.reader: str | None = None
        self.atr = b""

    @property
    def connected(self) -> bool:
        """True between `connect()` and `disconnect()`."""
        return self._card is not None

    @property
    def protocol(self) -> str:
        """The negotiated protocol, "T=0" or "T=1" ("" when not connected)."""
        return PROTOCOL_NAMES.get(self._protocol, "")

    def _context(self) -> PcscContext:
        if self._ctx is None:
            self._ctx = PcscContext()
        return self._ctx

    def wait_for_card(self, timeout_s: float | None = None) -> bytes:
        """Wait until the reader holds a card; return its ATR, or raise `NoCard` on timeout."""
        s = _scard
        ctx = self._context()
        if self.reader is None:
            self.reader = ctx.resolve(self.reader_query)
        wait_s = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + wait_s
        state = s.SCARD_STATE_UNAWARE
        reported_empty = False
        while True:
            left = deadline - time.monotonic()
            state, atr = ctx.wait_for_change(self.reader, state, max(0.0, min(left, 1.0)))
            if state & s.SCARD_STATE_PRESENT and not state & s.SCARD_STATE_MUTE:
                if reported_empty:
                    self._on_event(f"card inserted in {self.reader}: ATR {atr.hex().upper()}")
                return atr
            if not reported_empty and state & s.SCARD_STATE_EMPTY:
                self._on_event(f"waiting for a card in {self.reader} ...")
                reported_empty = True
            if left <= 0:
                raise NoCard(f"no card in {self.reader} after {wait_s:g} s")

    def connect(self) -> bytes:
        """Wait for a card (up to `timeout_s`), connect to it and return its ATR."""
        s = _scard
        if self._card is not None:
            return self.atr
        self.wait_for_card()
        handle = self._context().handle
        hresult, card, protocol = s.SCardConnect(handle, self.reader, self.share, self.protocols)
        if hresult == s.SCARD_E_PROTO_MISMATCH:
            # The card is still active in the protocol an earlier connection chose; switching
            # needs a warm reset, done through a connection in whatever protocol is active.
            hresult, card, protocol = s.SCardConnect(
                handle, self.reader, self.share, s.SCARD_PROTOCOL_T0 | s.SCARD_PROTOCOL_T1)
            if hresult == 0:
                self._on_event(f"card in {self.reader} reset to switch protocol")
                hresult, protocol = s.SCardReconnect(card, self.share, self.protocols,
                                                     s.SCARD_RESET_CARD)
                if hresult != 0:
                    s.SCardDisconnect(card, s.SCARD_LEAVE_CARD)
        if hresult == s.SCARD_E_NO_SMARTCARD or hresult == s.SCARD_W_REMOVED_CARD:
            self._on_event(f"card removed from {self.reader}")
        _check(hresult, "connect", self.reader)
        self._card, self._protocol = card, protocol
        hresult, _, _, _, atr = s.SCardStatus(card)
        _check(hresult, "read card status", self.reader)
        self.atr = bytes(atr)
        return self.atr

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU; return the raw response (data ‖ SW1 SW2)."""
        if self._card is None:
            raise PcscError("pcsc transport: transmit before connect")
        if len(apdu) < 4:
            # ISO 7816-4 minimum; also, a 1-byte APDU would reach a vpcd card as a control code.
            raise PcscError(f"command APDU of {len(apdu)} byte(s) is shorter than its 4-byte "
                            "header; not sent")
        hresult, response = _scard.SCardTransmit(self._card, self._protocol, list(apdu))
        if hresult != 0:
            error = pcsc_error(hresult, "transmit", self.reader)
            if isinstance(error, CardRemoved):
                self._on_event(f"card removed from {self.reader} during a transaction")
                self._drop()
            raise error
        if not response:
            # vpcd returns success with 0 bytes when the card's socket closes mid-command (power
            # cut, process killed); a real answer always carries SW1 SW2.
            self._on_event(f"card in {self.reader} gave no answer: removed or lost power")
            self._drop()
            raise CardRemoved(f"transmit ({self.reader}): the card gave no answer; it was "
                              "removed or lost power during the command")
        return bytes(response)

    def reconnect(self, unpower: bool = False) -> bytes:
        """Re-establish the connection with a warm reset, or a power cycle if `unpower`."""
        s = _scard
        if self._card is None:
            return self.connect()
        init = s.SCARD_UNPOWER_CARD if unpower else s.SCARD_RESET_CARD
        hresult, protocol = s.SCardReconnect(self._card, self.share, self.protocols, init)
        _check(hresult, "reconnect", self.reader)
        self._protocol = protocol
        hresult, _, _, _, atr = s.SCardStatus(self._card)
        _check(hresult, "read card status", self.reader)
        self.atr = bytes(atr)
        return self.atr

    def disconnect(self, unpower: bool = False) -> None:
        """Release the card; `unpower=True` powers it down (its RAM state is lost)."""
        s = _scard
        if self._card is not None:
            disposition = s.SCARD_UNPOWER_CARD if unpower else s.SCARD_LEAVE_CARD
            hresult = s.SCardDisconnect(self._card, disposition)
            self._card = None
            if hresult not in (0, s.SCARD_W_REMOVED_CARD, s.SCARD_E_INVALID_HANDLE):
                _check(hresult, "disconnect", self.reader)

    def close(self) -> None:
        """Disconnect (leaving the card powered) and release the PC/SC context."""
        try:
            self.disconnect()
        finally:
            if self._ctx is not None:
                self._ctx.close()
                self._ctx = None

    def _drop(self) -> None:
        card, self._card = self._card, None
        if card is not None:
            _scard.SCardDisconnect(card, _scard.SCARD_LEAVE_CARD)

    def __enter__(self) -> PcscTransport:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
