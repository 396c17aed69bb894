"""The transmission table of docs/card.md ("Transmission: what the card receives"): parse it and
play it against a card, in process or through pcscd.

The table is a script: rows run top to bottom in one card session (each row's state feeds the
next). Columns: command, what the client sends, then for T=1 and T=0 what the card's command
processing receives and what the client gets back. An answer is `[n] SW` (n data bytes) or
`SW`; a `61xx` / `6Cxx` answer is followed by `; <APDU> → <answer>`, the GET RESPONSE or re-sent
command the client issues next (as `terminal.exchange.Exchange` does).

Placeholders filled from earlier answers: `<MAC-UNBLOCK>` (PIN UNBLOCK MAC over the last GET
CHALLENGE), `<MAC-KYC>` (PUT DATA registration MAC, status 01), `<S2>` (the issuer's S2 for the
last INITIALIZE FOR LOAD), `<SM-BLOCK>` / `<SM-UNBLOCK>` (the secure-messaging MAC of the issuer
script commands APPLICATION BLOCK / UNBLOCK for the last plain GENERATE AC).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kks_emulator.card.apps import pin as pin_app
from kks_emulator.card.apps import purse_app
from kks_emulator.crypto import emv, purse
from kks_emulator.terminal.exchange import with_le
from tests.card.helpers import CARD_KEYS

DOC = Path(__file__).resolve().parents[2] / "docs" / "card.md"
HEADING = "## Transmission: what the card receives"
PROTOCOLS = ("T=1", "T=0")


@dataclass(frozen=True)
class Row:
    """One command of the script with its expected reception and answers per protocol."""

    command: str
    sends: str
    receives: dict[str, str]
    answers: dict[str, str]


def _cell(text: str) -> str:
    return text.strip().strip("`").replace(" ", "")


def rows() -> list[Row]:
    """The rows of the transmission table in docs/card.md."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(HEADING)
    out: list[Row] = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        if not line.startswith("| ") or line.startswith("| command") or line.startswith("| ---"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name, sends, r1, a1, r0, a0 = cells
        out.append(Row(name, _cell(sends), {"T=1": _cell(r1), "T=0": _cell(r0)},
                       {"T=1": a1.replace("`", "").strip(), "T=0": a0.replace("`", "").strip()}))
    return out


def answer_text(resp: bytes) -> str:
    """`[n] SW` for a response with data, `SW` without."""
    sw = resp[-2:].hex().upper()
    return f"[{len(resp) - 2}] {sw}" if len(resp) > 2 else sw


class Filler:
    """Fills the placeholders of a row from the answers seen so far in the session."""

    def __init__(self) -> None:
        self.challenge = b""
        self.atc_ac: tuple[int, bytes] = (0, bytes(8))
        self.load: tuple[bytes, int, int, bytes, bytes, int] | None = None

    def values(self, hex_text: str) -> dict[str, str]:
        """The value of every placeholder in `hex_text`, from the session so far."""
        out: dict[str, str] = {}
        if "<MAC-UNBLOCK>" in hex_text:
            mac = emv.mac_alg3(CARD_KEYS.mk_smi, pin_app.unblock_mac_input(self.challenge))
            out["<MAC-UNBLOCK>"] = mac.hex().upper()
        if "<MAC-KYC>" in hex_text:
            mac = emv.mac_alg3(CARD_KEYS.mk_smi,
                               purse_app.registration_mac_input(self.challenge, b"\x01"))
            out["<MAC-KYC>"] = mac.hex().upper()
        for ph, action in (("<SM-BLOCK>", "application-block"),
                           ("<SM-UNBLOCK>", "application-unblock")):
            if ph in hex_text:
                from kks_emulator.issuer.scripts import script_command

                out[ph] = script_command(CARD_KEYS, *self.atc_ac, action)[-8:].hex().upper()
        if "<S2>" in hex_text:
            assert self.load is not None, "no INITIALIZE FOR LOAD before <S2>"
            cid, nt, amount, terminal, challenge, time = self.load
            s2 = purse.load_s2(CARD_KEYS.load_key, cid, nt, amount, terminal, time, challenge)
            out["<S2>"] = s2.hex().upper()
        return out

    def learn(self, command: bytes, data: bytes) -> None:
        """Remember what later placeholders need (challenge, pending load)."""
        if command[:2] == b"\x00\x84" and len(data) == 8:
            self.challenge = data
        if command[:2] == b"\x80\xAE" and data[:1] == b"\x77":
            from kks_emulator import tlv

            flat = tlv.flatten(tlv.decode(data))
            if 0x9F26 in flat:
                self.atc_ac = (int.from_bytes(flat[0x9F36], "big"), flat[0x9F26])
        if command[:2] == b"\x80\x50" and len(data) == 34:
            amount, terminal, time = struct.unpack(">I8sI", command[5:21])
            self.load = (data[:9], int.from_bytes(data[9:13], "big"), amount, terminal,
                         data[17:25], time)


@dataclass(frozen=True)
class Played:
    """What one row produced: the bytes the card processed (placeholders put back) and the
    answer text."""

    receives: str
    answer: str


def play(rows_: list[Row], protocol: str, send: Callable[[bytes], bytes],
         received: Callable[[], bytes]) -> list[Played]:
    """Run the rows in order through `send` (raw APDU -> raw response); `received` returns the
    bytes the card's command processing saw for the last command."""
    filler = Filler()
    out: list[Played] = []
    for row in rows_:
        subst = filler.values(row.sends)
        text = row.sends
        for ph, value in subst.items():
            text = text.replace(ph, value)
        apdu = bytes.fromhex(text)
        resp = send(apdu)
        seen = received().hex().upper()
        for ph, value in subst.items():
            seen = seen.replace(value, ph)
        text = answer_text(resp)
        data = resp[:-2]
        sw1, sw2 = resp[-2], resp[-1]
        if sw1 in (0x61, 0x6C):
            follow = (bytes((0x00, 0xC0, 0x00, 0x00, sw2)) if sw1 == 0x61
                      else with_le(apdu, sw2))
            resp2 = send(follow)
            text += f"; {follow.hex().upper()} → {answer_text(resp2)}"
            data = (data if sw1 == 0x61 else b"") + resp2[:-2]
        filler.learn(apdu, data)
        out.append(Played(seen, text))
    return out


def render(rows_: list[Row], played: dict[str, list[Played]]) -> str:
    """The markdown table for the rows and what each protocol produced (to write the doc)."""
    head = ("| command | client sends | T=1: card receives | T=1: client gets | "
            "T=0: card receives | T=0: client gets |\n| --- | --- | --- | --- | --- | --- |")
    lines = [head]
    for i, row in enumerate(rows_):
        cells = [row.command, f"`{row.sends}`"]
        for proto in PROTOCOLS:
            p = played[proto][i]
            cells += [f"`{p.receives}`", f"`{p.answer}`"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
