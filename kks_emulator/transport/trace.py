"""Card-side APDU traces: timestamped JSON lines of every power event and command.

`TracingCard(card, sink)` wraps anything with the card's electrical interface (`power_on`,
`power_off`, `reset`, `transmit`) and writes one JSON object per event to `sink`, flushed at
once, so a trace is complete up to the last event even if the process is killed:

    {"t": "2026-12-07T03:40:12.123456Z", "event": "power_on", "atr": "3B...", "protocol": "T=1"}
    {"t": ..., "event": "apdu", "c": "00A4...", "r": "6F...", "sw": "9000", "protocol": "T=1",
     "us": 85}
    {"t": ..., "event": "power_off"}      {"t": ..., "event": "reset", "atr": "3B..."}

`c` is the command as received, `r` the response data (without SW), `sw` the status word and
`us` the card's processing time in microseconds. A command interrupted by a power cut is
logged with `"error"` instead of `r`/`sw`.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any, TextIO


def utc_stamp() -> str:
    """The current UTC time, ISO 8601 with microseconds and a `Z`."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class TracingCard:
    """A card wrapper that writes a trace line for every power event and APDU."""

    def __init__(self, card: Any, sink: TextIO, protocol: str = "T=1",
                 clock: Callable[[], str] = utc_stamp) -> None:
        self.card = card
        self.sink = sink
        self.protocol = protocol
        self.clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.card, name)  # atr, store, ... of the wrapped card

    def _write(self, event: str, **fields: Any) -> None:
        line = {"t": self.clock(), "event": event, **fields}
        self.sink.write(json.dumps(line, sort_keys=True) + "\n")
        self.sink.flush()

    def power_on(self) -> bytes:
        """Power the card on (trace: `power_on` with the ATR)."""
        atr = self.card.power_on()
        self._write("power_on", atr=bytes(atr).hex().upper(), protocol=self.protocol)
        return atr

    def power_off(self) -> None:
        """Power the card off (trace: `power_off`)."""
        self.card.power_off()
        self._write("power_off")

    def reset(self) -> bytes:
        """Warm reset (trace: `reset` with the ATR)."""
        atr = self.card.reset()
        self._write("reset", atr=bytes(atr).hex().upper(), protocol=self.protocol)
        return atr

    def transmit(self, apdu: bytes) -> bytes:
        """One command (trace: `apdu` with command, response, SW and duration)."""
        start = time.perf_counter_ns()
        try:
            raw = self.card.transmit(apdu)
        except BaseException as exc:
            self._write("apdu", c=bytes(apdu).hex().upper(), protocol=self.protocol,
                        error=f"{type(exc).__name__}: {exc}")
            raise
        took = (time.perf_counter_ns() - start) // 1000
        self._write("apdu", c=bytes(apdu).hex().upper(), r=bytes(raw[:-2]).hex().upper(),
                    sw=bytes(raw[-2:]).hex().upper(), protocol=self.protocol, us=took)
        return raw
