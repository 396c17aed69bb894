"""The savings (debit) application, EMV-shaped: GPO, records, GENERATE AC (ARQC/TC/AAC).

Cryptogram input (both GENERATE ACs): CDOL data as sent || AIP (2) || ATC (2) || CVR (4);
MAC algorithm 3 under the common session key of the ATC. Issuer Application Data (9F10) is
DKI (01) || CVN (01) || CVR. The 2nd GENERATE AC checks the ARPC (method 1) carried in tag 91 of
CDOL2 and, if it verifies, records the ATC as the last online ATC (9F13).
"""

from __future__ import annotations

import calendar
from functools import lru_cache
from typing import TYPE_CHECKING

from kks_emulator import tlv
from kks_emulator.apdu import (
    SW_CONDITIONS,
    SW_NOT_FOUND,
    SW_RECORD_NOT_FOUND,
    SW_WRONG_DATA,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
    Command,
)
from kks_emulator.card import records
from kks_emulator.card.sw import SwError
from kks_emulator.crypto import emv

if TYPE_CHECKING:
    from kks_emulator.card.card import Card
    from kks_emulator.card.profile import StaticData

AIP = bytes.fromhex("1800")  # cardholder verification + terminal risk management
SFI = 1
AFL = bytes((SFI << 3, 1, 2, 0))
CDOL1 = tlv.encode_dol([(0x9F02, 6), (0x9F03, 6), (0x9F1A, 2), (0x95, 5), (0x5F2A, 2),
                        (0x9A, 3), (0x9C, 1), (0x9F37, 4)])
CDOL2 = tlv.encode_dol([(0x8A, 2), (0x91, 10), (0x95, 5), (0x9F37, 4)])
CDOL1_LEN = 29
CDOL2_LEN = 21
#: CVM list: X = Y = 0, then "plaintext PIN verified by ICC, always" (01 00).
CVM_LIST = bytes(8) + bytes.fromhex("0100")
DKI = 0x01
CVN = 0x01
ARC_APPROVED = b"00"

CID_AAC, CID_TC, CID_ARQC = 0x00, 0x40, 0x80
CVR_PIN_OK, CVR_PIN_FAILED, CVR_PTL_EXCEEDED = 0x80, 0x40, 0x20
CVR_ONLINE_PENDING, CVR_ISSUER_AUTH_FAILED = 0x10, 0x08


def _bcd(s: str) -> bytes:
    return bytes.fromhex(s)


def card_records(card: Card) -> dict[int, bytes]:
    """Records of SFI 1 (record number -> template 70)."""
    assert card.static is not None
    return _records(card.static)


@lru_cache(maxsize=16)
def _records(st: StaticData) -> dict[int, bytes]:
    yy, mm = int(st.expiry[:2]), int(st.expiry[2:])
    last_day = calendar.monthrange(2000 + yy, mm)[1]
    track2 = f"{st.pan}D{st.expiry}2200000000000"
    if len(track2) % 2:
        track2 += "F"
    rec1 = tlv.encode(0x70, tlv.encode_many([
        (0x57, _bcd(track2)), (0x5F20, st.name.encode("ascii")),
    ]))
    rec2 = tlv.encode(0x70, tlv.encode_many([
        (0x5A, _bcd(st.pan)), (0x5F24, _bcd(f"{st.expiry}{last_day:02d}")),
        (0x5F25, _bcd(f"{st.effective}01")), (0x5F34, bytes((st.psn,))),
        (0x5F28, _bcd(st.country)), (0x9F42, _bcd(st.currency)), (0x5F30, _bcd("0220")),
        (0x9F07, bytes.fromhex("FF00")), (0x9F08, bytes.fromhex("0001")),
        (0x8C, CDOL1), (0x8D, CDOL2), (0x8E, CVM_LIST),
    ]))
    return {1: rec1, 2: rec2}


def read_record(card: Card, sfi: int, rec: int) -> bytes:
    """READ RECORD in the savings application."""
    if sfi != SFI:
        raise SwError(SW_NOT_FOUND)
    recs = card_records(card)
    if rec not in recs:
        raise SwError(SW_RECORD_NOT_FOUND)
    return recs[rec]


