"""Cardholder verification: CVM list processing (EMV Book 3 §10.5) for the EDC.

A CVM list is amount X (4), amount Y (4), then two-byte rules: CVM code (low 6 bits; bit 40 =
"apply the next rule if this one fails") and condition. The EDC supports plaintext PIN verified
by the ICC (01) and "no CVM required" (1F); it has no online PIN and takes no signature.
Rules are tried in order; a rule whose condition is not met is skipped; a rule the terminal
does not support, or that fails, ends processing unless its bit 40 is set. When nothing
succeeds: "cardholder verification was not successful" (TVR byte 3 bit 80).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

CVM_FAIL = 0x00
CVM_PLAIN_PIN_ICC = 0x01
CVM_ONLINE_PIN = 0x02
CVM_SIGNATURE = 0x1E
CVM_NO_CVM = 0x1F
KNOWN_CVMS = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x1E, 0x1F}
#: What the EDC can perform.
SUPPORTED = frozenset({CVM_PLAIN_PIN_ICC, CVM_NO_CVM})


@dataclass(frozen=True)
class CvmResult:
    """Outcome of CVM processing: success, the CVM results (9F34) and TVR byte 3 bits."""

    ok: bool
    results: bytes
    tvr_byte3: int
    notes: tuple[str, ...]


def _condition_met(cond: int, amount_minor: int, x: int, y: int, supported: bool) -> bool:
    if cond == 0x00:  # always
        return True
    if cond == 0x03:  # if terminal supports the CVM
        return supported
    if cond in (0x01, 0x04, 0x05):  # unattended cash, manual cash, cashback: not an EDC sale
        return False
    if cond == 0x02:  # if not unattended cash, manual cash or cashback
        return True
    if cond == 0x06:
        return amount_minor < x
    if cond == 0x07:
        return amount_minor > x
    if cond == 0x08:
        return amount_minor < y
    if cond == 0x09:
        return amount_minor > y
    return False


def process(cvm_list: bytes, amount_minor: int,
            perform: Callable[[int], tuple[bool, int, str]]) -> CvmResult:
    """Run the CVM list; `perform(code)` does a supported CVM and returns (ok, TVR byte 3
    bits, note). Without a list: "ICC data missing" is the caller's business; here it fails."""
    if len(cvm_list) < 10 or len(cvm_list) % 2:
        return CvmResult(False, bytes.fromhex("3F0001"), 0x80, ("no usable CVM list",))
    x = int.from_bytes(cvm_list[:4], "big")
    y = int.from_bytes(cvm_list[4:8], "big")
    bits = 0
    notes: list[str] = []
    for i in range(8, len(cvm_list), 2):
        rule, cond = cvm_list[i], cvm_list[i + 1]
        code, next_if_fail = rule & 0x3F, bool(rule & 0x40)
        supported = code in SUPPORTED
        if not _condition_met(cond, amount_minor, x, y, supported):
            continue
        if code not in KNOWN_CVMS:
            bits |= 0x40  # unrecognised CVM
            notes.append(f"CVM {code:02X} not recognised")
        elif code == CVM_FAIL:
            notes.append("CVM list says: fail cardholder verification")
            return CvmResult(False, bytes((rule, cond, 0x01)), bits | 0x80, tuple(notes))
        elif not supported:
            notes.append(f"CVM {code:02X} not supported by the terminal")
        else:
            ok, more, note = perform(code)
            bits |= more
            if note:
                notes.append(note)
            if ok:
                return CvmResult(True, bytes((rule, cond, 0x02 if code != 0x1F else 0x00)),
                                 bits, tuple(notes))
        if not next_if_fail:
            break
    return CvmResult(False, bytes.fromhex("3F0001"), bits | 0x80, tuple(notes))
