"""The dispatch table: every command the card accepts, where, and with which lengths.

docs/card.md documents exactly this table (a test compares them). Contexts: "none" (personalised
card, nothing selected), "pse", "ppse", "savings", "purse", "blank" (not personalised) and
"broken" (static record failed its integrity check).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING

from kks_emulator.apdu import SW_DATA_NOT_FOUND, SW_WRONG_P1P2, Command
from kks_emulator.card.apps import common, directory, pin, purse_app, savings, scripts

if TYPE_CHECKING:
    from kks_emulator.card.card import Card

OUT_NONE = "none"  # no response data
OUT_CASE2 = "case2"  # only returns data: Le required, 6Cxx when wrong
OUT_CASE4 = "case4"  # data in, data out: 61xx in T=0

ALL = frozenset({"none", "pse", "ppse", "savings", "purse", "blank", "broken"})
APPS = frozenset({"savings", "purse"})


@dataclass(frozen=True)
class CommandSpec:
    """One command: name, CLA, INS, contexts, P1/P2 rule, allowed Lc, Le rule and handler."""

    name: str
    cla: int
    ins: int
    contexts: frozenset[str]
    p1p2: Callable[[int, int], bool]
    data_lens: frozenset[int]
    #: "required" (case 2/4 only), "optional" (case 3 or 4), "ignored" (a case-1/3 command
    #: that accepts a trailing Le and returns no data, as deployed T=1 cards do) or "forbidden"
    le: str
    out: str
    handler: Callable[[Card, Command], bytes | tuple[bytes, int]]
    p1p2_sw: int = SW_WRONG_P1P2

    @cached_property
    def takes_data(self) -> bool:
        """The command accepts a data field (in T=0, P3 is then Lc)."""
        return max(self.data_lens) > 0

    @cached_property
    def case1_allowed(self) -> bool:
        """The command may come without data and without Le (ISO case 1)."""
        return 0 in self.data_lens and self.le != "required"


def _eq(p1: int, p2: int) -> Callable[[int, int], bool]:
    return lambda a, b: a == p1 and b == p2


def _read_record_p1p2(p1: int, p2: int) -> bool:
    return p1 != 0 and (p2 & 0x07) == 0x04


def _gac_p1p2(p1: int, p2: int) -> bool:
    """P1: reference control parameter (C0 bits: 00 AAC, 40 TC, 80 ARQC) and 10 = CDA."""
    return p2 == 0 and (p1 & 0x2F) == 0 and p1 & 0xC0 != 0xC0


def _pin_unblock_p1p2(p1: int, p2: int) -> bool:
    """P2 00: unblock only; 02: unblock with a new PIN (script command)."""
    return p1 == 0 and p2 in (0x00, 0x02)


def _get_data_p1p2(p1: int, p2: int) -> bool:
    return ((p1 << 8) | p2) in common.GET_DATA_TAGS


NONE = frozenset({0})

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("SELECT", 0x00, 0xA4, ALL, _eq(0x04, 0x00), frozenset(range(1, 17)),
                "optional", OUT_CASE4, directory.select),
    CommandSpec("GET RESPONSE", 0x00, 0xC0, ALL, _eq(0, 0), NONE, "required", OUT_NONE,
                common.get_response),
    CommandSpec("GET CHALLENGE", 0x00, 0x84, ALL - {"blank", "broken"}, _eq(0, 0), NONE,
                "required", OUT_CASE2, common.get_challenge),
    CommandSpec("READ RECORD", 0x00, 0xB2, frozenset({"pse", "savings", "purse"}),
                _read_record_p1p2, NONE, "required", OUT_CASE2, directory.read_record),
    CommandSpec("VERIFY", 0x00, 0x20, APPS, _eq(0x00, 0x80), frozenset({0, 8}), "ignored",
                OUT_NONE, pin.verify),
    CommandSpec("CHANGE REFERENCE DATA", 0x00, 0x24, APPS, _eq(0x00, 0x80), frozenset({16}),
                "ignored", OUT_NONE, pin.change_reference_data),
    CommandSpec("PIN UNBLOCK", 0x84, 0x24, APPS, _pin_unblock_p1p2, frozenset({8, 16}),
                "ignored", OUT_NONE, pin.pin_unblock),
    CommandSpec("APPLICATION BLOCK", 0x84, 0x1E, frozenset({"savings"}), _eq(0, 0),
                frozenset({8}), "ignored", OUT_NONE, scripts.application_block),
    CommandSpec("APPLICATION UNBLOCK", 0x84, 0x18, frozenset({"savings"}), _eq(0, 0),
                frozenset({8}), "ignored", OUT_NONE, scripts.application_unblock),
    CommandSpec("GET DATA", 0x80, 0xCA, APPS, _get_data_p1p2, NONE, "required", OUT_CASE2,
                common.get_data, SW_DATA_NOT_FOUND),
    CommandSpec("GET PROCESSING OPTIONS", 0x80, 0xA8, frozenset({"savings"}), _eq(0, 0),
                frozenset({2 + savings.PDOL_LEN}), "optional", OUT_CASE4,
                savings.get_processing_options),
    CommandSpec("INTERNAL AUTHENTICATE", 0x00, 0x88, frozenset({"savings"}), _eq(0, 0),
                frozenset({savings.DDOL_LEN}), "optional", OUT_CASE4,
                savings.internal_authenticate),
    CommandSpec("GENERATE AC", 0x80, 0xAE, frozenset({"savings"}), _gac_p1p2,
                frozenset({savings.CDOL1_LEN, savings.CDOL2_LEN}), "optional", OUT_CASE4,
                savings.generate_ac),
    CommandSpec("GET BALANCE", 0x80, 0x5C, frozenset({"purse"}), _eq(0x00, 0x02), NONE,
                "required", OUT_CASE2, purse_app.get_balance),
    CommandSpec("INITIALIZE FOR LOAD", 0x80, 0x50, frozenset({"purse"}), _eq(0, 0),
                frozenset({16}), "optional", OUT_CASE4, purse_app.initialize_for_load),
    CommandSpec("CREDIT FOR LOAD", 0x80, 0x52, frozenset({"purse"}), _eq(0, 0), frozenset({8}),
                "optional", OUT_CASE4, purse_app.credit_for_load),
    CommandSpec("PURCHASE", 0x80, 0x54, frozenset({"purse"}), _eq(0, 0), frozenset({24}),
                "optional", OUT_CASE4, purse_app.purchase),
    CommandSpec("PUT DATA", 0x84, 0xDA, frozenset({"purse"}), _eq(0xDF, 0x01), frozenset({9}),
                "ignored", OUT_NONE, purse_app.put_registration),
    CommandSpec("GET CERTIFICATE", 0x80, 0x5A, frozenset({"purse"}), _eq(0, 0), NONE,
                "required", OUT_CASE2, purse_app.get_certificate),
)


@dataclass(frozen=True)
class Table:
    """The commands of one context, indexed for the CLA -> INS -> (CLA, INS) checks."""

    clas: frozenset[int]
    inss: frozenset[int]
    by_key: dict[tuple[int, int], CommandSpec]


@cache
def table_for(context: str) -> Table:
    """The dispatch table of a context."""
    specs = [c for c in COMMANDS if context in c.contexts]
    return Table(frozenset(c.cla for c in specs), frozenset(c.ins for c in specs),
                 {(c.cla, c.ins): c for c in specs})


#: Every context's table, built once (the card looks one up per APDU).
TABLES: dict[str, Table] = {ctx: table_for(ctx) for ctx in ALL}
