"""Status-word discipline: C-SW-SWEEP, C-SW-ORDER, C-SW-NOSTATE and C-ABUSE."""

from __future__ import annotations

import pytest

from kks_emulator.apdu import encode_command
from kks_emulator.card import Card, MemoryStore
from kks_emulator.card.commands import COMMANDS, table_for

from .doctable import doc_commands
from .helpers import Terminal, loaded, powered, seeded_rng

#: ISO 7816-4 checking-error / refusal words of docs/reliability.md, plus 63Cx and 6581.
TABLE_SWS = {0x6E00, 0x6D00, 0x6A86, 0x6B00, 0x6700, 0x6982, 0x6983, 0x6984, 0x6985, 0x6A80,
             0x6A82, 0x6A83, 0x6A88, 0x6581}
NO_STATE_CHANGE = set(range(0x6700, 0x7000)) | {0x6982, 0x6983, 0x6985} | set(
    range(0x6A80, 0x6A90))


def _state(name: str) -> Terminal:
    if name == "blank":
        t = Terminal(Card(MemoryStore(), rng=seeded_rng(3)))
        t.card.power_on()
        return t
    t = powered(loaded(100_000))
    if name.startswith("savings"):
        t.select_savings()
    elif name.startswith("purse"):
        t.select_purse()
    elif name in ("pse", "ppse"):
        t.select(b"1PAY.SYS.DDF01" if name == "pse" else b"2PAY.SYS.DDF01")
    if name.endswith("+pin"):
        assert t.verify().ok
    return t


STATES = ["blank", "none", "pse", "ppse", "savings", "savings+pin", "purse", "purse+pin"]


@pytest.mark.parametrize("state", STATES)
def test_c_sw_sweep(state):
    t = _state(state)
    card = t.card
    context = state.split("+")[0]
    documented = {d.ins for d in doc_commands() if context in d.contexts}
    answering = set()
    snapshot = card.store.snapshot()
    writes = card.store.write_count
    transmit = card.transmit
    for cla in range(256):
        for ins in range(256):
            resp = transmit(bytes((cla, ins, 0, 0)))
            assert len(resp) == 2, f"{cla:02X}{ins:02X}0000 returned data"
            sw = (resp[0] << 8) | resp[1]
            ok = sw in TABLE_SWS or sw == 0x9000 or resp[0] == 0x61
            assert ok, f"{cla:02X}{ins:02X}: {sw:04X}"
            if sw not in (0x6D00, 0x6E00):
                answering.add(ins)
    assert card.store.write_count == writes and card.store.snapshot() == snapshot
    assert answering == documented
    if context != "blank":
        assert card.s.selected == context


def _valid(spec) -> tuple[int, int, bytes, int | None]:
    """P1, P2, data and Ne that pass the generic checks of `spec`."""
    p1p2 = {"PUT DATA": (0xDF, 0x01), "SELECT": (4, 0), "READ RECORD": (1, 0x0C),
            "VERIFY": (0, 0x80), "CHANGE REFERENCE DATA": (0, 0x80), "GET DATA": (0x9F, 0x17),
            "GET BALANCE": (0, 2), "GENERATE AC": (0x80, 0)}.get(spec.name, (0, 0))
    n = max(spec.data_lens)
    ne = None if spec.le == "forbidden" else 256
    return p1p2[0], p1p2[1], bytes(n), ne


def _context(spec) -> str:
    for c in ("purse", "savings", "pse", "none"):
        if c in spec.contexts:
            return c
    raise AssertionError(spec.name)


@pytest.mark.parametrize("spec", COMMANDS, ids=lambda s: s.name)
def test_c_sw_order(spec):
    ctx = _context(spec)
    t = _state(ctx)
    table = table_for(ctx)
    p1, p2, data, ne = _valid(spec)
    bad_cla = next(c for c in range(0x10, 0x100) if c not in table.clas)
    bad_ins = next(i for i in range(0x100) if i not in table.inss)
    bad_len = next(n for n in (3, 5, 200, 17) if n not in spec.data_lens)
    bad_ne = 256 if spec.le == "forbidden" else None
    writes = t.card.store.write_count

    def sw(cla, ins, p1, p2, data, ne):
        return t.send(cla, ins, p1, p2, data, ne).sw

    # wrong CLA wins over everything after it
    assert sw(bad_cla, spec.ins, p1, p2, data, ne) == 0x6E00
    assert sw(bad_cla, spec.ins, 0xFF, 0xFF, bytes(bad_len), bad_ne) == 0x6E00
    # unknown INS with a valid CLA
    assert sw(spec.cla, bad_ins, p1, p2, data, ne) == 0x6D00
    assert sw(spec.cla, bad_ins, 0xFF, 0xFF, bytes(bad_len), bad_ne) == 0x6D00
    # bad P1/P2 before lengths
    bad_p1p2 = 0x6A88 if spec.name == "GET DATA" else 0x6A86
    assert sw(spec.cla, spec.ins, 0xFF, 0xFF, data, ne) == bad_p1p2
    assert sw(spec.cla, spec.ins, 0xFF, 0xFF, bytes(bad_len), bad_ne) == bad_p1p2
    # bad lengths before security and conditions
    assert sw(spec.cla, spec.ins, p1, p2, bytes(bad_len), ne) == 0x6700
    if spec.le in ("required", "forbidden"):
        assert sw(spec.cla, spec.ins, p1, p2, data, bad_ne) == 0x6700
    raw = encode_command(spec.cla, spec.ins, p1, p2, bytes(5))[:-1]  # Lc says 5, 4 present
    assert t.raw(raw).sw == 0x6700
    assert t.card.store.write_count == writes


def test_c_sw_order_security_before_conditions():
    t = _state("purse")
    writes = t.card.store.write_count
    # PIN missing and the amount above the balance: security decides
    assert t.purchase(10_000_000).sw == 0x6982
    t.verify()
    writes = t.card.store.write_count
    assert t.purchase(10_000_000).sw == 0x6985
    assert t.card.store.write_count == writes


ABUSE_INS = [0xE2, 0xE4, 0xE6, 0xE8, 0xF0, 0xD6, 0xDC, 0x0E, 0x44, 0x04, 0xDB, 0x82,
             0xB0, 0xD0, 0xE0, 0x10]


@pytest.mark.parametrize("state", STATES)
def test_c_abuse(state):
    t = _state(state)
    before = t.card.store.snapshot()
    for cla in (0x00, 0x80, 0x84, 0xA0):
        for ins in ABUSE_INS:
            for data in (b"", bytes(16), bytes(255)):
                r = t.send(cla, ins, 0x00, 0x00, data, 256)
                assert r.sw in (0x6D00, 0x6E00, 0x6985), f"{cla:02X}{ins:02X}: {r.sw:04X}"
    assert t.card.store.snapshot() == before
