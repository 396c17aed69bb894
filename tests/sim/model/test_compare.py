"""`kks sim compare`: inputs first, labelled KPIs, noise from paired replications (CRN), refusals
and warnings, machine formats, and a plot whose every bar is labelled (clipped ones marked)."""

from __future__ import annotations

import csv
import io
import json
import math

import matplotlib.pyplot as plt
import pytest

from kks_emulator.cli.main import main
from sim.model.run import run
from sim.outputs import compare, compare_plot, labels, stats
from sim.outputs import results as outputs
from sim.scenario.loader import load
from tests.sim.model.conftest import ROOT

SMALL = ['territory.scope="kabkota"', 'territory.codes=["33.71"]', "territory.fraction=0.1",
         "scenario.months=3"]
SETS = [a for s in SMALL for a in ("--set", s)]


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Single runs and 3 replications of baseline and verval_officers (same seed), and 3
    replications of verval_officers with another seed."""
    base = tmp_path_factory.mktemp("cmp")
    made = {}
    for name, scen, extra in (
            ("base1", "baseline", []), ("verval1", "verval_officers", []),
            ("base3", "baseline", ["--replications", "3"]),
            ("verval3", "verval_officers", ["--replications", "3"]),
            ("verval3s", "verval_officers", ["--replications", "3", "--seed", "99"])):
        out = base / name
        assert main(["sim", "run", str(ROOT / "scenarios" / f"{scen}.toml"), "--out", str(out),
                     *SETS, *extra]) == 0
        made[name] = out
    return made


def test_single_runs_show_inputs_first_and_say_noise_is_unknown(folders, capsys) -> None:
    code, out, _ = _cli(capsys, "sim", "compare", str(folders["base1"]), str(folders["verval1"]),
                        "--plot", str(folders["base1"].parent / "single.png"))
    assert code == 0
    assert out.index("capacity.verval_per_desa") < out.index("Wait for field verval, mean")
    assert "Noise: UNKNOWN" in out and "--replications" in out
    assert "noise unknown" in out
    assert "e+" not in out  # no scientific notation for people
    assert "Rp " in out and " days" in out and " min" in out


def test_paired_replications_give_a_ci_per_change(folders, capsys) -> None:
    code, out, _ = _cli(capsys, "sim", "compare", str(folders["base3"]), str(folders["verval3"]),
                        "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["noise"]["method"] == "paired" and doc["noise"]["replications"] == [3, 3]
    assert {"key": "capacity.verval_per_desa", "a": 1, "b": 3} in doc["inputs_differ"]
    by = {k["kpi"]: k for k in doc["kpis"]}
    wait = by["wait_verval_mean_days"]
    assert wait["label"] == "Wait for field verval, mean" and wait["unit"] == "days"
    assert wait["diff"] < 0 and wait["ci95_half_width"] is not None
    assert wait["noise"] == "beyond"  # three officers instead of one: verval waits fall
    # the interval is the paired one, recomputed here from replications.csv
    a = compare.open_results(folders["base3"])
    b = compare.open_results(folders["verval3"])
    iv = stats.paired_ci([r["wait_verval_mean_days"] for r in a.reps],
                         [r["wait_verval_mean_days"] for r in b.reps])
    assert math.isclose(wait["diff"], iv.estimate) and math.isclose(wait["ci95_half_width"],
                                                                    iv.half)
    for k in doc["kpis"]:
        assert k["noise"] in ("beyond", "within", "none")


def test_different_seeds_are_compared_as_independent(folders, capsys) -> None:
    code, out, _ = _cli(capsys, "sim", "compare", str(folders["base3"]),
                        str(folders["verval3s"]), "--csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and rows[0].keys() >= {"kpi", "label", "unit", "a", "b", "diff",
                                       "ci95_half_width", "noise"}
    a = compare.open_results(folders["base3"])
    b = compare.open_results(folders["verval3s"])
    assert compare.noise_method(a, b) == "independent"
    assert ("scenario.seed", a.values["scenario.seed"], 99) in compare.input_diff(a, b)


def test_same_folder_shows_no_change(folders, capsys) -> None:
    code, out, _ = _cli(capsys, "sim", "compare", str(folders["base3"]), str(folders["base3"]),
                        "--json")
    doc = json.loads(out)
    assert code == 0 and doc["inputs_differ"] == []
    assert {k["noise"] for k in doc["kpis"]} == {"none"}


def test_different_territories_are_refused(folders, tmp_path, capsys) -> None:
    other = tmp_path / "other"
    res = run(load(ROOT / "scenarios" / "baseline.toml",
                   ['territory.scope="kabkota"', 'territory.codes=["34.71"]',
                    "territory.fraction=0.02", "scenario.months=1"]))
    outputs.write(res, other)
    code, out, err = _cli(capsys, "sim", "compare", str(folders["base1"]), str(other))
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0
    assert "cover different territories (kabkota 33.71 vs kabkota 34.71)" in err


def test_different_fractions_warn_loudly(folders, tmp_path, capsys) -> None:
    other = tmp_path / "coarse"
    res = run(load(ROOT / "scenarios" / "baseline.toml", [*SMALL[:2], "territory.fraction=0.05",
                                                          "scenario.months=3"]))
    outputs.write(res, other)
    code, out, err = _cli(capsys, "sim", "compare", str(folders["base1"]), str(other), "--json")
    assert code == 0
    assert "WARNING: different sampling fractions (0.1 vs 0.05)" in err
    assert json.loads(out)["warnings"]


def test_plot_is_never_written_over_a_user_file(folders, tmp_path, capsys) -> None:
    user = tmp_path / "chart.png"
    user.write_bytes(b"my own chart")
    code, _, err = _cli(capsys, "sim", "compare", str(folders["base1"]), str(folders["verval1"]),
                        "--plot", str(user))
    assert code == 2 and "not a plot this command wrote" in err and err.count("\n") == 1
    assert user.read_bytes() == b"my own chart"
    mine = tmp_path / "mine.png"
    for _ in range(2):  # a plot of ours is replaced without --force
        code, _, err = _cli(capsys, "sim", "compare", str(folders["base1"]),
                            str(folders["verval1"]), "--plot", str(mine))
        assert code == 0, err
    assert compare_plot.is_own_plot(mine.read_bytes())


def test_plot_labels_every_bar_and_marks_clipped_ones() -> None:
    rows = [compare.Change("proposals", 100.0, 11510.0, 11410.0, 11410.0, None, "unknown"),
            compare.Change("wait_verval_mean_days", 17.7, 4.9, -12.8, -72.3, 1.0, "beyond"),
            compare.Change("disbursed_rp", 1e10, 1.01e10, 1e8, 1.0, 3e8, "within")]
    fig = compare_plot.figure(rows, "a", "b", "note")
    try:
        texts = [t.get_text() for t in fig.axes[0].texts]
    finally:
        plt.close(fig)
    assert len(texts) == 3
    assert texts[0] == "+11,410% (clipped)"
    assert texts[1] == "-72.3%, beyond noise" and texts[2] == "+1.0%, within noise"


@pytest.mark.parametrize(("name", "v", "text"), [
    ("disbursed_rp", 82_750_000_000_000, "Rp 82.75 T"),
    ("disbursed_rp", 19_055_000_000, "Rp 19.05 B"),
    ("disbursed_rp", 185_000, "Rp 185,000"),
    ("recipients_bpnt", 18_100_000, "18.1 M"),
    ("proposals", 742_879, "742,879"),
    ("lead_time_credit_p90_days", 2.84, "2.8 days"),
    ("agent_wait_p90_min", 37.64, "37.6 min"),
    ("inclusion_error", 0.5561, "55.6%"),
    ("state_prelist", 18, "18"),
    ("lead_time_credit_p50_days", None, "n/a"),
])
def test_values_read_with_units(name, v, text) -> None:
    assert labels.value(name, v) == text


def test_deltas_and_spreads() -> None:
    assert labels.delta("lead_time_credit_p90_days", -5.9) == "-5.9 days"
    assert labels.delta("disbursed_rp", 1.9055e10) == "+Rp 19.05 B"
    assert labels.delta("inclusion_error", 0.012) == "+1.2 pp"
    assert labels.delta("proposals", 0) == "0"
    assert labels.spread("exclusion_error", 0.009) == "± 0.9 pp"
    assert labels.percent(11410.0) == "+11,410%" and labels.percent(-3.21) == "-3.2%"


def test_every_kpi_of_a_run_has_a_label_unit_and_group(folders) -> None:
    kpis = compare.open_results(folders["base1"]).kpis
    unknown = [n for n in kpis if not labels.known(n)]
    assert unknown == [], "add these KPIs to sim/outputs/labels.py"
    for n in kpis:
        k = labels.kpi(n)
        assert k.unit in labels.UNITS and (k.group in labels.GROUPS or k.group == "states")


def test_intervals() -> None:
    iv = stats.paired_ci([1.0, 2.0, 3.0], [2.0, 2.5, 4.5])  # differences 1, 0.5, 1.5
    assert math.isclose(iv.estimate, 1.0)
    assert math.isclose(iv.half, 4.303 * 0.5 / math.sqrt(3))
    assert not iv.excludes_zero  # 1.0 ± 1.24 with three pairs
    assert stats.paired_ci([1.0, 2.0, 3.0], [2.0, 3.1, 3.9]).excludes_zero  # 1.0 ± 0.25
    w = stats.welch_ci([1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0, 5.0])
    assert math.isclose(w.estimate, 1.0) and not w.excludes_zero
    assert math.isnan(stats.mean_ci([5.0]).half)


def test_replications_report_gives_each_kpi_a_ci(folders) -> None:
    text = (folders["base3"] / "report.html").read_text(encoding="utf-8")
    assert "Scenario baseline: 3 replications" in text
    assert '<th scope="col" class="num">95% CI</th>' in text
    assert "Wait for field verval, mean" in text and "± " in text
    assert 'href="rep_002/report.html"' in text
    assert "NOT protective" in text
