"""The in-process transport: the terminal talks to an emulated card in the same process (no I/O)."""

from __future__ import annotations

from typing import Protocol

from kks_emulator.errors import TransportError


class CardLike(Protocol):
    """What `InProcessTransport` needs from an emulated card (`kks_emulator.card.Card`)."""

    def power_on(self) -> bytes:
        """Power the card and return its ATR."""
        ...

    def transmit(self, command: bytes) -> bytes:
        """Process one APDU and return the response."""
        ...

    def power_off(self) -> None:
        """Cut power."""
        ...


class InProcessTransport:
    """A transport to an emulated card living in this process (no I/O at all)."""

    def __init__(self, card: CardLike) -> None:
        self._card = card
        self._powered = False

    @property
    def connected(self) -> bool:
        """True between `connect()` and `disconnect()`."""
        return self._powered

    def connect(self) -> bytes:
        """Power the card on and return its ATR."""
        atr = self._card.power_on()
        self._powered = True
        return atr

    def transmit(self, apdu: bytes) -> bytes:
        """Hand the APDU to the card; refuse when the card is not powered."""
        if not self._powered:
            raise TransportError("in-process transport: transmit before connect")
        return self._card.transmit(bytes(apdu))

    def disconnect(self, unpower: bool = False) -> None:
        """Detach; with `unpower=True` power the card off so its RAM state is wiped."""
        if unpower and self._powered:
            self._card.power_off()
        self._powered = False
