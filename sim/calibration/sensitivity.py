"""`kks sim sensitivity`: which estimates drive the answer (Morris elementary effects, SALib).

Every estimate a scenario depends on (`sim.calibration.provenance.estimates_of`: an EST value
with a documented plausible range) is a factor, varied over its range; integer keys are rounded.
SALib's Morris design (``trajectories`` x (factors + 1) runs on a ``levels``-level grid) is run
on a local process pool or a Dask scheduler, every run with the scenario's own seed (common random
numbers: a difference between two runs is the factors' effect, not seed noise). Each headline KPI
gets mu* (mean absolute elementary effect, in the KPI's unit), its bootstrap confidence and sigma
(spread: non-linearity or interactions). Factors are ranked per KPI by mu*, and overall by the
mean over KPIs of mu* / the KPI's largest mu*.

`write` puts ``sensitivity.csv`` (kpi, parameter, mu_star, mu_star_conf, sigma, rank),
``ranking.csv`` (overall), ``evaluations.csv`` (the design and every run's KPIs),
``plots/<kpi>.png`` (mu*-sigma) and ``report.html`` into a folder, atomically.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kks_emulator.errors import InputError

#: the headline KPIs screened: recipients per programme, targeting errors, lead times, agent
#: wait, money unspent and returned
HEADLINE_KPIS = (
    "recipients_bpnt", "recipients_pkh", "recipients_pbi_persons",
    "kemensos_inclusion_share_bpnt", "kemensos_exclusion_share_bpnt",
    "alatas_inclusion_rate_bpnt", "alatas_exclusion_rate_bpnt",
    "lead_time_dtks_p50_days", "lead_time_credit_p50_days", "lead_time_redeem_p50_days",
    "agent_wait_p90_min", "unspent_rp", "returned_rp",
)


@dataclass(frozen=True)
class Factor:
    """One estimate varied by the screening."""

    key: str
    lo: float
    hi: float
    integer: bool
    reason: str


def factors(data: dict[str, Any], only: list[str] | None = None) -> list[Factor]:
    """The estimates of resolved scenario *data* (all, or the keys in *only*) as factors."""
    from sim.calibration import provenance

    ests = {e["key"]: e for e in provenance.estimates_of(data)}
    if only:
        unknown = [k for k in only if k not in ests]
        if unknown:
            raise InputError(f"--param {unknown[0]}: not an estimate this scenario depends on "
                             f"(see docs/calibration.md §10)")
        keys = list(dict.fromkeys(only))
    else:
        keys = sorted(ests)
    out = []
    for k in keys:
        e = ests[k]
        integer = isinstance(e["value"], int) and not isinstance(e["value"], bool)
        out.append(Factor(k, float(e["lo"]), float(e["hi"]), integer, e["reason"]))
    if not out:
        raise InputError("the scenario depends on no estimate to screen")
    return out


def overrides_for(fs: list[Factor], row: np.ndarray, data: dict[str, Any]) -> list[str]:
    """``--set`` overrides putting design *row* into the scenario (sub-keys as whole tables)."""
    from sim.calibration.provenance import lookup

    out: list[str] = []
    tables: dict[str, dict[str, Any]] = {}
    for f, x in zip(fs, row.tolist(), strict=True):
        value: Any = round(x) if f.integer else float(x)
        parts = f.key.split(".")
        if len(parts) == 3:
            parent = ".".join(parts[:2])
            tables.setdefault(parent, dict(lookup(data, parent)))[parts[2]] = value
        else:
            out.append(f"{f.key}={value!r}" if f.integer else f"{f.key}={value:.10g}")
    for parent, table in sorted(tables.items()):
        inner = ", ".join(f"{k} = {v!r}" for k, v in sorted(table.items()))
        out.append(f"{parent}={{ {inner} }}")
    return out


@dataclass
class Screening:
    """A finished screening: design, KPIs and the Morris indices per KPI."""

    scenario: str
    factors: list[Factor]
    design: np.ndarray
    outputs: list[dict[str, Any]]
    kpis: list[str]
    indices: dict[str, dict[str, list[float]]]
    trajectories: int
    levels: int
    seed: int

    def ranking(self) -> list[tuple[str, float]]:
        """Factors by overall influence: mean over KPIs of mu* / that KPI's largest mu*."""
        score = np.zeros(len(self.factors))
        used = 0
        for k in self.kpis:
            mu = np.asarray(self.indices[k]["mu_star"], dtype=float)
            top = float(np.nanmax(mu)) if len(mu) else 0.0
            if top > 0:
                score += np.nan_to_num(mu / top)
                used += 1
        score = score / max(used, 1)
        order = sorted(range(len(self.factors)), key=lambda i: (-score[i], self.factors[i].key))
        return [(self.factors[i].key, round(float(score[i]), 6)) for i in order]


