"""C-STATE: the card against a small reference model on random command sequences."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from kks_emulator.card.apps.pin import unblock_mac_input
from kks_emulator.crypto import emv
from tests.counts import sized

from .helpers import CARD_KEYS, CDOL1_DATA, PIN, T0, WRONG_PIN, arpc_for, fresh_store, powered

CAP = 20_000_000
MONTHLY = 40_000_000


class CardMachine(RuleBasedStateMachine):
    """Reference model: selection, PIN state, purse and the EMV transaction state."""

    @initialize()
    def setup(self):
        self.t = powered(fresh_store())
        self.selected = "none"
        self.verified = False
        self.ptc = 3
        self.balance = 0
        self.counter = 0
        self.month_in = 0
        self.gpo_done = False
        self.ac_state = 0
        self.atc = 0
        self.arpc = bytes(8)
        self.ac = bytes(8)
        self.blocked = False

    def _deselect_state(self):
        self.verified = False
        self.gpo_done = False
        self.ac_state = 0

    @rule(app=st.sampled_from(["pse", "ppse", "savings", "purse", "unknown"]))
    def select(self, app):
        t = self.t
        names = {"pse": b"1PAY.SYS.DDF01", "ppse": b"2PAY.SYS.DDF01",
                 "savings": bytes.fromhex("A0000006021010"),
                 "purse": bytes.fromhex("F04B4B535055525345"),
                 "unknown": bytes.fromhex("A0000000041010")}
        sw = t.select(names[app]).sw
        if app == "unknown":
            assert sw == 0x6A82
            return
        assert sw == 0x9000
        self.selected = app
        self._deselect_state()

    @rule()
    def power_cycle(self):
        self.t.card.power_off()
        self.t.card.power_on()
        self.selected = "none"
        self._deselect_state()

    @rule(correct=st.booleans())
    def verify(self, correct):
        sw = self.t.verify(PIN if correct else WRONG_PIN).sw
        if self.selected not in ("savings", "purse"):
            assert sw == 0x6D00
            return
        if self.ptc == 0:
            assert sw == 0x6983
            return
        self.ptc -= 1
        if correct:
            self.ptc = 3
            self.verified = True
            assert sw == 0x9000
        else:
            self.verified = False
            assert sw == 0x63C0 | self.ptc

    @rule()
    def get_ptc(self):
        r = self.t.get_data(0x9F17)
        if self.selected not in ("savings", "purse"):
            assert r.sw == 0x6E00  # no CLA 80 command outside the applications
        else:
            assert r.ok and r.data[3] == self.ptc

    @rule()
    def unblock(self):
        t = self.t
        if self.selected in ("pse", "ppse", "none"):
            assert t.send(0x00, 0x84, 0, 0, b"", 8).ok
            assert t.send(0x84, 0x24, 0, 0, bytes(8)).sw == 0x6E00
            return
        ch = t.send(0x00, 0x84, 0, 0, b"", 8).data
        mac = emv.mac_alg3(CARD_KEYS.mk_smi, unblock_mac_input(ch))
        assert t.send(0x84, 0x24, 0, 0, mac).sw == 0x9000
        self.ptc = 3

    @rule()
    def balance_check(self):
        r = self.t.send(0x80, 0x5C, 0, 2, b"", 4)
        if self.selected != "purse":
            assert r.sw in (0x6D00, 0x6E00)
        else:
            assert r.ok and int.from_bytes(r.data, "big") == self.balance

    @rule(amount=st.sampled_from([0, 1, 999, 50_000, 5_000_000, 25_000_000]))
    def purchase(self, amount):
        sw = self.t.purchase(amount, time=T0).sw
        if self.selected != "purse":
            assert sw in (0x6D00, 0x6E00)
        elif amount == 0:
            assert sw == 0x6A80
        elif not self.verified:
            assert sw == 0x6982
        elif amount > self.balance:
            assert sw == 0x6985
        else:
            assert sw == 0x9000
            self.balance -= amount
            self.counter += 1
            self.verified = False

    @rule(amount=st.sampled_from([0, 1, 100_000, 9_000_000, 20_000_000]), good=st.booleans())
    def load(self, amount, good):
        t = self.t
        r = t.load(amount, time=T0, s2_override=None if good else bytes(8))
        if self.selected != "purse":
            assert r.sw in (0x6D00, 0x6E00)
        elif amount == 0:
            assert r.sw == 0x6A80
        elif self.balance + amount > CAP or self.month_in + amount > MONTHLY:
            assert r.sw == 0x6985
        elif not good:
            assert r.sw == 0x6982
        else:
            assert r.sw == 0x9000
            self.balance += amount
            self.month_in += amount
            self.counter += 1

    @rule()
    def gpo(self):
        sw = self.t.gpo().sw
        if self.selected != "savings":
            assert sw in (0x6D00, 0x6E00)
        elif self.gpo_done:
            assert sw == 0x6985
        else:
            assert sw == 0x9000
            self.gpo_done = True

    @rule(p1=st.sampled_from([0x00, 0x40, 0x80]))
    def gac1(self, p1):
        r = self.t.gac(p1, CDOL1_DATA)
        if self.selected != "savings":
            assert r.sw in (0x6D00, 0x6E00)
        elif self.ac_state == 1:
            assert r.sw == 0x6700
        elif self.ac_state == 2 or not self.gpo_done:
            assert r.sw == 0x6985
        else:
            assert r.sw == 0x9000
            self.atc += 1
            online = p1 != 0 and not self.blocked
            self.ac_state = 1 if online else 2
            cid = r.data[r.data.index(b"\x9F\x27\x01") + 3]
            assert cid == (0x80 if online else 0x00)
            self.ac, self.arpc = arpc_for(r.data)
            assert self.t.card.emv_record().atc == self.atc

    @rule(good=st.booleans(), p1=st.sampled_from([0x00, 0x40]))
    def gac2(self, good, p1):
        arpc = self.arpc if good else b"\xEE" * 8
        r = self.t.gac(p1, b"00" + arpc + b"00" + bytes(9))
        if self.selected != "savings":
            assert r.sw in (0x6D00, 0x6E00)
        elif self.ac_state == 0:
            assert r.sw == 0x6700
        elif self.ac_state == 2:
            assert r.sw == 0x6985
        else:
            assert r.sw == 0x9000
            cid = r.data[r.data.index(b"\x9F\x27\x01") + 3]
            assert cid == (0x40 if good and p1 == 0x40 and not self.blocked else 0x00)
            self.ac_state = 2

    @rule()
    def internal_authenticate(self):
        r = self.t.send(0x00, 0x88, 0, 0, bytes.fromhex("01020304"), 256)
        if self.selected != "savings":
            assert r.sw in (0x6D00, 0x6E00)
        else:
            assert r.sw == 0x9000 and len(r.data) == 131

    @rule(block=st.booleans(), good=st.booleans())
    def script(self, block, good):
        from kks_emulator.issuer.scripts import script_command

        action = "application-block" if block else "application-unblock"
        cmd = script_command(CARD_KEYS, self.atc, self.ac, action)
        if not good:
            cmd = cmd[:-1] + bytes((cmd[-1] ^ 0x55,))
        sw = self.t.raw(cmd).sw
        if self.selected != "savings":
            assert sw in (0x6D00, 0x6E00)
        elif self.ac_state == 0:
            assert sw == 0x6985
        elif not good:
            assert sw == 0x6982
        else:
            assert sw == 0x9000
            self.blocked = block

    def teardown(self):
        card = getattr(self, "t", None)
        if card is None:
            return
        card.card.power_on()
        wallet = card.card.purse_record()
        assert (wallet.balance, wallet.counter) == (self.balance, self.counter)
        assert card.card.emv_record().atc == self.atc
        assert card.card.pin_record().ptc == self.ptc
        assert bool(card.card.emv_record().flags & 0x02) == self.blocked


_COMMON = {"deadline": None, "stateful_step_count": 30,
           "suppress_health_check": [HealthCheck.too_slow], "derandomize": True}
TestCardState = CardMachine.TestCase
TestCardState.settings = settings(max_examples=sized(500, 2_000, "KKS_STATE_N"), **_COMMON)


@pytest.mark.long
def test_card_state_long():
    run_state_machine_as_test(CardMachine, settings=settings(max_examples=2_000, **_COMMON))