def get_processing_options(card: Card, cmd: Command) -> bytes:
    """GET PROCESSING OPTIONS with an empty PDOL (data 83 00): format 1, AIP || AFL."""
    if cmd.data != b"\x83\x00":
        raise SwError(SW_WRONG_DATA)
    if card.s.gpo_done:
        raise SwError(SW_CONDITIONS)
    card.s.gpo_done = True
    return tlv.encode(0x80, AIP + AFL)


def _cvr(card: Card, cid: int, ptc: int, flags: int, issuer_auth_failed: bool = False) -> bytes:
    b2 = 0
    if card.s.pin_verified:
        b2 |= CVR_PIN_OK
    if card.s.pin_failed:
        b2 |= CVR_PIN_FAILED
    if ptc == 0:
        b2 |= CVR_PTL_EXCEEDED
    if flags & records.FLAG_ONLINE_PENDING:
        b2 |= CVR_ONLINE_PENDING
    if issuer_auth_failed:
        b2 |= CVR_ISSUER_AUTH_FAILED
    return bytes((cid, b2, ptc & 0x0F, 0))


def _response(cid: int, atc: int, ac: bytes, cvr: bytes) -> bytes:
    return tlv.encode(0x77, tlv.encode_many([
        (0x9F27, bytes((cid,))), (0x9F36, atc.to_bytes(2, "big")), (0x9F26, ac),
        (0x9F10, bytes((DKI, CVN)) + cvr),
    ]))


def cryptogram_input(cdol_data: bytes, atc: int, cvr: bytes) -> bytes:
    """The bytes the application cryptogram covers."""
    return cdol_data + AIP + atc.to_bytes(2, "big") + cvr


def generate_ac(card: Card, cmd: Command) -> bytes:
    """GENERATE AC: first (CDOL1, ARQC or AAC) or second (CDOL2 with ARPC, TC or AAC)."""
    s = card.s
    st = card.static
    assert st is not None
    requested = cmd.p1 & 0xC0
    if s.ac_state == 0:
        if len(cmd.data) != CDOL1_LEN:
            raise SwError(SW_WRONG_LENGTH)
        if not s.gpo_done:
            raise SwError(SW_CONDITIONS)
        rec = card.emv_record()
        ptc = card.pin_record().ptc
        if rec.atc >= 0xFFFF:
            raise SwError(SW_CONDITIONS)
        atc = rec.atc + 1
        cid = CID_AAC if requested == CID_AAC else CID_ARQC
        flags = rec.flags | (records.FLAG_ONLINE_PENDING if cid == CID_ARQC else 0)
        cvr = _cvr(card, cid, ptc, rec.flags)
        card.commit({records.EMV: records.EmvRecord(atc, rec.last_online_atc, flags).encode()})
        sk = emv.derive_session_key(st.mk_ac, atc)
        ac = emv.compute_arqc(sk, cryptogram_input(cmd.data, atc, cvr))
        s.ac_state = 1 if cid == CID_ARQC else 2
        s.arqc, s.atc, s.session_key, s.cvr = ac, atc, sk, cvr
        return _response(cid, atc, ac, cvr)
    if s.ac_state == 1:
        if len(cmd.data) != CDOL2_LEN:
            raise SwError(SW_WRONG_LENGTH)
        if requested not in (CID_AAC, CID_TC):
            raise SwError(SW_WRONG_P1P2)
        iad = cmd.data[2:12]
        arpc, issuer_arc = iad[:8], iad[8:]
        ok = emv.verify_arpc(s.session_key, s.arqc, issuer_arc, arpc)
        approve = ok and requested == CID_TC and issuer_arc == ARC_APPROVED
        cid = CID_TC if approve else CID_AAC
        rec = card.emv_record()
        ptc = card.pin_record().ptc
        flags = rec.flags
        last = rec.last_online_atc
        if ok:
            flags &= ~records.FLAG_ONLINE_PENDING
            last = s.atc
        cvr = _cvr(card, cid, ptc, flags, issuer_auth_failed=not ok)
        if ok:
            card.commit({records.EMV: records.EmvRecord(rec.atc, last, flags).encode()})
        ac = emv.compute_arqc(s.session_key, cryptogram_input(cmd.data, s.atc, cvr))
        s.ac_state = 2
        return _response(cid, s.atc, ac, cvr)
    raise SwError(SW_CONDITIONS)
