"""Keyed NIK pseudonyms (docs/reliability.md P-PSEUDO, P-LOGS)."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import numpy as np
import pytest

from kks_emulator.errors import InputError
from sim.registry import population, privacy

KEY_HEX = "ab" * 32
NIK = "3273011708450001"


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(privacy.ENV_KEY, raising=False)
    monkeypatch.delenv(privacy.ENV_KEY_FILE, raising=False)


def test_pseudonym_is_hmac_sha256_truncated_to_128_bits(monkeypatch, no_env):
    monkeypatch.setenv(privacy.ENV_KEY, KEY_HEX)
    key = privacy.load_key("households")
    assert key.source == "env:KKS_PSEUDONYM_KEY" and not key.synthetic
    scope_key = hmac.new(bytes.fromhex(KEY_HEX), b"kks-pseudonym-scope:households",
                         hashlib.sha256).digest()
    expected = hmac.new(scope_key, NIK.encode(), hashlib.sha256).hexdigest()[:32]
    assert privacy.pseudonym(NIK, key) == expected
    assert privacy.pseudonym(int(NIK), key) == expected
    assert len(expected) == 32 and NIK not in expected


def test_vectorized_equals_scalar_and_is_stable(no_env):
    key = privacy.load_key(allow_synthetic=True)
    niks = population.generate(2_000, 3)["nik"]
    many = privacy.pseudonyms(niks, key)
    assert many.dtype == np.dtype("<U32")
    assert many.tolist() == [privacy.pseudonym(int(n), key) for n in niks]
    assert privacy.pseudonyms(niks, key).tolist() == many.tolist()
    assert len(set(many.tolist())) == len(set(niks.tolist()))


def test_other_key_or_scope_is_unlinkable(monkeypatch, no_env):
    monkeypatch.setenv(privacy.ENV_KEY, KEY_HEX)
    a = privacy.load_key("households")
    b = privacy.load_key("flows")
    monkeypatch.setenv(privacy.ENV_KEY, "cd" * 32)
    c = privacy.load_key("households")
    values = {privacy.pseudonym(NIK, k) for k in (a, b, c)}
    assert len(values) == 3
    assert a.describe()["key_id"] != c.describe()["key_id"]


def test_key_file_and_errors(tmp_path: Path, monkeypatch, no_env):
    path = tmp_path / "key"
    path.write_text(KEY_HEX + "\n")
    k1 = privacy.load_key(key_file=path)
    monkeypatch.setenv(privacy.ENV_KEY_FILE, str(path))
    k2 = privacy.load_key()
    assert privacy.pseudonym(NIK, k1) == privacy.pseudonym(NIK, k2)
    path.write_text("ab" * 16)                          # 128 bits: too short
    with pytest.raises(InputError, match="need at least 256"):
        privacy.load_key(key_file=path)
    monkeypatch.delenv(privacy.ENV_KEY_FILE)
    with pytest.raises(InputError, match="no pseudonym key"):
        privacy.load_key()
    monkeypatch.setenv(privacy.ENV_KEY, "not hex")
    with pytest.raises(InputError, match="hex"):
        privacy.load_key()
    with pytest.raises(InputError):
        privacy.load_key(key_file=tmp_path / "missing")


def test_synthetic_fallback_is_labelled_and_only_on_request(no_env):
    with pytest.raises(InputError):
        privacy.load_key()
    key = privacy.load_key(allow_synthetic=True)
    assert key.synthetic and key.describe()["source"] == "synthetic-test-fallback"
    assert KEY_HEX not in repr(key) and key.key.hex() not in repr(key)


def test_mask_for_logs():
    assert privacy.mask(NIK) == "3273**********01"
    assert privacy.mask(int(NIK)) == "3273**********01"
    assert not re.search(r"\d{16}", privacy.mask(NIK))


def test_no_unkeyed_nik_hash_in_sim_sources():
    root = Path(__file__).resolve().parents[2] / "sim"
    pattern = re.compile(r"hashlib\.(sha256|sha1|md5|blake2b)\([^)]*nik", re.IGNORECASE)
    assert pattern.search("digest = hashlib.sha256(nik.encode())")
    offenders = [p for p in root.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
