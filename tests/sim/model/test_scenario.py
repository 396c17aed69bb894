"""Scenario loading: extends, overrides, strict validation naming file and key, docs in sync."""

from __future__ import annotations

import datetime as dt

import pytest

from kks_emulator.errors import ConfigError
from sim.scenario.loader import load
from sim.scenario.schema import SCHEMA, markdown_table
from tests.sim.model.conftest import ROOT, SCENARIOS

BASE = SCENARIOS / "baseline.toml"


def _write(tmp_path, text: str, name: str = "s.toml"):
    p = tmp_path / name
    p.write_text(f'extends = "{BASE}"\n' + text)
    return p


def test_every_shipped_scenario_validates_and_states_its_question() -> None:
    for path in sorted(SCENARIOS.glob("*.toml")):
        scen = load(path)
        assert len(scen["scenario"]["question"]) > 20, path
        assert path.read_text().lstrip().startswith("#"), f"{path}: question comment first"


def test_extends_merges_key_by_key() -> None:
    scen = load(SCENARIOS / "verval_officers.toml")
    assert scen["capacity"]["verval_per_desa"] == 3
    assert scen["capacity"]["dinsos_per_kabkota"] == load(BASE)["capacity"]["dinsos_per_kabkota"]
    assert [p.name for p in scen.files] == ["verval_officers.toml", "baseline.toml"]


def test_set_overrides_parse_toml_values() -> None:
    scen = load(BASE, ["capacity.verval_per_desa=4", "penetapan.cadence=quarterly",
                       'territory.codes=["33.02"]', "scenario.start=2025-03-01"])
    assert scen["capacity"]["verval_per_desa"] == 4
    assert scen["penetapan"]["cadence"] == "quarterly"
    assert scen["territory"]["codes"] == ["33.02"]
    assert scen["scenario"]["start"] == dt.date(2025, 3, 1)


@pytest.mark.parametrize(("body", "key", "expected"), [
    ("[capacity]\nverval_per_desa = 0\n", "capacity.verval_per_desa", "an integer in [1, 1000]"),
    ("[capacity]\nprinter_cards_per_day = 1.5\n", "capacity.printer_cards_per_day",
     "an integer in [1, 10_000_000]"),
    ("[issuance]\nburekol_fail = 1.2\n", "issuance.burekol_fail", "a probability in [0, 1]"),
    ("[registration]\nself_registration = 1\n", "registration.self_registration",
     "true or false"),
    ("[disbursement]\nclose_hour = 7.0\n", "disbursement.close_hour",
     "an hour later than disbursement.open_hour"),
    ("[issuance]\nprinter_outages = [{ start = 2025-03-10, end = 2025-03-01 }]\n",
     "issuance.printer_outages[0]", "a list of {start = date, end = date} tables with "
     "start <= end"),
    ("[issuance]\nbank_shares = { BRI = 0.5, BNI = 0.2 }\n", "issuance.bank_shares",
     "a table of name = share (shares in [0, 1], summing to 1)"),
    ("[churn.removals_per_year]\nabducted = 0.1\n", "churn.removals_per_year.abducted",
     "a removal reason"),
    ("[warp]\nspeed = 9\n", "warp", "a known table"),
])
def test_invalid_values_name_file_and_key(tmp_path, body, key, expected) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load(path)
    assert err.value.path == str(path)
    assert err.value.key == key
    assert err.value.expected.startswith(expected)
    assert "\n" not in str(err.value)


def test_error_in_extended_file_names_that_file(tmp_path) -> None:
    parent = tmp_path / "parent.toml"
    parent.write_text(f'extends = "{BASE}"\n[capacity]\nsiks_per_desa = -2\n')
    child = tmp_path / "child.toml"
    child.write_text('extends = "parent.toml"\n')
    with pytest.raises(ConfigError) as err:
        load(child)
    assert err.value.path == str(parent) and err.value.key == "capacity.siks_per_desa"


def test_extends_cycle_is_an_error(tmp_path) -> None:
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    with pytest.raises(ConfigError, match="extends"):
        load(tmp_path / "a.toml")


def test_docs_carry_the_schema_table() -> None:
    doc = (ROOT / "docs" / "scenarios.md").read_text()
    assert markdown_table() in doc
    for table, keys in SCHEMA.items():
        for name in keys:
            assert f"| `{name}` |" in doc, f"{table}.{name} undocumented"


def test_every_numeric_key_has_both_bounds() -> None:
    from sim.scenario.schema import Key

    missing = [f"{t}.{n}" for t, keys in SCHEMA.items() for n, k in keys.items()
               if isinstance(k, Key) and k.numeric and k.kind != "prob"
               and (k.lo is None or k.hi is None)]
    assert missing == []


def test_docs_scenario_reference_is_generated_from_the_schema() -> None:
    from sim.scenario import schema_docs

    doc = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    assert schema_docs.with_table(doc) == doc, (
        "docs/scenarios.md is out of date: python -m sim.scenario.schema_docs --write")
    assert schema_docs.main(["--check", str(ROOT / "docs" / "scenarios.md")]) == 0
