"""Replications: independent runs of one scenario with spawned seeds, on a process pool or Dask.

Replication ``i`` runs the scenario with seed ``SeedSequence(seed).spawn(n)[i]`` (reduced to 63
bits), writes its own results folder ``rep_<i>`` and returns its KPIs, so a replication's output
does not depend on where or in which order it ran (sequential, local processes, or a Dask
distributed cluster: docs/reliability.md S-PAR). ``replications.csv`` lists every replication's
KPIs and ``replications_summary.csv`` the mean and the 95% confidence half-width of each (S-REPS),
which ``report.html`` shows labelled and grouped (`sim.outputs.replication_report`);
``manifest.json`` (kind ``kks-sim-replications``) records the scenario with the base seed, the
replication seeds and the frame, so `kks sim compare` can pair two such folders replication by
replication. The folder is staged and swapped into place like a single run's
(`sim.outputs.folder`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from sim.outputs import folder, replication_report, stats

#: Student t 0.975 quantiles (df 1..30), kept under their old name for `sim.calibration`
_T975 = stats.T975


def replication_seeds(seed: int, n: int) -> list[int]:
    """The seeds of *n* replications spawned from *seed*."""
    return [int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))
            for ss in np.random.SeedSequence(seed).spawn(n)]


def run_one(job: tuple[str, list[str], int, str]) -> dict[str, Any]:
    """Run one replication ``(scenario path, overrides, seed, out folder)``; return its KPIs."""
    from sim.model.run import run
    from sim.outputs import results as outputs
    from sim.scenario.loader import load

    path, overrides, seed, out = job
    scen = load(path, [*overrides, f"scenario.seed={seed}"])
    return outputs.write(run(scen), Path(out))


def run_replications(path: str, overrides: list[str], seed: int | None, n: int, target: Path,
                     scheduler: str | None = None,
                     workers: int | None = None) -> list[dict[str, Any]]:
    """Run *n* replications into *target* (atomically) and return their KPIs in order.

    Without *scheduler* a local process pool (``workers`` processes, default the CPU count)
    runs them; with a Dask scheduler address the cluster does.
    """
    from sim.scenario.loader import load

    base_seed = seed if seed is not None else load(path, overrides)["scenario"]["seed"]
    seeds = replication_seeds(base_seed, n)
    target = Path(target)
    with folder.staging(target) as tmp:
        jobs = [(str(path), list(overrides), s, str(tmp / f"rep_{i:03d}"))
                for i, s in enumerate(seeds)]
        if scheduler:
            from dask.distributed import Client

            with Client(scheduler) as client:
                futures = client.map(run_one, jobs, pure=False)
                rows = client.gather(futures)
        elif n == 1 or workers == 1:
            rows = [run_one(j) for j in jobs]
        else:
            with ProcessPoolExecutor(max_workers=workers or min(n, os.cpu_count() or 1)) as ex:
                rows = list(ex.map(run_one, jobs))
        _write_tables(tmp, seeds, rows)
        manifest = _write_manifest(tmp, base_seed, seeds, list(overrides))
        replication_report.write(tmp, manifest, rows)
        folder.replace_atomically(tmp, target)
    return rows


def _write_manifest(tmp: Path, base_seed: int, seeds: list[int],
                    overrides: list[str]) -> dict[str, Any]:
    """The replications' manifest: the first replication's, with the base seed and the seeds."""
    doc = json.loads((tmp / "rep_000" / folder.MANIFEST).read_text(encoding="utf-8"))
    doc["kind"] = folder.REPLICATIONS_KIND
    doc["seed"] = base_seed
    doc["scenario"]["overrides"] = overrides
    doc["scenario"]["values"]["scenario"]["seed"] = base_seed
    doc["replications"] = {"n": len(seeds), "seeds": seeds,
                           "folders": [f"rep_{i:03d}" for i in range(len(seeds))]}
    text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    (tmp / folder.MANIFEST).write_text(text + "\n", encoding="utf-8")
    return doc


def _write_tables(dest: Path, seeds: list[int], rows: list[dict[str, Any]]) -> None:
    # every KPI of any replication (a family such as time_in_<state> has members only when
    # some proposal reached that state), in first-seen order; absent ones are empty cells
    names = list(dict.fromkeys(k for r in rows for k in r))
    with (dest / "replications.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["replication", "seed", *names])
        for i, (s, r) in enumerate(zip(seeds, rows, strict=True)):
            w.writerow([i, s, *("" if r.get(k) is None else r[k] for k in names)])
    with (dest / "replications_summary.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["kpi", "n", "mean", "ci95_half_width"])
        for k in names:
            vals = [float(r[k]) for r in rows if isinstance(r.get(k), int | float)]
            if not vals:
                continue
            iv = stats.mean_ci(vals)
            half = iv.half
            w.writerow([k, len(vals), round(iv.estimate, 6),
                        "" if half != half else round(half, 6)])


ROOT = Path(__file__).resolve().parents[2]
KOTA_MAGELANG = ('territory.scope="kabkota"', 'territory.codes=["33.71"]',
                 "territory.fraction=1.0")


def numeric_kpis(path: Path, overrides: list[str], seed: int) -> dict[str, float]:
    """The numeric KPIs of one run of *path* with *overrides* and *seed* (nothing written)."""
    from sim.model.run import run
    from sim.outputs import results as outputs
    from sim.scenario.loader import load

    res = run(load(path, [*overrides, f"scenario.seed={seed}"]))
    return {k: float(v) for k, v in outputs.kpis(res).items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def store(argv: list[str] | None = None) -> int:
    """Write *n* replications' KPIs of Kota Magelang as JSON (see the module docstring)."""
    from sim.scenario.loader import load

    ap = argparse.ArgumentParser(description="per-replication KPIs of Kota Magelang, as JSON")
    ap.add_argument("--scenario", default="scenarios/baseline.toml")
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--out", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a further scenario override (Kota Magelang at fraction 1 always)")
    a = ap.parse_args(argv)
    overrides = [*KOTA_MAGELANG, f"scenario.months={a.months}", *a.set]
    path = ROOT / a.scenario
    seeds = replication_seeds(load(path, overrides)["scenario"]["seed"], a.n)
    rows = [numeric_kpis(path, overrides, s) for s in seeds]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True, check=False).stdout.strip()
    args = argv if argv is not None else sys.argv[1:]
    doc = {"command": "python -m sim.model.replicate " + " ".join(args), "commit": commit,
           "scenario": a.scenario, "overrides": overrides, "seeds": seeds, "kpis": rows}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(store())
