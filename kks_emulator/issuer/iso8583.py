"""The ISO 8583 subset of the issuer host: messages to (op, key, body), answers to responses.

Pure translation, no I/O (docs/host.md specifies every field). pyiso8583 serialises; the spec
is its ASCII spec with field 55 (ICC data) binary. Supported requests:

| MTI | processing code | operation |
| --- | --- | --- |
| 0100 / 0101 (repeat) | 000000 | `authorise_purchase` (ARQC in field 55, ARC + ARPC back) |
| 0200 / 0201 | 401000 | `authorise_load` (S1 in field 55, S2 back) |
| 0220 / 0221 | 401000 | `confirm_load` (S3 in field 55) |
| 0400 / 0401 | any | `reverse` (journal number in field 37) |
| 0800 / 0801 | - | network management (field 70: 001 sign-on, 002 sign-off, 301 echo) |

A message that breaks the format is a `FormatError`: it is answered with response code 30 and
never reaches the host, so it stores nothing under its idempotency key.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

import iso8583
from iso8583.specs import default_ascii

from kks_emulator import tlv
from kks_emulator.errors import KksError
from kks_emulator.keys import card_id as make_card_id

#: pyiso8583's ASCII spec, with field 55 binary (LLL length in ASCII, up to 255 bytes) and the
#: private fields 48 and 62 limited to 255 characters.
SPEC: dict[str, dict[str, Any]] = copy.deepcopy(default_ascii)
SPEC["55"] = {"data_enc": "b", "len_enc": "ascii", "len_type": 3, "max_len": 255,
              "desc": "ICC data (BER-TLV)"}
SPEC["48"] = {**SPEC["48"], "max_len": 255, "desc": "Idempotency key"}
SPEC["62"] = {**SPEC["62"], "max_len": 255, "desc": "Reason text"}

PROC_PURCHASE = "000000"
PROC_LOAD = "401000"
CURRENCY_IDR = "360"
#: IDR has two decimals in ISO 4217: field 4 is rupiah x 100.
AMOUNT_SCALE = 100
NETWORK_CODES = {"001": "sign-on", "002": "sign-off", "301": "echo test"}

#: Response codes (field 39) and their meaning (docs/host.md, "Response codes").
RC = {
    "00": "approved / done",
    "05": "do not honour (declined: cryptogram, unknown card or account, business rule)",
    "12": "invalid transaction (unsupported MTI, processing code or network code)",
    "25": "unable to locate the original (reversal of an unknown journal, no open load)",
    "30": "format error (message or field malformed; nothing stored)",
    "51": "insufficient funds",
    "55": "PIN not verified (cardholder verification missing)",
    "94": "duplicate transmission (the idempotency key was used for another request)",
    "96": "system malfunction",
}

#: CDOL1 elements in the order the card MACs them, with their lengths (docs/card.md).
CDOL1 = ((0x9F02, 6), (0x9F03, 6), (0x9F1A, 2), (0x95, 5), (0x5F2A, 2), (0x9A, 3), (0x9C, 1),
         (0x9F37, 4))
#: Proprietary tags of the purse messages in field 55.
TAG_NT, TAG_BALANCE, TAG_CHALLENGE, TAG_S1, TAG_TIME, TAG_S2, TAG_S3, TAG_PIN = (
    0xDF01, 0xDF02, 0xDF03, 0xDF04, 0xDF05, 0xDF06, 0xDF07, 0xDF08)

_DIGITS = re.compile(r"^[0-9]+$")
_KEY = re.compile(r"^[\x21-\x7E]{1,255}$")


class FormatError(KksError):
    """The message (or one of its fields) is malformed: response code 30."""


@dataclass(frozen=True)
class Operation:
    """What a request asks of the host (`op` None: network management, no ledger)."""

    op: str | None
    key: str
    body: dict[str, Any]


def decode(raw: bytes) -> dict[str, str]:
    """Decode one message (without its length header); `FormatError` if it is not ISO 8583."""
    try:
        msg, _ = iso8583.decode(bytes(raw), SPEC)
    except (iso8583.DecodeError, ValueError, TypeError, IndexError) as exc:
        raise FormatError(f"undecodable message: {exc}") from None
    return msg


def encode(msg: dict[str, str]) -> bytes:
    """Encode one message (without its length header)."""
    raw, _ = iso8583.encode(dict(msg), SPEC)
    return bytes(raw)


def response_mti(mti: str) -> str:
    """0100/0101 -> 0110, 0200 -> 0210, 0220 -> 0230, 0400 -> 0410, 0800 -> 0810."""
    return mti[:2] + str(int(mti[2]) + 1) + "0"


def _need(msg: dict[str, str], field: str, pattern: str | None = None) -> str:
    value = msg.get(field)
    if value is None:
        raise FormatError(f"field {field} is required in {msg.get('t')}")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise FormatError(f"field {field} {value!r} must match {pattern}")
    return value


def _icc(msg: dict[str, str]) -> dict[int, bytes]:
    raw = bytes.fromhex(_need(msg, "55"))
    try:
        return tlv.flatten(tlv.decode(raw, recurse=False))
    except KksError as exc:
        raise FormatError(f"field 55 is not BER-TLV: {exc}") from None


def _tag(icc: dict[int, bytes], tag: int, size: int) -> bytes:
    value = icc.get(tag)
    if value is None or len(value) != size:
        raise FormatError(f"field 55 tag {tag:X} must be present with {size} bytes")
    return value


def _pin_flag(icc: dict[int, bytes]) -> bool:
    flag = _tag(icc, TAG_PIN, 1)
    if flag not in (b"\x00", b"\x01"):
        raise FormatError("field 55 tag DF08 (PIN flag) must be 00 or 01")
    return flag == b"\x01"


def _amount(msg: dict[str, str]) -> int:
    minor = int(_need(msg, "4", r"[0-9]{12}"))
    if minor % AMOUNT_SCALE:
        raise FormatError("field 4 is rupiah x 100: IDR amounts end in 00")
    if _need(msg, "49", r"[0-9]{3}") != CURRENCY_IDR:
        raise FormatError(f"field 49 must be {CURRENCY_IDR} (IDR)")
    return minor // AMOUNT_SCALE


def idempotency_key(msg: dict[str, str]) -> str:
    """Field 48 if present, else `iso:<class>:<terminal>:<date time>:<STAN>` (a repeat, MTI
    xx01, shares the key of its original)."""
    given = msg.get("48")
    if given is not None:
        if not _KEY.match(given):
            raise FormatError("field 48 (idempotency key) must be 1-255 printable characters")
        return given
    return (f"iso:{msg['t'][1]}:{_need(msg, '41')}:{_need(msg, '7', r'[0-9]{10}')}:"
            f"{_need(msg, '11', r'[0-9]{6}')}")


def to_operation(msg: dict[str, str]) -> Operation:
    """The host operation a decoded request asks for; `FormatError` / `Unsupported` if none."""
    mti = msg.get("t", "")
    _need(msg, "7", r"[0-9]{10}")
    _need(msg, "11", r"[0-9]{6}")
    if mti in ("0800", "0801"):
        return Operation(None, "", {"code": _need(msg, "70", r"[0-9]{3}")})
    terminal = _need(msg, "41", r"[\x20-\x7E]{8}")
    key = idempotency_key(msg)
    if mti in ("0100", "0101"):
        if _need(msg, "3", r"[0-9]{6}") != PROC_PURCHASE:
            raise Unsupported(f"processing code {msg['3']} is not supported in {mti}")
        icc = _icc(msg)
        cdol1 = b"".join(_tag(icc, tag, size) for tag, size in CDOL1)
        atc = _tag(icc, 0x9F36, 2)
        data = cdol1 + _tag(icc, 0x82, 2) + atc + _tag(icc, 0x9F10, 6)[2:]
        return Operation("authorise_purchase", key, {
            "pan": _need(msg, "2", r"[0-9]{12,19}"), "psn": int(_need(msg, "23", r"[0-9]{3}")),
            "atc": int.from_bytes(atc, "big"), "arqc": _tag(icc, 0x9F26, 8).hex().upper(),
            "data": data.hex().upper(), "amount": _amount(msg),
            "merchant": _need(msg, "42", r"[\x20-\x7E]{15}").strip()})
    if mti in ("0200", "0201", "0220", "0221"):
        if _need(msg, "3", r"[0-9]{6}") != PROC_LOAD:
            raise Unsupported(f"processing code {msg['3']} is not supported in {mti}")
        pan = _need(msg, "2", r"[0-9]{16}")
        psn = int(_need(msg, "23", r"[0-9]{3}"))
        try:
            card = make_card_id(pan, psn).hex().upper()
        except KksError as exc:
            raise FormatError(f"fields 2/23 do not make a card id: {exc}") from None
        icc = _icc(msg)
        if mti in ("0200", "0201"):
            return Operation("authorise_load", key, {
                "card_id": card, "nt": int.from_bytes(_tag(icc, TAG_NT, 4), "big"),
                "balance": int.from_bytes(_tag(icc, TAG_BALANCE, 4), "big"),
                "amount": _amount(msg), "terminal": terminal,
                "time": int.from_bytes(_tag(icc, TAG_TIME, 4), "big"),
                "challenge": _tag(icc, TAG_CHALLENGE, 8).hex().upper(),
                "s1": _tag(icc, TAG_S1, 8).hex().upper(),
                "pin_verified": _pin_flag(icc)})
        return Operation("confirm_load", key, {
            "card_id": card, "nt_after": int.from_bytes(_tag(icc, TAG_NT, 4), "big"),
            "balance_after": int.from_bytes(_tag(icc, TAG_BALANCE, 4), "big"),
            "s3": _tag(icc, TAG_S3, 8).hex().upper()})
    if mti in ("0400", "0401"):
        journal = int(_need(msg, "37", r"[0-9]{12}"))
        reason = msg.get("39")
        memo = f"ISO 8583 reversal from terminal {terminal.strip()}"
        if reason is not None:
            memo += f", reason code {reason}"
        return Operation("reverse", key, {"journal": journal, "memo": memo})
    raise Unsupported(f"MTI {mti!r} is not supported")


class Unsupported(FormatError):
    """A well-formed request the subset does not serve: response code 12."""


_ECHO = ("2", "3", "4", "7", "11", "23", "37", "41", "42", "49", "70")


def _reply(msg: dict[str, str], rc: str, reason: str | None = None) -> dict[str, str]:
    out = {"t": response_mti(msg["t"]) if re.fullmatch(r"0[1248][02][01]", msg.get("t", ""))
           else "0810"}
    for field in _ECHO:
        if field in msg:
            out[field] = msg[field]
    out["39"] = rc
    if reason:
        out["62"] = "".join(c if " " <= c <= "~" else "?" for c in reason)[:255]
    return out


def refusal_code(error: str) -> str:
    """The response code of a business refusal, from the host's error text."""
    text = error.lower()
    if "insufficient funds" in text:
        return "51"
    if "no journal transaction" in text or "no open load" in text:
        return "25"
    if "pin" in text and "verif" in text:
        return "55"
    return "05"


