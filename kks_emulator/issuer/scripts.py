"""Issuer scripts: the host builds the card commands of templates 71/72 (EMV Book 3 §10.10).

A script is `71|72 [9F18 script id (4)] [86 command] ...`; template 71 is processed before the
second GENERATE AC, 72 after it. Each command is MACed for the card's transaction (ATC and the
first GENERATE AC's cryptogram) with the session keys of `kks_emulator.crypto.emv.sm_session_key`
(EMV Book 2 §9). The host keeps a per-PAN queue of requested actions in memory
(`ScriptQueue`) and attaches the scripts to the next online authorisation of that card.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kks_emulator import tlv
from kks_emulator.crypto import emv
from kks_emulator.crypto.emv import SCRIPT_MAC_LEN as MAC_LEN
from kks_emulator.crypto.emv import script_mac_input, sm_session_key
from kks_emulator.errors import InputError
from kks_emulator.keys import CardKeys
from kks_emulator.pinblock import plain_pin_block

#: Script actions and their command header (CLA INS P1 P2).
ACTIONS = {
    "application-block": bytes.fromhex("841E0000"),
    "application-unblock": bytes.fromhex("84180000"),
    "pin-unblock": bytes.fromhex("84240000"),
    "pin-change": bytes.fromhex("84240002"),
}
BEFORE_FINAL_AC = 0x71
AFTER_FINAL_AC = 0x72


def script_command(keys: CardKeys, atc: int, ac: bytes, action: str,
                   new_pin: str | None = None) -> bytes:
    """One secure-messaging command for the card's transaction (ATC, first cryptogram)."""
    header = ACTIONS.get(action)
    if header is None:
        raise InputError(f"script action must be one of {sorted(ACTIONS)}, got {action!r}")
    if len(ac) != 8 or not 0 <= atc <= 0xFFFF:
        raise InputError("a script needs the 2-byte ATC and the 8-byte cryptogram")
    body = b""
    if action == "pin-change":
        if new_pin is None:
            raise InputError("pin-change needs the new PIN")
        if not keys.mk_smc:
            raise InputError("this issuer has no confidentiality key (MK-SMC)")
        body = emv.tdes_ecb_encrypt(sm_session_key(keys.mk_smc, ac), plain_pin_block(new_pin))
    lc = len(body) + MAC_LEN
    mac = emv.mac_alg3(sm_session_key(keys.mk_smi, ac),
                       script_mac_input(header + bytes((lc,)), atc, ac, body))
    return header + bytes((lc,)) + body + mac


def issuer_script(template: int, script_id: bytes, commands: list[bytes]) -> bytes:
    """Template 71 or 72 with a script identifier and the commands (tag 86 each)."""
    if template not in (BEFORE_FINAL_AC, AFTER_FINAL_AC) or len(script_id) != 4:
        raise InputError("script template is 71 or 72, its id 4 bytes")
    return tlv.encode(template, tlv.encode(0x9F18, script_id)
                      + b"".join(tlv.encode(0x86, c) for c in commands))


@dataclass(frozen=True)
class ScriptRequest:
    """One action the issuer wants run on a card at its next online transaction."""

    action: str
    new_pin: str | None = None
    template: int = AFTER_FINAL_AC


@dataclass
class ScriptQueue:
    """Pending script actions per PAN (in the host's memory; not persisted)."""

    pending: dict[str, list[ScriptRequest]] = field(default_factory=dict)
    issued: int = 0

    def add(self, pan: str, request: ScriptRequest) -> None:
        """Queue an action for `pan`."""
        if request.action not in ACTIONS:
            raise InputError(f"script action must be one of {sorted(ACTIONS)}")
        self.pending.setdefault(pan, []).append(request)

    def take(self, pan: str, keys: CardKeys, atc: int, ac: bytes) -> list[str]:
        """The hex templates for `pan`'s transaction (one script per template), dequeued."""
        requests = self.pending.pop(pan, [])
        out = []
        for template in (BEFORE_FINAL_AC, AFTER_FINAL_AC):
            cmds = [script_command(keys, atc, ac, r.action, r.new_pin) for r in requests
                    if r.template == template]
            if cmds:
                self.issued += 1
                out.append(issuer_script(template, self.issued.to_bytes(4, "big"),
                                         cmds).hex().upper())
        return out
