"""`kks sim backtest`: the model's national figures against the published ones.

The rows are data (`backtest_rows.toml` beside this module, or any file of the same form): each
names a published figure with its source row in docs/calibration.md, its unit, its tolerance
(counts +-5%, rates +-5 points, ranges as published), the era whose runs measure it and how. Every
era (a scenario: the DTKS-era baseline, the DTSEN-era rules, ...) is run for *n* replications with
common random numbers: replication ``i`` of every era uses the same seed, spawned from one root
seed (`sim.model.replicate.replication_seeds`), so era differences are not seed noise. Runs go to
a local process pool or a Dask scheduler; each returns only its KPIs.

A row's model value is the mean over replications, with a 95% t confidence interval; it is
*within* when that mean lies inside the tolerance band. `write` puts ``backtest.csv``,
``backtest.json`` (``{"rows": [{figure, published, unit, source, model, ci_low, ci_high,
tolerance, within}]}``) and ``report.html`` into a folder, atomically.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import os
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kks_emulator.errors import ConfigError, InputError
from sim.calibration import targets as target_groups
from sim.calibration.targets import TargetGroup

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ROWS = Path(__file__).resolve().with_name("backtest_rows.toml")
#: national families the "national:" counts are scaled to [DTSEN-2025-07]
NATIONAL_FAMILIES = 94_200_000
COUNT_TOLERANCE = 0.05
RATE_TOLERANCE = 0.05
TOLERANCES = ("count", "rate", "range")
SAMPLES = ("in", "out")
ENGINE_ERA = "engine"
#: households of the generated registry measuring the engine-alone (Alatas) rows
ALATAS_HOUSEHOLDS = 200_000
#: ``kemensos:`` measures: a Kemensos share of a programme against the row's target group
KEMENSOS_MEASURES = tuple(f"{kind}:{prog}" for kind in ("inclusion", "exclusion")
                          for prog in ("bpnt", "pkh", "pbi"))


def target_key(row_measure: str, target: TargetGroup) -> str:
    """The KPI name a worker returns for a ``kemensos:KIND:PROG`` measure against *target*."""
    kind, prog = row_measure.split(":")[1:]
    return f"kemensos_{kind}_share_{prog}@{target.label()}"


@dataclass(frozen=True)
class Era:
    """A scenario the backtest runs: file and era-specific overrides."""

    name: str
    scenario: Path
    sets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Row:
    """One published figure and how the model measures it."""

    figure: str
    unit: str
    source: str
    tolerance: str
    era: str
    measure: str
    sample: str
    published: float | None = None
    low: float | None = None
    high: float | None = None
    note: str = ""
    #: the target group of a ``kemensos:`` measure (`sim.calibration.targets`)
    target: TargetGroup | None = None

    def band(self) -> tuple[float, float]:
        """The interval the model mean must fall in."""
        if self.tolerance == "range":
            return float(self.low), float(self.high)
        p = float(self.published)
        if self.tolerance == "count":
            return p * (1 - COUNT_TOLERANCE), p * (1 + COUNT_TOLERANCE)
        return p - RATE_TOLERANCE, p + RATE_TOLERANCE

    def published_value(self) -> float | list[float]:
        """The published value, or [low, high] for a published range."""
        return [self.low, self.high] if self.tolerance == "range" else self.published

    def tolerance_text(self) -> str:
        """The tolerance as people read it."""
        return {"count": f"±{COUNT_TOLERANCE:.0%}", "rate": f"±{RATE_TOLERANCE:g}",
                "range": "published range"}[self.tolerance]

    def label(self) -> str:
        """The figure, marked when it is out-of-sample evidence."""
        return self.figure + (" (out-of-sample)" if self.sample == "out" else "")


@dataclass
class Result:
    """A finished backtest: rows with their per-replication values."""

    rows: list[Row]
    values: list[list[float]]
    seeds: list[int]
    eras: dict[str, Era]
    overrides: list[str] = field(default_factory=list)

    def table(self) -> list[dict[str, Any]]:
        """One dict per row in the JSON schema of the issue (figure ... within)."""
        out = []
        for row, vals in zip(self.rows, self.values, strict=True):
            mean, half = mean_ci(vals)
            lo, hi = row.band()
            out.append({
                "figure": row.label(), "published": row.published_value(), "unit": row.unit,
                "source": row.source, "model": _r(mean),
                "ci_low": None if half is None else _r(mean - half),
                "ci_high": None if half is None else _r(mean + half),
                "tolerance": row.tolerance_text(),
                "within": bool(mean == mean and lo <= mean <= hi),
            })
        return out

    def all_within(self) -> bool:
        """True when every row is inside its tolerance."""
        return all(r["within"] for r in self.table())


def _r(x: float) -> float | None:
    if x != x:
        return None
    return round(x, 6) if abs(x) < 1000 else round(x)


def mean_ci(values: list[float]) -> tuple[float, float | None]:
    """Mean and 95% Student-t half-width (None with fewer than two values)."""
    from sim.model.replicate import _T975

    vals = [v for v in values if v is not None and v == v]
    if not vals:
        return float("nan"), None
    m = sum(vals) / len(vals)
    if len(vals) < 2:
        return m, None
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))
    t = _T975[len(vals) - 2] if len(vals) - 1 <= len(_T975) else 1.96
    return m, t * sd / math.sqrt(len(vals))


def _need(where: str, table: dict, key: str, kind: type | tuple, expected: str) -> Any:
    if key not in table or not isinstance(table[key], kind) or isinstance(table[key], bool):
        raise ConfigError(where, key, expected)
    return table[key]


def load_rows(path: Path | str | None = None) -> tuple[dict[str, Era], list[Row]]:
    """The eras and rows of a rows file (`DEFAULT_ROWS` by default); `ConfigError` if bad."""
    path = Path(path) if path else DEFAULT_ROWS
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such rows file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(where, "(file)", f"valid TOML ({exc})") from None
    eras: dict[str, Era] = {}
    if not isinstance(data.get("era") or {}, dict):
        raise ConfigError(where, "era", "[era.NAME] tables")
    for name, spec in (data.get("era") or {}).items():
        if not isinstance(spec, dict):
            raise ConfigError(where, f"era.{name}", "a table with scenario = PATH")
        scen = Path(_need(where, spec, "scenario", str, f"era.{name}.scenario: a path"))
        sets = spec.get("sets", [])
        if not isinstance(sets, list) or not all(isinstance(s, str) for s in sets):
            raise ConfigError(where, f"era.{name}.sets", "a list of TABLE.KEY=VALUE strings")
        eras[name] = Era(name, scen if scen.is_absolute() else ROOT / scen, tuple(sets))
    rows: list[Row] = []
    raw = data.get("row")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(where, "row", "at least one [[row]] table")
    for i, r in enumerate(raw):
        at = f"row[{i}]"
        if not isinstance(r, dict):
            raise ConfigError(where, at, "a table")
        text = {k: _need(where, r, k, str, f"{at}.{k}: a string")
                for k in ("figure", "unit", "source", "tolerance", "era", "measure", "sample")}
        if text["tolerance"] not in TOLERANCES:
            raise ConfigError(where, f"{at}.tolerance", "one of " + ", ".join(TOLERANCES))
        if text["sample"] not in SAMPLES:
            raise ConfigError(where, f"{at}.sample", "'in' or 'out'")
        if text["era"] != ENGINE_ERA and text["era"] not in eras:
            raise ConfigError(where, f"{at}.era", f"'{ENGINE_ERA}' or an [era.NAME] of the file")
        kind, _, name = text["measure"].partition(":")
        if kind not in ("kpi", "national", "alatas", "kemensos") or not name or (
                (kind == "alatas") != (text["era"] == ENGINE_ERA)) or (
                kind == "kemensos" and name not in KEMENSOS_MEASURES):
            raise ConfigError(where, f"{at}.measure", "kpi:NAME or national:NAME or "
                              "kemensos:inclusion|exclusion:bpnt|pkh|pbi (scenario eras), "
                              "alatas:inclusion|exclusion|mistargeting (era 'engine')")
        target = None
        if "target" in r:
            target = target_groups.parse(where, f"{at}.target", r["target"])
        if (kind == "kemensos") != (target is not None):
            raise ConfigError(where, f"{at}.target", "a target table exactly when the measure "
                              "is kemensos:...")
        num = (int, float)
        if text["tolerance"] == "range":
            low = float(_need(where, r, "published_low", num, f"{at}.published_low: a number"))
            high = float(_need(where, r, "published_high", num, f"{at}.published_high: a number"))
            if low > high:
                raise ConfigError(where, f"{at}.published_low", "<= published_high")
            rows.append(Row(**text, low=low, high=high, note=str(r.get("note", "")),
                            target=target))
        else:
            pub = float(_need(where, r, "published", num, f"{at}.published: a number"))
            rows.append(Row(**text, published=pub, note=str(r.get("note", "")),
                            target=target))
    return eras, rows


def measure(row: Row, kpis: dict[str, Any]) -> float:
    """The model's value of *row* from one run's KPIs (NaN when the KPI is missing)."""
    kind, _, name = row.measure.partition(":")
    if kind == "alatas":
        return float(kpis.get(f"alatas_{name}", float("nan")))
    if kind == "kemensos":
        value = kpis.get(target_key(row.measure, row.target))
        return float("nan") if value is None else float(value)
    value = kpis.get(name)
    if value is None:
        return float("nan")
    if kind == "national":
        households = kpis.get("households") or 0
        return float(value) * NATIONAL_FAMILIES / households if households else float("nan")
    return float(value)


def era_kpis(job: tuple) -> dict[str, Any]:
    """Run one replication ``(scenario path, overrides, seed[, target groups])`` and return its
    KPIs, with the run's dated figures (`sim.outputs.dated`: ``2023-04.recipients_bpnt``, ...)
    for dated rows and the Kemensos shares against each target group (`target_shares`)."""
    from sim.model.run import run
    from sim.outputs import results as outputs
    from sim.outputs.dated import dated_kpis
    from sim.scenario.loader import load

    path, overrides, seed, *rest = job
    scen = load(path, [*overrides, f"scenario.seed={seed}"])
    res = run(scen)
    return {**outputs.kpis(res), **dated_kpis(res.ctx),
            **target_shares(res.ctx, rest[0] if rest else ())}


def target_shares(ctx, groups) -> dict[str, float]:
    """Kemensos shares of every programme against each target group of *groups*, at the end of
    the run, keyed ``kemensos_<kind>_share_<prog>@<group label>`` (`target_key`)."""
    reg = ctx.registry
    out: dict[str, float] = {}
    for group in groups:
        mask = target_groups.mask(group, reg, ctx.log_c, ctx.frame.pmt_error)
        for name, value in target_groups.shares(reg["programmes"], mask).items():
            out[f"{name}@{group.label()}"] = value
    return out


def engine_kpis(job: tuple[int, int]) -> dict[str, Any]:
    """The Alatas 2012 errors of the PMT on a generated national registry ``(households, seed)``.

    The quota and poor share are Table 3's (30% selected, 2,028 of 5,753 poor) [ALATAS-T3].
    """
    from sim.registry import population

    households, seed = job
    reg = population.generate(households, seed)
    errs = population.targeting_errors(reg["consumption"], reg["pmt_score"])
    return {f"alatas_{k}": v for k, v in errs.items()}


def map_jobs(fn, jobs: list, workers: int | None, scheduler: str | None) -> list:
    """``fn`` over *jobs*: on a Dask scheduler, a local process pool, or here (workers = 1)."""
    if not jobs:
        return []
    if scheduler:
        from dask.distributed import Client

        with Client(scheduler) as client:
            return client.gather(client.map(fn, jobs, pure=False))
    if workers == 1 or len(jobs) == 1:
        return [fn(j) for j in jobs]
    with ProcessPoolExecutor(max_workers=workers or min(len(jobs), os.cpu_count() or 1)) as ex:
        return list(ex.map(fn, jobs))


def run_backtest(rows_path: Path | str | None = None, *, replications: int = 3,
                 fraction: float | None = None, sets: list[str] | None = None,
                 seed: int | None = None, workers: int | None = None,
                 scheduler: str | None = None,
                 alatas_households: int = ALATAS_HOUSEHOLDS) -> Result:
    """Run every era the rows need, *replications* times with common random numbers."""
    from sim.model.frame import check_territory
    from sim.model.replicate import replication_seeds
    from sim.scenario.loader import load

    if replications < 1:
        raise InputError(f"--replications must be >= 1, got {replications}")
    eras, rows = load_rows(rows_path)
    overrides = list(sets or []) + ([f"territory.fraction={fraction}"] if fraction else [])
    needed = [name for name in eras if any(r.era == name for r in rows)]
    for name in needed:  # validate every era before anything runs
        check_territory(load(eras[name].scenario, [*overrides, *eras[name].sets]))
    if seed is None:
        first = needed[0] if needed else None
        seed = (load(eras[first].scenario, overrides)["scenario"]["seed"] if first
                else 20250101)
    seeds = replication_seeds(seed, replications)
    groups = {name: tuple(dict.fromkeys(r.target for r in rows
                                        if r.era == name and r.target is not None))
              for name in needed}
    jobs = [(str(eras[name].scenario), [*overrides, *eras[name].sets], s, groups[name])
            for name in needed for s in seeds]
    results = map_jobs(era_kpis, jobs, workers, scheduler)
    by_era = {name: results[k * replications:(k + 1) * replications]
              for k, name in enumerate(needed)}
    if any(r.era == ENGINE_ERA for r in rows):
        by_era[ENGINE_ERA] = map_jobs(engine_kpis, [(alatas_households, s) for s in seeds],
                                  workers, scheduler)
    values = [[measure(r, k) for k in by_era[r.era]] for r in rows]
    return Result(rows=rows, values=values, seeds=seeds, eras=eras, overrides=overrides)


def csv_text(result: Result) -> str:
    """backtest.csv: the table plus era, measure, sample and per-replication values."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["figure", "published", "unit", "source", "model", "ci_low", "ci_high",
                "tolerance", "within", "era", "measure", "target", "sample", "replications"])
    for row, t, vals in zip(result.rows, result.table(), result.values, strict=True):
        pub = t["published"]
        w.writerow([t["figure"], f"{pub[0]:g}-{pub[1]:g}" if isinstance(pub, list) else f"{pub:g}",
                    t["unit"], t["source"], "" if t["model"] is None else t["model"],
                    "" if t["ci_low"] is None else t["ci_low"],
                    "" if t["ci_high"] is None else t["ci_high"], t["tolerance"],
                    "yes" if t["within"] else "no", row.era, row.measure,
                    row.target.label() if row.target else "", row.sample,
                    " ".join(f"{v:.6g}" for v in vals)])
    return buf.getvalue()


