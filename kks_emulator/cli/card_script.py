"""`kks card script FILE [CARD] [--reader NAME]`: a conformance run of an APDU script.

The steps and matching are in `kks_emulator.terminal.script`; this module reads the file, opens
the card (a card file in process, or a PC/SC reader), prints the pass/fail table and exits 1 if
any step failed (2 for a malformed script or a missing card).
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from kks_emulator.errors import InputError, KksError


class ScriptFailed(KksError):
    """At least one step's answer did not match: exit code 1 (a conformance failure)."""

    exit_code = 1


def _resetter(transport):
    """A warm reset through PC/SC; a power cycle in process."""
    if hasattr(transport, "reconnect"):
        return transport.reconnect

    def cycle() -> bytes:
        transport.disconnect(unpower=True)
        return transport.connect()

    return cycle


@click.command("script")
@click.argument("script_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("card_file", metavar="[CARD]", required=False,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--reader", default=None, metavar="NAME",
              help="Run against the card in this PC/SC reader instead of a card file.")
@click.option("--protocol", type=click.Choice(["T=0", "T=1"]), default=None,
              help="In process: the card's protocol [T=1]. With --reader: the protocol to ask "
                   "for [any].")
@click.option("--timeout", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="With --reader: seconds to wait for a card.")
def script(script_file: Path, card_file: Path | None, reader: str | None, protocol: str | None,
           timeout: float) -> None:
    """Send the APDUs of FILE in order and check each answer; exit 1 on any mismatch."""
    from kks_emulator.cli.issuer import console
    from kks_emulator.terminal.script import parse_script, run_script

    try:
        text = script_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{script_file}: cannot read the script ({exc})") from None
    steps = parse_script(text, str(script_file))
    if (card_file is None) == (reader is None):
        raise InputError("give a card file CARD or --reader NAME (one of them)")
    if reader is not None:
        from kks_emulator.transport.pcsc import PcscTransport

        protocols = {"T=0": "T0", "T=1": "T1", None: "any"}[protocol]
        transport = PcscTransport(reader, timeout_s=timeout, protocols=protocols)
        where = reader
    else:
        from kks_emulator.cli.terminal import open_transport

        if not card_file.is_file():
            raise InputError(f"{card_file}: no card file there")
        transport = open_transport(card_file, protocol or "T=1")
        where = str(card_file)
    try:
        atr = transport.connect()
        outcomes = run_script(steps, transport.transmit, _resetter(transport))
        transport.disconnect(unpower=True)
    finally:
        close = getattr(transport, "close", None)
        if callable(close):
            close()
    table = Table(title=f"{script_file} on {where} (ATR {atr.hex().upper()})",
                  title_justify="left")
    for col in ("line", "command", "expected", "got", "result"):
        table.add_column(col, overflow="fold")
    for o in outcomes:
        command = o.step.command.hex().upper() if o.step.command is not None else "reset"
        table.add_row(str(o.step.line), command, o.step.expected, o.got,
                      "[green]PASS[/green]" if o.ok else "[red]FAIL[/red]")
    out = console()
    out.print(table)
    failed = sum(not o.ok for o in outcomes)
    out.print(f"{len(outcomes) - failed} passed, {failed} failed")
    if failed:
        raise ScriptFailed(f"{script_file}: {failed} of {len(outcomes)} step(s) failed")
