"""Offline data authentication checked from the outside: EMV Book 2 rules written out here.

Nothing below uses the card's ODA code: recovery is `pow(S, e, N)` on integers, the formats and
hash inputs are spelled out per EMV Book 2 (§5.3 issuer certificate, §5.4 ICC certificate and
signed static data, §6.3 DDA, §6.6 CDA), and the only inputs are the published test CA key
(docs/card.md) and what the card answers over APDUs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from kks_emulator import tlv
from kks_emulator.card import Card

from .helpers import CDOL1_DATA, GPO_DATA, PAN, fresh_store, seeded_rng
from .helpers import Terminal as _Terminal

KEYS_JSON = Path(__file__).resolve().parents[2] / "kks_emulator" / "crypto" / "test_rsa_keys.json"
RID = bytes.fromhex("A000000602")
#: The terminal's revocation list: (RID, CA index, issuer certificate serial) (docs/card.md).
REVOKED = {(RID, 0xF1, bytes.fromhex("0000DE"))}
TODAY = "261207"  # YYMMDD of the transactions in these tests


def sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()  # EMV Book 2 mandates SHA-1


def ca_public_key(index: int) -> tuple[int, int]:
    """(modulus, exponent) of the published test CA key."""
    ca = json.loads(KEYS_JSON.read_text())["ca"][f"{index:02X}"]
    return int(ca["n"], 16), int(ca["e"], 16)


def recover(sig: bytes, n: int, e: int) -> bytes:
    if len(sig) != (n.bit_length() + 7) // 8:
        raise ValueError("signature length differs from the modulus length")
    return pow(int.from_bytes(sig, "big"), e, n).to_bytes(len(sig), "big")


def expired(mmyy: bytes, today: str = TODAY) -> bool:
    mm, yy = int(mmyy.hex()[:2]), int(mmyy.hex()[2:])
    return (yy, mm) < (int(today[:2]), int(today[2:4]))


class OdaFailure(Exception):
    pass


def issuer_key(f: dict[int, bytes], pan: str) -> tuple[int, int, bytes]:
    """EMV Book 2 §5.3: recover and check the issuer PK certificate; (N_I, e_I, serial)."""
    index = f[0x8F][0]
    n_ca, e_ca = ca_public_key(index)
    x = recover(f[0x90], n_ca, e_ca)
    n = len(x)
    if x[0] != 0x6A or x[-1] != 0xBC or x[1] != 0x02:
        raise OdaFailure("issuer certificate: header/trailer/format")
    ident, exp, serial = x[2:6], x[6:8], x[8:11]
    hash_alg, pk_alg, pk_len, exp_len = x[11], x[12], x[13], x[14]
    left = x[15:n - 21]
    rem, exponent = f.get(0x92, b""), f[0x9F32]
    digest = x[n - 21:n - 1]
    if hash_alg != 1 or pk_alg != 1 or exp_len != len(exponent):
        raise OdaFailure("issuer certificate: algorithm indicators")
    if sha1(x[1:15] + left + rem + exponent) != digest:
        raise OdaFailure("issuer certificate: hash")
    if not pan.startswith(ident.hex().upper().rstrip("F")):
        raise OdaFailure("issuer certificate: issuer identifier does not match the PAN")
    if expired(exp):
        raise OdaFailure("issuer certificate: expired")
    if (RID, index, serial) in REVOKED:
        raise OdaFailure("issuer certificate: revoked")
    modulus = (left + rem)[:pk_len] if pk_len > len(left) else left[:pk_len]
    return int.from_bytes(modulus, "big"), int.from_bytes(exponent, "big"), serial


def icc_key(f: dict[int, bytes], pan: str, static: bytes) -> tuple[int, int]:
    """EMV Book 2 §6.4: recover and check the ICC PK certificate; (N_IC, e_IC)."""
    n_i, e_i, _ = issuer_key(f, pan)
    x = recover(f[0x9F46], n_i, e_i)
    n = len(x)
    if x[0] != 0x6A or x[-1] != 0xBC or x[1] != 0x04:
        raise OdaFailure("ICC certificate: header/trailer/format")
    cert_pan, exp = x[2:12].hex().upper().rstrip("F"), x[12:14]
    pk_len = x[19]
    left = x[21:n - 21]
    rem, exponent = f.get(0x9F48, b""), f[0x9F47]
    if sha1(x[1:21] + left + rem + exponent + static) != x[n - 21:n - 1]:
        raise OdaFailure("ICC certificate: hash")
    if cert_pan != pan or expired(exp):
        raise OdaFailure("ICC certificate: PAN or expiry")
    modulus = (left + rem)[:pk_len]
    return int.from_bytes(modulus, "big"), int.from_bytes(exponent, "big")


def sda(f: dict[int, bytes], pan: str, static: bytes) -> bytes:
    """EMV Book 2 §5.4: verify the signed static application data; the DAC."""
    n_i, e_i, _ = issuer_key(f, pan)
    x = recover(f[0x93], n_i, e_i)
    n = len(x)
    if x[0] != 0x6A or x[-1] != 0xBC or x[1] != 0x03 or x[2] != 0x01:
        raise OdaFailure("SSAD: header/trailer/format")
    if x[5:n - 21] != b"\xBB" * (n - 26):
        raise OdaFailure("SSAD: padding")
    if sha1(x[1:n - 21] + static) != x[n - 21:n - 1]:
        raise OdaFailure("SSAD: hash")
    return x[3:5]


def dynamic(sdad: bytes, key: tuple[int, int], terminal_data: bytes) -> bytes:
    """EMV Book 2 §6.5: verify signed dynamic application data; the ICC dynamic data."""
    x = recover(sdad, *key)
    n = len(x)
    if x[0] != 0x6A or x[-1] != 0xBC or x[1] != 0x05 or x[2] != 0x01:
        raise OdaFailure("SDAD: header/trailer/format")
    ldd = x[3]
    if sha1(x[1:n - 21] + terminal_data) != x[n - 21:n - 1]:
        raise OdaFailure("SDAD: hash")
    return x[4:4 + ldd]


class Session:
    """A terminal reading the savings application over APDUs (T=1, in process)."""

    def __init__(self, **profile) -> None:
        self.t = _Terminal(Card(fresh_store(**profile), rng=seeded_rng(5)))
        self.t.card.power_on()
        assert self.t.select_savings().ok
        g = self.t.gpo()
        assert g.ok
        body = tlv.decode_one(g.data).value
        self.aip, afl = body[:2], body[2:]
        self.fields: dict[int, bytes] = {}
        static = b""
        for i in range(0, len(afl), 4):
            sfi, first, last, n_oda = afl[i] >> 3, afl[i + 1], afl[i + 2], afl[i + 3]
            for rec in range(first, last + 1):
                r = self.t.send(0x00, 0xB2, rec, (sfi << 3) | 4, b"", 256)
                assert r.ok
                if rec - first < n_oda:  # SFI 1-10: the value inside template 70
                    static += tlv.decode_one(r.data).value
                for tag, value in tlv.flatten(tlv.decode(r.data)).items():
                    self.fields.setdefault(tag, value)
        assert self.fields[0x9F4A] == b"\x82"
        self.static = static + self.aip


def test_sda_chain_verifies():
    s = Session()
    assert s.aip == bytes.fromhex("7D00")
    dac = sda(s.fields, PAN, s.static)
    assert len(dac) == 2


def test_dda_internal_authenticate_verifies():
    s = Session()
    key = icc_key(s.fields, PAN, s.static)
    un = bytes.fromhex("0A0B0C0D")
    assert s.fields[0x9F49] == bytes.fromhex("9F3704")
    r = s.t.send(0x00, 0x88, 0, 0, un, 256)
    assert r.ok
    sdad = tlv.decode_one(r.data)
    assert sdad.tag == 0x80
    dd = dynamic(sdad.value, key, un)
    assert dd[0] == 8 and len(dd) == 9
    with pytest.raises(OdaFailure):
        dynamic(sdad.value, key, bytes.fromhex("0A0B0C0E"))  # another UN does not verify


def _cda_check(resp: bytes, key, pdol: bytes, cdol: bytes, un: bytes) -> tuple[int, bytes]:
    items = tlv.decode_one(resp).children
    by = {i.tag: i for i in items}
    assert 0x9F26 not in by
    dd = dynamic(by[0x9F4B].value, key, un)
    idn_len = dd[0]
    cid, ac, tx_hash = dd[1 + idn_len], dd[2 + idn_len:10 + idn_len], dd[10 + idn_len:30 + idn_len]
    assert cid == by[0x9F27].value[0]
    others = b"".join(tlv.encode(i.tag, i.value) for i in items if i.tag != 0x9F4B)
    if sha1(pdol + cdol + others) != tx_hash:
        raise OdaFailure("CDA: transaction data hash")
    return cid, ac


def test_cda_first_and_second_generate_ac_verify():
    from .helpers import arpc_for

    s = Session()
    key = icc_key(s.fields, PAN, s.static)
    pdol = GPO_DATA[2:]
    r1 = s.t.gac(0x90, CDOL1_DATA)
    assert r1.ok
    cid, ac = _cda_check(r1.data, key, pdol, CDOL1_DATA, CDOL1_DATA[-4:])
    assert cid == 0x80
    flat = tlv.flatten(tlv.decode(r1.data))
    _, arpc = arpc_for(tlv.encode(0x77, tlv.encode_many([(0x9F36, flat[0x9F36]),
                                                         (0x9F26, ac)])))
    cdol2 = b"00" + arpc + b"00" + bytes(5) + CDOL1_DATA[-4:]
    r2 = s.t.gac(0x50, cdol2)
    assert r2.ok
    cid2, _ = _cda_check(r2.data, key, pdol, CDOL1_DATA + cdol2, CDOL1_DATA[-4:])
    assert cid2 == 0x40


def test_aac_is_not_signed():
    s = Session()
    r = s.t.gac(0x10, CDOL1_DATA)
    f = tlv.flatten(tlv.decode(r.data))
    assert f[0x9F27] == b"\x00" and 0x9F26 in f and 0x9F4B not in f


@pytest.mark.parametrize("where", [0x90, 0x9F46, 0x93, 0x92, 0x9F48])
def test_tampered_objects_fail(where):
    s = Session()
    f = dict(s.fields)
    v = bytearray(f[where])
    v[len(v) // 2] ^= 0x40
    f[where] = bytes(v)
    with pytest.raises(OdaFailure):
        sda(f, PAN, s.static) if where in (0x90, 0x92, 0x93) else icc_key(f, PAN, s.static)


def test_tampered_static_data_fails_sda():
    s = Session()
    static = bytearray(s.static)
    static[5] ^= 1
    with pytest.raises(OdaFailure, match="SSAD: hash"):
        sda(s.fields, PAN, bytes(static))


@pytest.mark.parametrize(("fault", "message"), [
    ("issuer-expired", "expired"), ("issuer-revoked", "revoked"), ("sda-corrupt", "SSAD")])
def test_deck_faults_fail_sda(fault, message):
    s = Session(oda_fault=fault)
    with pytest.raises(OdaFailure, match=message):
        sda(s.fields, PAN, s.static)


def test_cda_wrong_signature_fails():
    s = Session(oda_fault="cda-wrong")
    key = icc_key(s.fields, PAN, s.static)
    r = s.t.gac(0x90, CDOL1_DATA)
    with pytest.raises(OdaFailure, match="transaction data hash"):
        _cda_check(r.data, key, GPO_DATA[2:], CDOL1_DATA, CDOL1_DATA[-4:])


def test_kat_issuer_certificate_recovery():
    """KAT (docs/card.md): the test issuer BRI's certificate recovers to these fields."""
    s = Session()
    n_ca, e_ca = ca_public_key(0xF1)
    x = recover(s.fields[0x90], n_ca, e_ca)
    assert x[:15].hex().upper() == "6A02601350FF1235000001010190" + "03"
    assert sha1(x).hex().upper() == KAT_ISSUER_CERT_SHA1
    assert hashlib.sha256(s.fields[0x90]).hexdigest().upper() == KAT_ISSUER_CERT_SHA256


KAT_ISSUER_CERT_SHA1 = "44B94B8B0C4D8680A39E129FA73BE98074757364"
KAT_ISSUER_CERT_SHA256 = "BFD0CAFA5CCB5EB49E5F695F04A2B3A603206D7C04073BE7E36B0FC39FC66A11"
