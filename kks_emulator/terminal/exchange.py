"""APDU exchange above any `Transport`: T=0 procedure handling, status words, transcript.

- `61xx`: the card has xx (00 = 256) more bytes; fetch them with GET RESPONSE, at most
  `MAX_GET_RESPONSE` (16) times per command, then give up with `ExchangeError`.
- `6Cxx`: wrong Le; re-send the same command once with Le = xx. A second `6Cxx` is an error.
- Anything malformed (fewer than two bytes, a data field that overflows what we asked for) raises
  `ExchangeError`, a `TransportError`, so terminal code sees typed errors only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TextIO

from kks_emulator.apdu import Response
from kks_emulator.errors import TransportError
from kks_emulator.transport.base import Transport
from kks_emulator.transport.trace import utc_stamp

#: Bound on GET RESPONSE commands per APDU (docs/reliability.md C-FUZZ-HOST).
MAX_GET_RESPONSE = 16
#: Largest response we accept in total: 16 GET RESPONSE of 256 bytes plus the first chunk.
MAX_RESPONSE_BYTES = 256 * (MAX_GET_RESPONSE + 1)


class ExchangeError(TransportError):
    """The card's answer broke the T=0/ISO 7816-4 rules (truncated, endless 61xx, bad 6Cxx)."""


def split_sw(raw: bytes) -> tuple[bytes, int]:
    """Split a raw response into (data, SW); fewer than two bytes is an `ExchangeError`."""
    if len(raw) < 2:
        raise ExchangeError(f"response of {len(raw)} byte(s) has no status word")
    return bytes(raw[:-2]), (raw[-2] << 8) | raw[-1]


def with_le(apdu: bytes, le: int) -> bytes:
    """Return the short APDU `apdu` with its Le set to `le` (0..255; 0 means 256)."""
    if not 0 <= le <= 0xFF:
        raise ExchangeError(f"Le {le} out of range")
    if len(apdu) < 4:
        raise ExchangeError("command APDU shorter than its header")
    if len(apdu) == 4:  # case 1 -> case 2
        return apdu + bytes([le])
    if len(apdu) == 5:  # case 2: replace Le
        return apdu[:4] + bytes([le])
    lc = apdu[4]
    if lc == 0:
        raise ExchangeError("extended-length APDUs are not supported by the T=0 exchange")
    if len(apdu) == 5 + lc:  # case 3 -> case 4
        return apdu + bytes([le])
    if len(apdu) == 6 + lc:  # case 4: replace Le
        return apdu[:-1] + bytes([le])
    raise ExchangeError("command APDU length does not match its Lc")


class Exchange:
    """Send APDUs through a transport with T=0 handling and an optional JSON-lines transcript."""

    def __init__(self, transport: Transport, transcript: TextIO | None = None,
                 clock: Callable[[], str] | None = None) -> None:
        """`transcript` gets one JSON line per raw exchange, stamped by `clock` (default: UTC
        wall clock, ISO 8601 with microseconds; pass a fixed clock for reproducible files)."""
        self.transport = transport
        self._transcript = transcript
        self._clock = clock
        self._seq = 0
        self.raw_exchanges = 0

    def _raw(self, apdu: bytes) -> tuple[bytes, int]:
        raw = self.transport.transmit(apdu)
        if type(raw) is not bytes:
            if not isinstance(raw, bytes | bytearray):
                raise ExchangeError("transport returned a non-bytes response")
            raw = bytes(raw)
        self.raw_exchanges += 1
        if self._transcript is not None:
            self._seq += 1
            line = {"n": self._seq, "c": bytes(apdu).hex().upper(), "r": raw.hex().upper(),
                    "t": (self._clock or utc_stamp)()}
            self._transcript.write(json.dumps(line, sort_keys=True) + "\n")
        return split_sw(raw)

    def transmit(self, apdu: bytes) -> Response:
        """Send one command; resolve `6Cxx` and `61xx` chains; return the complete `Response`."""
        apdu = bytes(apdu)
        data, sw = self._raw(apdu)
        sw1 = sw >> 8
        if sw1 != 0x61 and sw1 != 0x6C:  # complete answer: no GET RESPONSE, no re-send
            return Response(data, sw)
        if sw >> 8 == 0x6C:
            data, sw = self._raw(with_le(apdu, sw & 0xFF))
            if sw >> 8 == 0x6C:
                raise ExchangeError("card answered 6Cxx twice to the same command")
        out = bytearray(data)
        fetches = 0
        while sw >> 8 == 0x61:
            if fetches >= MAX_GET_RESPONSE:
                raise ExchangeError(f"more than {MAX_GET_RESPONSE} GET RESPONSE for one command")
            fetches += 1
            want = sw & 0xFF
            chunk, sw = self._raw(bytes([0x00, 0xC0, 0x00, 0x00, want]))
            if sw >> 8 == 0x6C:
                chunk, sw = self._raw(bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF]))
            if len(chunk) > (want or 256):
                raise ExchangeError("GET RESPONSE returned more data than announced")
            out += chunk
            if len(out) > MAX_RESPONSE_BYTES:
                raise ExchangeError("response chain exceeds the size bound")
        return Response(bytes(out), sw)
