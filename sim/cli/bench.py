"""`kks bench monthly`: time the monthly penetapan + disbursement and compare it, in one run, with
the plain-Python reference (on a sample), the DuckDB peer (results asserted equal) and a memory
bandwidth floor (one streaming pass over the columns a cycle touches).

The measuring function `measure_monthly` returns a dict (the `--json` output); the command prints
it. Large runs should use the glibc settings of docs/performance.md §1 (no mmap for big blocks):
the command re-executes itself with them unless `--no-malloc-env` is given or they are set.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import click
import numpy as np

from kks_emulator.errors import InputError

MALLOC_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "68719476736",
              "MALLOC_TOP_PAD_": "1073741824", "OMP_NUM_THREADS": "1",
              "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
STEPS = ("validate", "dedupe", "rank", "select", "disburse")
#: goals of issues 3 and 12 for the national cycles (steady and full decree)
GOAL_SECONDS, GOAL_RSS_GIB, GOAL_VS_DUCKDB, GOAL_VS_FLOOR = 5.0, 8.0, 5.0, 10.0


def peak_rss_gib() -> float:
    """Peak resident set size of this process so far, GiB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def sample(registry, rows: int):
    """Every k-th household (all kab/kota represented), at most `rows`, as a new registry."""
    from sim.registry.table import Registry

    n = len(registry)
    step = max(n // max(rows, 1), 1)
    return Registry({c: np.ascontiguousarray(registry[c][::step][:rows]) for c in registry},
                    dict(registry.meta))


def streaming_floor(registry, ledger, repeats: int = 3) -> dict:
    """Seconds of one pass that reads every column a cycle reads and rewrites those it writes."""
    read = ["nik", "kk", "kabkota", "size", "n_other_jkn", "n_pregnant", "n_early_child", "n_sd",
            "n_smp", "n_sma", "n_disabled", "n_elderly", "earns_umr", "pmt_score", "status"]
    write = [registry["desil"], registry["programmes"], registry["balance"],
             registry["unspent_months"], ledger.last_credit, ledger.last_settled]

    def words(a: np.ndarray) -> np.ndarray:
        flat = a.reshape(-1).view(np.uint8)
        return flat[: len(flat) // 8 * 8].view(np.uint64)

    nbytes = sum(registry[c].nbytes for c in read) + 2 * sum(a.nbytes for a in write)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        acc = np.uint64(0)
        for c in read:
            acc ^= np.bitwise_xor.reduce(words(registry[c]))
        for a in write:
            w = words(a)
            np.bitwise_xor(w, np.uint64(0), out=w)
        times.append(time.perf_counter() - t)
    sec = statistics.median(times)
    return {"seconds": sec, "bytes": nbytes, "gb_per_s": nbytes / sec / 1e9}


def measure_monthly(households: int, *, registry_dir: Path | None = None, seed: int = 1,
                    cycles: int = 4, churn: float = 0.01, reference_rows: int = 20_000,
                    duckdb_rows: int | None = None, duckdb_threads: int = 2,
                    full_decrees: int = 2, floor: bool = True, progress=None) -> dict:
    """The whole benchmark; see the module docstring. `progress(msg)` reports as it goes.

    Two cycles are timed: the steady cycle (a decree with a `churn` batch that re-checks only
    what changed, then the disbursement; median of `cycles` months that include a PKH payment
    month) and the full decree (every household validated, deduplicated and re-ranked, the
    engine state rebuilt: `MonthlyState.invalidate()` first; median of `full_decrees`).
    """
    from sim.hotpath import changes, disburse, monthly, reference
    from sim.params import params_for
    from sim.registry import population
    from sim.registry import table as reg_io

    say = progress or (lambda msg: None)
    out: dict = {"households": households, "seed": seed, "cycles": cycles, "churn": churn,
                 "load_average_start": os.getloadavg()[0]}
    t = time.perf_counter()
    if registry_dir is not None:
        reg = reg_io.load(registry_dir)
        out["households"] = households = len(reg)
        out["registry"] = {"source": str(registry_dir)}
    else:
        reg = population.generate(households, seed)
        out["registry"] = {"source": "generated"}
    out["registry"]["seconds"] = time.perf_counter() - t
    say(f"registry of {households:,} households ready in {out['registry']['seconds']:.1f} s")
    params = params_for(reg)
    records = max(int(households * churn), 1)
    periods = timed_periods(params, cycles)

    # the engine: a first full decree (builds the state), then `cycles` timed cycles
    steps: list[dict] = []
    state = monthly.MonthlyState()
    ledger = disburse.DisbursementState.open(reg)
    for i, period in enumerate(periods):
        batch = changes.random_batch(reg, records, seed * 1000 + i)
        t0 = time.perf_counter()
        res = monthly.run_month(reg, batch, params, period, state)
        t1 = time.perf_counter()
        dres = disburse.disburse(reg, ledger, params, period, seed)
        t2 = time.perf_counter()
        row = {k: res.timings.get(k, 0.0) for k in STEPS[:-1]}
        row.update(disburse=t2 - t1, cycle=t2 - t0)
        steps.append(row)
        say(f"cycle {i} ({'first, full checks' if i == 0 else 'steady'}): {t2 - t0:.2f} s "
            f"{ {k: round(v, 3) for k, v in row.items()} }")
        if i == len(periods) - 1:
            out["recipients"] = res.recipients
            out["dtks"] = res.dtks
            out["credited"] = dres.credited
    timed = steps[1:]
    out["first_decree_seconds"] = steps[0]["cycle"]
    out["timed_periods"] = periods[1:]
    out["pkh_periods"] = [p for p in periods[1:] if p % params.pkh_every == 0]
    out["cycle_periods_seconds"] = {str(p): r["cycle"] for p, r in zip(periods[1:], timed,
                                                                        strict=True)}
    out["steps"] = {}
    for k in (*STEPS, "cycle"):
        med = statistics.median(r[k] for r in timed)
        out["steps"][k] = {"median_s": med, "households_per_s": households / med if med else None}
    out["cycle_seconds"] = out["steps"]["cycle"]["median_s"]
    out["peak_rss_gib_engine"] = peak_rss_gib()

    # the full decree: every row re-checked, deduplicated and re-ranked, the state rebuilt
    full = []
    period = periods[-1]
    for j in range(full_decrees):
        period = next_decree(params, period)
        batch = changes.random_batch(reg, records, seed * 1000 + 100 + j)
        state.invalidate()
        t0 = time.perf_counter()
        res = monthly.run_month(reg, batch, params, period, state)
        t1 = time.perf_counter()
        disburse.disburse(reg, ledger, params, period, seed)
        t2 = time.perf_counter()
        row = {k: res.timings.get(k, 0.0) for k in STEPS[:-1]}
        row.update(decree=t1 - t0, disburse=t2 - t1, cycle=t2 - t0)
        row.update({k: v for k, v in res.timings.items() if k.startswith("full_")})
        full.append(row)
        say(f"full decree {j} (period {period}): {t1 - t0:.2f} s "
            f"{ {k: round(v, 3) for k, v in row.items()} }")
    if full:
        med = statistics.median(r["decree"] for r in full)
        out["full_decree"] = {
            "households": households, "repeats": len(full), "seconds": med,
            "households_per_s": households / med if med else None,
            "steps": {k: statistics.median(r[k] for r in full) for k in STEPS[:-1]},
            # parts of the dedupe step: record checks, index sorts, duplicates, state rebuild
            "dedupe_parts": {k: statistics.median(r.get(k, 0.0) for r in full)
                             for k in ("full_checks", "full_index", "full_duplicates",
                                       "full_state")},
            "with_disbursement_seconds": statistics.median(r["cycle"] for r in full),
            "peak_rss_gib_engine": peak_rss_gib(),
        }
    out["peak_rss_gib_engine"] = peak_rss_gib()

    if floor:
        out["floor"] = streaming_floor(reg, ledger)
        out["floor"]["cycle_over_floor"] = out["cycle_seconds"] / out["floor"]["seconds"]
        if "full_decree" in out:
            out["full_decree"]["over_floor"] = (out["full_decree"]["seconds"]
                                                / out["floor"]["seconds"])
        say(f"streaming floor {out['floor']['seconds']:.3f} s "
            f"({out['floor']['gb_per_s']:.1f} GB/s)")
    del ledger, state

    # the reference on a sample: per-household time, and equality with numpy on that sample
    if reference_rows:
        base = sample(reg, reference_rows)
        out["reference"] = _compare_reference(base, reference, seed, periods[:3], churn)
        out["reference"]["ratio_per_household"] = (
            out["reference"]["seconds_per_household"] / (out["cycle_seconds"] / households))
        say(f"reference: {out['reference']['seconds_per_household'] * 1e6:.1f} µs/household, "
            f"{out['reference']['ratio_per_household']:.0f}x the engine")

    if duckdb_rows is None:
        duckdb_rows = households if households <= 20_000_000 else 10_000_000
    if duckdb_rows:
        out["duckdb"] = _compare_duckdb(reg, duckdb_rows, seed, periods, churn, duckdb_threads,
                                        households, out["cycle_seconds"],
                                        out.get("full_decree", {}).get("seconds"), say)
        if "full_decree" in out:
            fd, d = out["full_decree"], out["duckdb"]["full_decree"]
            fd["duckdb_seconds"] = d["seconds"]
            fd["duckdb_households"] = out["duckdb"]["households"]
            fd["ratio_vs_duckdb_same_rows"] = d["ratio_same_rows"]
            fd["ratio_vs_duckdb_per_household"] = d["ratio_per_household"]
    return out


def next_decree(params, period: int) -> int:
    """The first decree period after `period`."""
    period += 1
    while period % params.cadence_months:
        period += 1
    return period


def timed_periods(params, cycles: int, start: int = 300) -> list[int]:
    """The first decree's period, then `cycles` periods to time; they include a PKH payment
    month (period divisible by `pkh_every`), moving the window if needed."""
    periods = list(range(start, start + cycles + 1))
    while not any(p % params.pkh_every == 0 for p in periods[1:]):
        periods = [p + 1 for p in periods]
    return periods


def _compare_reference(base, reference, seed: int, periods: list[int], churn: float) -> dict:
    """Time the reference cycles on `base` and assert numpy gives the same on a copy."""
    from sim.hotpath import changes, disburse, monthly
    from sim.params import params_for

    params = params_for(base)
    a, b = base.copy(), base.copy()
    state = monthly.MonthlyState()
    la, lb = disburse.DisbursementState.open(a), disburse.DisbursementState.open(b)
    ref_s = []
    for i, period in enumerate(periods):
        batch = changes.random_batch(b, max(int(len(b) * churn), 1), seed * 7 + i)
        t = time.perf_counter()
        rb = reference.run_month(b, batch, params, period)
        db = reference.disburse(b, lb, params, period, seed)
        ref_s.append(time.perf_counter() - t)
        ra = monthly.run_month(a, batch, params, period, state)
        da = disburse.disburse(a, la, params, period, seed)
        if ra.counters() != rb.counters() or da.counters() != db.counters() or any(
                not np.array_equal(a[c], b[c], equal_nan=True) for c in a.columns):
            raise InputError(f"reference and numpy disagree on the sample (period {period})")
    sec = statistics.median(ref_s[1:] or ref_s)
    return {"households": len(base), "seconds_per_cycle": sec,
            "seconds_per_household": sec / len(base), "identical": True}


def _compare_duckdb(reg, rows: int, seed: int, periods: list[int], churn: float,
                    threads: int, households: int, cycle_s: float, full_s: float | None,
                    say) -> dict:
    """DuckDB on `rows` households (the registry itself when rows >= its size, else an every-k-th
    sample), numpy on the same rows; results asserted identical after every decree and
    disbursement. Both make their first decree (untimed), run the steady cycles of
    `periods[1:]` (a PKH month among them), then two full decrees (`invalidate()` / unverified
    peer: every row re-checked). Medians of the steady cycles and of the two full decrees
    (decree only, as the engine's full-decree row)."""
    from sim.bench.duckdb_peer import DuckPeer
    from sim.hotpath import changes, disburse, monthly
    from sim.params import params_for

    # both start from the registry as the timed cycles left it (a valid decree state)
    base = sample(reg, rows) if rows < len(reg) else reg.copy()
    params = params_for(base)
    mine = base.copy()
    t = time.perf_counter()
    peer = DuckPeer(base, params, threads=threads)
    load_s = time.perf_counter() - t
    del base
    state = monthly.MonthlyState()
    ledger = disburse.DisbursementState.open(mine)
    duck_cycle, np_cycle, duck_full, np_full = [], [], [], []
    # (period, kind): the first decree of both (untimed: it allocates their state), the
    # steady periods, then two full decrees on the warmed state of both
    schedule = [(periods[0], "first"), *((p, "steady") for p in periods[1:])]
    p = periods[-1]
    for _ in range(2):
        p = next_decree(params, p)
        schedule.append((p, "full"))
    for i, (period, kind) in enumerate(schedule):
        full = kind == "full"
        batch = changes.random_batch(mine, max(int(len(mine) * churn), 1), seed * 13 + i)
        if full:
            peer.verified = False
            state.invalidate()
        t0 = time.perf_counter()
        theirs = peer.run_month(batch, period)
        t1 = time.perf_counter()
        d_theirs = peer.disburse(period, seed)
        t2 = time.perf_counter()
        ours = monthly.run_month(mine, batch, params, period, state)
        t3 = time.perf_counter()
        d_ours = disburse.disburse(mine, ledger, params, period, seed)
        t4 = time.perf_counter()
        if full:
            duck_full.append(t1 - t0)
            np_full.append(t3 - t2)
        elif kind == "steady":
            duck_cycle.append(t2 - t0)
            np_cycle.append(t4 - t2)
        d_theirs.pop("seconds")
        if ours.counters() != theirs.counters() or d_ours.counters() != d_theirs:
            raise InputError(f"DuckDB and numpy disagree (period {period})")
        cols = peer.columns()
        for name in ("status", "desil", "programmes", "balance", "unspent_months"):
            if not np.array_equal(cols[name], mine[name]):
                raise InputError(f"DuckDB and numpy disagree on {name} (period {period})")
        say(f"duckdb {kind} {'decree' if kind != 'steady' else 'cycle'} period {period}: "
            f"{(t1 - t0) if full else (t2 - t0):.2f} s "
            f"(numpy {(t3 - t2) if full else (t4 - t2):.2f} s), identical")
    d_med, n_med = statistics.median(duck_cycle), statistics.median(np_cycle)
    df_med, nf_med = statistics.median(duck_full), statistics.median(np_full)
    n = len(mine)
    out = {"households": n, "threads": threads, "load_s": load_s, "seconds_per_cycle": d_med,
           "numpy_same_rows_seconds": n_med, "identical": True,
           "ratio_same_rows": d_med / n_med,
           "ratio_per_household": (d_med / n) / (cycle_s / households),
           "full_decree": {"seconds": df_med, "numpy_same_rows_seconds": nf_med,
                           "ratio_same_rows": df_med / nf_med,
                           "ratio_per_household": ((df_med / n) / (full_s / households)
                                                   if full_s else None)}}
    return out


def _reexec_with_malloc_env() -> None:
    """Restart this command with the glibc settings if they are missing (real CLI runs only)."""
    if os.environ.get("MALLOC_MMAP_MAX_") is not None or os.environ.get("KKS_BENCH_REEXEC"):
        return
    if Path(sys.argv[0]).name != "kks":
        return
    env = dict(os.environ, **MALLOC_ENV, KKS_BENCH_REEXEC="1")
    os.execve(sys.executable, [sys.executable, sys.argv[0], *sys.argv[1:]], env)


@click.group()
def bench() -> None:
    """Benchmarks of the monthly hot path."""


@bench.command()
@click.option("--households", "-n", type=click.IntRange(min=1), default=1_000_000,
              show_default=True,
              help="Households to generate (ignored with --registry).")
@click.option("--registry", "registry_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Load this registry (kks registry generate) instead of generating one.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--cycles", type=int, default=4, show_default=True,
              help="Timed cycles after the first (full) decree; the median is reported.")
@click.option("--churn", type=float, default=0.01, show_default=True,
              help="Change records per month as a share of households.")
@click.option("--reference-rows", type=int, default=20_000, show_default=True,
              help="Households of the sample the reference is timed on (0 = skip).")
@click.option("--duckdb-rows", type=int, default=None,
              help="Households for the DuckDB comparison (default: all up to 20M, else 10M "
                   "sampled every k-th; 0 = skip).")
@click.option("--duckdb-threads", type=int, default=2, show_default=True)
@click.option("--full-decrees", type=int, default=2, show_default=True,
              help="Full decrees to time after the steady cycles (every row re-checked; "
                   "the median is reported; 0 = skip).")
@click.option("--no-malloc-env", is_flag=True, help="Do not restart with the glibc settings.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the result as JSON on stdout (progress still goes to stderr).")
def monthly(households: int, registry_dir: Path | None, seed: int, cycles: int, churn: float,
            reference_rows: int, duckdb_rows: int | None, duckdb_threads: int,
            full_decrees: int, no_malloc_env: bool, as_json: bool) -> None:
    """Time full monthly cycles and print households/s per step, peak RSS and the ratios."""
    if not no_malloc_env:
        _reexec_with_malloc_env()
    if cycles < 2:
        raise InputError("--cycles must be at least 2")
    if not 0 < churn < 1:
        raise InputError("--churn must lie in (0, 1)")
    if full_decrees < 0:
        raise InputError("--full-decrees must be at least 0")

    def say(msg: str) -> None:
        click.echo(f"  {msg}", err=True)

    out = measure_monthly(households, registry_dir=registry_dir, seed=seed, cycles=cycles,
                          churn=churn, reference_rows=reference_rows, duckdb_rows=duckdb_rows,
                          duckdb_threads=duckdb_threads, full_decrees=full_decrees,
                          progress=say)
    out["peak_rss_gib_process"] = peak_rss_gib()
    out["load_average_end"] = os.getloadavg()[0]  # a shared machine: say how busy it was
    if as_json:
        click.echo(json.dumps(out, indent=2, sort_keys=True))
        return
    _print(out)


def _print(out: dict) -> None:
    n = out["households"]
    click.echo(f"kks bench monthly: {n:,} households, churn {out['churn']:.1%} per month, "
               f"median of {out['cycles']} cycles after the first decree (periods "
               f"{out['timed_periods']}, PKH payments in {out['pkh_periods']})")
    click.echo(f"  load average (1 min) {out['load_average_start']:.1f} at the start, "
               f"{out['load_average_end']:.1f} at the end (2 cores)")
    click.echo(f"  DTKS {out['dtks']:,}; recipients " + ", ".join(
        f"{k} {v:,}" for k, v in out["recipients"].items()))
    click.echo(f"  {'step':<10}{'median s':>10}{'households/s':>16}")
    for k, v in out["steps"].items():
        click.echo(f"  {k:<10}{v['median_s']:>10.3f}{v['households_per_s']:>16.3g}")
    click.echo(f"  first decree (checks every row, builds the state): "
               f"{out['first_decree_seconds']:.2f} s")
    if "full_decree" in out:
        fd = out["full_decree"]
        click.echo(f"  full decree (every row validated, deduplicated, re-ranked; median of "
                   f"{fd['repeats']}): {fd['seconds']:.2f} s = {fd['households_per_s']:.3g} "
                   f"households/s; with the disbursement {fd['with_disbursement_seconds']:.2f} s; "
                   + ", ".join(f"{k} {v:.3f}" for k, v in fd["steps"].items()))
    click.echo(f"  peak RSS (engine, incl. registry): {out['peak_rss_gib_engine']:.2f} GiB; "
               f"process at the end: {out['peak_rss_gib_process']:.2f} GiB")
    cyc = out["cycle_seconds"]
    if "reference" in out:
        r = out["reference"]
        click.echo(f"  reference: {r['seconds_per_household'] * 1e6:.2f} µs/household on "
                   f"{r['households']:,} households (identical results) -> engine is "
                   f"{r['ratio_per_household']:.0f}x faster per household")
    if "duckdb" in out:
        d = out["duckdb"]
        click.echo(f"  duckdb ({d['threads']} threads) on {d['households']:,} households: "
                   f"{d['seconds_per_cycle']:.2f} s/cycle vs numpy "
                   f"{d['numpy_same_rows_seconds']:.2f} s on the same rows (identical results) "
                   f"-> {d['ratio_same_rows']:.1f}x; "
                   f"per household vs this run: {d['ratio_per_household']:.1f}x")
        f = d["full_decree"]
        click.echo(f"  duckdb full decree: {f['seconds']:.2f} s vs numpy "
                   f"{f['numpy_same_rows_seconds']:.2f} s on the same rows -> "
                   f"{f['ratio_same_rows']:.1f}x")
    if "floor" in out:
        f = out["floor"]
        click.echo(f"  streaming floor: {f['seconds']:.3f} s ({f['bytes'] / 1e9:.2f} GB at "
                   f"{f['gb_per_s']:.1f} GB/s) -> cycle is {f['cycle_over_floor']:.1f}x the floor")
    verdict = [f"cycle {cyc:.2f} s {'<=' if cyc <= GOAL_SECONDS else '>'} {GOAL_SECONDS:g} s",
               f"RSS {out['peak_rss_gib_engine']:.2f} GiB "
               f"{'<=' if out['peak_rss_gib_engine'] <= GOAL_RSS_GIB else '>'} {GOAL_RSS_GIB:g}"]
    if "duckdb" in out:
        r = out["duckdb"]["ratio_same_rows"]
        verdict.append(f"vs DuckDB {r:.1f}x {'>=' if r >= GOAL_VS_DUCKDB else '<'} "
                       f"{GOAL_VS_DUCKDB:g}x")
    if "full_decree" in out:
        fs = out["full_decree"]["seconds"]
        verdict.append(f"full decree {fs:.2f} s {'<=' if fs <= GOAL_SECONDS else '>'} "
                       f"{GOAL_SECONDS:g} s")
        r = out["full_decree"].get("ratio_vs_duckdb_same_rows")
        if r is not None:
            verdict.append(f"full decree vs DuckDB {r:.1f}x "
                           f"{'>=' if r >= GOAL_VS_DUCKDB else '<'} {GOAL_VS_DUCKDB:g}x")
    if "floor" in out:
        r = out["floor"]["cycle_over_floor"]
        verdict.append(f"vs floor {r:.1f}x {'<=' if r <= GOAL_VS_FLOOR else '>'} "
                       f"{GOAL_VS_FLOOR:g}x")
    click.echo("  goals (national cycle): " + "; ".join(verdict))
