"""C-SIG-WYCHE without the download: our own ECDSA P-256 edge cases, modelled on Wycheproof's
`ecdsa_secp256r1_sha256_test.json` flags, checked against the verifier the issuer uses and
through clearing end to end.

Policy (docs/issuer.md): accept exactly the canonical DER encoding of (r, s) with 0 < r, s < n that
verifies; this includes high-s (r, n - s), which Wycheproof lists as valid — replay safety comes
from deduplicating by (card id, counter), not from rejecting malleated signatures. Reject every BER
variant (long-form or padded lengths, leading zeros, indefinite length, trailing bytes), r or s of
0, n or above, negative integers, and certificates whose key is not a point on P-256.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from kks_emulator.crypto import purse
from kks_emulator.keys import P256_ORDER, IssuerKeys

from .purse_kit import TERMINAL, TestCard, make_item, malleate

N = P256_ORDER
KEYS = IssuerKeys.test_issuer("BRI")
CARD = TestCard(KEYS, "6013010000000001")
MSG = CARD.record(1, 1_000)
SIG = purse.sign(CARD.key, MSG)
R, S = decode_dss_signature(SIG)


def der_int(v: int, pad: int = 0) -> bytes:
    """INTEGER with a minimal body (plus `pad` extra leading zero bytes)."""
    body = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=False)
    body = b"\x00" * pad + body
    return b"\x02" + bytes([len(body)]) + body


def raw_int(body: bytes) -> bytes:
    """INTEGER with a literal body."""
    return b"\x02" + bytes([len(body)]) + body


def seq(content: bytes, long_form: bool = False) -> bytes:
    """SEQUENCE, short-form length or (BER) long-form `81 xx`."""
    if long_form:
        return b"\x30\x81" + bytes([len(content)]) + content
    return b"\x30" + bytes([len(content)]) + content


VALID = {
    "canonical": SIG,
    "high-s malleation (r, n-s)": malleate(SIG),
}
INVALID = {
    "BER long-form sequence length": seq(der_int(R) + der_int(S), long_form=True),
    "BER leading zero in r": seq(der_int(R, pad=1) + der_int(S)),
    "BER leading zero in s": seq(der_int(R) + der_int(S, pad=1)),
    "BER indefinite length": b"\x30\x80" + der_int(R) + der_int(S) + b"\x00\x00",
    "trailing garbage": SIG + b"\x00",
    "r = 0": seq(der_int(0) + der_int(S)),
    "s = 0": seq(der_int(R) + der_int(0)),
    "r = 0 and s = 0": seq(der_int(0) + der_int(0)),
    "r = n": seq(der_int(N) + der_int(S)),
    "s = n": seq(der_int(R) + der_int(N)),
    "r + n": seq(der_int(R + N) + der_int(S)),
    "s + n": seq(der_int(R) + der_int(S + N)),
    "r = 1, s = 1": seq(der_int(1) + der_int(1)),
    "negative r (missing 00)": seq(raw_int(R.to_bytes(32, "big")) + der_int(S))
    if R >> 255 else seq(raw_int((R | (1 << 255)).to_bytes(32, "big")) + der_int(S)),
    "swapped r and s": seq(der_int(S) + der_int(R)),
    "empty": b"",
    "sequence of one integer": seq(der_int(R)),
    "wrong tag": b"\x31" + SIG[1:],
    "truncated": SIG[:-1],
    "signature of another message": purse.sign(CARD.key, MSG + b"x"),
    "signature by another key": purse.sign(ec.derive_private_key(12345, ec.SECP256R1()), MSG),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_signatures_verify(name):
    assert purse.verify(CARD.key.public_key(), MSG, VALID[name])


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_signatures_are_rejected(name):
    assert not purse.verify(CARD.key.public_key(), MSG, INVALID[name])


@pytest.fixture
def funded(host):
    host.open_account("open", "0001", "KPM A", pan=CARD.pan, card_id=CARD.hex_id)
    host.open_merchant("mer", "W1", "e-warong")
    host.credit("cr", "BPNT", "2026-11", "B1", "0001", 200_000)
    with host.ledger.transaction():
        jid = host.ledger.post("load", "l", "load", [("SAV-0001", "D", 200_000),
                                                     (f"FLT-{CARD.hex_id}", "C", 200_000)])
        host.ledger.execute("INSERT INTO loads VALUES (?, 1, '00', 200000, ?)", (CARD.hex_id, jid))
    return host


def test_clearing_applies_the_policy_end_to_end(funded):
    items = [make_item(MSG, sig, CARD.certificate) for sig in INVALID.values()]
    out = funded.clear("bad", {"merchant": "W1", "terminal": TERMINAL.hex(), "items": items})
    assert out["accepted"] == [] and len(out["refused"]) == len(INVALID)
    assert all("signature" in r["reason"] for r in out["refused"])
    ok = funded.clear("good", {"merchant": "W1", "terminal": TERMINAL.hex(),
                               "items": [make_item(MSG, VALID["high-s malleation (r, n-s)"],
                                                   CARD.certificate)]})
    assert len(ok["accepted"]) == 1
    funded.audit()


def off_curve_certificate() -> bytes:
    point = bytearray(purse.public_point(CARD.key.public_key()))
    point[-1] ^= 0x01  # y no longer matches x: not on P-256
    cert = purse.CardCertificate("BRI", CARD.card_id, "3012", bytes(point))
    return cert.body() + purse.sign(KEYS.ca_key, cert.body())


@pytest.mark.parametrize("cert_name", ["off-curve point", "point at infinity", "compressed",
                                       "signed by another CA", "BER CA signature"])
def test_bad_certificates_are_refused(funded, cert_name):
    if cert_name == "off-curve point":
        cert = off_curve_certificate()
    elif cert_name in ("point at infinity", "compressed"):
        point = b"\x00" * 65 if cert_name == "point at infinity" else (
            b"\x02" + purse.public_point(CARD.key.public_key())[1:33] + b"\x00" * 32)
        body = purse.CardCertificate("BRI", CARD.card_id, "3012", point).body()
        cert = body + purse.sign(KEYS.ca_key, body)
    elif cert_name == "signed by another CA":
        cert = purse.issue_certificate(IssuerKeys.test_issuer("BNI").ca_key, "BRI", CARD.card_id,
                                       "3012", CARD.key.public_key())
    else:
        body = CARD.certificate[:purse.CERT_BODY_LEN]
        r, s = decode_dss_signature(CARD.certificate[purse.CERT_BODY_LEN:])
        cert = body + seq(der_int(r, pad=1) + der_int(s))
    out = funded.clear("c", {"merchant": "W1", "terminal": TERMINAL.hex(),
                             "items": [make_item(MSG, SIG, cert)]})
    assert out["accepted"] == [] and out["refused"][0]["reason"].startswith("rejected")
    assert funded.balance("MER-W1") == 0
