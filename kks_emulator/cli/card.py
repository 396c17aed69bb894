"""`kks card`: personalise a card file, show what is on it, send it raw APDUs in-process."""

from __future__ import annotations

from pathlib import Path

import click

from kks_emulator.cli.apdu_text import echo_exchange, parse_hex_apdus
from kks_emulator.errors import InputError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def card() -> None:
    """Personalise, inspect and talk to emulated KKS cards (card files)."""


@card.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--bank", help="Issuing HIMBARA bank code, e.g. BRI, BNI (deck cards: BRI).")
@click.option("--pan", help="16-digit PAN (not with --profile).")
@click.option("--pin", help="6-digit cardholder PIN (not with --profile).")
@click.option("--psn", type=int, default=1, show_default=True, help="PAN sequence number.")
@click.option("--name", default="KPM TEST", show_default=True, help="Cardholder name.")
@click.option("--expiry", default="3012", show_default=True, help="Expiry YYMM.")
@click.option("--policy", "policy_name", type=click.Choice(["BI_2018", "BI_2022_07"]),
              default="BI_2022_07", show_default=True, help="E-money limits preset.")
@click.option("--unregistered", is_flag=True, help="Unregistered e-money (lower cap).")
@click.option("--pin-threshold", type=int, default=0, show_default=True,
              help="Purchases of at least this amount need the PIN (0 = always).")
@click.option("--test-mode", is_flag=True,
              help="Deterministic card signing key (test issuer keys are always used).")
@click.option("--profile", "deck", metavar="NAME",
              help="A test-deck card (see `kks card profiles`); other card options ignored.")
def personalize(out: Path, bank: str | None, pan: str | None, pin: str | None, psn: int,
                name: str, expiry: str, policy_name: str, unregistered: bool,
                pin_threshold: int, test_mode: bool, deck: str | None) -> None:
    """Personalise a new card file OUT with keys of the deterministic test issuer for BANK."""
    from kks_emulator.card import CardProfile, FileStore
    from kks_emulator.card import personalize as do_personalize
    from kks_emulator.keys import IssuerKeys
    from kks_emulator.policy import PRESETS

    if out.exists():
        raise InputError(f"{out}: already exists (personalisation writes a new card file)")
    if not out.parent.exists():
        raise InputError(f"{out.parent}: directory not found")
    if deck is not None:
        from kks_emulator.cli.deck import personalize_deck_file

        click.echo(personalize_deck_file(out, deck, bank or "BRI"))
        return
    if bank is None or pan is None or pin is None:
        raise InputError("kks card personalize: --bank, --pan and --pin are required "
                         "(or --profile NAME for a test-deck card)")
    policy = PRESETS[policy_name].with_registered(not unregistered)
    profile = CardProfile(bank=bank, pan=pan, pin=pin, psn=psn, name=name, expiry=expiry,
                          policy=policy, pin_threshold=pin_threshold, test_mode=test_mode)
    profile.validate()
    do_personalize(FileStore(out), profile, IssuerKeys.test_issuer(bank))
    click.echo(f"personalised {out}: {bank} PAN {pan} PSN {psn:02d}")


@card.command()
def profiles() -> None:
    """List the test-deck profiles with the outcome the EDC must reach on each."""
    from kks_emulator.cli.deck import profiles_text

    click.echo(profiles_text())


@card.command()
@click.argument("card_file", metavar="CARD", type=click.Path(dir_okay=False, path_type=Path))
def info(card_file: Path) -> None:
    """Show the persistent state of card file CARD."""
    from kks_emulator.card import FileStore
    from kks_emulator.card.info import card_info

    for key, value in card_info(FileStore(card_file, create=False)).items():
        click.echo(f"{key:16} {value}")


@card.command()
@click.argument("card_file", metavar="CARD", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("apdus", metavar="HEX...", nargs=-1, required=True)
@click.option("--protocol", type=click.Choice(["T=0", "T=1"]), default="T=1",
              show_default=True)
def apdu(card_file: Path, apdus: tuple[str, ...], protocol: str) -> None:
    """Power CARD on and send each command APDU (hex); print every response."""
    from kks_emulator.card import Card, FileStore

    commands = parse_hex_apdus(apdus)
    c = Card(FileStore(card_file, create=False), protocol=protocol)
    click.echo(f"ATR {c.power_on().hex().upper()}")
    for command in commands:
        echo_exchange(command, c.transmit(command))
    c.power_off()


# PC/SC: `kks card serve` and `kks card apdu --reader` (kks_emulator/cli/card_pcsc.py).
from kks_emulator.cli.card_pcsc import attach as _attach_pcsc  # noqa: E402

_attach_pcsc(card)
