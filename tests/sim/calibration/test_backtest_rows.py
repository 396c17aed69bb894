"""`kks sim backtest` at a scale CI affords: Jawa Tengah (33) at 0.1% of its households (~12k),
both eras, 2 replications with common random numbers on 2 local processes (~30 s).

A row that is within its tolerance today must stay within: a code change that moves a published
figure out of its tolerance fails here. The rows listed in `KNOWN_GAPS` are outside today, each
for a reason written down in docs/calibration.md §8; they are asserted to be outside too, so
fixing one shows up here (move it out of the list then). The rows file's validation and the JSON
schema are checked on their own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kks_emulator.errors import ConfigError
from sim.calibration import backtest as bt

CI_SETS = ['territory.scope="provinces"', 'territory.codes=["33"]']
CI_FRACTION = 0.001
#: figures outside their tolerance today, each for a reason written down in docs/calibration.md
#: §8 (the model cannot reproduce them without a mechanism no source describes)
KNOWN_GAPS = {
    "PKH inclusion share, DTKS era (out-of-sample)",
    "PKH inclusion share, DTSEN era (out-of-sample)",
    "PKH exclusion share, DTSEN era (out-of-sample)",
}
SCHEMA = ["figure", "published", "unit", "source", "model", "ci_low", "ci_high", "tolerance",
          "within"]


@pytest.fixture(scope="module")
def result() -> bt.Result:
    return bt.run_backtest(replications=2, fraction=CI_FRACTION, sets=CI_SETS, workers=2,
                           alatas_households=50_000)


def test_every_row_within_its_tolerance_except_the_known_gaps(result: bt.Result) -> None:
    table = {t["figure"]: t for t in result.table()}
    assert set(table) >= KNOWN_GAPS, "a known gap names no row"
    moved_out = [f"{f}: model {t['model']} vs published {t['published']} ({t['tolerance']})"
                 for f, t in table.items() if f not in KNOWN_GAPS and not t["within"]]
    assert not moved_out, "rows left their tolerance:\n" + "\n".join(moved_out)
    fixed = [f for f in KNOWN_GAPS if table[f]["within"]]
    assert not fixed, f"known gaps now within tolerance (update KNOWN_GAPS and the docs): {fixed}"


def test_kemensos_rows_within_hold_with_margin(result: bt.Result) -> None:
    """A Kemensos share that is within must be within by 0.02 at least (one was within by 0.001
    once): a small code change must not tip it over, and a tuned value must not sit on an edge."""
    thin = [f"{t['figure']}: {t['model']} vs {t['published']}"
            for row, t in zip(result.rows, result.table(), strict=True)
            if row.measure.startswith("kemensos:") and t["within"]
            and abs(t["model"] - t["published"]) > bt.RATE_TOLERANCE - 0.02]
    assert not thin, "Kemensos rows within by less than 0.02:\n" + "\n".join(thin)
    assert sum(r.measure.startswith("kemensos:") for r in result.rows) == 8


def test_rows_cover_the_issue_list_and_keep_out_of_sample_evidence(result: bt.Result) -> None:
    units = {r.unit for r in result.rows}
    assert {"families", "persons", "households", "share", "rate"} <= units
    assert sum(r.sample == "out" for r in result.rows) >= 3
    sources = {s.strip() for r in result.rows for s in r.source.split(",")}
    for needed in ("BPNT-Q4-2025", "PROG-2022", "DTKS-HH-EST", "DTSEN-2025-07", "PAYOUT-2019",
                   "KEMENSOS-ERR-2026", "CHANNEL-Q4-2025", "ALATAS-T3"):
        assert needed in sources


def test_common_random_numbers_same_seeds_in_every_era(result: bt.Result) -> None:
    from sim.model.replicate import replication_seeds

    assert result.seeds == replication_seeds(20250101, 2)
    assert all(len(v) == 2 for v in result.values)


def test_json_is_exactly_the_issue_schema(result: bt.Result) -> None:
    doc = json.loads(bt.json_text(result))
    assert list(doc) == ["rows"]
    for row in doc["rows"]:
        assert list(row) == SCHEMA
        assert isinstance(row["within"], bool)


def test_write_puts_csv_json_and_report(result: bt.Result, tmp_path: Path) -> None:
    bt.write(result, tmp_path / "bt")
    names = sorted(p.name for p in (tmp_path / "bt").iterdir())
    assert names == ["backtest.csv", "backtest.json", "manifest.json", "report.html"]
    report = (tmp_path / "bt" / "report.html").read_text(encoding="utf-8")
    assert 'id="backtest"' in report and "out-of-sample" in report


def test_cli_json_to_stdout_and_exit_1_when_a_row_is_outside(tmp_path: Path) -> None:
    from kks_emulator.cli.main import cli

    rows = tmp_path / "rows.toml"
    rows.write_text(
        '[[row]]\nfigure = "Alatas mistargeting"\npublished = 0.30\nunit = "rate"\n'
        'source = "ALATAS-T3"\ntolerance = "rate"\nera = "engine"\n'
        'measure = "alatas:mistargeting"\nsample = "out"\n'
        '[[row]]\nfigure = "impossible"\npublished = 0.95\nunit = "rate"\n'
        'source = "ALATAS-T3"\ntolerance = "rate"\nera = "engine"\n'
        'measure = "alatas:inclusion"\nsample = "out"\n', encoding="utf-8")
    res = CliRunner().invoke(cli, ["sim", "backtest", "--rows", str(rows), "--replications",
                                   "2", "--workers", "1", "--json", "--out",
                                   str(tmp_path / "out")])
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    assert [r["within"] for r in doc["rows"]] == [True, False]
    assert (tmp_path / "out" / "backtest.json").read_text(encoding="utf-8") == res.stdout


@pytest.mark.parametrize(("text", "key"), [
    ('[[row]]\nfigure = "x"\n', "unit"),
    ('[era.a]\nscenario = "scenarios/baseline.toml"\n[[row]]\nfigure = "x"\nunit = "u"\n'
     'source = "S"\ntolerance = "loose"\nera = "a"\nmeasure = "kpi:x"\nsample = "in"\n'
     'published = 1\n', "row[0].tolerance"),
    ('[[row]]\nfigure = "x"\nunit = "u"\nsource = "S"\ntolerance = "rate"\nera = "nope"\n'
     'measure = "kpi:x"\nsample = "in"\npublished = 1\n', "row[0].era"),
    ('[[row]]\nfigure = "x"\nunit = "u"\nsource = "S"\ntolerance = "range"\nera = "engine"\n'
     'measure = "alatas:inclusion"\nsample = "in"\npublished_low = 2\npublished_high = 1\n',
     "row[0].published_low"),
])
def test_a_bad_rows_file_is_one_config_error(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "rows.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        bt.load_rows(path)
    assert key in str(exc.value) and str(path) in str(exc.value)
