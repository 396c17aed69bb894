"""E-money purse cryptography: load MACs, the canonical transaction record, ECDSA and certificates.

Load authorisation (CEPS-shaped, see docs/card.md):
- per-card load key  KL = AES-CMAC(purse master key, "KKS-LOAD" || card id)   (16 bytes)
- S1 (card -> issuer)  = CMAC8(KL, "S1" || card id || NT || balance || amount || terminal id || time
  || card challenge)
- S2 (issuer -> card)  = CMAC8(KL, "S2" || card id || NT || amount || terminal id || time
  || card challenge)
- S3 (card -> issuer)  = CMAC8(KL, "S3" || card id || NT after || balance after)
where CMAC8 is AES-CMAC truncated to its first 8 bytes, integers are unsigned big-endian
(NT, balance, amount, time: 4 bytes).

Purchase records are signed with ECDSA P-256 / SHA-256, DER signatures; verification rejects any
signature whose bytes are not the canonical DER re-encoding of (r, s) (no BER, no padding).
Signing is deterministic (RFC 6979: k derived from the key and the message hash), so the same
key and record always give the same signature bytes; this needs `cryptography` >= 44 built
with OpenSSL >= 3.2 and fails at import otherwise.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.cmac import CMAC

from kks_emulator.crypto import ct
from kks_emulator.errors import InputError

CARD_ID_LEN = 9
RECORD_VERSION = 1
TYPE_PURCHASE = 1
TYPE_LOAD = 2
_RECORD = struct.Struct(">BB9sIII8s8sI")
RECORD_LEN = _RECORD.size  # 43 bytes
_ECDSA = ec.ECDSA(hashes.SHA256())
try:
    _ECDSA_RFC6979 = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
except (TypeError, UnsupportedAlgorithm) as _exc:  # old cryptography / OpenSSL < 3.2
    raise ImportError("deterministic ECDSA (RFC 6979) needs cryptography >= 44 with "
                      f"OpenSSL >= 3.2: {_exc}") from None


class RecordError(InputError):
    """A transaction record or certificate that does not decode or verify."""


def cmac(key: bytes, data: bytes) -> bytes:
    """Full 16-byte AES-CMAC (RFC 4493)."""
    c = CMAC(AES(key))
    c.update(data)
    return c.finalize()


def cmac8(key: bytes, data: bytes) -> bytes:
    """AES-CMAC truncated to 8 bytes."""
    return cmac(key, data)[:8]


def derive_load_key(purse_master: bytes, card_id: bytes) -> bytes:
    """Per-card load key KL = AES-CMAC(purse master key, "KKS-LOAD" || card id)."""
    return cmac(purse_master, b"KKS-LOAD" + bytes(card_id))


def _u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


def load_s1(load_key: bytes, card_id: bytes, nt: int, balance: int, amount: int,
            terminal_id: bytes, time: int, challenge: bytes, pin_verified: bool) -> bytes:
    """S1: the card's MAC over its load request, ending with its PIN evidence (01 when the
    cardholder's PIN was verified in this card session, else 00)."""
    return cmac8(load_key, b"S1" + card_id + _u32(nt) + _u32(balance) + _u32(amount)
                 + terminal_id + _u32(time) + challenge + (b"\x01" if pin_verified else b"\x00"))


def load_s2(load_key: bytes, card_id: bytes, nt: int, amount: int, terminal_id: bytes,
            time: int, challenge: bytes) -> bytes:
    """S2: the issuer's authorisation of a load (CREDIT FOR LOAD data)."""
    return cmac8(load_key, b"S2" + card_id + _u32(nt) + _u32(amount) + terminal_id + _u32(time)
                 + challenge)


def load_s3(load_key: bytes, card_id: bytes, nt_after: int, balance_after: int) -> bytes:
    """S3: the card's proof that it credited the load."""
    return cmac8(load_key, b"S3" + card_id + _u32(nt_after) + _u32(balance_after))


def mac_equal(a: bytes, b: bytes) -> bool:
    """Constant-time MAC comparison."""
    return ct.equal(a, b)


