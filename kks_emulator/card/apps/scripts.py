"""Issuer script commands of the savings application, with secure messaging (EMV Book 2 §9).

The issuer sends them in the authorisation response (templates 71 and 72); the terminal passes
each one to the card after the first GENERATE AC of the transaction. Every command has CLA 84
and ends with an 8-byte MAC:

- session keys: EMV common session key derivation with R = the application cryptogram of the
  first GENERATE AC, `SK = 3DES(MK, R0 R1 F0 R3..R7) || 3DES(MK, R0 R1 0F R3..R7)`, from the
  card's MK-SMI (integrity) and MK-SMC (confidentiality);
- MAC = ISO/IEC 9797-1 MAC algorithm 3, padding method 2, under SK-SMI over
  `CLA INS P1 P2 Lc || ATC || AC || data before the MAC` (Lc counts the MAC);
- PIN change: the new PIN as an EMV plaintext PIN block (control 2, length 6), enciphered with
  two-key 3DES ECB under SK-SMC.

Commands: APPLICATION BLOCK `841E000008 MAC`, APPLICATION UNBLOCK `8418000008 MAC`, PIN
UNBLOCK `8424000008 MAC` (try counter back to the limit) and PIN CHANGE/UNBLOCK
`8424000210 enciphered PIN block || MAC` (new PIN, counter back to the limit). Without a first
GENERATE AC in this selection `6985`; a wrong MAC `6982` and nothing changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kks_emulator.apdu import SW_CONDITIONS, SW_SECURITY, Command
from kks_emulator.card import records
from kks_emulator.card.sw import SwError
from kks_emulator.crypto import ct, emv

if TYPE_CHECKING:
    from kks_emulator.card.card import Card

MAC_LEN = emv.SCRIPT_MAC_LEN
sm_session_key = emv.sm_session_key
script_mac_input = emv.script_mac_input


def check_script_mac(card: Card, cmd: Command) -> bytes:
    """Verify the MAC of a script command in this transaction; the data before the MAC."""
    s = card.s
    st = card.static
    assert st is not None
    if s.ac_state == 0 or len(s.arqc) != 8 or s.selected != "savings":
        raise SwError(SW_CONDITIONS)
    body, mac = cmd.data[:-MAC_LEN], cmd.data[-MAC_LEN:]
    header = bytes((cmd.cla, cmd.ins, cmd.p1, cmd.p2, len(cmd.data)))
    expected = emv.mac_alg3(sm_session_key(st.mk_smi, s.arqc),
                            script_mac_input(header, s.atc, s.arqc, body))
    if not ct.equal(expected, mac):
        raise SwError(SW_SECURITY)
    return body


def _set_blocked(card: Card, blocked: bool) -> None:
    rec = card.emv_record()
    flags = (rec.flags | records.FLAG_APP_BLOCKED) if blocked else (
        rec.flags & ~records.FLAG_APP_BLOCKED)
    new = records.EmvRecord(rec.atc, rec.last_online_atc, flags)
    card.commit({records.EMV: new.encode()}, {records.EMV: new})


def application_block(card: Card, cmd: Command) -> bytes:
    """APPLICATION BLOCK: from now on every GENERATE AC of the savings application is an AAC."""
    check_script_mac(card, cmd)
    _set_blocked(card, True)
    return b""


def application_unblock(card: Card, cmd: Command) -> bytes:
    """APPLICATION UNBLOCK: lift an issuer's application block."""
    check_script_mac(card, cmd)
    _set_blocked(card, False)
    return b""


def pin_change_unblock(card: Card, cmd: Command) -> bytes:
    """PIN CHANGE/UNBLOCK by script: P2 00 resets the try counter, P2 02 also sets the new PIN
    carried enciphered under SK-SMC."""
    from kks_emulator.card.apps import pin

    body = check_script_mac(card, cmd)
    st = card.static
    assert st is not None
    rec = card.pin_record()
    new_pin = rec.pin_bcd
    if cmd.p2 == 0x02:
        if len(body) != 8 or not st.mk_smc:
            raise SwError(SW_CONDITIONS)
        block = emv.tdes_ecb_decrypt(sm_session_key(st.mk_smc, card.s.arqc), body)
        new_pin = pin.parse_plain_pin_block(block)
    elif body:
        raise SwError(SW_CONDITIONS)
    new = records.PinRecord(rec.ptl, rec.ptl, new_pin)
    card.commit({records.PIN: new.encode()}, {records.PIN: new})
    card.s.pin_failed = False
    return b""
