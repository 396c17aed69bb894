"""Reading a KKS: application discovery (PSE, then PPSE), savings GPO and records, purse basics.

Every card answer is parsed defensively (`parse.py`): anything unexpected raises a typed
`CardError`/`TransportError`, and every loop is bounded by the data it walks (AFL entries are
at most 16, records per entry at most 16).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import lru_cache

from kks_emulator.errors import CardError
from kks_emulator.terminal import apdus
from kks_emulator.terminal.exchange import Exchange
from kks_emulator.terminal.parse import (
    CardResponseError,
    as_int,
    parse_afl,
    parse_gpo,
    parse_tlv,
    require,
)

#: Most records the terminal reads per AFL entry.
MAX_RECORDS_PER_ENTRY = 16


@dataclass(frozen=True)
class SavingsData:
    """What the terminal learns from the savings application."""

    pan: str
    psn: int
    expiry: str  # YYMMDD
    name: str
    aip: bytes
    cdol1: bytes
    cdol2: bytes
    cvm_list: bytes
    #: the PDOL data sent in GET PROCESSING OPTIONS (empty without a PDOL)
    pdol_data: bytes = b""
    #: every data object read (first occurrence), for ODA and risk management
    fields: tuple[tuple[int, bytes], ...] = ()
    #: static data to be authenticated (EMV Book 2 §5.4), built from the AFL's ODA records
    static_data: bytes = b""
    #: records for ODA that were not template 70 (the static data is then unusable)
    oda_record_error: bool = False
    afl: bytes = b""


#: Terminal data the EDC offers to a card's PDOL/DDOL: country 0360 (Indonesia), terminal type
#: 22 (attended, offline with online capability, merchant).
TERMINAL_DATA = {0x9F1A: bytes.fromhex("0360"), 0x9F35: bytes.fromhex("22"),
                 0x5F2A: bytes.fromhex("0360")}


def dol_data(dol: bytes, values: dict[int, bytes]) -> bytes:
    """Data for a DOL (EMV Book 3 §5.4): each tag's value at the listed length; unknown tags
    are zeros, longer values keep their rightmost bytes, shorter ones are left-padded."""
    from kks_emulator import tlv
    from kks_emulator.errors import KksError

    try:
        entries = tlv.parse_dol(dol)
    except KksError as exc:
        raise CardResponseError(f"malformed DOL from card: {exc}") from None
    out = bytearray()
    for tag, length in entries:
        value = values.get(tag, b"")
        out += value[-length:].rjust(length, b"\x00") if value else bytes(length)
    return bytes(out)


def list_applications(ex: Exchange) -> list[bytes]:
    """AIDs the card lists: the PSE directory if present, else the PPSE."""
    resp = ex.transmit(apdus.select(apdus.PSE))
    if resp.ok:
        fields = parse_tlv(resp.data)
        sfi = as_int(require(fields, 0x88, "directory SFI", size=1), "SFI", 1)
        if not 1 <= sfi <= 30:
            raise CardResponseError(f"directory SFI {sfi} out of range")
        aids: list[bytes] = []
        for rec in range(1, MAX_RECORDS_PER_ENTRY + 1):
            r = ex.transmit(apdus.read_record(sfi, rec))
            if r.sw == 0x6A83:
                break
            data = r.expect("READ RECORD (directory)")
            aids.extend(_aids_of(data))
        if aids:
            return aids
    resp = ex.transmit(apdus.select(apdus.PPSE))
    return _aids_of(resp.expect("SELECT PPSE"))


def _aids_of(data: bytes) -> list[bytes]:
    """Every 4F under a 61 entry, walking the TLV one level at a time."""
    from kks_emulator import tlv
    from kks_emulator.errors import KksError

    out: list[bytes] = []
    queue = deque([bytes(data)])  # breadth first keeps the directory's order
    steps = 0
    while queue:
        steps += 1
        if steps > 64:
            raise CardResponseError("directory nesting too deep")
        try:
            items = tlv.decode(queue.popleft(), recurse=False)
        except KksError as exc:
            raise CardResponseError(f"malformed directory TLV: {exc}") from None
        for item in items:
            if item.tag == 0x4F:
                if not 5 <= len(item.value) <= 16:
                    raise CardResponseError("AID of bad length in directory")
                out.append(item.value)
            elif tlv.is_constructed(item.tag):
                queue.append(item.value)
    return out


@lru_cache(maxsize=32)
def _select_parts(aid: bytes) -> tuple[bytes, bytes]:
    """The SELECT APDU for `aid` and the `84 len AID` the FCI fast path looks for (built once
    per AID; bounded, as AIDs may come from a card's directory)."""
    return apdus.select(aid), bytes([0x84, len(aid)]) + aid


def select_app(ex: Exchange, aid: bytes) -> bytes:
    """SELECT an application and check that its FCI names it; return the FCI bytes.

    Fast path: an FCI template (6F) carrying `84 len AID` is accepted without a full parse (the
    per-purchase cost matters); anything else is parsed strictly for a precise error.
    """
    command, df_name = _select_parts(bytes(aid))
    fci = ex.transmit(command).expect("SELECT application")
    if fci[:1] == b"\x6f" and df_name in fci:
        return fci
    name = require(parse_tlv(fci), 0x84, "DF name", max_size=16)
    if not name.startswith(aid[:5]):
        raise CardResponseError("card selected a different application")
    return fci


def read_savings(ex: Exchange, fci: bytes | None = None) -> SavingsData:
    """SELECT the savings application (unless its FCI from a selection just made is given),
    GET PROCESSING OPTIONS with the PDOL data the FCI asks for, read every record in the AFL
    and collect the static data to be authenticated."""
    from kks_emulator import tlv
    from kks_emulator.errors import KksError

    fields_fci = parse_tlv(fci if fci is not None else select_app(ex, apdus.SAVINGS_AID))
    pdol = fields_fci.get(0x9F38)
    pdol_data = dol_data(pdol, TERMINAL_DATA) if pdol else b""
    if len(pdol_data) > 250:
        raise CardResponseError(f"PDOL asks for {len(pdol_data)} bytes, more than a GPO holds")
    aip, afl = parse_gpo(ex.transmit(apdus.get_processing_options(pdol_data)).expect("GPO"))
    fields: dict[int, bytes] = {}
    static = bytearray()
    oda_error = False
    for i, (sfi, first, last) in enumerate(parse_afl(afl)):
        if last - first >= MAX_RECORDS_PER_ENTRY:
            raise CardResponseError("AFL entry spans too many records")
        n_oda = afl[4 * i + 3]
        for rec in range(first, last + 1):
            data = ex.transmit(apdus.read_record(sfi, rec)).expect("READ RECORD")
            if rec - first < n_oda:
                # Book 3 §10.3: SFI 1-10 records count without their 70 tag and length
                try:
                    item = tlv.decode_one(data)
                except KksError:
                    item = None
                if sfi <= 10 and (item is None or item.tag != 0x70):
                    oda_error = True
                static += item.value if sfi <= 10 and item is not None else data
            for tag, value in parse_tlv(data).items():
                fields.setdefault(tag, value)
    tag_list = fields.get(0x9F4A)
    if tag_list is not None:
        if tag_list == b"\x82":
            static += aip
        else:
            oda_error = True
    pan = require(fields, 0x5A, "PAN", max_size=10).hex().upper().rstrip("F")
    if not pan.isdigit() or not 12 <= len(pan) <= 19:
        raise CardResponseError("PAN is not 12-19 BCD digits")
    psn = as_int(fields.get(0x5F34, b"\x00"), "PSN", 1)
    expiry = require(fields, 0x5F24, "expiry", size=3).hex()
    if not expiry.isdigit():
        raise CardResponseError("expiry is not BCD")
    name = fields.get(0x5F20, b"").decode("ascii", "replace").strip()
    return SavingsData(pan, psn, expiry, name, aip, require(fields, 0x8C, "CDOL1"),
                       require(fields, 0x8D, "CDOL2"), fields.get(0x8E, b""), pdol_data,
                       tuple(fields.items()), bytes(static), oda_error, afl)


def purse_balance(ex: Exchange) -> int:
    """SELECT the purse and GET BALANCE (rupiah)."""
    select_app(ex, apdus.PURSE_AID)
    return as_int(ex.transmit(apdus.get_balance()).expect("GET BALANCE"), "balance", 4)


def verify_pin(ex: Exchange, pin: str) -> None:
    """VERIFY the cardholder PIN in the selected application; a refusal raises `CardError`."""
    if len(pin) != 6 or not pin.isdigit():
        raise CardError("the KKS PIN has 6 digits")
    resp = ex.transmit(apdus.verify_pin(pin))
    if resp.sw & 0xFFF0 == 0x63C0:
        raise CardError(f"wrong PIN, {resp.sw & 0x0F} tries left", sw=resp.sw)
    if resp.sw == 0x6983:
        raise CardError("PIN blocked", sw=resp.sw)
    resp.expect("VERIFY")
