"""SELECT, the PSE/PPSE directory, FCIs and READ RECORD for every context.

Selection as on a combo card: the payment directories (PSE record and PPSE FCI) list only what
a payment kernel may select, the savings (debit) application with its Application Priority
Indicator; the e-money purse is proprietary and reachable by its AID only, as e-money readers
select it (EMV Book 1 §12.2-12.4: a payment kernel builds its candidate list from the
directory or from its own AID list, neither of which holds the purse).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from kks_emulator import tlv
from kks_emulator.apdu import (
    SW_MEMORY_FAILURE,
    SW_NOT_FOUND,
    SW_RECORD_NOT_FOUND,
    Command,
)
from kks_emulator.card.sw import SwError

if TYPE_CHECKING:
    from kks_emulator.card.card import Card

SAVINGS_AID = bytes.fromhex("A0000006021010")
#: Proprietary (ISO 7816-5 category F, unregistered) AID: F0 || "KKSPURSE".
PURSE_AID = bytes.fromhex("F0") + b"KKSPURSE"
PSE_NAME = b"1PAY.SYS.DDF01"
PPSE_NAME = b"2PAY.SYS.DDF01"
SAVINGS_LABEL = b"KKS TABUNGAN"
PURSE_LABEL = b"KKS E-MONEY"
DIRECTORY_SFI = 1
LOG_SFI = 3

#: Every application the card holds: (AID, label, Application Priority Indicator).
_APPS = ((SAVINGS_AID, SAVINGS_LABEL, 1), (PURSE_AID, PURSE_LABEL, 2))
#: What the payment directories list: the applications a payment kernel may select.
PAYMENT_APPS = _APPS[:1]


def _entry(aid: bytes, label: bytes, priority: int) -> bytes:
    return tlv.encode(0x61, tlv.encode_many([(0x4F, aid), (0x50, label),
                                             (0x87, bytes((priority,)))]))


@cache
def pse_fci() -> bytes:
    """FCI of the PSE: DF name, SFI of the directory file, language."""
    return tlv.encode(0x6F, tlv.encode(0x84, PSE_NAME) + tlv.encode(
        0xA5, tlv.encode_many([(0x88, bytes((DIRECTORY_SFI,))), (0x5F2D, b"iden")])))


@cache
def ppse_fci() -> bytes:
    """FCI of the PPSE: the payment applications in the FCI issuer discretionary data (BF0C)."""
    entries = b"".join(_entry(*a) for a in PAYMENT_APPS)
    return tlv.encode(0x6F, tlv.encode(0x84, PPSE_NAME)
                      + tlv.encode(0xA5, tlv.encode(0xBF0C, entries)))


@cache
def directory_record() -> bytes:
    """Record 1 of the PSE directory file: one entry (61) per payment application."""
    return tlv.encode(0x70, b"".join(_entry(*a) for a in PAYMENT_APPS))


@cache
def app_fci(aid: bytes, label: bytes, priority: int) -> bytes:
    """FCI of an application: DF name, label, priority, language; the savings application
    adds its PDOL (9F38)."""
    from kks_emulator.card.apps.savings import PDOL

    items = [(0x50, label), (0x87, bytes((priority,))), (0x5F2D, b"iden")]
    if aid == SAVINGS_AID:
        items.append((0x9F38, PDOL))
    prop = tlv.encode_many(items)
    return tlv.encode(0x6F, tlv.encode(0x84, aid) + tlv.encode(0xA5, prop))


def select(card: Card, cmd: Command) -> bytes:
    """SELECT by DF name (P1=04, P2=00), with partial AID matching as in EMV Book 1 12.3."""
    if card.lifecycle == "broken":
        raise SwError(SW_MEMORY_FAILURE)
    if card.lifecycle != "personalised":
        raise SwError(SW_NOT_FOUND)
    name = cmd.data
    if name == PSE_NAME:
        card.s.select("pse")
        return pse_fci()
    if name == PPSE_NAME:
        card.s.select("ppse")
        return ppse_fci()
    for aid, label, prio in _APPS:
        if len(name) >= 5 and aid.startswith(name):
            card.s.select("savings" if aid == SAVINGS_AID else "purse")
            return app_fci(aid, label, prio)
    raise SwError(SW_NOT_FOUND)


def read_record(card: Card, cmd: Command) -> bytes:
    """READ RECORD: P1 record number, P2 = SFI << 3 | 4."""
    from kks_emulator.card.apps import purse_app, savings

    sfi, rec = cmd.p2 >> 3, cmd.p1
    ctx = card.s.selected
    if ctx == "pse":
        if sfi != DIRECTORY_SFI:
            raise SwError(SW_NOT_FOUND)
        if rec != 1:
            raise SwError(SW_RECORD_NOT_FOUND)
        return directory_record()
    if ctx == "savings":
        return savings.read_record(card, sfi, rec)
    if sfi != LOG_SFI:
        raise SwError(SW_NOT_FOUND)
    return purse_app.read_log(card, rec)
