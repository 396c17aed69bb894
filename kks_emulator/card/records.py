"""Persistent record layouts of the card (payloads before sealing, see `card.nvm`).

Cells: "static" (personalisation, JSON, CRC only: it holds the record MAC key), "pin", "emv",
"purse" and "log.<i>" (sealed with CRC-32 and a MAC under the card's record key).

The decoded records are immutable named tuples (cheap to build; a powered card keeps the last
checked one of each cell in RAM, see `Card.read`).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from kks_emulator.errors import StoreError

STATIC = "static"
PIN = "pin"
EMV = "emv"
PURSE = "purse"
#: Registration status (1 byte: 00 unregistered, 01 registered) written by the issuer's PUT DATA;
#: absent until the first change, then it overrides the personalised policy's status.
KYC = "kyc"


#: Cell names of the log slots (the profile allows at most 50).
_LOG_CELLS = tuple(f"log.{i}" for i in range(64))


def log_cell(index: int) -> str:
    """Name of the cyclic log slot `index`."""
    return _LOG_CELLS[index] if 0 <= index < len(_LOG_CELLS) else f"log.{index}"


_PIN = struct.Struct(">BB3s")


class PinRecord(NamedTuple):
    """PIN try limit, PIN try counter and the 6-digit PIN as 3 BCD bytes."""

    ptl: int
    ptc: int
    pin_bcd: bytes

    def encode(self) -> bytes:
        """Fixed 5-byte layout."""
        return _PIN.pack(self.ptl, self.ptc, self.pin_bcd)

    @classmethod
    def decode(cls, raw: bytes) -> PinRecord:
        """Inverse of `encode`."""
        if len(raw) != _PIN.size:
            raise StoreError("pin record has the wrong size")
        return cls(*_PIN.unpack(raw))


_EMV = struct.Struct(">HHB")
FLAG_ONLINE_PENDING = 0x01
#: Set by the issuer's APPLICATION BLOCK script, cleared by APPLICATION UNBLOCK.
FLAG_APP_BLOCKED = 0x02


class EmvRecord(NamedTuple):
    """ATC (9F36), last online ATC (9F13) and flags (bit 0: last online transaction not
    completed; bit 1: application blocked by the issuer)."""

    atc: int
    last_online_atc: int
    flags: int = 0

    def encode(self) -> bytes:
        """Fixed 5-byte layout."""
        return _EMV.pack(self.atc, self.last_online_atc, self.flags)

    @classmethod
    def decode(cls, raw: bytes) -> EmvRecord:
        """Inverse of `encode`."""
        if len(raw) != _EMV.size:
            raise StoreError("emv record has the wrong size")
        return cls(*_EMV.unpack(raw))


_PURSE = struct.Struct(">IIIIII")


class PurseRecord(NamedTuple):
    """Balance, transaction counter NT, current WIB month (YYYYMM), month-to-date incoming and
    all-transaction totals, and the number of log records ever written."""

    balance: int
    counter: int
    month: int
    month_incoming: int
    month_all: int
    log_count: int

    def encode(self) -> bytes:
        """Fixed 24-byte layout."""
        return _PURSE.pack(self.balance, self.counter, self.month, self.month_incoming,
                           self.month_all, self.log_count)

    @classmethod
    def decode(cls, raw: bytes) -> PurseRecord:
        """Inverse of `encode`."""
        if len(raw) != _PURSE.size:
            raise StoreError("purse record has the wrong size")
        return cls(*_PURSE.unpack(raw))
