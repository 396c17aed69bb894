"""Issuer key sets and the per-card keys derived from them.

`IssuerKeys.test_issuer(bank)` builds a deterministic, publicly documented key set (the test
issuer of docs/card.md): each symmetric key is the first 16 bytes of
SHA-256("KKS-TEST-<LABEL>|<bank>") with DES odd parity for the DES keys, and the CA private
scalar is int(SHA-256("KKS-TEST-CA|<bank>")) mod (n - 1) + 1 on P-256. Never use test keys for
anything real.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from kks_emulator.crypto import emv, purse, rsa
from kks_emulator.crypto.rsa import RsaKey

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _test_secret(label: str, bank: str) -> bytes:
    return hashlib.sha256(f"KKS-TEST-{label}|{bank}".encode()).digest()


def _scalar_key(seed: bytes) -> ec.EllipticCurvePrivateKey:
    scalar = int.from_bytes(seed, "big") % (P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


@dataclass(frozen=True)
class IssuerKeys:
    """The keys one issuer (bank) holds.

    imk_ac: EMV issuer master key for application cryptograms (2-key 3DES).
    purse_master: AES-128 master key from which every card's load key is derived.
    imk_smi: issuer master key for script MACs (PIN unblock), 2-key 3DES.
    ca_key: the issuer CA's ECDSA P-256 private key, which certifies card keys.
    rsa: the issuer's RSA key (1152 bits) for EMV offline data authentication, certified by the
    payment scheme's CA (the test CA, index F1, for test issuers).
    imk_smc: issuer master key for script confidentiality (PIN change encipherment), 2-key 3DES.
    """

    bank: str
    imk_ac: bytes
    purse_master: bytes
    imk_smi: bytes
    ca_key: ec.EllipticCurvePrivateKey
    rsa: RsaKey | None = None
    imk_smc: bytes = b""

    @classmethod
    def test_issuer(cls, bank: str) -> IssuerKeys:
        """The deterministic test issuer for `bank` (documented in docs/card.md)."""
        return cls(
            bank=bank,
            imk_ac=emv.adjust_parity(_test_secret("IMK-AC", bank)[:16]),
            purse_master=_test_secret("PURSE", bank)[:16],
            imk_smi=emv.adjust_parity(_test_secret("IMK-SMI", bank)[:16]),
            ca_key=_scalar_key(_test_secret("CA", bank)),
            rsa=rsa.test_issuer_key(bank),
            imk_smc=emv.adjust_parity(_test_secret("IMK-SMC", bank)[:16]),
        )

    @property
    def ca_public_key(self) -> ec.EllipticCurvePublicKey:
        """The CA public key terminals and the clearing host verify certificates with."""
        return self.ca_key.public_key()

    def card_keys(self, pan: str, psn: int) -> CardKeys:
        """All symmetric keys of one card."""
        cid = card_id(pan, psn)
        return CardKeys(
            card_id=cid,
            mk_ac=emv.derive_icc_master_key(self.imk_ac, pan, psn),
            mk_smi=emv.derive_icc_master_key(self.imk_smi, pan, psn),
            load_key=purse.derive_load_key(self.purse_master, cid),
            mk_smc=emv.derive_icc_master_key(self.imk_smc, pan, psn) if self.imk_smc else b"",
        )


@dataclass(frozen=True)
class CardKeys:
    """Per-card symmetric keys: EMV AC master key, script MAC key and purse load key."""

    card_id: bytes
    mk_ac: bytes
    mk_smi: bytes
    load_key: bytes
    mk_smc: bytes = b""


def card_id(pan: str, psn: int) -> bytes:
    """The 9-byte purse card id: PAN as 16 BCD digits (8 bytes) || PSN (1 byte)."""
    if len(pan) != 16 or not pan.isdigit() or not 0 <= psn <= 99:
        from kks_emulator.errors import InputError
        raise InputError(f"KKS PANs have 16 digits and PSN 0..99 (got {pan!r}, {psn})")
    return bytes.fromhex(pan) + bytes((psn,))


def card_signing_key_for_tests(bank: str, pan: str, psn: int) -> ec.EllipticCurvePrivateKey:
    """Deterministic card ECDSA key for test-mode personalisation."""
    return _scalar_key(_test_secret(f"CARD-{pan}-{psn:02d}", bank))


#: Name used by the issuer tests (kept for compatibility); not a pytest test.
test_card_signing_key = card_signing_key_for_tests
test_card_signing_key.__test__ = False  # type: ignore[attr-defined]