def screen(path: str, *, trajectories: int = 10, levels: int = 4, params: list[str] | None = None,
           sets: list[str] | None = None, fraction: float | None = None, seed: int | None = None,
           workers: int | None = None, scheduler: str | None = None,
           kpis: tuple[str, ...] = HEADLINE_KPIS) -> Screening:
    """Run the Morris screening of scenario *path* (see the module docstring)."""
    from SALib.analyze import morris as morris_analyze
    from SALib.sample import morris as morris_sample

    from sim.calibration.backtest import era_kpis, map_jobs
    from sim.model.frame import check_territory
    from sim.scenario.loader import load

    if trajectories < 2:
        raise InputError(f"--trajectories must be >= 2, got {trajectories}")
    if levels < 2 or levels % 2:
        raise InputError(f"--levels must be an even number >= 2, got {levels}")
    base = list(sets or []) + ([f"territory.fraction={fraction}"] if fraction else [])
    scen = load(path, base)
    check_territory(scen)
    fs = factors(scen.data, params)
    run_seed = seed if seed is not None else scen["scenario"]["seed"]
    problem = {"num_vars": len(fs), "names": [f.key for f in fs],
               "bounds": [[f.lo, f.hi] for f in fs]}
    design = morris_sample.sample(problem, trajectories, num_levels=levels, seed=run_seed % 2**32)
    for j, f in enumerate(fs):  # the values actually run: integer keys rounded
        if f.integer:
            design[:, j] = np.round(design[:, j])
    jobs = [(str(path), [*base, *overrides_for(fs, row, scen.data)], run_seed) for row in design]
    for _, overrides, _ in jobs[:1]:
        load(path, overrides)  # a bad range fails here, before any run
    outs = map_jobs(era_kpis, jobs, workers, scheduler)
    indices: dict[str, dict[str, list[float]]] = {}
    for k in kpis:
        y = np.array([np.nan if o.get(k) is None else float(o[k]) for o in outs])
        if not np.isfinite(y).all():
            y = np.where(np.isfinite(y), y, np.nanmean(y) if np.isfinite(y).any() else 0.0)
        res = morris_analyze.analyze(problem, design, y, num_levels=levels,
                                     seed=run_seed % 2**32)
        indices[k] = {name: [float(v) for v in res[name]]
                      for name in ("mu_star", "mu_star_conf", "sigma", "mu")}
    return Screening(scenario=scen.name, factors=fs, design=design, outputs=outs,
                     kpis=list(kpis), indices=indices, trajectories=trajectories,
                     levels=levels, seed=run_seed)


