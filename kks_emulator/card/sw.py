"""The card-internal way to answer with a status word other than 9000."""

from __future__ import annotations

from kks_emulator.errors import CardError


class SwError(CardError):
    """Raised by a command handler to answer with status word `sw` (and no data)."""

    def __init__(self, sw: int) -> None:
        super().__init__("card status", sw)