def encode_record(type_: int, card_id: bytes, counter: int, amount: int, balance_after: int,
                  terminal_id: bytes, terminal_nonce: bytes, time: int) -> bytes:
    """The canonical 43-byte record from its fields (what `TransactionRecord.encode` returns),
    without building the dataclass; same checks, same `RecordError`."""
    if len(card_id) != CARD_ID_LEN or len(terminal_id) != 8 or len(terminal_nonce) != 8:
        raise RecordError("card id must be 9 bytes, terminal id and nonce 8 bytes")
    try:
        return _RECORD.pack(RECORD_VERSION, type_, card_id, counter, amount, balance_after,
                            terminal_id, terminal_nonce, time)
    except struct.error as exc:
        raise RecordError(f"record field out of range: {exc}") from None


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    """The canonical purse transaction record (43 bytes, big-endian, see `encode`)."""

    card_id: bytes
    counter: int
    amount: int
    balance_after: int
    terminal_id: bytes
    terminal_nonce: bytes
    time: int
    type: int = TYPE_PURCHASE

    def encode(self) -> bytes:
        """version(1) type(1) card id(9) counter(4) amount(4) balance after(4)
        terminal id(8) terminal nonce(8) time(4, Unix seconds UTC)."""
        return encode_record(self.type, self.card_id, self.counter, self.amount,
                             self.balance_after, self.terminal_id, self.terminal_nonce, self.time)

    @classmethod
    def decode(cls, raw: bytes) -> TransactionRecord:
        """Decode exactly `RECORD_LEN` bytes."""
        if len(raw) != RECORD_LEN:
            raise RecordError(f"record must be {RECORD_LEN} bytes, got {len(raw)}")
        ver, typ, card_id, counter, amount, bal, tid, nonce, time = _RECORD.unpack(raw)
        if ver != RECORD_VERSION or typ not in (TYPE_PURCHASE, TYPE_LOAD):
            raise RecordError(f"unknown record version {ver} or type {typ}")
        return cls(card_id, counter, amount, bal, tid, nonce, time, typ)


def sign(private_key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    """Deterministic (RFC 6979) ECDSA P-256 / SHA-256 signature, DER encoded."""
    return private_key.sign(message, _ECDSA_RFC6979)


def is_strict_der(signature: bytes) -> bool:
    """True when `signature` is exactly the canonical DER encoding of its (r, s)."""
    try:
        r, s = decode_dss_signature(bytes(signature))
    except ValueError:
        return False
    return r > 0 and s > 0 and encode_dss_signature(r, s) == bytes(signature)


def verify(public_key: ec.EllipticCurvePublicKey, message: bytes, signature: bytes) -> bool:
    """Verify an ECDSA P-256 / SHA-256 DER signature; BER or non-canonical encodings fail."""
    if not is_strict_der(signature):
        return False
    try:
        public_key.verify(bytes(signature), message, _ECDSA)
    except InvalidSignature:
        return False
    return True


def public_point(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """Uncompressed SEC1 point (65 bytes)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    return public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def load_public_point(point: bytes) -> ec.EllipticCurvePublicKey:
    """Public key from an uncompressed SEC1 point; raise `RecordError` if it is not on P-256."""
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes(point))
    except ValueError as exc:
        raise RecordError(f"bad P-256 point: {exc}") from None


CERT_MAGIC = b"KC"
CERT_VERSION = 1
_CERT_BODY = struct.Struct(">2sB4s9sH65s")
CERT_BODY_LEN = _CERT_BODY.size  # 83 bytes


@dataclass(frozen=True, slots=True)
class CardCertificate:
    """Card public key certified by the issuer CA.

    Body: "KC" version(1) bank(4 ASCII, space padded) card id(9) expiry(2: YYMM BCD)
    public key point(65); the certificate is body || DER ECDSA signature of the CA over body.
    """

    bank: str
    card_id: bytes
    expiry: str  # "YYMM"
    public_key: bytes  # 65-byte uncompressed point
    signature: bytes = b""

    def body(self) -> bytes:
        """The signed part."""
        bank = self.bank.encode("ascii").ljust(4, b" ")
        if len(bank) != 4 or len(self.expiry) != 4 or not self.expiry.isdigit():
            raise RecordError("bank must be at most 4 ASCII chars and expiry YYMM")
        return _CERT_BODY.pack(CERT_MAGIC, CERT_VERSION, bank, self.card_id,
                               int(self.expiry, 16), self.public_key)

    def encode(self) -> bytes:
        """Body followed by the CA signature."""
        return self.body() + self.signature

    @classmethod
    def decode(cls, raw: bytes) -> CardCertificate:
        """Parse a certificate (does not verify it)."""
        if len(raw) <= CERT_BODY_LEN:
            raise RecordError(f"certificate of {len(raw)} bytes is too short")
        magic, ver, bank, card_id, expiry, point = _CERT_BODY.unpack(raw[:CERT_BODY_LEN])
        if magic != CERT_MAGIC or ver != CERT_VERSION:
            raise RecordError("not a KKS card certificate")
        return cls(bank.decode("ascii", "replace").rstrip(), card_id, f"{expiry:04X}", point,
                   bytes(raw[CERT_BODY_LEN:]))


def issue_certificate(ca_key: ec.EllipticCurvePrivateKey, bank: str, card_id: bytes, expiry: str,
                      card_public_key: ec.EllipticCurvePublicKey) -> bytes:
    """Sign a card certificate with the issuer CA key."""
    cert = CardCertificate(bank, card_id, expiry, public_point(card_public_key))
    return cert.body() + sign(ca_key, cert.body())


def verify_certificate(raw: bytes, ca_public_key: ec.EllipticCurvePublicKey
                       ) -> tuple[CardCertificate, ec.EllipticCurvePublicKey]:
    """Decode and verify a card certificate; return it and the card public key object."""
    cert = CardCertificate.decode(raw)
    if not verify(ca_public_key, cert.body(), cert.signature):
        raise RecordError("card certificate signature does not verify under the issuer CA")
    return cert, load_public_point(cert.public_key)
