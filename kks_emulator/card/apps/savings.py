"""The savings (debit) application, EMV-shaped: GPO with a PDOL, records, offline data
authentication (SDA records, INTERNAL AUTHENTICATE for DDA, CDA in GENERATE AC), GENERATE AC
(ARQC/TC/AAC).

Cryptogram input (both GENERATE ACs): CDOL data as sent || AIP (2) || ATC (2) || CVR (4);
MAC algorithm 3 under the common session key of the ATC. Issuer Application Data (9F10) is
DKI (01) || CVN (01) || CVR. The 2nd GENERATE AC checks the ARPC (method 1) carried in tag 91 of
CDOL2 and, if it verifies, records the ATC as the last online ATC (9F13). With P1 bit 10 (CDA
requested) and a TC or ARQC answer, the AC travels inside the signed dynamic application data
(9F4B) instead of 9F26 (EMV Book 2 §6.6).
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
from kks_emulator.crypto import emv, oda

if TYPE_CHECKING:
    from kks_emulator.card.card import Card
    from kks_emulator.card.profile import StaticData

SFI = 1
#: The records of the RSA chain (not part of the signed static data).
ODA_SFI = 2
#: AFL: SFI 1 records 1-2 (both signed for offline data authentication); with ODA also SFI 2
#: records 1-3 (certificates, signed static data, DDOL).
AFL_PLAIN = bytes((SFI << 3, 1, 2, 2))
AFL_ODA = AFL_PLAIN + bytes((ODA_SFI << 3, 1, 3, 0))
#: PDOL (9F38): terminal country code (9F1A, 2) and terminal type (9F35, 1).
PDOL = tlv.encode_dol([(0x9F1A, 2), (0x9F35, 1)])
PDOL_LEN = 3
#: DDOL (9F49): the unpredictable number (9F37, 4).
DDOL = tlv.encode_dol([(0x9F37, 4)])
DDOL_LEN = 4
#: Static Data Authentication Tag List (9F4A): the AIP joins the signed static data.
SDA_TAG_LIST = bytes((0x82,))
IDN_LEN = 8
CDA_BIT = 0x10
CDOL1 = tlv.encode_dol([(0x9F02, 6), (0x9F03, 6), (0x9F1A, 2), (0x95, 5), (0x5F2A, 2),
                        (0x9A, 3), (0x9C, 1), (0x9F37, 4)])
CDOL2 = tlv.encode_dol([(0x8A, 2), (0x91, 10), (0x95, 5), (0x9F37, 4)])
CDOL1_LEN = 29
CDOL2_LEN = 21
#: Default CVM list: X = Y = 0, then "plaintext PIN verified by ICC, always" (01 00).
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
        (0x8C, CDOL1), (0x8D, CDOL2), (0x8E, st.cvm_list),
    ] + ([(0x9F14, st.offline_limits[:1]), (0x9F23, st.offline_limits[1:])]
         if st.offline_limits else [])))
    return {1: rec1, 2: rec2}


def oda_static_data(st: StaticData) -> bytes:
    """Static data to be authenticated (EMV Book 2 §5.4): the values inside template 70 of the
    AFL records marked for ODA (SFI 1 records 1 and 2), then the AIP (tag list 9F4A = 82)."""
    recs = _records(st)
    return b"".join(tlv.decode_one(recs[i]).value for i in (1, 2)) + st.aip


@lru_cache(maxsize=16)
def _oda_records(st: StaticData) -> dict[int, bytes]:
    """Records of SFI 2: the RSA chain, the signed static data and the DDOL."""
    if st.icc_key is None:
        return {}
    return {
        1: tlv.encode(0x70, tlv.encode_many([
            (0x8F, bytes((st.ca_index,))), (0x90, st.issuer_cert), (0x9F32, st.issuer_exp),
            (0x92, st.issuer_rem)])),
        2: tlv.encode(0x70, tlv.encode_many([
            (0x9F46, st.icc_cert), (0x9F47, st.icc_exp), (0x9F48, st.icc_rem)])),
        3: tlv.encode(0x70, tlv.encode_many([
            (0x93, st.ssad), (0x9F49, DDOL), (0x9F4A, SDA_TAG_LIST)])),
    }


def afl(st: StaticData) -> bytes:
    """The AFL of this card."""
    return AFL_ODA if st.icc_key is not None else AFL_PLAIN


def read_record(card: Card, sfi: int, rec: int) -> bytes:
    """READ RECORD in the savings application."""
    st = card.static
    assert st is not None
    if sfi == SFI:
        recs = card_records(card)
    elif sfi == ODA_SFI and st.icc_key is not None:
        recs = _oda_records(st)
    else:
        raise SwError(SW_NOT_FOUND)
    if rec not in recs:
        raise SwError(SW_RECORD_NOT_FOUND)
    return recs[rec]


def get_processing_options(card: Card, cmd: Command) -> bytes:
    """GET PROCESSING OPTIONS: data 83 03 || PDOL data (terminal country, terminal type);
    format 1 answer AIP || AFL."""
    if len(cmd.data) != 2 + PDOL_LEN or cmd.data[:2] != bytes((0x83, PDOL_LEN)):
        raise SwError(SW_WRONG_DATA)
    if card.s.gpo_done:
        raise SwError(SW_CONDITIONS)
    st = card.static
    assert st is not None
    card.s.gpo_done = True
    card.s.pdol_data = cmd.data[2:]
    return tlv.encode(0x80, st.aip + afl(st))


def internal_authenticate(card: Card, cmd: Command) -> bytes:
    """INTERNAL AUTHENTICATE (DDA): DDOL data (the terminal's unpredictable number) in, format
    1 signed dynamic application data out: 80 || SDAD over (IDN length || ICC dynamic number)
    and the DDOL data."""
    st = card.static
    assert st is not None
    if st.icc_key is None or not st.aip[0] & 0x20:
        raise SwError(SW_CONDITIONS)
    if len(cmd.data) != DDOL_LEN:
        raise SwError(SW_WRONG_DATA)
    idn = card.random(IDN_LEN)
    sdad = oda.signed_dynamic_data(st.icc_key, bytes((IDN_LEN,)) + idn, cmd.data)
    return tlv.encode(0x80, sdad)


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


def _response(card: Card, cmd: Command, cid: int, atc: int, ac: bytes, cvr: bytes,
              cdol_data: bytes) -> bytes:
    """Format 2 answer; with CDA requested (P1 bit 10) and a TC or ARQC, the AC goes into the
    signed dynamic application data 9F4B (EMV Book 2 §6.6.1)."""
    st = card.static
    assert st is not None
    head = tlv.encode_many([(0x9F27, bytes((cid,))), (0x9F36, atc.to_bytes(2, "big"))])
    iad = tlv.encode(0x9F10, bytes((DKI, CVN)) + cvr)
    if not (cmd.p1 & CDA_BIT and cid != CID_AAC and st.aip[0] & 0x01
            and st.icc_key is not None):
        return tlv.encode(0x77, head + tlv.encode(0x9F26, ac) + iad)
    tx_hash = oda.transaction_data_hash(card.s.pdol_data, cdol_data, head + iad)
    if st.oda_fault == "cda-wrong":
        tx_hash = bytes(20)
    idn = card.random(IDN_LEN)
    un = card.s.cdol1[-4:]  # the unpredictable number, last field of CDOL1 (9F37)
    sdad = oda.signed_dynamic_data(st.icc_key, oda.cda_dynamic_data(idn, cid, ac, tx_hash), un)
    return tlv.encode(0x77, head + tlv.encode(0x9F4B, sdad) + iad)


def cryptogram_input(cdol_data: bytes, aip: bytes, atc: int, cvr: bytes) -> bytes:
    """The bytes the application cryptogram covers."""
    return cdol_data + aip + atc.to_bytes(2, "big") + cvr


def card_decision(policy: str, requested: int, flags: int) -> int:
    """Card risk management of the first GENERATE AC: the CID the card answers with.

    "online": a TC or ARQC request gets an ARQC (the KKS default: every savings debit goes
    online); "offline": a TC request is granted; "decline": always AAC. An AAC request, or an
    application blocked by issuer script, is always an AAC."""
    if requested == CID_AAC or policy == "decline" or flags & records.FLAG_APP_BLOCKED:
        return CID_AAC
    if policy == "offline" and requested == CID_TC:
        return CID_TC
    return CID_ARQC


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
        cid = card_decision(st.gac_policy, requested, rec.flags)
        flags = rec.flags | (records.FLAG_ONLINE_PENDING if cid == CID_ARQC else 0)
        cvr = _cvr(card, cid, ptc, rec.flags)
        card.commit({records.EMV: records.EmvRecord(atc, rec.last_online_atc, flags).encode()})
        sk = emv.derive_session_key(st.mk_ac, atc)
        ac = emv.compute_arqc(sk, cryptogram_input(cmd.data, st.aip, atc, cvr))
        s.ac_state = 1 if cid == CID_ARQC else 2
        s.arqc, s.atc, s.session_key, s.cvr = ac, atc, sk, cvr
        s.cdol1 = cmd.data
        return _response(card, cmd, cid, atc, ac, cvr, cmd.data)
    if s.ac_state == 1:
        if len(cmd.data) != CDOL2_LEN:
            raise SwError(SW_WRONG_LENGTH)
        if requested not in (CID_AAC, CID_TC):
            raise SwError(SW_WRONG_P1P2)
        iad = cmd.data[2:12]
        arpc, issuer_arc = iad[:8], iad[8:]
        ok = emv.verify_arpc(s.session_key, s.arqc, issuer_arc, arpc)
        rec = card.emv_record()
        approve = (ok and requested == CID_TC and issuer_arc == ARC_APPROVED
                   and not rec.flags & records.FLAG_APP_BLOCKED)
        cid = CID_TC if approve else CID_AAC
        ptc = card.pin_record().ptc
        flags = rec.flags
        last = rec.last_online_atc
        if ok:
            flags &= ~records.FLAG_ONLINE_PENDING
            last = s.atc
        cvr = _cvr(card, cid, ptc, flags, issuer_auth_failed=not ok)
        if ok:
            card.commit({records.EMV: records.EmvRecord(rec.atc, last, flags).encode()})
        ac = emv.compute_arqc(s.session_key, cryptogram_input(cmd.data, st.aip, s.atc, cvr))
        s.ac_state = 2
        return _response(card, cmd, cid, s.atc, ac, cvr, s.cdol1 + cmd.data)
    raise SwError(SW_CONDITIONS)
