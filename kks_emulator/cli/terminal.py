"""`kks terminal ...`: an EDC at an e-warong driving a card file in process.

The card is reached through `open_transport`, the one place that turns command-line options
into a `Transport` (in process for a card file today; a PC/SC reader option plugs in there).
Offline purse purchases go into a batch file; `upload` clears it at the issuer ledger.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import click

from kks_emulator.errors import InputError
from kks_emulator.transport.base import Transport
from kks_emulator.transport.inprocess import InProcessTransport


def open_transport(card_file: Path | None, protocol: str = "T=1",
                   reader: str | None = None) -> Transport:
    """The transport for the card named on the command line (a card file, or a PC/SC reader)."""
    from kks_emulator.card import Card, FileStore

    if reader is not None:  # PC/SC (kks_emulator/transport/pcsc.py, docs/pcsc.md)
        if card_file is not None:
            raise InputError("give a card file CARD or --reader NAME, not both")
        from kks_emulator.transport.pcsc import PcscTransport

        return PcscTransport(reader, protocols=protocol,
                             on_event=lambda text: click.echo(text, err=True))
    if card_file is None:
        raise InputError("give a card file CARD or --reader NAME (see `kks readers`)")
    if not card_file.is_file():
        raise InputError(f"{card_file}: no such card file (make one with `kks card personalize`)")
    return InProcessTransport(Card(FileStore(card_file, create=False), protocol=protocol))


def _ca_keys() -> dict:
    from kks_emulator.issuer.host import BANKS
    from kks_emulator.keys import IssuerKeys

    return {bank: IssuerKeys.test_issuer(bank).ca_public_key for bank in BANKS}


@contextlib.contextmanager
def _edc(opts: dict, card_file: Path | None, *, issuer: bool) -> Iterator:
    from kks_emulator.issuer.host import Host
    from kks_emulator.terminal.batch import Batch
    from kks_emulator.terminal.edc import Edc
    from kks_emulator.terminal.exchange import Exchange

    terminal_id = opts["terminal_id"].encode("ascii", "replace")
    if len(terminal_id) != 8:
        raise InputError("--terminal-id must be 8 ASCII characters")
    host = None
    if issuer and opts.get("host"):
        from kks_emulator.terminal.hostlink import open_link

        host = open_link(opts["host"], terminal_id)
    elif issuer:
        db: Path | None = opts["issuer_db"]
        if db is None:
            raise InputError("this operation goes online: give --issuer-db FILE or --host ADDR")
        if not db.is_file():
            raise InputError(f"--issuer-db {db}: no issuer ledger there (see `kks issuer open`)")
        host = Host.open(str(db), opts["bank"])
    transcript: TextIO | None = opts["transcript"].open("a") if opts["transcript"] else None
    reader = opts.get("reader")
    transport = open_transport(card_file, opts["protocol"], reader) if card_file or reader \
        else None
    batch_path = opts["batch"] or Path(f"kks-edc-{opts['terminal_id']}.jsonl")
    try:
        ex = Exchange(transport, transcript) if transport else None
        edc = Edc(ex, terminal_id, opts["merchant"], host, _ca_keys(),
                  batch=Batch.open(batch_path))
        if transport is not None:
            edc.insert()
        yield edc
    finally:
        if transport is not None:
            transport.disconnect(unpower=True)
        if transcript is not None:
            transcript.close()
        if host is not None and hasattr(host, "close"):
            host.close()


def _common(fn):
    opts = [
        click.option("--terminal-id", default="EDC00001", show_default=True,
                     help="8-character terminal id."),
        click.option("--merchant", default="W1", show_default=True,
                     help="E-warong (merchant) id at the issuer."),
        click.option("--issuer-db", type=click.Path(dir_okay=False, path_type=Path),
                     help="Issuer ledger for online operations (in process)."),
        click.option("--host", metavar="ADDR",
                     help="Issuer host on the wire instead of --issuer-db: HOST:PORT speaks "
                          "ISO 8583, http://HOST:PORT JSON (see `kks issuer serve`)."),
        click.option("--bank", default="BRI", show_default=True, help="Issuer bank code."),
        click.option("--batch", type=click.Path(dir_okay=False, path_type=Path),
                     help="Batch file of offline purchases (default kks-edc-<terminal>.jsonl)."),
        click.option("--transcript", type=click.Path(dir_okay=False, path_type=Path),
                     help="Append every APDU exchange to this JSON-lines file."),
        click.option("--protocol", type=click.Choice(["T=0", "T=1"]), default="T=1",
                     show_default=True),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


_CARD_FILE = click.argument("card_file", metavar="[CARD]", required=False,
                            type=click.Path(dir_okay=False, path_type=Path))
_READER = click.option("--reader", metavar="NAME", default=None,
                       help="Use the card in this PC/SC reader (name, substring or index from "
                            "`kks readers`) instead of a card file.")


def CARD(fn):  # upper case: it replaces the module-level decorator of that name
    """A card file argument, or `--reader NAME` for a card in a PC/SC reader (one of them)."""

    @functools.wraps(fn)
    def wrapper(card_file: Path | None, **kwargs):
        if card_file is None and kwargs.get("reader") is None:
            raise InputError("give a card file CARD or --reader NAME (see `kks readers`)")
        return fn(card_file, **kwargs)

    return _CARD_FILE(_READER(wrapper))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def terminal() -> None:
    """The EDC terminal: balance, purchases (purse offline or savings online), loads, upload."""


@terminal.command("read")
@CARD
@_common
def read_cmd(card_file: Path, **opts) -> None:
    """Read CARD like an EMV reader: directory, savings records, purse balance."""
    from kks_emulator.terminal import reader

    with _edc(opts, card_file, issuer=False) as edc:
        aids = reader.list_applications(edc.ex)
        data = reader.read_savings(edc.ex)
        click.echo("applications  " + " ".join(a.hex().upper() for a in aids))
        click.echo(f"PAN           {data.pan} (PSN {data.psn:02d})")
        click.echo(f"expiry        {data.expiry}")
        click.echo(f"name          {data.name}")
        click.echo(f"AIP           {data.aip.hex().upper()}")
        click.echo(f"purse balance Rp {edc.balance():,}")


@terminal.command()
@CARD
@_common
def balance(card_file: Path, **opts) -> None:
    """Show the purse balance of CARD."""
    with _edc(opts, card_file, issuer=False) as edc:
        click.echo(f"purse balance Rp {edc.balance():,}")


@terminal.command()
@CARD
@click.option("--amount", type=click.IntRange(min=1), required=True, help="Rupiah.")
@click.option("--pin", required=True, help="Cardholder PIN (6 digits).")
@click.option("--savings", is_flag=True,
              help="Pay online from the savings account (ARQC/ARPC) instead of the purse.")
@_common
def purchase(card_file: Path, amount: int, pin: str, savings: bool, **opts) -> None:
    """Buy for AMOUNT with CARD: offline from the purse (record kept for clearing) or online."""
    with _edc(opts, card_file, issuer=savings) as edc:
        if savings:
            r = edc.purchase_savings(amount, pin)
            click.echo(f"{'approved' if r.approved else 'declined'} ({r.arc}): {r.reason}")
        else:
            rec = edc.purchase_purse(amount, pin).record
            click.echo(f"purse purchase Rp {rec.amount:,}: counter {rec.counter}, "
                       f"balance Rp {rec.balance_after:,}, signed record kept in batch "
                       f"({len(edc.batch.items)} item(s))")


@terminal.command()
@CARD
@click.option("--amount", type=click.IntRange(min=1), required=True, help="Rupiah.")
@click.option("--pin", required=True, help="Cardholder PIN (6 digits).")
@_common
def load(card_file: Path, amount: int, pin: str, **opts) -> None:
    """Load CARD's purse from its savings account (issuer-authorised)."""
    with _edc(opts, card_file, issuer=True) as edc:
        r = edc.load(amount, pin)
        click.echo(f"loaded Rp {r.amount:,}: purse balance Rp {r.balance:,} (counter {r.counter})")


