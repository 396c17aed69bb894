"""The results folder: byte-identical across processes (S-SEED), no raw NIK anywhere (P-NORAW),
and every scenario error is one line, exit 2, with no results folder left behind."""

from __future__ import annotations

import hashlib
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from stdnum.id import nik as stdnum_nik

from tests.sim.model.conftest import ROOT, SMALL

EXPECTED = {"manifest.json", "summary.json", "kpi.csv", "households.parquet",
            "proposals.parquet", "monthly.parquet", "queues.parquet", "provinces.parquet",
            "decrees.parquet", "budget.parquet", "budget.csv", "monthly.csv", "queues.csv",
            "provinces.csv", "decrees.csv",
            "report.html",
            "plots/funnel.png", "plots/lead_time.png", "plots/queues.png", "plots/deciles.png",
            "plots/money.png"}
# a 16-digit run standing as its own token: hex pseudonyms (32 chars of 0-9a-f) contain
# digit runs by chance, which are parts of a longer token, not NIK fields
_RUN16 = re.compile(rb"(?<![0-9A-Za-z])[0-9]{16}(?![0-9A-Za-z])")


def _kks(*args: str, hashseed: str = "0", cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    env.pop("KKS_PSEUDONYM_KEY", None)
    env.pop("KKS_PSEUDONYM_KEY_FILE", None)
    return subprocess.run([sys.executable, "-m", "kks_emulator.cli.main", *args],
                          capture_output=True, text=True, env=env, cwd=cwd or ROOT, timeout=300)


def _sets() -> list[str]:
    out = []
    for s in SMALL:
        out += ["--set", s]
    return out


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("det")
    outs = []
    for seed in ("1", "4242"):
        out = base / f"run{seed}"
        r = _kks("sim", "run", "scenarios/baseline.toml", "--out", str(out), *_sets(),
                 hashseed=seed)
        assert r.returncode == 0, r.stderr
        outs.append(out)
    return outs


def test_results_folder_complete(two_runs) -> None:
    assert set(_files(two_runs[0])) == EXPECTED


def test_same_seed_same_bytes_across_processes(two_runs) -> None:
    a, b = (_files(p) for p in two_runs)
    assert a == b, {k for k in a if a[k] != b.get(k)}


def test_different_seed_changes_outputs(tmp_path, two_runs) -> None:
    out = tmp_path / "other"
    r = _kks("sim", "run", "scenarios/baseline.toml", "--out", str(out), "--seed", "99",
             *_sets())
    assert r.returncode == 0, r.stderr
    assert _files(out)["kpi.csv"] != _files(two_runs[0])["kpi.csv"]


def nik_hits(folder: Path) -> list[str]:
    """16-digit runs that are valid NIKs, in raw bytes of every file and in every Parquet cell."""
    hits = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        for m in _RUN16.finditer(path.read_bytes()):
            if stdnum_nik.is_valid(m.group().decode()):
                hits.append(f"{path.name}: {m.group().decode()}")
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            for col in table.column_names:
                for v in table.column(col).to_pylist():
                    # a float with a fraction cannot hold a NIK, though its 16 decimals may
                    # pass the NIK check by chance (a time of day like 0.7387690306860035)
                    if isinstance(v, float) and not v.is_integer():
                        continue
                    text = str(int(v)) if isinstance(v, float) and math.isfinite(v) else str(v)
                    for m in _RUN16.finditer(text.encode()):
                        if stdnum_nik.is_valid(m.group().decode()):
                            hits.append(f"{path.name}:{col}: {m.group().decode()}")
    return hits


def test_no_raw_nik_in_any_output(two_runs) -> None:
    assert nik_hits(two_runs[0]) == []


def test_nik_scan_finds_a_planted_nik(tmp_path) -> None:
    (tmp_path / "leak.csv").write_text("row,nik\n1,3171014509870001\n")
    assert nik_hits(tmp_path) == ["leak.csv: 3171014509870001"]


BAD = [
    ("unknown_key", "[capacity]\nverval_per_dessa = 2\n", "capacity.verval_per_dessa"),
    ("wrong_type", '[capacity]\nverval_per_desa = "two"\n', "capacity.verval_per_desa"),
    ("negative_capacity", "[capacity]\ndinsos_per_kabkota = -3\n", "capacity.dinsos_per_kabkota"),
    ("impossible_date", "[scenario]\nstart = 2025-02-30\n", "scenario.start"),
    ("bad_choice", '[penetapan]\ncadence = "weekly"\n', "penetapan.cadence"),
    ("unknown_code", '[territory]\nscope = "kabkota"\ncodes = ["99.99"]\n', "territory.codes"),
    ("missing_extends", None, "extends"),
]


@pytest.mark.parametrize(("case", "body", "key"), BAD)
def test_scenario_errors_are_one_line_exit_2_no_results(tmp_path, case, body, key) -> None:
    path = tmp_path / f"{case}.toml"
    if body is None:
        path.write_text('extends = "nowhere.toml"\n')
    else:
        path.write_text(f'extends = "{ROOT / "scenarios" / "baseline.toml"}"\n{body}')
    out = tmp_path / "results"
    r = _kks("sim", "run", str(path), "--out", str(out))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f": {key}: " in lines[0], lines[0]
    assert str(path) in lines[0] or case == "missing_extends"
    assert not out.exists()
    assert not any(tmp_path.glob(".results*")), "partial results left behind"


def test_missing_scenario_file(tmp_path) -> None:
    r = _kks("sim", "validate", str(tmp_path / "absent.toml"))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"kks: error: {tmp_path / 'absent.toml'}: <file>: an existing scenario file"]


def test_set_override_error_names_the_flag() -> None:
    r = _kks("sim", "validate", "scenarios/baseline.toml")
    assert r.returncode == 0, r.stderr
    r = _kks("sim", "run", "scenarios/baseline.toml", "--set", "capacity.verval_per_desa=-1")
    assert r.returncode == 2
    assert r.stderr.strip() == ("kks: error: --set: capacity.verval_per_desa: an integer in "
                                "[1, 1000]")


def test_compare_prints_differences_and_writes_a_plot(tmp_path, two_runs) -> None:
    other = tmp_path / "quarterly"
    r = _kks("sim", "run", "scenarios/quarterly_penetapan.toml", "--out", str(other), *_sets())
    assert r.returncode == 0, r.stderr
    plot = tmp_path / "cmp.png"
    r = _kks("sim", "compare", str(two_runs[0]), str(other), "--plot", str(plot))
    assert r.returncode == 0, r.stderr
    assert "Proposal to DTKS, median" in r.stdout and "%" in r.stdout
    assert "penetapan.cadence" in r.stdout  # the input that differs comes first
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_refuses_a_folder_without_kpis(tmp_path) -> None:
    r = _kks("sim", "compare", str(tmp_path), str(tmp_path))
    assert r.returncode == 2
    assert r.stderr.strip() == (f"kks: error: {tmp_path}: not a results folder (no "
                                "manifest.json or kpi.csv)")
