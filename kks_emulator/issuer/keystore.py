"""The issuer's key store: the bank's `IssuerKeys` and the per-card keys derived from them.

The host never stores card keys; it re-derives them from the issuer master keys (EMV option A for
the AC key, AES-CMAC for the purse load key), exactly as personalisation did.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from kks_emulator.crypto import emv, purse
from kks_emulator.errors import IssuerError
from kks_emulator.keys import IssuerKeys


@dataclass(frozen=True)
class KeyStore:
    """Key access for one bank's host."""

    keys: IssuerKeys

    @classmethod
    def test(cls, bank: str) -> KeyStore:
        """The deterministic, publicly documented test keys of `bank` (docs/card.md)."""
        return cls(IssuerKeys.test_issuer(bank))

    @property
    def bank(self) -> str:
        """Bank code the keys belong to."""
        return self.keys.bank

    @property
    def ca_public_key(self) -> ec.EllipticCurvePublicKey:
        """Public key of the bank's card CA."""
        return self.keys.ca_public_key

    def ac_session_key(self, pan: str, psn: int, atc: int) -> bytes:
        """EMV AC session key of one card for one ATC."""
        return emv.derive_session_key(emv.derive_icc_master_key(self.keys.imk_ac, pan, psn), atc)

    def load_key(self, card_id: bytes) -> bytes:
        """Purse load key of one card (9-byte card id)."""
        if len(card_id) != purse.CARD_ID_LEN:
            raise IssuerError(f"card id must be {purse.CARD_ID_LEN} bytes")
        return purse.derive_load_key(self.keys.purse_master, card_id)