def json_text(result: Result) -> str:
    """backtest.json: exactly ``{"rows": [...]}`` in the issue's schema."""
    return json.dumps({"rows": result.table()}, indent=2, ensure_ascii=False,
                      allow_nan=False) + "\n"


def fmt_value(x: Any) -> str:
    """A table cell: counts with thousands separators, shares with three decimals."""
    if x is None:
        return "–"
    if isinstance(x, list):
        return " – ".join(fmt_value(v) for v in x)
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3f}"


def section_html(result: Result) -> str:
    """The backtest as an HTML section (table, then the rows' notes)."""
    head = ("<tr><td>figure</td><td>published</td><td>unit</td><td>source</td><td>model</td>"
            "<td>95% CI</td><td>tolerance</td><td>within</td></tr>")
    body = "\n".join(
        f"<tr><td>{html.escape(t['figure'])}</td><td>{fmt_value(t['published'])}</td>"
        f"<td>{html.escape(t['unit'])}</td><td>{html.escape(t['source'])}</td>"
        f"<td>{fmt_value(t['model'])}</td>"
        f"<td>{fmt_value(t['ci_low'])} – {fmt_value(t['ci_high'])}</td>"
        f"<td>{html.escape(t['tolerance'])}</td>"
        f"<td style=\"color:{'#2a7' if t['within'] else '#c33'}\">"
        f"{'yes' if t['within'] else 'NO'}</td></tr>" for t in result.table())
    notes = "\n".join(
        f"<li>{html.escape(r.figure)}: "
        + html.escape("; ".join(x for x in (f"target group: {r.target.label()}" if r.target
                                            else "", r.note) if x)) + "</li>"
        for r in result.rows if r.note or r.target)
    n_out = sum(r.sample == "out" for r in result.rows)
    within = sum(t["within"] for t in result.table())
    eras = ", ".join(f"{html.escape(e.name)} = {html.escape(e.scenario.name)}"
                     for e in result.eras.values())
    return (f"<section id=\"backtest\"><h2>Backtest against published figures</h2>\n"
            f"<p>{within} of {len(result.rows)} rows within tolerance; {n_out} rows are "
            f"out-of-sample (no estimate was tuned to them). {len(result.seeds)} replications "
            f"per era with common random numbers (seeds {', '.join(map(str, result.seeds))}); "
            f"eras: {eras}; overrides: {html.escape(' '.join(result.overrides)) or 'none'}. "
            "Sources are row ids of docs/calibration.md.</p>\n"
            f"<table>{head}\n{body}</table>\n<ul>{notes}</ul></section>\n")


def write(result: Result, out: Path) -> None:
    """Write manifest.json, backtest.csv, backtest.json and report.html into folder *out*,
    atomically (`sim.outputs.folder`; check the target with `check_target` before running)."""
    from sim.outputs.folder import BACKTEST_KIND, write_folder

    def fill(tmp: Path) -> None:
        manifest = {"kind": BACKTEST_KIND, "seeds": list(result.seeds),
                    "overrides": list(result.overrides)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                           encoding="utf-8")
        (tmp / "backtest.csv").write_text(csv_text(result), encoding="utf-8")
        (tmp / "backtest.json").write_text(json_text(result), encoding="utf-8")
        doc = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<title>Backtest: bansos flow model</title><style>body{font-family:sans-serif;"
               "max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
               "td{border:1px solid #ccc;padding:2px 8px}</style></head><body>\n"
               "<h1>Backtest</h1>\n" + section_html(result) + "</body></html>\n")
        (tmp / "report.html").write_text(doc, encoding="utf-8")

    write_folder(Path(out), fill)
