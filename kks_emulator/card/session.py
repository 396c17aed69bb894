"""Transient ("RAM") card state: wiped by power-off, reset and (mostly) by SELECT."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PendingLoad:
    """What INITIALIZE FOR LOAD promised, valid for the very next command only."""

    amount: int
    terminal_id: bytes
    time: int
    challenge: bytes
    counter: int


@dataclass
class Session:
    """RAM state of one power session.

    selected: current context ("none", "pse", "ppse", "savings", "purse").
    pin_verified: set by a successful VERIFY, cleared by SELECT, power-off, reset and by every
    PURCHASE. ac_state: 0 = no GENERATE AC yet, 1 = ARQC given (2nd GENERATE AC expected),
    2 = transaction finished.
    """

    selected: str = "none"
    pin_verified: bool = False
    pin_failed: bool = False
    gpo_done: bool = False
    ac_state: int = 0
    arqc: bytes = b""
    atc: int = 0
    session_key: bytes = b""
    cvr: bytes = b""
    pdol_data: bytes = b""
    cdol1: bytes = b""
    challenge: bytes | None = None
    pending_load: PendingLoad | None = None
    out_buffer: bytes = b""
    seen_challenges: set[bytes] = field(default_factory=set)

    def select(self, context: str) -> None:
        """Switch application and forget everything tied to the previous one."""
        self.selected = context
        self.pin_verified = False
        self.pin_failed = False
        self.gpo_done = False
        self.ac_state = 0
        self.arqc = b""
        self.session_key = b""
        self.cvr = b""
        self.pdol_data = b""
        self.cdol1 = b""