def _plot(scr: Screening, kpi: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mu = np.asarray(scr.indices[kpi]["mu_star"])
    sd = np.asarray(scr.indices[kpi]["sigma"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter(mu, sd, color="#3b6ea5")
    top = np.argsort(-mu, kind="stable")[:8]
    for i in top:
        ax.annotate(scr.factors[i].key, (mu[i], sd[i]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    lim = max(float(mu.max(initial=0)), float(sd.max(initial=0))) * 1.1 or 1.0
    ax.plot([0, lim], [0, lim], color="#999", linewidth=0.8, linestyle="--")
    ax.set_xlabel(f"mu* ({kpi} units)")
    ax.set_ylabel("sigma")
    ax.set_title(kpi)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _csv(rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerows(rows)
    return buf.getvalue()


def write(scr: Screening, out: Path) -> None:
    """Write the screening's manifest, tables, plots and report.html into folder *out*,
    atomically (`sim.outputs.folder`; check the target with `check_target` before running)."""
    from sim.outputs.folder import SENSITIVITY_KIND, write_folder

    def fill(tmp: Path) -> None:
        manifest = {"kind": SENSITIVITY_KIND, "scenario": scr.scenario,
                    "factors": [f.key for f in scr.factors], "kpis": list(scr.kpis)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                           encoding="utf-8")
        rows: list[list[Any]] = [["kpi", "parameter", "mu_star", "mu_star_conf", "sigma",
                                  "rank"]]
        for k in scr.kpis:
            ix = scr.indices[k]
            order = sorted(range(len(scr.factors)), key=lambda i: -ix["mu_star"][i])
            for r, i in enumerate(order, 1):
                rows.append([k, scr.factors[i].key, f"{ix['mu_star'][i]:.6g}",
                             f"{ix['mu_star_conf'][i]:.6g}", f"{ix['sigma'][i]:.6g}", r])
        (tmp / "sensitivity.csv").write_text(_csv(rows), encoding="utf-8")
        ranking = scr.ranking()
        (tmp / "ranking.csv").write_text(_csv([["rank", "parameter", "influence"]] + [
            [r, k, s] for r, (k, s) in enumerate(ranking, 1)]), encoding="utf-8")
        ev = [[f.key for f in scr.factors] + scr.kpis]
        for x, o in zip(scr.design.tolist(), scr.outputs, strict=True):
            ev.append([f"{v:.10g}" for v in x] + ["" if o.get(k) is None else o[k]
                                                  for k in scr.kpis])
        (tmp / "evaluations.csv").write_text(_csv(ev), encoding="utf-8")
        (tmp / "plots").mkdir()
        imgs = []
        for k in scr.kpis:
            png = _plot(scr, k)
            (tmp / "plots" / f"{k}.png").write_bytes(png)
            imgs.append(f"<h3>{html.escape(k)}</h3><img alt=\"{html.escape(k)}\" "
                        f"src=\"data:image/png;base64,{base64.b64encode(png).decode()}\">")
        (tmp / "report.html").write_text(_report(scr, ranking, imgs), encoding="utf-8")

    write_folder(Path(out), fill)


def _report(scr: Screening, ranking: list[tuple[str, float]], imgs: list[str]) -> str:
    by_key = {f.key: f for f in scr.factors}
    tops = {}
    for k in scr.kpis:
        mu = scr.indices[k]["mu_star"]
        order = sorted(range(len(mu)), key=lambda i: -mu[i])
        for pos, i in enumerate(order[:3]):
            tops.setdefault(scr.factors[i].key, []).append(f"{k} (#{pos + 1})")
    rows = "\n".join(
        f"<tr><td>{r}</td><td>{html.escape(k)}</td><td>{s:.3f}</td>"
        f"<td>{by_key[k].lo:g} – {by_key[k].hi:g}</td><td>{html.escape(by_key[k].reason)}</td>"
        f"<td>{html.escape(', '.join(tops.get(k, [])))}</td></tr>"
        for r, (k, s) in enumerate(ranking, 1))
    runs = len(scr.outputs)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Sensitivity: {html.escape(scr.scenario)}</title><style>body{{font-family:"
        "sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
        "td{border:1px solid #ccc;padding:2px 8px}img{max-width:100%}</style></head><body>\n"
        f"<h1>Which estimates matter: {html.escape(scr.scenario)}</h1>\n"
        f"<p>Morris screening (SALib) of {len(scr.factors)} estimates over their plausible "
        f"ranges (docs/calibration.md §10): {scr.trajectories} trajectories, {scr.levels} "
        f"levels, {runs} runs, every run with seed {scr.seed} (common random numbers). "
        "Influence = mean over the headline KPIs of mu* / the KPI's largest mu*. mu* is the "
        "mean absolute elementary effect (the KPI's units); sigma large against mu* means "
        "non-linear effects or interactions.</p>\n"
        "<h2>Ranking</h2>\n<table><tr><td>rank</td><td>estimate</td><td>influence</td>"
        "<td>range</td><td>why it is a guess</td><td>top-3 factor for</td></tr>\n"
        f"{rows}</table>\n<h2>mu* and sigma per KPI</h2>\n" + "\n".join(imgs)
        + "\n</body></html>\n")
