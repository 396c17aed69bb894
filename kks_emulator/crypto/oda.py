"""EMV offline data authentication, signing side (EMV Book 2 §5-6): certificates and signatures.

Every signed object is RSA with message recovery: `6A | format | fields | SHA-1 hash | BC`,
exactly modulus-sized, then the raw private operation of the signer. The hash covers the fields
after `6A` up to the hash plus the extra data each format names:

- issuer PK certificate (90), signed by the CA, format 02: issuer id (4), expiry MMYY (2),
  serial (3), 01 01, PK length, exponent length, the leftmost N_CA-36 bytes of the issuer PK (BB
  padded); the hash also covers the PK remainder (92) and the exponent (9F32).
- ICC PK certificate (9F46), signed by the issuer, format 04: PAN (10, F padded), expiry MMYY,
  serial (3), 01 01, PK length, exponent length, the leftmost N_I-42 bytes of the ICC PK; the
  hash also covers the PK remainder (9F48), the exponent (9F47) and the static data to be
  authenticated.
- signed static application data (93), signed by the issuer, format 03: 01, data
  authentication code (2), BB padding to N_I; the hash also covers the static data.
- signed dynamic application data (9F4B), signed by the ICC, format 05: 01, ICC dynamic data
  length, ICC dynamic data, BB padding to N_IC; the hash also covers the terminal dynamic data
  (the DDOL data; for CDA the unpredictable number).

SHA-1 is what EMV Book 2 mandates for these formats (hash algorithm indicator 01).
"""

from __future__ import annotations

import hashlib

from kks_emulator.crypto.rsa import RsaKey
from kks_emulator.errors import InputError

#: The registered application provider id of the KKS savings AID (A0000006021010).
RID = bytes.fromhex("A000000602")
#: The test CA public key index (8F) under that RID.
TEST_CA_INDEX = 0xF1
HASH_SHA1 = 0x01
PK_RSA = 0x01
HEADER, TRAILER, PAD = 0x6A, 0xBC, 0xBB


def _mmyy(text: str) -> bytes:
    if len(text) != 4 or not text.isdigit() or not 1 <= int(text[:2]) <= 12:
        raise InputError(f"certificate expiry must be MMYY, got {text!r}")
    return bytes.fromhex(text)


def _sign(key: RsaKey, body: bytes, hashed_extra: bytes) -> bytes:
    """`6A || body || SHA-1(body || extra) || BC` signed with the raw private operation."""
    digest = hashlib.sha1(body + hashed_extra).digest()  # noqa: S324 (EMV Book 2)
    block = bytes((HEADER,)) + body + digest + bytes((TRAILER,))
    if len(block) != key.size:
        raise InputError(f"signed block is {len(block)} bytes for a {key.size}-byte key")
    return key.private(block)


def _split_key(pk: bytes, room: int) -> tuple[bytes, bytes]:
    """(leftmost part padded with BB to `room`, remainder) of a public key modulus."""
    if len(pk) <= room:
        return pk + bytes((PAD,)) * (room - len(pk)), b""
    return pk[:room], pk[room:]


def issuer_id(pan: str) -> bytes:
    """Issuer identifier: the leftmost 6 PAN digits, F padded to 4 bytes."""
    return bytes.fromhex(pan[:6] + "FF")


def issuer_certificate(ca: RsaKey, issuer: RsaKey, ident: bytes, expiry_mmyy: str,
                       serial: bytes) -> tuple[bytes, bytes]:
    """(issuer PK certificate 90, issuer PK remainder 92)."""
    if len(ident) != 4 or len(serial) != 3:
        raise InputError("issuer id is 4 bytes and the serial 3")
    left, rem = _split_key(issuer.modulus, ca.size - 36)
    body = (b"\x02" + ident + _mmyy(expiry_mmyy) + serial
            + bytes((HASH_SHA1, PK_RSA, issuer.size, len(issuer.exponent))) + left)
    return _sign(ca, body, rem + issuer.exponent), rem


def application_pan(pan: str) -> bytes:
    """The PAN as 10 bytes, F padded (the ICC certificate's PAN field)."""
    return bytes.fromhex(pan.ljust(20, "F"))


def icc_certificate(issuer: RsaKey, icc: RsaKey, pan: str, expiry_mmyy: str, serial: bytes,
                    static_data: bytes) -> tuple[bytes, bytes]:
    """(ICC PK certificate 9F46, ICC PK remainder 9F48)."""
    left, rem = _split_key(icc.modulus, issuer.size - 42)
    body = (b"\x04" + application_pan(pan) + _mmyy(expiry_mmyy) + serial
            + bytes((HASH_SHA1, PK_RSA, icc.size, len(icc.exponent))) + left)
    return _sign(issuer, body, rem + icc.exponent + static_data), rem


def signed_static_data(issuer: RsaKey, dac: bytes, static_data: bytes) -> bytes:
    """Signed static application data (93) with data authentication code `dac` (2 bytes)."""
    if len(dac) != 2:
        raise InputError("the data authentication code is 2 bytes")
    body = b"\x03" + bytes((HASH_SHA1,)) + dac + bytes((PAD,)) * (issuer.size - 26)
    return _sign(issuer, body, static_data)


def signed_dynamic_data(icc: RsaKey, icc_dynamic: bytes, terminal_dynamic: bytes) -> bytes:
    """Signed dynamic application data (9F4B) over ICC and terminal dynamic data."""
    ldd = len(icc_dynamic)
    if ldd > icc.size - 25:
        raise InputError("ICC dynamic data too long for the ICC key")
    body = (b"\x05" + bytes((HASH_SHA1, ldd)) + icc_dynamic
            + bytes((PAD,)) * (icc.size - ldd - 25))
    return _sign(icc, body, terminal_dynamic)


def cda_dynamic_data(idn: bytes, cid: int, ac: bytes, tx_hash: bytes) -> bytes:
    """ICC dynamic data of a CDA GENERATE AC: IDN length, IDN, CID, AC, transaction data hash."""
    return bytes((len(idn),)) + idn + bytes((cid,)) + ac + tx_hash


def transaction_data_hash(pdol_data: bytes, cdol_data: bytes, response_tlvs: bytes) -> bytes:
    """CDA transaction data hash code: SHA-1(PDOL data || CDOL1 (|| CDOL2) data || the GENERATE
    AC response's data objects except 9F4B, in order)."""
    return hashlib.sha1(pdol_data + cdol_data + response_tlvs).digest()  # noqa: S324 (EMV)
