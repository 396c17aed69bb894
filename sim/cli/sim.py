"""`kks sim`: run, validate and compare scenarios of the national flow model.

Errors below the CLI are `KksError`s (a bad scenario is a `ConfigError` naming file, key and what
was expected); the root command prints them on one line with exit code 2. Validation happens
before anything runs, so a bad scenario never leaves a results folder.
"""

from __future__ import annotations

import csv
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
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Results folder (default: results/<scenario name>).")
@click.option("--seed", type=int, default=None, help="Override scenario.seed.")
@click.option("--set", "sets", multiple=True, metavar="TABLE.KEY=VALUE",
              help="Override a scenario value (repeatable), e.g. capacity.verval_per_desa=4.")
@click.option("--replications", type=int, default=1, show_default=True,
              help="Independent replications (seeds spawned from the scenario seed).")
@click.option("--scheduler", default=None, metavar="ADDR",
              help="Run replications on this Dask distributed scheduler instead of a local "
                   "process pool.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "both"]),
              default="parquet", show_default=True,
              help="Tables as Parquet (with CSV beside the small ones), CSV only, or both.")
def run(scenario: str, out: str | None, seed: int | None, sets: tuple[str, ...],
        replications: int, scheduler: str | None, fmt: str) -> None:
    """Run SCENARIO and write its results folder (KPIs, tables, plots, report.html)."""
    from rich.console import Console

    scen = _load(scenario, sets, seed)
    console = Console(stderr=True)
    target = Path(out) if out else Path("results") / scen.name
    if replications < 1:
        raise InputError(f"--replications must be >= 1, got {replications}")
    t0 = time.perf_counter()
    if replications > 1 or scheduler:
        from sim.model.replicate import run_replications

        rows = run_replications(scenario, list(sets), seed, replications, target, scheduler)
        console.print(f"{replications} replications written to {target}/ "
                      f"({time.perf_counter() - t0:.1f} s); table: {target}/replications.csv")
        for name in ("lead_time_credit_p50_days", "kemensos_inclusion_share_bpnt",
                     "kemensos_exclusion_share_bpnt"):
            vals = [r[name] for r in rows if r.get(name) is not None]
            if vals:
                console.print(f"  {name}: mean {sum(vals) / len(vals):.4g} over {len(vals)}")
        return
    kpi = _run_one(scen, target, console, fmt)
    console.print(f"[bold]{scen.name}[/bold] done in {time.perf_counter() - t0:.1f} s "
                  f"({kpi['events']:,} events) -> {target}/report.html")
    for name in ("households", "proposals", "dtks_households", "recipients_bpnt",
                 "recipients_pbi_persons", "lead_time_credit_p50_days",
                 "lead_time_credit_p90_days", "kemensos_inclusion_share_bpnt",
                 "kemensos_exclusion_share_bpnt", "alatas_inclusion_rate_bpnt",
                 "alatas_exclusion_rate_bpnt", "ewarong_wait_p90_min", "disbursed_rp",
                 "returned_rp"):
        console.print(f"  {name:30s} {kpi[name]}")


def _run_one(scen, target: Path, console, fmt: str = "parquet") -> dict:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from sim.model.run import run as run_model
    from sim.outputs import results as outputs

    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("day {task.completed:.0f}/{task.total:.0f}"), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(f"simulating {scen.name}", total=1.0)

        def progress(done: float, total: float) -> None:
            bar.update(task, completed=done, total=total)

        res = run_model(scen, progress)
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
        kpi = outputs.write(res, target, sections, fmt=fmt)
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
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--kabkota", default=None, metavar="CODE",
              help="Kab/kota to mirror, e.g. 33.71 (default: the scenario's fidelity.kabkota).")
@click.option("--months", type=int, default=None,
              help="Months to mirror from the scenario's start (default: fidelity.months).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Results folder (default: results/<scenario name>-fidelity).")
@click.option("--seed", type=int, default=None, help="Override scenario.seed.")
@click.option("--set", "sets", multiple=True, metavar="TABLE.KEY=VALUE",
              help="Override a scenario value (repeatable).")
def fidelity(scenario: str, kabkota: str | None, months: int | None, out: str | None,
             seed: int | None, sets: tuple[str, ...]) -> None:
    """Mirror one kab/kota of SCENARIO through real KKS cards, EDCs and issuer hosts.

    Writes reconciliation.csv (per bank and month: credits, loads, purchases, returns, balances),
    mismatches.csv (households by pseudonym), fidelity.json and report.html. Exit code 1 when
    anything fails to reconcile.
    """
    from rich.console import Console

    from sim.fidelity import command as fidelity_cmd

    scen = _load(scenario, sets, seed)
    code, n = fidelity_cmd.resolve(scen, kabkota, months)
    target = Path(out) if out else Path("results") / f"{scen.name}-fidelity"
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
@click.option("--json", "as_json", is_flag=True,
              help="Print backtest.json to stdout instead of the table.")
