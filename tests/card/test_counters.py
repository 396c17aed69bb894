"""C-ATC: the EMV ATC and the purse counter block value commands at their maximum (6985),
never wrap, and only increase across power cycles and tears."""

from __future__ import annotations

import random

import pytest

from kks_emulator.card import CUT_MODES, PowerCut
from kks_emulator.crypto import purse
from tests.counts import sized

from .helpers import CDOL1_DATA, fresh_store, powered


def test_atc_at_max_blocks_generate_ac():
    t = powered(fresh_store(initial_atc=0xFFFE))
    t.select_savings()
    t.gpo()
    r = t.gac(0x80, CDOL1_DATA)
    assert r.ok and t.get_data(0x9F36).data == bytes.fromhex("9F3602FFFF")
    t.select_savings()
    t.gpo()
    before = t.card.store.snapshot()
    assert t.gac(0x80, CDOL1_DATA).sw == 0x6985
    assert t.gac(0x00, CDOL1_DATA).sw == 0x6985
    assert t.card.store.snapshot() == before


def test_purse_counter_at_max_blocks_value_commands():
    t = powered(fresh_store(initial_counter=0xFFFFFFFD))
    t.select_purse()
    assert t.load(10_000).ok  # NT FFFFFFFE
    t.verify()
    r = t.purchase(100)
    assert r.ok and purse.TransactionRecord.decode(r.data[:43]).counter == 0xFFFFFFFF
    before = t.card.store.snapshot()
    t.verify()
    assert t.purchase(100).sw == 0x6985
    assert t.init_load(100).sw == 0x6985
    assert t.balance() == 9_900
    after_verify = t.card.store.snapshot()
    assert {k: v for k, v in after_verify.items() if k != "pin"} == \
        {k: v for k, v in before.items() if k != "pin"}


def test_counter_strictly_increasing_with_tears():
    _counter_run(sized(2_000, 70_000, "KKS_ATC_N"))


@pytest.mark.long
def test_counter_strictly_increasing_with_tears_long(long_counts):
    test_counter_strictly_increasing_with_tears()


def _counter_run(n: int) -> None:
    rng = random.Random(99)
    store = fresh_store()
    t = powered(store)
    t.select_purse()
    assert t.load(20_000_000).ok
    last = 1
    for i in range(n):
        cut = rng.random() < 0.2
        if cut:
            at = store.write_count + rng.randint(1, 10)
            mode = rng.choice(CUT_MODES)
            store.fault_hook = lambda k, at=at, mode=mode: mode if k == at else None
        try:
            t.verify()
            r = t.purchase(1, time=1764000000 + i)
            if r.ok:
                c = purse.TransactionRecord.decode(r.data[:43]).counter
                assert c == last + 1
                last = c
        except PowerCut:
            t.card.power_on()
            t.select_purse()
        store.fault_hook = None
        now = t.card.purse_record().counter
        assert now in (last, last + 1)
        last = now
    assert last > 1
