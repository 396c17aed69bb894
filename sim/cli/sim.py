"""`kks sim`: run, validate and compare scenarios of the national flow model.

Errors below the CLI are `KksError`s (a bad scenario is a `ConfigError` naming file, key and what
was expected); the root command prints them on one line with exit code 2. Validation happens
before anything runs, so a bad scenario never leaves a results folder.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from kks_emulator.errors import InputError, KksError


def _load(path: str, sets: tuple[str, ...], seed: int | None):
    from sim.model.frame import check_territory
    from sim.scenario.loader import load

    overrides = list(sets) + ([f"scenario.seed={seed}"] if seed is not None else [])
    scen = load(path, overrides)
    check_territory(scen)
    return scen


@click.group()
def sim() -> None:
    """Run, validate and compare TOML scenarios of the bansos flow model."""


@sim.command()
@click.argument("scenario")
@click.option("--out", default=None, metavar="DIR",
              help="Results folder (default: results/<scenario name>).")
@click.option("--seed", type=int, default=None, help="Override scenario.seed.")
@click.option("--set", "sets", multiple=True, metavar="TABLE.KEY=VALUE",
              help="Override a scenario value (repeatable), e.g. capacity.verval_per_desa=4.")
@click.option("--replications", type=int, default=1, show_default=True,
              help="Independent replications (seeds spawned from the scenario seed).")
@click.option("--scheduler", default=None, metavar="ADDR",
              help="Work on the Dask cluster of this scheduler: the run split into partitions "
                   "of whole kab/kota on its workers, or, with --replications, whole "
                   "replications on its workers (as kks sim backtest/sensitivity).")
@click.option("--workers", type=int, default=None, metavar="N",
              help="Work on N local worker processes: the run split into N partitions of "
                   "whole kab/kota on a local Dask cluster (docs/distributed.md), or, with "
                   "--replications, whole replications on a pool of N processes (as kks sim "
                   "backtest/sensitivity).")
@click.option("--partitions", type=int, default=None, metavar="P",
              help="Split the run into P partitions (default: one per worker; without "
                   "--workers/--scheduler, 1). Not with --replications.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "both"]),
              default="parquet", show_default=True,
              help="Tables as Parquet (with CSV beside the small ones), CSV only, or both.")
@click.option("--baseline", default=None, metavar="DIR",
              help="A results folder to compare with in the report (\"differs from "
                   "baseline\" section).")
@click.option("--force", is_flag=True,
              help="Replace --out even when it holds files this tool did not write (they are "
                   "deleted).")
def run(scenario: str, out: str | None, seed: int | None, sets: tuple[str, ...],
        replications: int, scheduler: str | None, workers: int | None,
        partitions: int | None, fmt: str, baseline: str | None, force: bool) -> None:
    """Run SCENARIO and write its results folder (KPIs, tables, plots, report.html).

    Everything is checked before the simulation starts: the scenario, --out (a folder that is
    missing, empty or a results folder; anything else needs --force) and --baseline.

    --workers N and --scheduler ADDR say where the work runs, as for kks sim backtest and
    sensitivity: a single run is split into partitions of whole kab/kota on the workers (the
    answer is the same, file for file, in one process and over any number of partitions:
    docs/distributed.md); with --replications, whole replications run on them.
    """
    from rich.console import Console

    from sim.outputs import compare, folder
    from sim.registry import privacy

    scen = _load(scenario, sets, seed)
    console = Console(stderr=True)
    if replications < 1 or replications > MAX_REPLICATIONS:
        raise InputError(f"--replications: expected 1 to {MAX_REPLICATIONS}, got {replications}")
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be >= 1, got {workers}")
    if partitions is not None and partitions < 1:
        raise InputError(f"--partitions must be >= 1, got {partitions}")
    if replications > 1 and partitions is not None:
        raise InputError("--partitions splits one run: it cannot be used with --replications "
                         "(replications run whole, on --workers or --scheduler)")
    target = folder.check_target(Path(out) if out else Path("results") / scen.name, force)
    if baseline is not None:
        compare.open_results(Path(baseline))
    key = privacy.load_key("households", allow_synthetic=True)
    if key.synthetic:
        console.print(f"[bold red]warning:[/bold red] {privacy.NOT_PROTECTIVE}",
                      highlight=False, soft_wrap=True)
    t0 = time.perf_counter()
    if replications > 1:
        from sim.model.replicate import run_replications

        rows = run_replications(scenario, list(sets), seed, replications, target, scheduler,
                                workers)
        console.print(f"{replications} replications written to {target}/ "
                      f"({time.perf_counter() - t0:.1f} s) -> {target}/report.html")
        from sim.outputs import labels, stats

        for name in ("lead_time_credit_p50_days", "lead_time_credit_p90_days",
                     "kemensos_inclusion_share_bpnt", "kemensos_exclusion_share_bpnt",
                     "disbursed_rp"):
            vals = [r[name] for r in rows if r.get(name) is not None]
            if vals:
                iv = stats.mean_ci(vals)
                console.print(f"  {labels.kpi(name).label:48s} {labels.value(name, iv.estimate)} "
                              f"{labels.spread(name, iv.half)} (95% CI, n={iv.n})",
                              highlight=False)
        return
    if workers is not None or scheduler is not None:
        from sim.model.distributed import quiet_logs

        quiet_logs()
    kpi = _run_one(scen, target, console, fmt, Path(baseline) if baseline else None,
                   workers=workers, scheduler=scheduler, partitions=partitions or 1)
    console.print(f"[bold]{scen.name}[/bold] done in {time.perf_counter() - t0:.1f} s "
                  f"({kpi['events']:,} events) -> {target}/report.html")
    from sim.outputs import labels

    for name in ("households", "proposals", "dtks_households", "recipients_bpnt",
                 "recipients_pbi_persons", "lead_time_credit_p50_days",
                 "lead_time_credit_p90_days", "kemensos_inclusion_share_bpnt",
                 "kemensos_exclusion_share_bpnt", "alatas_inclusion_rate_bpnt",
                 "alatas_exclusion_rate_bpnt", "ewarong_wait_p90_min", "disbursed_rp",
                 "returned_rp"):
        console.print(f"  {labels.kpi(name).label:48s} {labels.value(name, kpi.get(name))}",
                      highlight=False)


#: more replications than this is a typo, not a study
MAX_REPLICATIONS = 1000


def _run_one(scen, target: Path, console, fmt: str = "parquet",
             baseline: Path | None = None, **split) -> dict:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from sim.model.run import run as run_model
    from sim.outputs import results as outputs

    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("day {task.completed:.0f}/{task.total:.0f}"), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(f"simulating {scen.name}", total=1.0)

        def progress(done: float, total: float) -> None:
            bar.update(task, completed=done, total=total)

        res = run_model(scen, progress, **split)
        bar.update(task, description="accounting the overrides")
        res.effects = _account(res, console)
        sections = []
        fidelity = None
        if scen["fidelity"]["kabkota"]:
            from sim.fidelity import command as fidelity_cmd

            code, months = fidelity_cmd.resolve(scen, None, None)
            bar.update(task, description=f"card fidelity of {code}")
            fidelity = fidelity_cmd.run(scen, code, months)
            sections.append(fidelity_cmd.section(fidelity, prefix="fidelity/"))
        bar.update(task, description="writing results")
        kpi = outputs.write(res, target, sections, fmt=fmt, baseline=baseline)
    if fidelity is not None and not fidelity.ok:
        raise NotReconciled(f"card fidelity of {fidelity.kabkota}: "
                            f"{len(fidelity.report.failures()):,} failures; see "
                            f"{target}/fidelity/mismatches.csv")
    return kpi


def _account(res, console) -> list:
    """What every override changed in the built model; warnings go to stderr."""
    from sim.outputs import effects

    found = effects.account(res.scenario, res.ctx)
    for line in effects.summary_lines(found):
        console.print(f"  effect: {line}", markup=False, highlight=False, soft_wrap=True)
    for line in effects.warnings(found):
        console.print(line, style="bold yellow", markup=False, highlight=False, soft_wrap=True)
    return found


class NotReconciled(KksError):
    """The card world did not reconcile with the engine: a finding, not a usage error."""

    exit_code = 1


@sim.command()
@click.argument("scenario")
@click.option("--kabkota", default=None, metavar="CODE",
              help="Kab/kota to mirror, e.g. 33.71 (default: the scenario's fidelity.kabkota).")
@click.option("--months", type=int, default=None,
              help="Months to mirror from the scenario's start (default: fidelity.months).")
@click.option("--out", default=None, metavar="DIR",
              help="Results folder (default: results/<scenario name>-fidelity).")
@click.option("--seed", type=int, default=None, help="Override scenario.seed.")
@click.option("--set", "sets", multiple=True, metavar="TABLE.KEY=VALUE",
              help="Override a scenario value (repeatable).")
@click.option("--force", is_flag=True,
              help="Replace --out even when it holds files this tool did not write.")
def fidelity(scenario: str, kabkota: str | None, months: int | None, out: str | None,
             seed: int | None, sets: tuple[str, ...], force: bool) -> None:
    """Mirror one kab/kota of SCENARIO through real KKS cards, EDCs and issuer hosts.

    Writes reconciliation.csv (per bank and month: credits, loads, purchases, returns, balances),
    mismatches.csv (households by pseudonym), fidelity.json and report.html. Exit code 1 when
    anything fails to reconcile.
    """
    from rich.console import Console

    from sim.fidelity import command as fidelity_cmd

    scen = _load(scenario, sets, seed)
    code, n = fidelity_cmd.resolve(scen, kabkota, months)
    from sim.outputs import folder

    target = folder.check_target(Path(out) if out else Path("results") / f"{scen.name}-fidelity",
                                 force)
    console = Console(stderr=True)
    t0 = time.perf_counter()
    with console.status(f"mirroring {code} for {n} month(s) through KKS cards"):
        fr = fidelity_cmd.run(scen, code, n)
    fidelity_cmd.write(fr, scen, target)
    total = fidelity_cmd.reconciliation_rows(fr)[-1]
    console.print(f"[bold]{scen.name}[/bold] card fidelity of {code} {fr.kabkota_name}: "
                  f"{fr.households:,} households, {n} month(s), "
                  f"{time.perf_counter() - t0:.1f} s -> {target}/report.html")
    for name in ("credits", "credited_rp", "loads", "purchases", "redeemed_rp", "returns",
                 "returned_rp", "engine_held_rp", "issuer_held_rp", "mismatches"):
        console.print(f"  {name:16s} {total[name]:,}")
    if not fr.ok:
        raise NotReconciled(f"card fidelity of {code}: {len(fr.report.failures()):,} failures; "
                            f"see {target}/mismatches.csv")
    console.print("  reconciled to the rupiah at every month end")


@sim.command()
@click.option("--rows", "rows_file", type=click.Path(dir_okay=False), default=None,
              help="Rows file (default: sim/calibration/backtest_rows.toml).")
@click.option("--replications", type=int, default=3, show_default=True,
              help="Replications per era (common random numbers across eras).")
@click.option("--fraction", type=float, default=None,
              help="Override territory.fraction of every era (e.g. 0.001 for a quick check).")
@click.option("--seed", type=int, default=None,
              help="Root seed of the replications (default: the first era's scenario seed).")
@click.option("--set", "sets", multiple=True, metavar="TABLE.KEY=VALUE",
              help="Override a value in every era's scenario (repeatable).")
@click.option("--workers", type=int, default=None,
              help="Local worker processes (default: the CPU count; 1 = in this process).")
@click.option("--scheduler", default=None, metavar="ADDR",
              help="Run the replications on this Dask distributed scheduler.")
@click.option("--out", type=click.Path(file_okay=False), default="results/backtest",
              show_default=True, help="Folder for backtest.csv, backtest.json, report.html.")
@click.option("--force", is_flag=True,
              help="Replace --out even when it holds files this tool did not write.")
@click.option("--json", "as_json", is_flag=True,
              help="Print backtest.json to stdout instead of the table.")
def backtest(rows_file: str | None, replications: int, fraction: float | None,
             seed: int | None, sets: tuple[str, ...], workers: int | None,
             scheduler: str | None, out: str, force: bool, as_json: bool) -> None:
    """Compare the model with the published figures of docs/calibration.md (exit 1 if any row
    is outside its tolerance)."""
    from rich.console import Console

    from sim.calibration import backtest as bt

    if workers is not None and workers < 1:
        raise InputError(f"--workers must be >= 1, got {workers}")
    from sim.outputs import folder

    folder.check_target(Path(out), force)
    t0 = time.perf_counter()
    result = bt.run_backtest(rows_file, replications=replications, fraction=fraction,
                             sets=list(sets), seed=seed, workers=workers, scheduler=scheduler)
    bt.write(result, Path(out))
    if as_json:
        click.echo(bt.json_text(result), nl=False)
    else:
        _print_backtest(result, Console(), Path(out), time.perf_counter() - t0)
    if not result.all_within():
        raise SystemExit(1)


def _print_backtest(result, console, out: Path, seconds: float) -> None:
    from rich.table import Table

    from sim.calibration.backtest import fmt_value

    table = Table(title=f"Backtest ({len(result.seeds)} replications per era)")
    for col in ("figure", "published", "unit", "source", "model", "95% CI", "tolerance",
                "within"):
        table.add_column(col, justify="left" if col in ("figure", "source") else "right")
    for t in result.table():
        table.add_row(t["figure"], fmt_value(t["published"]), t["unit"], t["source"],
                      fmt_value(t["model"]),
                      f"{fmt_value(t['ci_low'])} – {fmt_value(t['ci_high'])}",
                      t["tolerance"], "yes" if t["within"] else "[red]NO[/red]")
    console.width = max(console.width, 160)
    console.print(table)
    n_in = sum(t["within"] for t in result.table())
    console.print(f"{n_in}/{len(result.rows)} rows within tolerance ({seconds:.0f} s); "
                  f"{out}/backtest.csv, backtest.json, report.html")


@sim.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--trajectories", type=int, default=10, show_default=True,
              help="Morris trajectories (runs = trajectories x (estimates + 1)).")
@click.option("--levels", type=int, default=4, show_default=True, help="Morris grid levels.")
@click.option("--param", "params", multiple=True, metavar="TABLE.KEY",
              help="Screen only these estimates (repeatable; default: every estimate).")
@click.option("--fraction", type=float, default=None, help="Override territory.fraction.")
@click.option("--seed", type=int, default=None, help="Seed of every run (default: scenario's).")
@click.option("--set", "sets", multiple=True, metavar="TABLE.KEY=VALUE",
              help="Override a scenario value (repeatable).")
@click.option("--workers", type=int, default=None,
              help="Local worker processes (default: the CPU count; 1 = in this process).")
@click.option("--scheduler", default=None, metavar="ADDR",
              help="Run the evaluations on this Dask distributed scheduler.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Results folder (default: results/sensitivity_<scenario name>).")
@click.option("--force", is_flag=True,
              help="Replace --out even when it holds files this tool did not write.")
def sensitivity(scenario: str, trajectories: int, levels: int, params: tuple[str, ...],
                fraction: float | None, seed: int | None, sets: tuple[str, ...],
                workers: int | None, scheduler: str | None, out: str | None,
                force: bool) -> None:
    """Morris screening of every estimate (EST) of SCENARIO on the headline KPIs."""
    from sim.calibration import sensitivity as sa

    if workers is not None and workers < 1:
        raise InputError(f"--workers must be >= 1, got {workers}")
    from sim.outputs import folder

    if out:
        folder.check_target(Path(out), force)
    t0 = time.perf_counter()
    scr = sa.screen(scenario, trajectories=trajectories, levels=levels,
                    params=list(params) or None, sets=list(sets), fraction=fraction, seed=seed,
                    workers=workers, scheduler=scheduler)
    target = Path(out) if out else Path("results") / f"sensitivity_{scr.scenario}"
    if not out:
        folder.check_target(target, force)
    sa.write(scr, target)
    click.echo(f"{len(scr.outputs)} runs of {len(scr.factors)} estimates in "
               f"{time.perf_counter() - t0:.0f} s -> {target}/report.html")
    for rank, (key, score) in enumerate(scr.ranking()[:10], 1):
        click.echo(f"  {rank:2d}. {key:45s} {score:.3f}")


@sim.command()
@click.argument("scenarios", nargs=-1, required=True)
@click.option("--seed", type=int, default=None, help="Override scenario.seed.")
@click.option("--set", "sets", multiple=True, metavar="TABLE.KEY=VALUE",
              help="Override a scenario value (repeatable), as with `kks sim run`.")
def validate(scenarios: tuple[str, ...], seed: int | None, sets: tuple[str, ...]) -> None:
    """Validate SCENARIOS without running them (first error: one line, exit 2)."""
    for path in scenarios:
        scen = _load(path, sets, seed)
        click.echo(f"ok  {path}  ({scen.name})")


@sim.command()
@click.argument("dir_a")
@click.argument("dir_b")
@click.option("--plot", default=None, metavar="PNG",
              help="Where to write the comparison plot (default: compare_A_vs_B.png next to "
                   "DIR_B; none with --json or --csv unless given).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the KPI changes as CSV.")
@click.option("--all", "every", is_flag=True, help="Every KPI, not only the headline ones.")
@click.option("--force", is_flag=True, help="Overwrite --plot even if it is not a plot this "
                                            "command wrote.")
def compare(dir_a: str, dir_b: str, plot: str | None, as_json: bool, as_csv: bool,
            every: bool, force: bool) -> None:
    """What differs between results folders A and B: inputs, then KPIs, beyond noise or not.

    Two single runs cannot tell noise from change; folders of replications run with the same
    seed (`kks sim run ... --replications 10`) give each change a paired 95% interval. Runs of
    different territories are refused.
    """
    from sim.cli.compare_view import run_compare

    run_compare(Path(dir_a), Path(dir_b), plot, as_json, as_csv, every, force)
