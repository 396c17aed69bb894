"""Scripted APDU runs: a plain text script of commands with expected answers, checked in order.

Script syntax (one step per line; `#` starts a comment; blank lines are ignored):

    reset                                          # warm reset of the card (new ATR)
    00A4040009F04B4B53505552534500 => 9000         # command => expected status word
    805C000204 => 0007A120 9000                    # expected data and status word
    80CA9F1700 => 61??                             # masks: `?` matches any hex digit
    8054000018 ... 00 => * 9000                    # `*`: any data (also none)
    00B2010C00                                     # no `=>`: sent and shown, not checked

Commands are hex (spaces allowed) and go to the card raw: no GET RESPONSE handling, so `61xx`
and `6Cxx` are seen and can be expected. The expectation is `[DATA] SW`: with only SW the data
is not checked; DATA (hex, `?` masks) must match the whole response data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kks_emulator.errors import InputError

_HEX_MASK = re.compile(r"^[0-9A-Fa-f?]*$")


@dataclass(frozen=True)
class Step:
    """One script line: a reset, or a command with its optional expectation."""

    line: int
    command: bytes | None  # None: reset
    data: str | None = None  # expected data mask (upper case), None = not checked
    sw: str | None = None  # expected SW mask, None = not checked

    @property
    def expected(self) -> str:
        """The expectation as written back (`-` when nothing is checked)."""
        if self.command is None:
            return "ATR"
        if self.sw is None:
            return "-"
        return f"{self.data} {self.sw}" if self.data else self.sw


@dataclass(frozen=True)
class Outcome:
    """What happened at one step."""

    step: Step
    got: str
    ok: bool


def parse_script(text: str, name: str) -> list[Step]:
    """Parse a script; a malformed line raises `InputError` naming `name:line`."""
    steps = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.lower() == "reset":
            steps.append(Step(number, None))
            continue
        command_text, arrow, expect_text = line.partition("=>")
        try:
            command = bytes.fromhex(command_text.replace(" ", ""))
        except ValueError:
            raise InputError(f"{name}:{number}: command is not hex: {command_text.strip()!r}"
                             ) from None
        if len(command) < 4:
            raise InputError(f"{name}:{number}: a command has at least its 4-byte header")
        if not arrow:
            steps.append(Step(number, command))
            continue
        tokens = expect_text.split()
        if not tokens:
            raise InputError(f"{name}:{number}: nothing after `=>`; expected [DATA] SW")
        sw, data_tokens = tokens[-1].upper(), tokens[:-1]
        if len(sw) != 4 or not _HEX_MASK.match(sw):
            raise InputError(f"{name}:{number}: status word {tokens[-1]!r} must be 4 hex digits "
                             "or ? masks, e.g. 9000 or 61??")
        data: str | None = "".join(data_tokens).upper()
        if data == "*" or not data:
            data = None
        elif not _HEX_MASK.match(data) or len(data) % 2:
            raise InputError(f"{name}:{number}: expected data {data!r} must be whole bytes of "
                             "hex digits or ? masks (or * for any)")
        steps.append(Step(number, command, data, sw))
    if not steps:
        raise InputError(f"{name}: the script has no steps")
    return steps


def mask_matches(mask: str, value: str) -> bool:
    """True if hex `value` matches `mask` digit for digit (`?` matches any digit)."""
    return len(mask) == len(value) and all(m in ("?", v) for m, v in zip(mask, value,
                                                                          strict=True))


def check(step: Step, response: bytes) -> bool:
    """True if `response` (data ‖ SW) meets the step's expectation."""
    if step.sw is None:
        return True
    if len(response) < 2:
        return False
    data, sw = response[:-2].hex().upper(), response[-2:].hex().upper()
    return mask_matches(step.sw, sw) and (step.data is None or mask_matches(step.data, data))


def run_script(steps: list[Step], transmit: Callable[[bytes], bytes],
               reset: Callable[[], bytes]) -> list[Outcome]:
    """Run every step (a failure does not stop the run) and return the outcomes."""
    outcomes = []
    for step in steps:
        if step.command is None:
            atr = reset()
            outcomes.append(Outcome(step, f"ATR {bytes(atr).hex().upper()}", True))
            continue
        response = transmit(step.command)
        shown = (f"{response[:-2].hex().upper()} {response[-2:].hex().upper()}"
                 if len(response) > 2 else response.hex().upper())
        outcomes.append(Outcome(step, shown, check(step, response)))
    return outcomes
