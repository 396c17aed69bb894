"""PIN rules: C-PIN-LIMIT, C-PIN-RESET, C-PIN-TEAR, CHANGE REFERENCE DATA and issuer unblock."""

from __future__ import annotations

import contextlib
import random

from kks_emulator.card import CUT_MODES, Card, PowerCut
from kks_emulator.card.apps.pin import unblock_mac_input
from kks_emulator.crypto import emv
from kks_emulator.pinblock import plain_pin_block
from tests.counts import sized

from .helpers import CARD_KEYS, CDOL1_DATA, PIN, WRONG_PIN, fresh_store, loaded, powered


def test_c_pin_limit():
    t = powered(loaded())
    t.select_purse()
    assert [t.verify(WRONG_PIN).sw for _ in range(3)] == [0x63C2, 0x63C1, 0x63C0]
    before = t.card.store.snapshot()
    assert t.verify(PIN).sw == 0x6983
    assert t.verify(WRONG_PIN).sw == 0x6983
    assert t.send(0x00, 0x20, 0x00, 0x80).sw == 0x6983
    assert t.card.store.snapshot() == before
    assert t.ptc() == 0
    assert t.purchase(1000).sw == 0x6982
    t.select_savings()
    t.gpo()
    r = t.gac(0x80, CDOL1_DATA)
    assert r.data[-3] & 0x20  # CVR: PIN try limit exceeded
    # power cycle does not help
    t.card.power_on()
    t.select_purse()
    assert t.verify(PIN).sw == 0x6983


def test_c_pin_reset():
    t = powered(loaded())
    t.select_purse()
    assert t.verify(WRONG_PIN).sw == 0x63C2
    assert t.verify(WRONG_PIN).sw == 0x63C1
    assert t.verify(PIN).ok
    assert t.ptc() == 3
    assert t.send(0x00, 0x20, 0x00, 0x80).ok  # case 1: already verified
    t.card.power_off()
    t.card.power_on()
    t.select_purse()
    assert t.purchase(1000).sw == 0x6982
    assert t.send(0x00, 0x20, 0x00, 0x80).sw == 0x63C3
    t.verify()
    t.card.reset()
    t.select_purse()
    assert t.purchase(1000).sw == 0x6982
    t.verify()
    t.select_savings()
    t.select_purse()
    assert t.purchase(1000).sw == 0x6982  # SELECT also clears the flag


def test_malformed_pin_block_changes_nothing():
    t = powered()
    t.select_purse()
    before = t.card.store.snapshot()
    for block in ("24123456FFFFFFFF", "2612345AFFFFFFFF", "16123456FFFFFFFF", "261234560FFFFFFF"):
        assert t.send(0, 0x20, 0, 0x80, bytes.fromhex(block)).sw == 0x6A80
    assert t.send(0, 0x20, 0, 0x80, bytes(4)).sw == 0x6700
    assert t.send(0, 0x20, 0, 0x00, plain_pin_block(PIN)).sw == 0x6A86
    assert t.card.store.snapshot() == before


def test_change_reference_data():
    t = powered()
    t.select_purse()
    new = "112233"
    assert t.send(0, 0x24, 0, 0x80, plain_pin_block(WRONG_PIN) + plain_pin_block(new)).sw \
        == 0x63C2
    assert t.send(0, 0x24, 0, 0x80, plain_pin_block(PIN) + plain_pin_block(new)).ok
    assert t.ptc() == 3
    t.select_purse()
    assert t.verify(PIN).sw == 0x63C2
    assert t.verify(new).ok


def _unblock(t, mac_key=CARD_KEYS.mk_smi):
    ch = t.send(0x00, 0x84, 0, 0, b"", 8).data
    return t.send(0x84, 0x24, 0, 0, emv.mac_alg3(mac_key, unblock_mac_input(ch)))


def test_unblock_only_with_issuer_mac():
    t = powered()
    t.select_purse()
    for _ in range(3):
        t.verify(WRONG_PIN)
    assert t.ptc() == 0
    before = t.card.store.snapshot()
    assert t.send(0x84, 0x24, 0, 0, bytes(8)).sw == 0x6985  # no challenge
    assert _unblock(t, bytes(16)).sw == 0x6982  # wrong key
    ch = t.send(0x00, 0x84, 0, 0, b"", 8).data
    good = emv.mac_alg3(CARD_KEYS.mk_smi, unblock_mac_input(ch))
    t.balance()  # the challenge is valid for the next command only
    assert t.send(0x84, 0x24, 0, 0, good).sw == 0x6985
    assert t.send(0x84, 0x24, 0, 0, good).sw == 0x6985  # and never replayable
    assert t.card.store.snapshot() == before
    assert _unblock(t).ok
    assert t.ptc() == 3
    assert t.verify(PIN).ok


def test_c_pin_tear():
    """Attacker: wrong VERIFY with a power cut at every write and after processing, repeatedly.
    Observed wrong guesses never exceed the limit and the counter never goes up."""
    rng = random.Random(20261124)
    store = fresh_store()
    card = Card(store, rng=random.Random(1).randbytes)
    card.power_on()
    card.transmit(bytes.fromhex("00A4040009F04B4B53505552534500"))
    verify_wrong = bytes.fromhex("0020008008") + plain_pin_block(WRONG_PIN)
    observed = 0
    last_ptc = 3
    n = sized(10_000, 100_000, "KKS_PIN_TEAR_N")
    for i in range(n):
        cut_at = rng.randint(1, 7)  # 1..6: NVM writes of a VERIFY; 7: after the answer
        mode = rng.choice(CUT_MODES)
        base = store.write_count
        store.fault_hook = (lambda k, b=base, c=cut_at, m=mode: m if k == b + c else None)
        try:
            resp = card.transmit(verify_wrong)
            store.fault_hook = None
            if cut_at == 7:
                resp = None  # the attacker pulls the card before the answer arrives
        except PowerCut:
            resp = None
        store.fault_hook = None
        if resp is not None and resp[0] == 0x63:
            observed += 1
        card.power_on()
        card.transmit(bytes.fromhex("00A4040009F04B4B53505552534500"))
        ptc = card.transmit(bytes.fromhex("80CA9F1700"))[3]
        assert ptc <= last_ptc, f"iteration {i}: counter increased"
        last_ptc = ptc
        if ptc == 0 and i > 50:
            break
    assert observed <= 3
    assert last_ptc == 0
    assert card.transmit(verify_wrong) == b"\x69\x83"


def test_pin_tear_of_correct_pin_never_raises_counter_beyond_limit():
    for cut in range(1, 7):
        for mode in CUT_MODES:
            store = fresh_store()
            t = powered(store)
            t.select_purse()
            t.verify(WRONG_PIN)
            base = store.write_count
            store.fault_hook = lambda k, b=base, c=cut, m=mode: m if k == b + c else None
            with contextlib.suppress(PowerCut):
                t.verify(PIN)
            store.fault_hook = None
            t.card.power_on()
            t.select_purse()
            # pre-decrement: 2 or 1 (torn before the reset), or 3 (reset committed)
            assert t.ptc() in (1, 2, 3)
            assert t.ptc() != 2 or cut <= 3  # a cut after the decrement committed shows 1
