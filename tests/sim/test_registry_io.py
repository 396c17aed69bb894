"""Registry save/load round trip, damaged folders, and the `kks registry` commands."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kks_emulator.cli.main import main
from kks_emulator.errors import RegistryError
from sim.registry import population
from sim.registry.table import SCHEMA, Registry, load, pbi_persons, pbi_persons_of, save


@pytest.fixture(scope="module")
def reg() -> Registry:
    return population.generate(20_000, 8)


@pytest.fixture
def saved(tmp_path, reg):
    save(reg, tmp_path / "r")
    return tmp_path / "r"


@pytest.mark.parametrize("mmap", [False, True])
def test_round_trip_is_exact(saved, reg, mmap):
    back = load(saved, mmap=mmap)
    assert len(back) == len(reg)
    for name in SCHEMA:
        assert back[name].dtype == reg[name].dtype
        assert np.array_equal(back[name], reg[name]), name
    assert back.meta["seed"] == 8 and back.meta["synthetic"] is True
    assert back.meta["counts"] == reg.meta["counts"]


def one_line_error(folder) -> str:
    with pytest.raises(RegistryError) as info:
        load(folder)
    message = str(info.value)
    assert "\n" not in message and message
    return message


def test_missing_column_file(saved):
    (saved / "pmt_score.npy").unlink()
    assert "missing column file pmt_score.npy" in one_line_error(saved)


def test_truncated_column_file(saved):
    path = saved / "consumption.npy"
    path.write_bytes(path.read_bytes()[:1000])
    assert "consumption.npy" in one_line_error(saved)


def test_garbage_column_file(saved):
    (saved / "nik.npy").write_bytes(b"this is not a numpy file at all")
    assert "nik.npy" in one_line_error(saved)


def test_wrong_dtype_and_wrong_length(saved, reg):
    np.save(saved / "size.npy", reg["size"].astype(np.int64))
    assert "size" in one_line_error(saved)
    np.save(saved / "size.npy", reg["size"][:-1])
    assert "size" in one_line_error(saved)


def test_bad_meta(saved, tmp_path):
    meta = saved / "meta.json"
    good = json.loads(meta.read_text())
    meta.write_text("{not json")
    assert "not valid JSON" in one_line_error(saved)
    meta.write_text("[1, 2]")
    assert "JSON object" in one_line_error(saved)
    meta.write_text(json.dumps(dict(good, schema_version=99)))
    assert "schema version" in one_line_error(saved)
    meta.write_text(json.dumps(dict(good, households=5)))
    assert "rows" in one_line_error(saved)
    meta.unlink()
    assert "no meta.json" in one_line_error(saved)
    assert "no meta.json" in one_line_error(tmp_path / "nowhere")


def test_resave_over_an_existing_registry(saved, reg):
    small = population.generate(500, 1)
    save(small, saved)
    assert len(load(saved)) == 500


def test_cli_generate_and_info(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["registry", "generate", "--households", "3000", "--out", str(out),
                 "--seed", "4", "--territory", "34", "--invalid-nik-rate", "0.01"]) == 0
    reg = load(out)
    assert len(reg) == 3000 and reg.meta["seed"] == 4
    assert np.array_equal(reg["nik"], population.generate(
        3000, 4, territory=["34"],
        params=population.PopulationParams(invalid_nik_rate=0.01))["nik"])
    generated = capsys.readouterr().out
    assert main(["registry", "info", str(out)]) == 0
    text = capsys.readouterr().out
    # P-NORAW: the commands print no NIK or KK
    for output in (generated, text):
        assert not re.search(r"(?<!\d)\d{16}(?!\d)", output.replace(",", ""))
    assert "3,000 households" in text and "Yogyakarta" in text
    assert main(["registry", "info", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["households"] == 3000
    assert [p["code"] for p in summary["provinces"]] == [34]
    assert sum(summary["nik_reasons"].values()) == 3000
    # refuses to overwrite without --force; errors are one line and exit code 2
    assert main(["registry", "generate", "-n", "10", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["registry", "generate", "-n", "10", "--out", str(out), "--force"]) == 0
    assert main(["registry", "info", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no meta.json" in err


def test_registry_files_hold_no_raw_nik_outside_the_nik_and_kk_columns(saved, reg):
    # the saved registry is the internal store (it must reload); exports use sim.registry.privacy
    text = (saved / "meta.json").read_text()
    assert str(int(reg["nik"][0])) not in text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255)), min_size=0, max_size=64))
def test_pbi_persons_is_the_plain_rule_per_household(pairs):
    """The vectorised PBI-JK persons (uint8, no wider temporaries) equal the plain rule
    ``size - min(other, size - 1)``, the head always counted, for every byte value."""
    size = np.array([s for s, _ in pairs], dtype=np.uint8)
    other = np.array([o for _, o in pairs], dtype=np.uint8)
    got = pbi_persons(size, other)
    assert got.dtype == np.uint8
    assert got.tolist() == [pbi_persons_of(s, o) for s, o in pairs]
    assert all(1 <= v <= s for v, (s, _) in zip(got.tolist(), pairs, strict=True) if s)
