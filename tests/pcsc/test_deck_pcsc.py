"""Every test-deck card through a real pcscd with the EDC: the expected outcome of
`kks card profiles`, reached over PC/SC (in-thread card server on vpcd slot 1), and one deck
card made and served by the CLI (`kks card personalize --profile`, `kks card serve`) in T=0."""

from __future__ import annotations

import random
import subprocess
import threading

import pytest

from kks_emulator.card import Card, MemoryStore
from kks_emulator.card.deck import PROFILES, personalize_deck
from kks_emulator.certification import deck_world, run_deck_card
from kks_emulator.terminal.exchange import Exchange
from kks_emulator.transport.pcsc import PcscTransport
from kks_emulator.transport.testing import (
    ServedProcess,
    kks_command,
    virtual_reader,
    wait_for_reader,
)
from kks_emulator.transport.vpcd import VPCD_BASE_PORT, VpcdServer

pytestmark = pytest.mark.pcsc

SLOT1 = virtual_reader(1)


def test_every_deck_card_through_pcscd(pcscd):
    failures = []
    for name, profile in PROFILES.items():
        wait_for_reader(SLOT1, present=False, timeout_s=10)
        store = MemoryStore()
        personalize_deck(store, name)
        card = Card(store, rng=random.Random(3).randbytes)
        server = VpcdServer(card, port=VPCD_BASE_PORT + 1)
        thread = threading.Thread(target=server.serve_forever, name=f"deck-{name}", daemon=True)
        thread.start()
        try:
            wait_for_reader(SLOT1, present=True, timeout_s=10)
            with PcscTransport(SLOT1, timeout_s=10) as transport:
                out = run_deck_card(Exchange(transport), deck_world(), profile)
        finally:
            server.stop()
            thread.join(5)
        if out.outcome != profile.outcome or not (
                profile.expect in out.reason or any(profile.expect in s for s in out.steps)):
            failures.append((name, out.outcome, out.reason))
    wait_for_reader(SLOT1, present=False, timeout_s=10)
    assert not failures, failures


def test_cli_deck_card_served_in_t0(pcscd, tmp_path, pcsc_logs):
    path = tmp_path / "cda-wrong.kks"
    made = subprocess.run([*kks_command(), "card", "personalize", str(path), "--profile",
                           "cda-wrong"], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0 and "must end DECLINED OFFLINE" in made.stdout, made.stderr
    listed = subprocess.run([*kks_command(), "card", "profiles"], capture_output=True,
                            text=True, timeout=60)
    assert listed.returncode == 0
    assert len(listed.stdout.splitlines()) == len(PROFILES) + 1
    proc = ServedProcess([*kks_command(), "card", "serve", str(path), "--slot", "0",
                          "--protocol", "T=0", "--test-rng", "7"], slot=0,
                         log_path=pcsc_logs / "serve-deck.log")
    proc.start()
    try:
        with PcscTransport(virtual_reader(0), timeout_s=10, protocols="T=0") as transport:
            assert transport.protocol == "T=0"
            out = run_deck_card(Exchange(transport), deck_world(), PROFILES["cda-wrong"])
    finally:
        code = proc.stop()
    assert code == 0
    assert out.outcome == "DECLINED OFFLINE" and out.tvr == "0400000000", out.steps
