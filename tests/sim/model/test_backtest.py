"""S-BACKTEST: one small run's KPIs equal the committed expected results, byte for byte
(and S-STRESS: docs/STRESS-DES.md lists the stream map of the code).

The golden run is the baseline scenario on Kota Magelang (33.71) at full resolution for its
12-month horizon with the baseline seed: about 42k households, 3.3k proposals, every stage busy,
about 2 s. Its ``kpi.csv`` and ``summary.json`` (written by `sim.outputs.write`, the same code as
``kks sim run``) are committed under ``golden/baseline_kota_magelang/`` with ``meta.json``
(the config and the numpy/simpy/python versions that produced them).

The model is deterministic (same scenario, seed, numpy build and simpy: same bytes), so any
difference is a change of model behaviour. If the change is intended, regenerate deliberately
with ``scripts/regenerate-golden.sh "<reason>"`` and name the reason in the commit message; never
regenerate to make an unexplained difference go away.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

from sim.model.run import run
from sim.outputs import results as outputs
from sim.scenario.loader import load

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = Path(__file__).resolve().parent / "golden" / "baseline_kota_magelang"
#: the golden config: scenario file (relative to the repo) and `--set` overrides. Spelled out
#: here, not shared with conftest.SMALL, so other tests' fixtures cannot move the golden run.
SCENARIO = "scenarios/baseline.toml"
OVERRIDES = ('territory.scope="kabkota"', 'territory.codes=["33.71"]', "territory.fraction=1.0")
FILES = ("kpi.csv", "summary.json")
MAX_BYTES = 1_000_000
PINNED = ("numpy", "simpy")
REGENERATE = (
    'Regenerate only if the change is intended: scripts/regenerate-golden.sh "<reason>", '
    "review `git diff tests/sim/model/golden`, and commit with the reason in the message. "
    "Regenerating must be a deliberate decision, never a way to make this test pass."
)


def config() -> dict:
    """The golden config as recorded in meta.json."""
    return {"scenario": SCENARIO, "overrides": list(OVERRIDES)}


def versions() -> dict[str, str]:
    """Python and the pinned packages whose behaviour the golden bytes depend on."""
    import numpy
    import simpy

    return {"python": sys.version.split()[0], "numpy": numpy.__version__,
            "simpy": simpy.__version__}


def run_golden(out: Path) -> dict[str, str]:
    """Run the golden config into results folder *out*; return the compared files' text."""
    scen = load(ROOT / SCENARIO, OVERRIDES)
    outputs.write(run(scen), out)
    return {name: (out / name).read_text(encoding="utf-8") for name in FILES}


def _pins() -> dict[str, str]:
    text = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    return {m.group(1).lower(): m.group(2)
            for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, re.M)}


def _diff(expected: str, actual: str, name: str, limit: int = 40) -> str:
    lines = list(difflib.unified_diff(expected.splitlines(), actual.splitlines(),
                                      f"golden/{name}", f"current/{name}", n=0, lineterm=""))
    more = f"\n... {len(lines) - limit} more diff lines" if len(lines) > limit else ""
    return "\n".join(lines[:limit]) + more


def test_golden_kpis_equal_current_run(tmp_path) -> None:
    meta = json.loads((GOLDEN / "meta.json").read_text(encoding="utf-8"))
    assert meta["config"] == config(), (
        f"golden/meta.json was produced by config {meta['config']}, the test runs {config()}. "
        + REGENERATE)
    current = run_golden(tmp_path / "run")
    now = versions()
    for name in FILES:
        expected = (GOLDEN / name).read_text(encoding="utf-8")
        assert current[name] == expected, (
            f"{name} of the golden run ({SCENARIO} with {' '.join(OVERRIDES)}) differs from "
            f"tests/sim/model/golden/{GOLDEN.name}/{name}.\n"
            f"golden made with {meta['versions']}, running with {now}.\n"
            f"{_diff(expected, current[name], name)}\n{REGENERATE}")


def test_golden_files_are_small_and_complete() -> None:
    files = sorted(p for p in GOLDEN.rglob("*") if p.is_file())
    assert {p.name for p in files} == {*FILES, "meta.json"}
    size = sum(p.stat().st_size for p in files)
    assert size <= MAX_BYTES, f"golden folder is {size} bytes, the budget is {MAX_BYTES}"
    kpi = (GOLDEN / "kpi.csv").read_text(encoding="utf-8").splitlines()
    assert kpi[0] == "kpi,value" and len(kpi) > 50


def test_numpy_and_simpy_pinned_to_the_golden_versions() -> None:
    """The lock file pins what the bytes depend on, at the versions that made the golden."""
    pins = _pins()
    meta = json.loads((GOLDEN / "meta.json").read_text(encoding="utf-8"))
    for pkg in PINNED:
        assert pkg in pins, f"constraints.txt must pin {pkg}==<version> (S-BACKTEST)"
        assert pins[pkg] == meta["versions"][pkg], (
            f"constraints.txt pins {pkg}=={pins[pkg]} but the golden was made with "
            f"{meta['versions'][pkg]}. " + REGENERATE)


def test_stress_des_lists_the_stream_map_of_the_code() -> None:
    """S-STRESS: docs/STRESS-DES.md item 5.2 lists exactly `STREAM_KEYS` (name -> spawn key)."""
    from sim.scenario.streams import STREAM_KEYS

    text = (ROOT / "docs" / "STRESS-DES.md").read_text(encoding="utf-8")
    doc = {m.group(1): int(m.group(2))
           for m in re.finditer(r"^\| `([a-z.]+)` \| (\d+) \|", text, re.M)}
    assert doc == STREAM_KEYS, "update the stream map table in docs/STRESS-DES.md item 5.2"
    items = re.findall(r"^\*\*([1-6]\.\d(?:\.\d)?) ", text, re.M)
    assert len(items) == len(set(items)) == 24, items


def regenerate(reason: str) -> None:
    """Rewrite the golden folder from a fresh run of the golden config (deliberate only)."""
    with tempfile.TemporaryDirectory() as tmp:
        current = run_golden(Path(tmp) / "run")
    if GOLDEN.exists():
        shutil.rmtree(GOLDEN)
    GOLDEN.mkdir(parents=True)
    for name, text in current.items():
        (GOLDEN / name).write_text(text, encoding="utf-8")
    meta = {"config": config(), "versions": versions(), "reason": reason}
    (GOLDEN / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n",
                                      encoding="utf-8")
    print(f"wrote {GOLDEN.relative_to(ROOT)}/{{{','.join(sorted([*FILES, 'meta.json']))}}}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--regenerate" or not sys.argv[2].strip():
        sys.exit("usage: python -m tests.sim.model.test_backtest --regenerate '<reason>' "
                 "(use scripts/regenerate-golden.sh)")
    regenerate(sys.argv[2].strip())
