"""Replications: independent runs of one scenario with spawned seeds, on a process pool or Dask.

Replication ``i`` runs the scenario with seed ``SeedSequence(seed).spawn(n)[i]`` (reduced to 63
bits), writes its own results folder ``rep_<i>`` and returns its KPIs, so a replication's output
does not depend on where or in which order it ran (sequential, local processes, or a Dask
distributed cluster: docs/reliability.md S-PAR). ``replications.csv`` lists every replication's KPIs
and ``replications_summary.csv`` the mean and the 95% confidence half-width of each (S-REPS).
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

#: Student t 0.975 quantiles for small samples (df 1..30), then the normal value
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


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
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
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
        tmp.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return rows


def _write_tables(folder: Path, seeds: list[int], rows: list[dict[str, Any]]) -> None:
    names = list(rows[0])
    with (folder / "replications.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["replication", "seed", *names])
        for i, (s, r) in enumerate(zip(seeds, rows, strict=True)):
            w.writerow([i, s, *("" if r[k] is None else r[k] for k in names)])
    with (folder / "replications_summary.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["kpi", "n", "mean", "ci95_half_width"])
        for k in names:
            vals = [float(r[k]) for r in rows if isinstance(r[k], int | float)]
            if not vals:
                continue
            m = sum(vals) / len(vals)
            if len(vals) > 1:
                sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))
                t = _T975[len(vals) - 2] if len(vals) - 1 <= len(_T975) else 1.96
                half = t * sd / math.sqrt(len(vals))
            else:
                half = float("nan")
            w.writerow([k, len(vals), round(m, 6), "" if half != half else round(half, 6)])
