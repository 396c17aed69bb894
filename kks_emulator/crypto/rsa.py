"""Raw RSA for EMV offline data authentication: keys, the raw private and public operations.

EMV signatures are RSA with message recovery over a formatted block (`6A ... BC`, EMV Book 2
§5-6): no PKCS #1 padding, so `cryptography`'s sign/verify (which always pad) cannot produce or
check them. The raw operations here are `pow` on Python integers (private: CRT with the key's
primes); the keys themselves are `cryptography` keys:

- a card personalised for real gets `rsa.generate_private_key` (random);
- every *test* key (the test CA, test issuers, test-mode cards) comes from
  `test_rsa_keys.json`, generated once with `rsa.generate_private_key` and persisted (published
  in docs/card.md), so every run is byte-identical: the CA key by its index, an issuer key and
  an ICC key picked from a pool by SHA-256 of the bank (and PAN, PSN).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from kks_emulator.errors import InputError

PUBLIC_EXPONENT = 65537


@dataclass(frozen=True)
class RsaKey:
    """An RSA key pair as integers (n, e, d and the CRT values)."""

    n: int
    e: int
    d: int
    p: int
    q: int
    dp: int
    dq: int
    qinv: int

    @property
    def size(self) -> int:
        """Modulus length in bytes (N_CA, N_I or N_IC in EMV Book 2)."""
        return (self.n.bit_length() + 7) // 8

    @property
    def modulus(self) -> bytes:
        """The modulus, big-endian, `size` bytes."""
        return self.n.to_bytes(self.size, "big")

    @property
    def exponent(self) -> bytes:
        """The public exponent, big-endian, minimal length (01 00 01 for 65537)."""
        return self.e.to_bytes((self.e.bit_length() + 7) // 8, "big")

    def private(self, block: bytes) -> bytes:
        """Raw RSA private operation (signature) on a block of exactly `size` bytes, < n."""
        m = int.from_bytes(block, "big")
        if len(block) != self.size or m >= self.n:
            raise InputError("RSA block must be modulus-sized and smaller than the modulus")
        m1 = pow(m, self.dp, self.p)
        m2 = pow(m, self.dq, self.q)
        h = (self.qinv * (m1 - m2)) % self.p
        return (m2 + h * self.q).to_bytes(self.size, "big")

    def to_cryptography(self) -> rsa.RSAPrivateKey:
        """The same key as a `cryptography` private key (validated on construction)."""
        pub = rsa.RSAPublicNumbers(self.e, self.n)
        return rsa.RSAPrivateNumbers(self.p, self.q, self.d, self.dp, self.dq, self.qinv,
                                     pub).private_key()

    def to_json(self) -> dict[str, str]:
        """Hex fields for the card's static record."""
        return {"n": f"{self.n:x}", "e": f"{self.e:x}", "p": f"{self.p:x}", "q": f"{self.q:x}"}

    @classmethod
    def from_json(cls, d: dict[str, str]) -> RsaKey:
        """Inverse of `to_json` (d and the CRT values are recomputed)."""
        return from_primes(int(d["p"], 16), int(d["q"], 16), int(d["e"], 16))


def from_primes(p: int, q: int, e: int = PUBLIC_EXPONENT) -> RsaKey:
    """Assemble a key from its primes (p > q not required)."""
    phi = (p - 1) * (q - 1)
    d = pow(e, -1, phi)
    return RsaKey(p * q, e, d, p, q, d % (p - 1), d % (q - 1), pow(q, -1, p))


def from_cryptography(key: rsa.RSAPrivateKey) -> RsaKey:
    """An `RsaKey` from a `cryptography` private key."""
    nums = key.private_numbers()
    return RsaKey(nums.public_numbers.n, nums.public_numbers.e, nums.d, nums.p, nums.q,
                  nums.dmp1, nums.dmq1, nums.iqmp)


def generate(bits: int) -> RsaKey:
    """A fresh random key from `cryptography` (real cards)."""
    return from_cryptography(rsa.generate_private_key(PUBLIC_EXPONENT, bits))


def public_op(modulus: bytes, exponent: bytes, block: bytes) -> bytes:
    """Raw RSA public operation (signature recovery): block^e mod n, modulus-sized."""
    n = int.from_bytes(modulus, "big")
    return pow(int.from_bytes(block, "big"), int.from_bytes(exponent, "big"), n).to_bytes(
        len(modulus), "big")


_KEYS_FILE = Path(__file__).with_name("test_rsa_keys.json")


@lru_cache(maxsize=1)
def _test_keys() -> dict:
    return json.loads(_KEYS_FILE.read_text(encoding="utf-8"))


@lru_cache(maxsize=64)
def test_ca_key(index: int) -> RsaKey:
    """The test certification authority key with CA public key index `index` (8F)."""
    ca = _test_keys()["ca"]
    name = f"{index:02X}"
    if name not in ca:
        raise InputError(f"no test CA key with index {name} (have {sorted(ca)})")
    return RsaKey.from_json(ca[name])


def _pick(pool: str, label: str) -> RsaKey:
    keys = _test_keys()[pool]
    slot = int.from_bytes(hashlib.sha256(label.encode()).digest()[:4], "big") % len(keys)
    return _pool_key(pool, slot)


@lru_cache(maxsize=64)
def _pool_key(pool: str, slot: int) -> RsaKey:
    return RsaKey.from_json(_test_keys()[pool][slot])


def test_issuer_key(bank: str) -> RsaKey:
    """The test issuer RSA key of `bank` (1152 bits), from the published pool."""
    return _pick("issuer", f"ISSUER|{bank}")


def test_icc_key(bank: str, pan: str, psn: int) -> RsaKey:
    """The ICC RSA key of a test-mode card (1024 bits), from the published pool."""
    return _pick("icc", f"ICC|{bank}|{pan}|{psn:02d}")


for _fn in (test_ca_key, test_issuer_key, test_icc_key):
    _fn.__test__ = False  # type: ignore[attr-defined]  # not pytest tests
