"""`kks bench monthly` end to end on a small registry: every comparison runs and agrees."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kks_emulator.cli.main import main
from sim.cli.bench import bench

pytest.importorskip("duckdb")


def test_bench_monthly_json_small() -> None:
    result = CliRunner().invoke(bench, [
        "monthly", "--households", "3000", "--cycles", "2", "--reference-rows", "600",
        "--duckdb-rows", "3000", "--duckdb-threads", "1", "--no-malloc-env", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["households"] == 3000
    assert set(out["steps"]) == {"validate", "dedupe", "rank", "select", "disburse", "cycle"}
    assert out["reference"]["identical"] and out["duckdb"]["identical"]
    assert out["floor"]["seconds"] > 0 and out["peak_rss_gib_engine"] > 0
    assert out["recipients"]["bpnt"] > 0
    assert out["pkh_periods"] and set(out["pkh_periods"]) <= set(out["timed_periods"])
    fd = out["full_decree"]
    assert fd["repeats"] == 2 and fd["seconds"] > 0 and fd["households_per_s"] > 0
    assert set(fd["steps"]) == {"validate", "dedupe", "rank", "select"}
    assert fd["duckdb_seconds"] > 0 and fd["ratio_vs_duckdb_same_rows"] > 0
    assert fd["peak_rss_gib_engine"] > 0
    assert out["duckdb"]["full_decree"]["numpy_same_rows_seconds"] > 0
    assert fd["over_floor"] > 0 and out["load_average_end"] >= 0


@pytest.mark.parametrize(("args", "needle"), [
    (["--cycles", "1"], "--cycles"),
    (["--households", "0"], "--households"),
    (["--cycles", "two"], "--cycles"),
])
def test_bench_monthly_rejects_bad_options(capsys, args, needle) -> None:
    assert main(["bench", "monthly", *args, "--no-malloc-env"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("kks: error: ") and needle in err[0], err