def _archive_name(batch: Path) -> Path:
    """`kks-edc-EDC00001.jsonl` -> the first free `kks-edc-EDC00001.cleared-N.jsonl`."""
    n = 1
    while True:
        candidate = batch.with_name(f"{batch.stem}.cleared-{n}{batch.suffix}")
        if not candidate.exists():
            return candidate
        n += 1


@terminal.command()
@CARD
@click.option("--amount", type=click.IntRange(min=1), required=True, help="Rupiah.")
@click.option("--pin", required=True, help="Cardholder PIN (6 digits).")
@click.option("--date", default=None, help="Transaction date YYMMDD (default: today).")
@_common
def emv(card_file: Path, amount: int, pin: str, date: str | None, **opts) -> None:
    """Savings purchase through the EDC's EMV kernel: outcome, TVR, TSI and every step."""
    with _edc(opts, card_file, issuer=True) as edc:
        out = edc.emv_purchase(amount, pin, date=date)
        click.echo(f"{out.outcome}: {out.reason}")
        click.echo(f"TVR {out.tvr}  TSI {out.tsi}  ODA {out.oda or '-'}"
                   + (f"  scripts {out.script_results}" if out.script_results else ""))
        for step in out.steps:
            click.echo(f"  {step}")


@terminal.command()
@click.option("--delete", is_flag=True,
              help="Delete the batch file after a successful upload (default: keep it, renamed "
                   "<batch>.cleared-N.jsonl, so a new day starts with an empty batch).")
@_common
def upload(delete: bool, **opts) -> None:
    """Send the batch of signed purse records to the issuer for clearing."""
    with _edc(opts, None, issuer=True) as edc:
        if not edc.batch.items:
            raise InputError("the batch is empty: nothing to upload")
        path = edc.batch.path
        archive = None if delete or path is None else _archive_name(path)
        r = edc.upload(archive=archive)
        click.echo(f"cleared {len(r['accepted'])} record(s) for Rp {r['total']:,}; "
                   f"refused {len(r['refused'])}")
        if path is not None:
            click.echo(f"batch file {path} " + ("deleted" if archive is None
                                                 else f"kept as {archive}"))
        for refusal in r["refused"]:
            click.echo(f"  item {refusal['index']}: {refusal['reason']}")
