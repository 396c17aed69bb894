"""Per-replication KPIs of a scenario, stored so a later model can be compared seed by seed.

Runs *n* replications of a scenario (seeds spawned from the scenario's seed as
`sim.model.replicate.replication_seeds` does: common random numbers with any other model run on
the same seeds) and writes one JSON document: the command, the commit it ran on, the seeds and
every replication's numeric KPIs. ``tests/sim/model/test_event_cuts.py`` compares the model of
today with such a file computed before a change that cuts events (docs/distributed.md §6)::

    python -m sim.bench.replication_kpis --n 12 --months 12 \\
        --out tests/sim/model/data/replications_before_event_cuts.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
KOTA_MAGELANG = ('territory.scope="kabkota"', 'territory.codes=["33.71"]',
                 "territory.fraction=1.0")


def kpis(path: Path, overrides: list[str], seed: int) -> dict[str, float]:
    """The numeric KPIs of one run of *path* with *overrides* and *seed*."""
    from sim.model.run import run
    from sim.outputs import results as outputs
    from sim.scenario.loader import load

    res = run(load(path, [*overrides, f"scenario.seed={seed}"]))
    return {k: float(v) for k, v in outputs.kpis(res).items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def replications(path: Path, overrides: list[str], n: int) -> tuple[list[int], list[dict]]:
    """The seeds and KPIs of *n* replications (CRN seeds of the scenario's own seed)."""
    from sim.model.replicate import replication_seeds
    from sim.scenario.loader import load

    seeds = replication_seeds(load(path, overrides)["scenario"]["seed"], n)
    return seeds, [kpis(path, overrides, s) for s in seeds]


def main(argv: list[str] | None = None) -> int:
    """Write the replications' KPIs as JSON (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="scenarios/baseline.toml")
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--out", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a further scenario override (Kota Magelang at fraction 1 always)")
    a = ap.parse_args(argv)
    overrides = [*KOTA_MAGELANG, f"scenario.months={a.months}", *a.set]
    seeds, rows = replications(ROOT / a.scenario, overrides, a.n)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True, check=False).stdout.strip()
    doc: dict[str, Any] = {
        "command": "python -m sim.bench.replication_kpis " + " ".join(
            argv if argv is not None else sys.argv[1:]),
        "commit": commit, "scenario": a.scenario, "overrides": overrides, "seeds": seeds,
        "kpis": rows}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
