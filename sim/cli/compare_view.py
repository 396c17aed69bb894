"""`kks sim compare` output: inputs that differ, then headline KPIs with labels, units and noise.

For people: two rich tables on stdout and warnings on stderr. For machines: ``--json`` (one JSON
document) or ``--csv`` (one row per KPI, raw numbers). The plot is written with the same rule as
results folders: never over a file this command did not write, unless ``--force``.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import click

from kks_emulator.errors import InputError
from sim.outputs import compare, folder, labels

_NOISE_WORDS = {"beyond": "BEYOND noise", "within": "within noise", "none": "no change",
                "unknown": "noise unknown"}


def run_compare(dir_a: Path, dir_b: Path, plot: str | None, as_json: bool, as_csv: bool,
                every: bool, force: bool) -> None:
    """Compare results folders *dir_a* and *dir_b* and print/write what the flags ask."""
    if as_json and as_csv:
        raise InputError("--json and --csv: choose one")
    a, b = compare.open_results(dir_a), compare.open_results(dir_b)
    mismatch = compare.territory_mismatch(a, b)
    if mismatch:
        raise InputError(mismatch)
    plot_path = _plot_target(a, b, plot, force, machine=as_json or as_csv)
    warning = compare.scale_warning(a, b)
    if warning:
        click.secho(warning, err=True, fg="red", bold=True)
    diff = compare.input_diff(a, b)
    rows = compare.changes(a, b, compare.kpi_names(a, b, every))
    advice = compare.noise_advice(a, b)
    if as_json:
        doc = {"a": str(dir_a), "b": str(dir_b), "territory": compare.territory_of(a),
               "inputs_differ": [{"key": k, "a": x, "b": y} for k, x, y in diff],
               "noise": {"method": compare.noise_method(a, b),
                         "replications": [len(a.reps), len(b.reps)], "note": advice},
               "warnings": [warning] if warning else [],
               "kpis": [c.as_dict() for c in rows]}
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False))
    elif as_csv:
        fields = ["kpi", "label", "unit", "group", "a", "b", "diff", "pct_change",
                  "ci95_half_width", "noise"]
        w = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for c in rows:
            w.writerow({k: ("" if v is None else v) for k, v in c.as_dict().items()})
    else:
        _print_human(a, b, diff, rows, advice)
    if plot_path is not None:
        from sim.outputs import compare_plot

        method = compare.noise_method(a, b)
        note = {"paired": f"paired 95% CIs from {len(a.reps)} replications (CRN)",
                "independent": "Welch 95% CIs from independent replications",
                "unknown": "single runs: noise unknown (rerun with --replications)"}[method]
        png = compare_plot.render(rows, a.name, b.name, note)
        folder.write_file_atomically(plot_path, png)
        click.echo(f"plot: {plot_path}", err=as_json or as_csv)


def _plot_target(a: compare.Results, b: compare.Results, plot: str | None, force: bool,
                 machine: bool) -> Path | None:
    """Where the plot goes (checked before anything is printed), or None for no plot."""
    from sim.outputs import compare_plot

    if plot is None and machine:
        return None
    path = Path(plot) if plot else b.path.parent / f"compare_{a.name}_vs_{b.name}.png"
    if path.is_dir():
        raise InputError(f"--plot {path}: is a folder; name a .png file")
    if not path.parent.is_dir():
        raise InputError(f"--plot {path}: folder {path.parent} does not exist")
    if path.exists() and not force:
        try:
            own = compare_plot.is_own_plot(path.read_bytes())
        except OSError as exc:
            raise InputError(f"--plot {path}: unreadable ({exc.strerror})") from None
        if not own:
            raise InputError(f"--plot {path}: exists and is not a plot this command wrote; "
                             "choose another name, or add --force to replace it")
    return path


def _fmt_input(v: Any) -> str:
    if isinstance(v, list | dict):
        return json.dumps(v, ensure_ascii=False)
    return "(not set)" if v is None else str(v)


def _print_human(a, b, diff, rows, advice) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.width = max(console.width, 120)
    qa = a.manifest.get("scenario", {}).get("name", a.name)
    qb = b.manifest.get("scenario", {}).get("name", b.name)
    console.print(f"A = {a.path} (scenario {qa}), B = {b.path} (scenario {qb}); territory "
                  f"{compare.territory_of(a)}", highlight=False)
    console.print("[bold]Inputs that differ[/bold] (after extends, --set and seed)")
    t = Table()
    for col in ("input", "A", "B"):
        t.add_column(col, overflow="fold")
    for k, x, y in diff:
        t.add_row(k, _fmt_input(x), _fmt_input(y))
    if diff:
        console.print(t)
    else:
        console.print("Inputs: identical (same scenario values and seed).")
    console.print("[bold]Headline KPIs[/bold]" if len(rows) < 40 else "[bold]KPIs[/bold]")
    k = Table()
    for col, just in (("KPI", "left"), ("A", "right"), ("B", "right"), ("B - A", "right"),
                      ("change", "right"), ("95% CI of B - A", "right"), ("", "left")):
        k.add_column(col, justify=just, no_wrap=col != "KPI")
    for c in rows:
        style = "bold" if c.noise == "beyond" else "dim" if c.noise == "within" else None
        k.add_row(labels.kpi(c.name).label, labels.value(c.name, c.a),
                  labels.value(c.name, c.b), labels.delta(c.name, c.diff),
                  labels.percent(c.pct), labels.spread(c.name, c.half) if c.half is not None
                  else "-", _NOISE_WORDS[c.noise], style=style)
    console.print(k)
    console.print(advice, highlight=False)
    console.print(f"Units: {labels.SCALE_NOTE}; shares in %, changes of shares in percentage "
                  "points (pp).", highlight=False)
