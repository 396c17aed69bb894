"""Selection as on a combo card: a payment kernel choosing by EMV Book 1 §12 ends on savings."""

from __future__ import annotations

import pytest

from kks_emulator.card import Card
from kks_emulator.card.apps.directory import PURSE_AID, SAVINGS_AID
from kks_emulator.terminal import apdus
from kks_emulator.terminal.exchange import Exchange
from kks_emulator.terminal.selection import (
    Candidate,
    NoApplication,
    TerminalAid,
    order,
    select_application,
)
from kks_emulator.transport.inprocess import InProcessTransport
from tests.card.helpers import fresh_store

#: A debit terminal that knows the KKS savings RID with partial matching, a foreign scheme, and
#: (to show that even knowing it does not make the purse a payment candidate from the PSE) the
#: purse AID.
TERMINAL = [TerminalAid(bytes.fromhex("A000000602"), partial=True),
            TerminalAid(bytes.fromhex("A0000000031010")), TerminalAid(PURSE_AID)]


def _exchange(protocol: str) -> Exchange:
    transport = InProcessTransport(Card(fresh_store(), protocol=protocol))
    transport.connect()
    return Exchange(transport)


@pytest.mark.parametrize("protocol", ["T=1", "T=0"])
def test_book1_selection_from_the_pse_ends_on_savings(protocol):
    ex = _exchange(protocol)
    chosen = select_application(ex, TERMINAL)
    assert chosen.method == "PSE"
    assert [c.aid for c in chosen.candidates] == [SAVINGS_AID]
    assert chosen.candidate.aid == SAVINGS_AID and chosen.candidate.priority == 1
    gpo = ex.transmit(apdus.get_processing_options(bytes.fromhex("036022")))
    assert gpo.ok, hex(gpo.sw)  # a payment kernel's next step works (no 6D00)


def test_payment_kernel_without_the_purse_aid_never_sees_it():
    ex = _exchange("T=1")
    chosen = select_application(ex, TERMINAL[:2], use_pse=False)
    assert chosen.method == "AID list"
    assert [c.aid for c in chosen.candidates] == [SAVINGS_AID]


def test_no_common_application_terminates():
    ex = _exchange("T=1")
    with pytest.raises(NoApplication):
        select_application(ex, [TerminalAid(bytes.fromhex("A0000000041010"))])


def test_priority_order_and_confirmation():
    a = Candidate(b"A" * 7, "a", None, False)
    b = Candidate(b"B" * 7, "b", 2, False)
    c = Candidate(b"C" * 7, "c", 1, True)
    assert order([a, b, c]) == [b, a]
    assert order([a, b, c], can_confirm=True) == [c, b, a]
