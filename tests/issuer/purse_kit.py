"""Signed purse records made directly with the test keys (no card needed), for clearing tests."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from kks_emulator.crypto import purse
from kks_emulator.keys import P256_ORDER, IssuerKeys, card_id, test_card_signing_key

TERMINAL = b"EDC00001"


class TestCard:
    """A card's signing identity: certificate and private key from the deterministic test keys."""

    __test__ = False

    def __init__(self, keys: IssuerKeys, pan: str, psn: int = 1, expiry: str = "3012") -> None:
        self.pan, self.psn = pan, psn
        self.card_id = card_id(pan, psn)
        self.key = test_card_signing_key(keys.bank, pan, psn)
        self.certificate = purse.issue_certificate(keys.ca_key, keys.bank, self.card_id, expiry,
                                                   self.key.public_key())

    @property
    def hex_id(self) -> str:
        """Card id as the issuer writes it."""
        return self.card_id.hex().upper()

    def record(self, counter: int, amount: int, balance_after: int = 0,
               terminal: bytes = TERMINAL, time: int = 1_795_000_000) -> bytes:
        """Encode one purchase record."""
        return purse.TransactionRecord(self.card_id, counter, amount, balance_after, terminal,
                                       counter.to_bytes(8, "big"), time).encode()

    def item(self, counter: int, amount: int, **kw) -> dict:
        """A clearing item: record, its signature and the card certificate, hex encoded."""
        raw = self.record(counter, amount, **kw)
        return make_item(raw, purse.sign(self.key, raw), self.certificate)


def make_item(record: bytes, signature: bytes, certificate: bytes) -> dict:
    """Hex-encode a clearing item."""
    return {"record": record.hex().upper(), "signature": signature.hex().upper(),
            "certificate": certificate.hex().upper()}


def malleate(signature: bytes) -> bytes:
    """(r, s) -> (r, n - s): a different, equally valid DER signature of the same message."""
    r, s = decode_dss_signature(signature)
    return encode_dss_signature(r, P256_ORDER - s)
