"""The test deck in process: every deck card brings the EDC (EMV kernel or purse flows) to the
outcome `kks card profiles` promises, with the TVR bits of the book; the transcripts document
(docs/deck-transcripts.md) is current."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from kks_emulator.card import Card, MemoryStore
from kks_emulator.card.deck import PROFILES, deck_profile, personalize_deck
from kks_emulator.certification import deck_world, run_deck_card, transcripts_document
from kks_emulator.errors import InputError
from kks_emulator.terminal.exchange import Exchange
from kks_emulator.transport.inprocess import InProcessTransport

DOC = Path(__file__).resolve().parents[2] / "docs" / "deck-transcripts.md"
#: TVR the kernel must end with, per deck card (EMV Book 3 Annex C5 bit meanings).
TVR = {
    "standard": "0000000000", "expired": "0440000000", "not-yet-effective": "0020000000",
    "pin-blocked": "0000A00000", "pin-one-try": "0000000000", "always-aac": "0000000000",
    "online-only": "0000000000", "floor-exceeded": "0000008000", "counter-max": "0000000000",
    "issuer-cert-expired": "0400000000", "issuer-revoked": "0400000000",
    "sda-corrupt": "4000000000", "cda-wrong": "0400000000", "no-common-cvm": "0000800000",
}


def _run(name: str, protocol: str = "T=1"):
    store = MemoryStore()
    profile = personalize_deck(store, name)
    card = Card(store, rng=random.Random(3).randbytes, protocol=protocol)
    transport = InProcessTransport(card)
    transport.connect()
    host = deck_world()
    return profile, run_deck_card(Exchange(transport), host, profile), host


@pytest.mark.parametrize("name", list(PROFILES))
def test_deck_card_reaches_its_outcome(name):
    profile, out, _ = _run(name)
    assert out.outcome == profile.outcome, (name, out.reason, out.steps)
    assert profile.expect in out.reason or any(profile.expect in s for s in out.steps), out.steps
    if name in TVR:
        assert out.tvr == TVR[name], (name, out.steps)


def test_deck_in_t0_too():
    for name in ("standard", "cda-wrong", "floor-exceeded"):
        profile, out, _ = _run(name, "T=0")
        assert out.outcome == profile.outcome


def test_online_approval_debits_once_and_tsi():
    _, out, host = _run("floor-exceeded")
    assert out.approved and out.journal is not None and out.tsi == "D800"
    assert host.balance("SAV-0001") == 1_000_000 - 150_000


def test_issuer_script_applied_by_the_kernel():
    """The issuer queues an APPLICATION BLOCK; the EDC applies it after the second GENERATE AC
    and reports it in 9F5B; the card's next transaction is declined by the card."""
    from kks_emulator.issuer.scripts import ScriptRequest

    store = MemoryStore()
    profile = personalize_deck(store, "floor-exceeded")
    card = Card(store, rng=random.Random(3).randbytes)
    transport = InProcessTransport(card)
    transport.connect()
    host = deck_world()
    host.scripts.add("6013500012345678", ScriptRequest("application-block"))
    out = run_deck_card(Exchange(transport), host, profile)
    assert out.outcome == "APPROVED ONLINE"
    assert out.script_results == "2000000001" and out.tsi == "DC00"
    transport.disconnect(unpower=True)
    transport.connect()
    again = run_deck_card(Exchange(transport), host, deck_profile("standard"))
    assert again.outcome == "DECLINED BY CARD"


def test_unknown_profile_is_one_line():
    with pytest.raises(InputError, match="unknown deck profile"):
        deck_profile("nope")


def test_transcripts_document_is_current():
    assert DOC.read_text(encoding="utf-8") == transcripts_document()


def test_cli_deck_card_and_emv_purchase(tmp_path, capsys):
    from kks_emulator.cli.main import main

    card, db = tmp_path / "floor.kks", tmp_path / "issuer.db"
    assert main(["card", "personalize", str(card), "--profile", "floor-exceeded"]) == 0
    assert "must end APPROVED ONLINE" in capsys.readouterr().out
    assert main(["card", "profiles"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in PROFILES)
    assert main(["issuer", "--db", str(db), "open", "0001", "--holder", "KPM DECK", "--pan",
                 "6013500012345678"]) == 0
    assert main(["issuer", "--db", str(db), "open-merchant", "W1", "--name", "e-warong"]) == 0
    assert main(["issuer", "--db", str(db), "credit", "--period", "2026-12", "--beneficiary",
                 "B1", "--account", "0001", "--amount", "500000"]) == 0
    capsys.readouterr()
    assert main(["terminal", "emv", str(card), "--amount", "150000", "--pin", "123456",
                 "--date", "261207", "--issuer-db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("APPROVED ONLINE") and "TVR 0000008000  TSI D800  ODA CDA" in out
    assert main(["card", "personalize", str(tmp_path / "x.kks"), "--profile", "nope"]) == 2
    assert not (tmp_path / "x.kks").exists()


def _kernel_run(store, host, *, config=None, amount=25_000, seed=3):
    from kks_emulator.terminal.kernel import Kernel, KernelConfig

    card = Card(store, rng=random.Random(seed).randbytes)
    transport = InProcessTransport(card)
    transport.connect()
    kernel = Kernel(Exchange(transport), host, "W1", config or KernelConfig(),
                    random.Random(seed).randbytes)
    out = kernel.purchase(amount, "123456", "261207")
    transport.disconnect(unpower=True)
    return out


def test_velocity_checking_with_the_cards_offline_limits():
    """Lower limit 1, upper 3 (9F14/9F23): a new card goes online once (new card bit), then
    offline while ATC - last online ATC <= 1, then online again (TVR byte 4 bit 40)."""
    from kks_emulator.card import personalize
    from kks_emulator.card.deck import card_profile
    from kks_emulator.keys import IssuerKeys

    store = MemoryStore()
    base = card_profile(PROFILES["standard"])
    personalize(store, dataclasses.replace(base, offline_limits="0103"),
                IssuerKeys.test_issuer("BRI"))
    host = deck_world()
    outs = [_kernel_run(store, host, seed=s) for s in range(4)]
    assert [o.outcome for o in outs] == ["APPROVED ONLINE", "APPROVED OFFLINE",
                                         "APPROVED OFFLINE", "APPROVED ONLINE"], outs
    assert outs[0].tvr == "0008000000" and outs[3].tvr == "0000004000"
    assert any("2 offline" in s for s in outs[3].steps)


def test_random_transaction_selection():
    from kks_emulator.terminal.kernel import KernelConfig

    always = KernelConfig(random_target=99, random_max=99, random_threshold=0)
    store = MemoryStore()
    personalize_deck(store, "standard")
    out = _kernel_run(store, deck_world(), config=always)
    assert out.outcome == "APPROVED ONLINE" and out.tvr == "0000001000"
    store = MemoryStore()
    personalize_deck(store, "standard")
    never = KernelConfig(random_target=0, random_max=1, random_threshold=10**9)
    assert _kernel_run(store, deck_world(), config=never).tvr == "0000000000"
