"""APDUs as the command line reads and prints them: hex in, `>>`/`<<` lines out."""

from __future__ import annotations

import click

from kks_emulator.errors import InputError


def parse_hex_apdus(texts: tuple[str, ...], min_len: int = 0) -> list[bytes]:
    """Parse hex APDUs (spaces and colons allowed); refuse any shorter than `min_len` bytes.

    In process the card itself answers short or malformed APDUs with the right status word, so
    `min_len` is 0 there; a reader path sets 4, because pcscd's vpcd driver takes a 1-byte
    payload for a control code and then waits forever.
    """
    commands = []
    for text in texts:
        try:
            command = bytes.fromhex(text.replace(":", "").replace(" ", ""))
        except ValueError:
            raise InputError(f"not a hex APDU: {text!r}") from None
        if len(command) < min_len:
            raise InputError(f"APDU {text!r} is shorter than its {min_len}-byte header")
        commands.append(command)
    return commands


def echo_exchange(command: bytes, response: bytes) -> None:
    """Print one exchange: `>> COMMAND` then `<< DATA SW` (hex, upper case)."""
    data, sw = response[:-2], response[-2:]
    click.echo(f">> {command.hex().upper()}")
    click.echo(f"<< {data.hex().upper()} {sw.hex().upper()}".replace("<<  ", "<< "))
