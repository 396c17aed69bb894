"""The seam between the EDC terminal and a card: a `Transport` moves raw APDU bytes, nothing more.

Every transport (in-process, PC/SC) implements the same three calls. T=0
procedure bytes (`61xx`, `6Cxx`) are *not* handled here: `kks_emulator.terminal.exchange` does
that above every transport, so each one gets the same bounded, typed handling.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Transport(Protocol):
    """A channel to one card: power it, move APDUs, release it."""

    def connect(self) -> bytes:
        """Power the card (or attach to it) and return its ATR."""
        ...

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU and return the raw response (data + SW1 SW2)."""
        ...

    def disconnect(self, unpower: bool = False) -> None:
        """Release the card; with `unpower=True` cut its power (RAM state is lost)."""
        ...
