"""Benchmarks of partitioned runs (group `partitioned`, docs/distributed.md §6).

- `test_parallel_efficiency`: one year of Kabupaten Banyumas + Brebes (33.02, 33.29) at full
  resolution (over 1.2 M households, two regions), in one process and on a local Dask cluster
  of 2 workers; `efficiency` = (1-process wall / 2-worker wall) / 2 (goal >= 0.85), with each
  worker's peak RSS and the bytes per household it held (`worker_bytes_per_household`,
  goal <= 200 at national scale), and the client's (`client_bytes_per_household`: the national
  stages, the input logs and the merge). With `BENCH_ROUNDS=R` the two years alternate R
  times (2 workers first) and the efficiency is of their medians, every run listed; the memory
  figures are then not one run's (the workers' peaks are over all rounds, and the client
  writes the folder after the one-process years have grown its heap): take them from R = 1.
- `test_memory_two_workers`: only the 2-worker run, with the same figures, for territories too
  large to run twice (`BENCH_SCOPE=provinces BENCH_CODES=33` is Jawa Tengah, 12.6 M households).

The workers' bytes per household are their peak RSS above their idle RSS, summed, divided by
the households of the run. The client's are its highest sampled RSS (every 0.2 s) during the
2-worker run and merge above its RSS just before it (its own high-water mark would be the
one-process run's); `client_write_bytes_per_household` is the same while it then writes the
results folder, as `kks sim run` does. Run with
`pytest benchmarks/test_partitioned_bench.py -m benchmark --benchmark-only` under
`flock /tmp/kks-bigmem.lock` (the client holds the national registry and engine state).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import pytest

from sim.model.run import run
from sim.scenario.loader import load

ROOT = Path(__file__).resolve().parents[1]
#: the territory of the runs; `BENCH_CODES` overrides it (comma-separated), `BENCH_SCOPE` its
#: kind (`kabkota` by default, or `provinces`)
CODES = os.environ.get("BENCH_CODES", "33.02,33.29").split(",")
SCOPE = os.environ.get("BENCH_SCOPE", "kabkota")
#: months simulated (`BENCH_MONTHS`; the scenario's 12 by default)
MONTHS = os.environ.get("BENCH_MONTHS")
#: rounds of the efficiency benchmark (`BENCH_ROUNDS`): the 2-worker and the one-process year
#: alternate, and the efficiency is of their medians (this machine's runs spread by 10-20%)
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "1")))


def _scen():
    codes = ",".join(f'"{c}"' for c in CODES)
    return load(ROOT / "scenarios" / "baseline.toml",
                [f'territory.scope="{SCOPE}"', f"territory.codes=[{codes}]",
                 "territory.fraction=1.0", *([f"scenario.months={MONTHS}"] if MONTHS else [])])


def _rss() -> tuple[int, int]:
    """(current RSS, peak RSS) of this process, bytes.

    The peak is the kernel's high-water mark of this process image (``VmHWM``), not
    ``getrusage``'s ``ru_maxrss``: that one survives ``exec``, so a worker started by a process
    that had run the one-process year would report the starter's peak as its own.
    """
    import psutil

    peak = 0
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) * 1024
    return psutil.Process().memory_info().rss, peak


class _Sampler:
    """The highest RSS of this process while it runs (a thread reading it every 0.2 s)."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.wait(0.2):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> _Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def _two_workers(scen, benchmark, rounds: int = 1,
                 between=None) -> tuple[dict, int, int]:
    """The run of *scen* on a local cluster of 2 workers (timed by *benchmark*, *rounds* times,
    *between* called between two rounds): its memory figures (the client's from the first
    round), households and events."""
    import gc

    from dask.distributed import Client

    from sim.model.distributed import local_cluster

    with local_cluster(2) as cluster, Client(cluster) as client:
        idle = client.run(_rss)
        gc.collect()
        client_start = _rss()[0]

        first: list = []  # the first round's result and client peak (later rounds dropped)

        def split() -> None:
            with _Sampler() as sampler:
                res = run(scen, scheduler=cluster.scheduler_address)
            if not first:
                first.extend((res, sampler.peak))

        def setup() -> None:
            if first and between is not None:  # not before the first round
                between()

        benchmark.pedantic(split, setup=setup, rounds=rounds, iterations=1)
        res, client_peak = first
        first.clear()
        peaks = client.run(_rss)
    # what `kks sim run` does next, in the client alone: the results folder (its per-household
    # and per-proposal tables are written a batch at a time, sim/outputs/tables.py); imported
    # here, not with this module, which the workers import too (`client.run(_rss)`): their
    # idle RSS is then the model's modules only, not the outputs' (pyarrow)
    from sim.outputs import results as outputs

    with tempfile.TemporaryDirectory() as tmp, _Sampler() as sampler:
        outputs.write(res, Path(tmp) / "run")
    write_peak = sampler.peak
    households, events = len(res.ctx.registry), res.events
    grown = sum(peaks[w][1] - idle[w][0] for w in peaks)
    return {
        "worker_peak_rss_mb": {w: peaks[w][1] / 2**20 for w in peaks},
        "worker_bytes_per_household": grown / households,
        "client_start_rss_mb": client_start / 2**20, "client_peak_rss_mb": client_peak / 2**20,
        "client_bytes_per_household": (client_peak - client_start) / households,
        "client_write_peak_rss_mb": write_peak / 2**20,
        "client_write_bytes_per_household": (write_peak - client_start) / households,
    }, households, events


@pytest.mark.benchmark(group="partitioned")
def test_memory_two_workers(benchmark) -> None:
    scen = _scen()
    load_start = os.getloadavg()
    figures, households, events = _two_workers(scen, benchmark)
    benchmark.extra_info.update(
        households=households, events=events, two_workers_s=benchmark.stats.stats.median,
        **figures, months=scen["scenario"]["months"], territory=f"{SCOPE} {','.join(CODES)}",
        load_average_start=load_start, load_average_end=os.getloadavg())


@pytest.mark.benchmark(group="partitioned")
def test_parallel_efficiency(benchmark) -> None:
    import gc

    scen = _scen()
    load_start = os.getloadavg()
    ones: list[float] = []
    counts: list[tuple[int, int]] = []

    def one_process() -> None:
        gc.collect()
        t0 = time.perf_counter()
        one = run(scen)
        ones.append(time.perf_counter() - t0)
        counts.append((len(one.ctx.registry), one.events))

    # the 2-worker run first: the client's RSS before it is then the imports and the scenario;
    # with BENCH_ROUNDS > 1 the one-process year runs between the 2-worker rounds, and once after
    figures, households, events = _two_workers(scen, benchmark, ROUNDS, one_process)
    t_two = benchmark.stats.stats.median
    one_process()
    assert all(c == (households, events) for c in counts)
    t_one = statistics.median(ones)
    benchmark.extra_info.update(
        households=households, events=events, one_process_s=t_one, two_workers_s=t_two,
        one_process_runs_s=ones, two_workers_runs_s=list(benchmark.stats.stats.data),
        speedup=t_one / t_two, efficiency=t_one / t_two / 2, **figures,
        months=scen["scenario"]["months"],
        load_average_start=load_start, load_average_end=os.getloadavg())