def format_error_response(msg: dict[str, str] | None, error: Exception) -> dict[str, str]:
    """The answer to a malformed (30) or unsupported (12) request."""
    rc = "12" if isinstance(error, Unsupported) else "30"
    return _reply(msg or {"t": "0800"}, rc, str(error))


def network_response(msg: dict[str, str], op: Operation) -> dict[str, str]:
    """0810 to a sign-on, sign-off or echo test."""
    known = op.body["code"] in NETWORK_CODES
    return _reply(msg, "00" if known else "12",
                  None if known else f"network code {op.body['code']} is not supported")


def host_response(msg: dict[str, str], op: Operation, raw: bytes) -> dict[str, str]:
    """The response to `msg` from the host's stored answer `raw` (same bytes -> same reply)."""
    answer = json.loads(raw)
    if not answer.get("ok"):
        error = str(answer.get("error", ""))
        rc = "30" if answer.get("malformed") else refusal_code(error)
        return _reply(msg, rc, error)
    result = answer["result"]
    journal = result.get("journal")
    if op.op == "authorise_purchase":
        out = _reply(msg, str(result["arc"]), None if result["approved"] else result["reason"])
        icc = [(0x8A, str(result["arc"]).encode("ascii"))]
        if result.get("arpc"):
            icc.append((0x91, bytes.fromhex(result["arpc"]) + str(result["arc"]).encode()))
        out["55"] = tlv.encode_many(icc).hex().upper()
    else:
        out = _reply(msg, "00")
        if op.op == "authorise_load":
            out["55"] = tlv.encode(TAG_S2, bytes.fromhex(result["s2"])).hex().upper()
    if op.op != "reverse" and isinstance(journal, int) and journal >= 0:
        out["37"] = f"{journal:012d}"  # the retrieval reference a reversal names
    return out


def conflict_response(msg: dict[str, str], error: Exception) -> dict[str, str]:
    """The answer to a request whose key was used for another request (94)."""
    return _reply(msg, "94", str(error))
