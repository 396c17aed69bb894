"""C-SIG-WYCHE with the real vectors: Wycheproof `ecdsa_secp256r1_sha256_test.json` (DER
signatures, P-256, SHA-256) run against the issuer's verifier.

The vector file is vendored unmodified under `data/wycheproof/` (source, commit and licence in
`data/wycheproof/NOTICE.md`); only the data is taken, no code. Every case goes through
`crypto.purse.verify(public key, message bytes, DER signature)`, the lowest-level function the
issuer's clearing uses (`issuer/clearing.verify_item` calls it on the 43 record bytes), with the
key loaded by `crypto.purse.load_public_point` from the group's uncompressed point, as clearing
loads a card key from its certificate.

Expectations (docs/issuer.md, "Signature policy"):
- `valid`      -> `verify` returns True;
- `invalid`    -> `verify` returns False (a typed rejection: no exception escapes, no crash);
- `acceptable` -> decided by our policy: strict DER only, so every acceptable case (BER encodings
  and the like) must be rejected. This file version (v1 schema) marks BER cases `invalid` and has
  no `acceptable` case; the policy is still enforced if a future file adds some.
"""

from __future__ import annotations

import collections
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from kks_emulator.crypto import purse

DATA = Path(__file__).parent / "data" / "wycheproof" / "ecdsa_secp256r1_sha256_test.json"
# The vendored file, byte for byte (commit 061657f12eed26eeab9b6548ce03f45219d0e7fe).
DATA_SHA256 = "892c6753cc003a9ccad622637f0794c06b6cab615ed8e911708175cae70ba9fb"
EXPECTED = {"valid": 170, "invalid": 301, "acceptable": 0}

#: Policy for Wycheproof `acceptable` cases: we accept only canonical DER, so reject them all.
ACCEPTABLE_IS_ACCEPTED = False

VECTORS = json.loads(DATA.read_text(encoding="utf-8"))
CASES = [(group, case) for group in VECTORS["testGroups"] for case in group["tests"]]
_KEYS: dict[str, object] = {}


def _key(group: dict):
    """The group's public key via the issuer's own loader (uncompressed SEC1 point)."""
    point = group["publicKey"]["uncompressed"]
    if point not in _KEYS:
        _KEYS[point] = purse.load_public_point(bytes.fromhex(point))
    return _KEYS[point]


def expected_accept(case: dict) -> bool:
    """What our policy says `verify` must answer for this case."""
    if case["result"] == "valid":
        return True
    if case["result"] == "invalid":
        return False
    assert case["result"] == "acceptable", case["result"]
    return ACCEPTABLE_IS_ACCEPTED


def decide(group: dict, case: dict) -> bool:
    """Run the issuer's verifier on one case; any exception is a test failure, not a rejection."""
    result = purse.verify(_key(group), bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"]))
    assert isinstance(result, bool), f"tcId {case['tcId']}: verify returned {result!r}"
    return result


def test_vendored_file_is_the_pinned_unmodified_copy():
    raw = DATA.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == DATA_SHA256
    assert len(raw.decode("utf-8")) == 306_385
    assert VECTORS["algorithm"] == "ECDSA"
    assert VECTORS["numberOfTests"] == len(CASES) == 471
    assert [c["tcId"] for _, c in CASES] == list(range(1, 472))
    assert {g["type"] for g in VECTORS["testGroups"]} == {"EcdsaVerify"}
    assert {g["sha"] for g in VECTORS["testGroups"]} == {"SHA-256"}
    assert {g["publicKey"]["curve"] for g in VECTORS["testGroups"]} == {"secp256r1"}
    assert collections.Counter(c["result"] for _, c in CASES) == collections.Counter(
        {k: v for k, v in EXPECTED.items() if v})


def test_group_keys_load_and_agree_with_their_der_form():
    """The issuer's point loader gives the same key as the group's SubjectPublicKeyInfo."""
    for group in VECTORS["testGroups"]:
        der = serialization.load_der_public_key(bytes.fromhex(group["publicKeyDer"]))
        assert purse.public_point(_key(group)) == purse.public_point(der)
        assert purse.public_point(der).hex() == group["publicKey"]["uncompressed"]


@pytest.mark.parametrize(("group", "case"), CASES,
                         ids=[f"tc{c['tcId']:03d}-{c['result']}" for _, c in CASES])
def test_case(group, case):
    assert decide(group, case) is expected_accept(case), (
        f"tcId {case['tcId']} ({case['result']}, {case['flags']}): {case['comment']}")


def test_totals_every_case_decided_by_policy():
    """All 471 decided; accepted == the valid cases exactly; everything else rejected."""
    tally: collections.Counter[tuple[str, str]] = collections.Counter()
    for group, case in CASES:
        tally[case["result"], "accepted" if decide(group, case) else "rejected"] += 1
    assert sum(tally.values()) == 471
    assert tally["valid", "accepted"] == EXPECTED["valid"] == 170
    assert tally["valid", "rejected"] == 0
    assert tally["invalid", "rejected"] == EXPECTED["invalid"] == 301
    assert tally["invalid", "accepted"] == 0
    assert tally["acceptable", "accepted"] == 0
    assert tally["acceptable", "rejected"] == EXPECTED["acceptable"]


def test_ber_flagged_cases_are_rejected():
    """The BER family (flag BerEncodedSignature) is rejected whatever its result label says."""
    ber = [(g, c) for g, c in CASES if "BerEncodedSignature" in c["flags"]]
    assert len(ber) == 7
    assert not any(decide(g, c) for g, c in ber)


def test_signature_malleability_high_s_is_accepted():
    """Wycheproof labels (r, n - s) valid; so does our policy (replay safety is by counter)."""
    by_id = {c["tcId"]: (g, c) for g, c in CASES}
    group, case = by_id[5]
    assert case["comment"] == "signature malleability" and case["result"] == "valid"
    assert decide(group, case)
