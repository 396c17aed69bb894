"""report.html of a replications folder: every KPI as a mean with its 95% confidence interval.

Each replication keeps its own full report (``rep_NNN/report.html``); this page says how many
replications there are, how the seeds were spawned, the scale of the sample, and each KPI's mean
and 95% half-width, grouped and labelled like a single run's report (`sim.outputs.labels`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sim.outputs import labels, stats
from sim.outputs.html import esc, page, section, table


def _interval(rows: list[dict[str, Any]], name: str) -> stats.Interval | None:
    vals = [float(r[name]) for r in rows if isinstance(r.get(name), int | float)]
    return stats.mean_ci(vals) if vals else None


def _rows(rows: list[dict[str, Any]], names: list[str]) -> list[tuple[str, ...]]:
    out = []
    for n in names:
        iv = _interval(rows, n)
        if iv is None:
            continue
        half = labels.spread(n, iv.half) if math.isfinite(iv.half) else "n/a"
        rel = (f"{iv.half / abs(iv.estimate) * 100:.1f}%"
               if iv.estimate and math.isfinite(iv.half) else "n/a")
        out.append((labels.kpi(n).label, labels.value(n, iv.estimate), half, rel, str(iv.n), n))
    return out


def _kpi_table(caption: str, rows: list[tuple[str, ...]]) -> str:
    return table(caption, ("KPI", "mean", "95% CI", "CI / mean", "n", "key"), rows,
                 numeric=(False, True, True, True, True, False))


def render(manifest: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The replications report for *manifest* (the folder's) and per-replication KPI *rows*."""
    scen = manifest["scenario"]
    values = scen["values"]
    frame = manifest.get("frame", {})
    n = len(rows)
    privacy = manifest.get("privacy", {})
    banner = ("" if privacy.get("pseudonyms_protective", True)
              else f'<p class="banner" role="alert"><strong>Privacy:</strong> '
                   f'{esc(privacy.get("banner", ""))}</p>')
    weight = (frame.get("real_households", 0) / frame["households_simulated"]
              if frame.get("households_simulated") else math.nan)
    head = (f"<header><h1>Scenario {esc(scen['name'])}: {n} replications</h1>\n"
            f"<p><strong>Question:</strong> {esc(scen.get('question', ''))}</p>\n"
            f"<p>Base seed {manifest['seed']}; replication <em>i</em> runs with the <em>i</em>-th "
            f"seed spawned from it (<code>numpy.random.SeedSequence(seed).spawn({n})</code>), so "
            f"two scenarios run with the same seed share their random numbers replication by "
            f"replication. Territory {esc(values['territory']['scope'])} "
            f"{esc(', '.join(values['territory']['codes']))}; "
            f"{values['scenario']['months']} months from {esc(values['scenario']['start'])}."
            f"</p>{banner}</header>")
    scale = section("scale", "How to read these numbers", (
        f'<p class="note">Each replication simulated {frame.get("households_simulated", 0):,} '
        f"households standing for {frame.get('real_households', 0):,} (sampling fraction "
        f"{frame.get('fraction', math.nan):.6g}, weight {weight:,.6g}); counts and money are "
        f"territory totals. Each KPI is the mean over the {n} replications with its 95% "
        f"confidence interval (Student t, {max(n - 1, 0)} degrees of freedom). "
        f"<code>kks sim compare</code> of two replication folders run with the same seed gives "
        f"paired intervals of each change, which are narrower.</p>"
        f"<p>Units: rupiah as Rp with {esc(labels.SCALE_NOTE)}.</p>"))
    names = list(dict.fromkeys(k for r in rows for k in r))
    headline = section("headline", "Headline KPIs",
                       _kpi_table(f"Headline KPIs: mean of {n} replications and 95% CI",
                                  _rows(rows, [h for h in labels.headline() if h in names])))
    groups = []
    by: dict[str, list[str]] = {}
    for name in names:
        by.setdefault(labels.kpi(name).group, []).append(name)
    for g in [*labels.GROUPS, "states", "other"]:
        if by.get(g):
            title = labels.GROUP_TITLES.get(g, "Proposals by state (simulated)")
            groups.append(f"<h3>{esc(title)}</h3>\n" + _kpi_table(title, _rows(rows, by[g])))
    every = section("kpis", "All KPIs by group", "\n".join(groups))
    links = "".join(f'<li><a href="{esc(f)}/report.html">{esc(f)}</a></li>'
                    for f in manifest.get("replications", {}).get("folders", []))
    reps = section("replications", "Each replication",
                   f"<p>Every replication's own report, plots and tables:</p><ol>{links}</ol>")
    body = "\n".join([head, scale, headline, every, reps])
    return page(f"{scen['name']}: {n} replications", f"<main>\n{body}\n</main>")


def write(dest: Path, manifest: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Write ``report.html`` of the replications folder *dest*."""
    (Path(dest) / "report.html").write_text(render(manifest, rows), encoding="utf-8")
