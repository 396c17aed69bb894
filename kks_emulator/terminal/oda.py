"""Offline data authentication in the terminal (EMV Book 2 §5-6, Book 3 §10.3).

The terminal holds CA public keys by (RID, index) and a revocation list of issuer certificates
keyed by (RID, CA index, serial). It recovers the issuer certificate (90) with the CA key, the
ICC certificate (9F46) with the issuer key, and checks each recovered block: header 6A, format,
trailer BC, SHA-1 over the fields plus remainder, exponent (and static data), issuer identifier
against the PAN, expiry against the transaction date, revocation. Any failure is an
`OdaError` whose message says which check failed; the kernel maps it to the TVR.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from kks_emulator.crypto import oda as card_oda
from kks_emulator.crypto import rsa
from kks_emulator.errors import CardError

#: The published test CA keys (docs/card.md): (RID, index) -> (modulus, exponent).
TEST_CA_KEYS = {
    (card_oda.RID, card_oda.TEST_CA_INDEX): (
        rsa.test_ca_key(card_oda.TEST_CA_INDEX).modulus,
        rsa.test_ca_key(card_oda.TEST_CA_INDEX).exponent),
}
#: The test revocation list (docs/card.md): (RID, CA index, issuer certificate serial).
TEST_REVOCATIONS = frozenset({(card_oda.RID, card_oda.TEST_CA_INDEX, bytes.fromhex("0000DE"))})


class OdaError(CardError):
    """Offline data authentication failed (the message names the check)."""


def _sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()  # noqa: S324 (EMV Book 2 mandates SHA-1)


def _recover(sig: bytes, modulus: bytes, exponent: bytes, fmt: int, what: str) -> bytes:
    if len(sig) != len(modulus):
        raise OdaError(f"{what}: length {len(sig)} differs from the key's {len(modulus)}")
    x = rsa.public_op(modulus, exponent, sig)
    if x[0] != 0x6A or x[-1] != 0xBC or x[1] != fmt:
        raise OdaError(f"{what}: recovered data has a bad header, format or trailer")
    return x


def _expired(mmyy: bytes, date_yymmdd: str) -> bool:
    text = mmyy.hex()
    if not text.isdigit():
        return True
    return (int(text[2:]), int(text[:2])) < (int(date_yymmdd[:2]), int(date_yymmdd[2:4]))


@dataclass(frozen=True)
class OdaKeys:
    """What the terminal needs: CA keys and the revocation list."""

    ca_keys: dict[tuple[bytes, int], tuple[bytes, bytes]]
    revoked: frozenset[tuple[bytes, int, bytes]]

    @classmethod
    def test(cls) -> OdaKeys:
        """The published test CA and revocation list."""
        return cls(dict(TEST_CA_KEYS), TEST_REVOCATIONS)


def issuer_public_key(keys: OdaKeys, rid: bytes, f: dict[int, bytes], pan: str,
                      date: str) -> tuple[bytes, bytes]:
    """Recover and check the issuer PK certificate; (modulus, exponent)."""
    index = f.get(0x8F, b"")
    if len(index) != 1 or 0x90 not in f or 0x9F32 not in f:
        raise OdaError("ICC data missing: CA index, issuer certificate or exponent")
    ca = keys.ca_keys.get((rid, index[0]))
    if ca is None:
        raise OdaError(f"no CA public key for RID {rid.hex().upper()} index {index.hex()}")
    x = _recover(f[0x90], ca[0], ca[1], 0x02, "issuer certificate")
    n = len(x)
    ident, exp, serial = x[2:6], x[6:8], x[8:11]
    pk_len, exp_len, left = x[13], x[14], x[15:n - 21]
    rem, exponent = f.get(0x92, b""), f[0x9F32]
    if x[11] != 0x01 or x[12] != 0x01 or exp_len != len(exponent):
        raise OdaError("issuer certificate: unknown hash/key algorithm or exponent length")
    if _sha1(x[1:15] + left + rem + exponent) != x[n - 21:n - 1]:
        raise OdaError("issuer certificate: hash mismatch")
    if not pan.startswith(ident.hex().upper().rstrip("F")):
        raise OdaError("issuer certificate: issuer identifier does not match the PAN")
    if _expired(exp, date):
        raise OdaError("issuer certificate: expired")
    if (rid, index[0], serial) in keys.revoked:
        raise OdaError("issuer certificate: revoked")
    modulus = (left + rem)[:pk_len]
    if len(modulus) != pk_len:
        raise OdaError("issuer certificate: public key remainder missing")
    return modulus, exponent


def icc_public_key(keys: OdaKeys, rid: bytes, f: dict[int, bytes], pan: str, date: str,
                   static: bytes) -> tuple[bytes, bytes]:
    """Recover and check the ICC PK certificate (after the issuer's); (modulus, exponent)."""
    issuer = issuer_public_key(keys, rid, f, pan, date)
    if 0x9F46 not in f or 0x9F47 not in f:
        raise OdaError("ICC data missing: ICC certificate or exponent")
    x = _recover(f[0x9F46], issuer[0], issuer[1], 0x04, "ICC certificate")
    n = len(x)
    pk_len, left = x[19], x[21:n - 21]
    rem, exponent = f.get(0x9F48, b""), f[0x9F47]
    if _sha1(x[1:21] + left + rem + exponent + static) != x[n - 21:n - 1]:
        raise OdaError("ICC certificate: hash mismatch")
    if x[2:12].hex().upper().rstrip("F") != pan:
        raise OdaError("ICC certificate: PAN mismatch")
    if _expired(x[12:14], date):
        raise OdaError("ICC certificate: expired")
    modulus = (left + rem)[:pk_len]
    if len(modulus) != pk_len:
        raise OdaError("ICC certificate: public key remainder missing")
    return modulus, exponent


def verify_sda(keys: OdaKeys, rid: bytes, f: dict[int, bytes], pan: str, date: str,
               static: bytes) -> bytes:
    """SDA: the signed static application data (93) under the issuer key; the DAC."""
    issuer = issuer_public_key(keys, rid, f, pan, date)
    if 0x93 not in f:
        raise OdaError("ICC data missing: signed static application data")
    x = _recover(f[0x93], issuer[0], issuer[1], 0x03, "signed static data")
    n = len(x)
    if _sha1(x[1:n - 21] + static) != x[n - 21:n - 1]:
        raise OdaError("signed static data: hash mismatch")
    return x[3:5]


def verify_dynamic(icc: tuple[bytes, bytes], sdad: bytes, terminal_data: bytes) -> bytes:
    """DDA/CDA: the signed dynamic application data; returns the ICC dynamic data."""
    x = _recover(sdad, icc[0], icc[1], 0x05, "signed dynamic data")
    n = len(x)
    if _sha1(x[1:n - 21] + terminal_data) != x[n - 21:n - 1]:
        raise OdaError("signed dynamic data: hash mismatch")
    ldd = x[3]
    if ldd > n - 25:
        raise OdaError("signed dynamic data: dynamic data length out of range")
    return x[4:4 + ldd]