def backtest(rows_file: str | None, replications: int, fraction: float | None,
             seed: int | None, sets: tuple[str, ...], workers: int | None,
             scheduler: str | None, out: str, as_json: bool) -> None:
    """Compare the model with the published figures of docs/calibration.md (exit 1 if any row
    is outside its tolerance)."""
    from rich.console import Console

    from sim.calibration import backtest as bt

    if workers is not None and workers < 1:
        raise InputError(f"--workers must be >= 1, got {workers}")
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
def sensitivity(scenario: str, trajectories: int, levels: int, params: tuple[str, ...],
                fraction: float | None, seed: int | None, sets: tuple[str, ...],
                workers: int | None, scheduler: str | None, out: str | None) -> None:
    """Morris screening of every estimate (EST) of SCENARIO on the headline KPIs."""
    from sim.calibration import sensitivity as sa

    if workers is not None and workers < 1:
        raise InputError(f"--workers must be >= 1, got {workers}")
    t0 = time.perf_counter()
    scr = sa.screen(scenario, trajectories=trajectories, levels=levels,
                    params=list(params) or None, sets=list(sets), fraction=fraction, seed=seed,
                    workers=workers, scheduler=scheduler)
    target = Path(out) if out else Path("results") / f"sensitivity_{scr.scenario}"
    sa.write(scr, target)
    click.echo(f"{len(scr.outputs)} runs of {len(scr.factors)} estimates in "
               f"{time.perf_counter() - t0:.0f} s -> {target}/report.html")
    for rank, (key, score) in enumerate(scr.ranking()[:10], 1):
        click.echo(f"  {rank:2d}. {key:45s} {score:.3f}")


@sim.command()
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(scenarios: tuple[str, ...]) -> None:
    """Validate SCENARIOS without running them (first error: one line, exit 2)."""
    for path in scenarios:
        scen = _load(path, (), None)
        click.echo(f"ok  {path}  ({scen.name})")


def read_kpis(folder: Path) -> dict[str, float | None]:
    """KPIs of a results folder, from its kpi.csv."""
    path = Path(folder) / "kpi.csv"
    if not path.is_file():
        raise InputError(f"{folder}: not a results folder (no kpi.csv)")
    out: dict[str, float | None] = {}
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out[row["kpi"]] = float(row["value"]) if row["value"] not in ("", None) else None
    return out


COMPARE_KPIS = ("proposals", "dtks_households", "recipients_bpnt", "recipients_pkh",
                "recipients_pbi", "recipients_pbi_persons", "lead_time_dtks_p50_days",
                "lead_time_credit_p50_days", "lead_time_credit_p90_days",
                "lead_time_redeem_p50_days", "wait_verval_mean_days", "wait_dinsos_mean_days",
                "wait_printing_mean_days", "utilisation_verval", "kemensos_inclusion_share_bpnt",
                "kemensos_exclusion_share_bpnt", "alatas_inclusion_rate_bpnt",
                "alatas_exclusion_rate_bpnt", "disbursed_rp", "redeemed_rp", "unspent_rp",
                "returned_rp", "agent_wait_p50_min", "agent_wait_p90_min")


@sim.command()
@click.argument("dir_a", type=click.Path(file_okay=False))
@click.argument("dir_b", type=click.Path(file_okay=False))
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Where to write the comparison plot (default: next to DIR_B).")
def compare(dir_a: str, dir_b: str, plot: str | None) -> None:
    """Table of KPI differences B - A, and a plot of the relative changes."""
    from rich.console import Console
    from rich.table import Table

    a, b = read_kpis(Path(dir_a)), read_kpis(Path(dir_b))
    table = Table(title=f"{Path(dir_b).name} vs {Path(dir_a).name}")
    for col in ("kpi", "A", "B", "B - A", "change"):
        table.add_column(col, justify="left" if col == "kpi" else "right", no_wrap=True)
    rel: list[tuple[str, float]] = []
    rank = {n: i for i, n in enumerate(COMPARE_KPIS)}
    for name in sorted(set(a) & set(b), key=lambda n: (rank.get(n, len(rank)), n)):
        va, vb = a[name], b[name]
        if va is None or vb is None:
            continue
        diff = vb - va
        pct = diff / abs(va) * 100 if va else float("nan")
        if name in COMPARE_KPIS and va:
            rel.append((name, pct))
        table.add_row(name, f"{va:,.6g}", f"{vb:,.6g}", f"{diff:+,.6g}",
                      "" if pct != pct else f"{pct:+.1f}%")
    console = Console()
    console.width = max(console.width, 110)  # KPI names stay whole when piped
    console.print(table)
    target = Path(plot) if plot else Path(dir_b).parent / (
        f"compare_{Path(dir_a).name}_vs_{Path(dir_b).name}.png")
    _compare_plot(rel, target, Path(dir_a).name, Path(dir_b).name)
    click.echo(f"plot: {target}")


def _compare_plot(rel: list[tuple[str, float]], path: Path, name_a: str, name_b: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.3 * max(len(rel), 4) + 1))
    names = [r[0] for r in rel][::-1]
    vals = [max(min(r[1], 300.0), -300.0) for r in rel][::-1]
    ax.barh(names, vals, color=["#3b6ea5" if v >= 0 else "#c0504d" for v in vals])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"% change, {name_b} vs {name_a} (clipped at ±300%)")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
