"""`kks registry generate` and `kks registry info`: make and inspect synthetic registries."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from kks_emulator.errors import InputError


def _console() -> Console:
    """A console at least 110 columns wide, so the province table fits when output is piped."""
    return Console(width=max(shutil.get_terminal_size((120, 24)).columns, 110))


@click.group()
def registry() -> None:
    """Generate and inspect synthetic household registries (one .npy file per column)."""


@registry.command()
@click.option("--households", "-n", type=int, required=True, help="Number of households.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write (created).")
@click.option("--seed", type=int, default=0, show_default=True, help="Root seed.")
@click.option("--territory", multiple=True, metavar="CODE",
              help="Limit to a province (32) or kab/kota (32.73); repeatable. Default: all.")
@click.option("--invalid-nik-rate", type=float, default=None,
              help="Share of corrupted NIKs (default 0.001).")
@click.option("--dukcapil-match-rate", type=float, default=None,
              help="Dukcapil match rate of valid NIKs (default 0.9891).")
@click.option("--force", is_flag=True, help="Overwrite a registry already in --out.")
def generate(households: int, out: Path, seed: int, territory: tuple[str, ...],
             invalid_nik_rate: float | None, dukcapil_match_rate: float | None,
             force: bool) -> None:
    """Generate a synthetic registry of N households and save it to --out."""
    from sim.registry import population
    from sim.registry.table import save

    if (out / "meta.json").exists() and not force:
        raise InputError(f"{out} already holds a registry (use --force to overwrite)")
    changes = {}
    if invalid_nik_rate is not None:
        changes["invalid_nik_rate"] = invalid_nik_rate
    if dukcapil_match_rate is not None:
        changes["dukcapil_match_rate"] = dukcapil_match_rate
    params = dataclasses.replace(population.PopulationParams(), **changes)
    console = _console()
    t0 = time.perf_counter()
    reg = population.generate(households, seed, params=params,
                              territory=list(territory) if territory else None)
    t1 = time.perf_counter()
    save(reg, out)
    t2 = time.perf_counter()
    c = reg.meta["counts"]
    console.print(
        f"{households:,} households (seed {seed}) generated in {t1 - t0:.2f} s "
        f"({households / max(t1 - t0, 1e-9):,.0f}/s), saved to {out} in {t2 - t1:.2f} s, "
        f"{reg.nbytes / 2**20:,.1f} MiB")
    console.print(f"invalid NIKs {c['invalid_nik']:,}, Dukcapil unmatched "
                  f"{c['dukcapil_unmatched']:,}, NIK collisions {c['nik_duplicates']:,}, "
                  f"KK collisions {c['kk_duplicates']:,}, in DTKS {c['in_dtks']:,}")


def summarize(folder: Path) -> dict:
    """Counts, memory and per-province figures of the registry in `folder` (memory-mapped)."""
    from sim.registry import nik, regions
    from sim.registry.table import SCHEMA, STATUS_IN_DTKS, load

    reg = load(folder, mmap=True)
    frame = regions.load()
    n = len(reg)
    prov = np.asarray(reg["province"])
    poverty_line = reg.meta.get("params", {}).get("poverty_line", 595_242)
    per_prov = {
        "households": np.bincount(prov, minlength=frame.n_province),
        "people": np.bincount(prov, weights=reg["size"], minlength=frame.n_province),
        "poor": np.bincount(prov[reg["consumption"] < poverty_line], minlength=frame.n_province),
        "in_dtks": np.bincount(prov[reg["status"] == STATUS_IN_DTKS],
                               minlength=frame.n_province),
        "unmatched": np.bincount(prov[~reg["dukcapil_match"]], minlength=frame.n_province),
    }
    reasons = np.bincount(nik.nik_reasons(reg["nik"]), minlength=len(nik.REASONS))
    rows = []
    for i in np.flatnonzero(per_prov["households"]).tolist():
        hh = int(per_prov["households"][i])
        rows.append({
            "code": int(frame.province_code[i]), "name": frame.province_name[i],
            "households": hh, "people": int(per_prov["people"][i]),
            "below_poverty_line": int(per_prov["poor"][i]),
            "in_dtks": int(per_prov["in_dtks"][i]),
            "dukcapil_unmatched": int(per_prov["unmatched"][i]),
        })
    return {
        "folder": str(folder),
        "households": n,
        "seed": reg.meta.get("seed"),
        "synthetic": reg.meta.get("synthetic"),
        "bytes": int(reg.nbytes),
        "columns": {name: {"dtype": str(SCHEMA[name][0]), "bytes": int(reg[name].nbytes)}
                    for name in SCHEMA},
        "nik_reasons": {nik.REASONS[k]: int(v) for k, v in enumerate(reasons.tolist()) if v},
        "generator_counts": reg.meta.get("counts", {}),
        "provinces": rows,
    }


@registry.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(folder: Path, as_json: bool) -> None:
    """Print counts, memory and a per-province summary of the registry in FOLDER."""
    s = summarize(folder)
    console = _console()
    if as_json:
        console.print_json(json.dumps(s))
        return
    n = s["households"]
    console.print(f"[bold]{s['folder']}[/]: {n:,} households, seed {s['seed']}, "
                  f"synthetic={s['synthetic']}, {s['bytes'] / 2**20:,.1f} MiB in memory "
                  f"({s['bytes'] / max(n, 1):.0f} bytes/household)")
    console.print("NIK checks: " + ", ".join(f"{k}: {v:,}" for k, v in s["nik_reasons"].items()))
    g = s["generator_counts"]
    if g:
        console.print(f"NIK collisions {g.get('nik_duplicates', 0):,}, "
                      f"KK collisions {g.get('kk_duplicates', 0):,}")
    table = Table(title="Per province")
    for col in ("code", "province", "households", "share", "people/hh", "poor hh",
                "in DTKS", "unmatched"):
        table.add_column(col, justify="left" if col == "province" else "right")
    for r in s["provinces"]:
        hh = r["households"]
        table.add_row(str(r["code"]), r["name"], f"{hh:,}", f"{100 * hh / n:.2f}%",
                      f"{r['people'] / hh:.2f}", f"{100 * r['below_poverty_line'] / hh:.1f}%",
                      f"{100 * r['in_dtks'] / hh:.1f}%", f"{r['dukcapil_unmatched']:,}")
    console.print(table)
