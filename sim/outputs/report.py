"""Plots and the self-contained HTML report of a run (matplotlib Agg, byte-stable PNGs).

Five plots: the funnel from proposal to first redemption, the lead-time distribution, queues and
utilisation over time, coverage and targeting errors by decile, money per month. PNGs carry no
date or software tag (``metadata={"Software": None}``), fonts and sizes are fixed, so the same
run gives the same bytes. ``report.html`` embeds them as base64 with the KPI table.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from sim.model.context import STAGES
from sim.outputs.section import Section

_PNG_META = {"Software": None}
_RC = {"font.family": "DejaVu Sans", "font.size": 9, "figure.dpi": 100, "savefig.dpi": 100,
       "svg.hashsalt": "kks", "path.simplify": True}
PLOTS = ("funnel", "lead_time", "queues", "deciles", "money")


def _save(fig, path: Path) -> None:
    fig.savefig(path, format="png", metadata=_PNG_META)
    plt.close(fig)


def plot_funnel(summary: dict, path: Path) -> None:
    """Horizontal bars: proposals reaching each stage."""
    f = summary["funnel"]
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(7, 4))
        y = np.arange(len(f["stage"]))[::-1]
        ax.barh(y, f["proposals"], color="#3b6ea5")
        ax.set_yticks(y, f["stage"])
        for yy, v in zip(y, f["proposals"], strict=True):
            ax.text(v, yy, f" {v:,}", va="center")
        ax.set_xlabel("simulated proposals reaching the stage")
        ax.set_title("Funnel: proposal to first redemption")
        fig.tight_layout()
        _save(fig, path)


def plot_lead_time(props, kpi: dict, path: Path) -> None:
    """Histograms of proposal -> DTKS, -> first credit, -> first redemption (days), and the
    mean days spent in each stage (where the lead time goes)."""
    t0 = np.asarray(props.t_arrive)
    with plt.rc_context(_RC):
        fig, (ax, a2) = plt.subplots(2, 1, figsize=(7, 6.5), height_ratios=(3, 2))
        stages = [k[len("time_in_"):-len("_mean_days")] for k in kpi
                  if k.startswith("time_in_") and kpi[k] is not None]
        a2.barh(stages[::-1], [kpi[f"time_in_{s}_mean_days"] for s in stages][::-1],
                color="#3b6ea5")
        a2.set_xlabel("mean days spent in the stage (batch waits included)")
        bins = np.arange(0, 370, 10)
        for label, t, color in (("in DTKS", props.t_dtks, "#999999"),
                                ("first credit", props.t_credit, "#3b6ea5"),
                                ("first redemption", props.t_redeem, "#d08c2b")):
            lead = np.asarray(t) - t0
            lead = lead[np.isfinite(lead)]
            if len(lead):
                ax.hist(lead, bins=bins, histtype="step", linewidth=1.5, color=color,
                        label=f"{label} (n={len(lead)}, p50={np.median(lead):.0f} d)")
        ax.set_xlabel("days since the proposal")
        ax.set_ylabel("proposals")
        ax.set_title("Lead time from proposal")
        ax.legend(loc="upper right")
        fig.tight_layout()
        _save(fig, path)


def plot_queues(samples: list, kpi: dict, path: Path) -> None:
    """Queue length per stage over time (top) and utilisation per stage (bottom)."""
    with plt.rc_context(_RC):
        fig, (a1, a2) = plt.subplots(2, 1, figsize=(7, 7), height_ratios=(3, 2))
        for s in STAGES:
            pts = [(x[0], x[2]) for x in samples if x[1] == s]
            if pts:
                d, q = zip(*pts, strict=True)
                a1.plot(d, q, label=s, linewidth=1)
        a1.set_xlabel("day")
        a1.set_ylabel("waiting (simulated)")
        a1.set_yscale("symlog")
        a1.set_title("Queues over time (working days, midday)")
        a1.legend(ncol=4, fontsize=7)
        for s in STAGES:
            pts = [(x[0], x[3] / x[4]) for x in samples if x[1] == s and x[4] > 0]
            if not pts:
                continue
            d, u = (np.asarray(v, dtype=np.float64) for v in zip(*pts, strict=True))
            week = d // 7
            weeks = np.unique(week)
            mean = np.array([u[week == w].mean() for w in weeks])
            overall = kpi.get(f"utilisation_{s}", kpi.get("utilisation_agents", 0.0))
            a2.plot(weeks * 7, mean, linewidth=1, label=f"{s} ({overall:.0%} overall)")
        a2.set_ylim(0, 1.05)
        a2.set_xlabel("day")
        a2.set_ylabel("busy / servers (weekly mean)")
        a2.set_title("Utilisation over time (midday samples)")
        a2.legend(ncol=4, fontsize=6)
        fig.tight_layout()
        _save(fig, path)


def plot_deciles(summary: dict, kpi: dict, path: Path) -> None:
    """Coverage by true consumption decile per programme, with the targeting errors."""
    cov = summary["decile_coverage"]
    with plt.rc_context(_RC):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.8), width_ratios=(2, 1))
        x = np.arange(1, 11)
        for j, name in enumerate(sorted(cov)):
            a1.bar(x + (j - 1) * 0.27, cov[name], width=0.27, label=name.upper())
        a1.set_xticks(x)
        a1.set_xlabel("true per-capita consumption decile (1 = poorest)")
        a1.set_ylabel("share receiving")
        a1.set_title("Coverage by decile")
        a1.legend()
        progs = ["bpnt", "pkh", "pbi"]
        xi = np.arange(3)
        a2.bar(xi - 0.2, [kpi[f"kemensos_inclusion_share_{p}"] for p in progs], 0.4,
               label="inclusion share (Kemensos)")
        a2.bar(xi + 0.2, [kpi[f"kemensos_exclusion_share_{p}"] for p in progs], 0.4,
               label="exclusion share (Kemensos)")
        a2.set_xticks(xi, [p.upper() for p in progs])
        a2.set_ylim(0, 1)
        a2.set_title("Targeting errors")
        a2.legend()
        fig.tight_layout()
        _save(fig, path)


def plot_money(months: list[dict], weight: float, path: Path) -> None:
    """Credited, redeemed, returned and held per month (rupiah, territory totals)."""
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(7, 4))
        if months:
            x = np.arange(len(months))
            for key, label in (("credited_rp", "credited (BPNT+PKH)"),
                               ("redeemed_rp", "redeemed"), ("returned_rp", "returned"),
                               ("held_rp", "held on KKS")):
                ax.plot(x, [m[key] * weight / 1e9 for m in months], marker="o", label=label)
            ax.set_xticks(x, [m["date"][:7] for m in months], rotation=45)
        ax.set_ylabel("Rp billion (territory)")
        ax.set_title("Money per month")
        ax.legend()
        fig.tight_layout()
        _save(fig, path)


def write(res, kpi: dict[str, Any], summary: dict, out: Path,
          sections: Sequence[Section] = ()) -> None:
    """Write ``plots/*.png`` and ``report.html`` for run *res* into folder *out*; *sections*
    are appended to the report after the built-in ones."""
    plots = out / "plots"
    plots.mkdir()
    ctx = res.ctx
    plot_funnel(summary, plots / "funnel.png")
    plot_lead_time(ctx.props, kpi, plots / "lead_time.png")
    plot_queues(ctx.mon.samples, kpi, plots / "queues.png")
    plot_deciles(summary, kpi, plots / "deciles.png")
    plot_money(ctx.mon.months, ctx.frame.weight, plots / "money.png")
    scen = res.scenario
    rows = "\n".join(f"<tr><td>{html.escape(k)}</td><td>{'' if v is None else html.escape(str(v))}"
                     "</td></tr>" for k, v in kpi.items())
    prov_rows = "\n".join(
        f"<tr><td>{code}</td><td>{v['households']:,}</td><td>{v['recipients_bpnt']:,}</td>"
        f"<td>{v['kemensos_inclusion_share_bpnt']}</td>"
        f"<td>{v['kemensos_exclusion_share_bpnt']}</td></tr>"
        for code, v in summary.get("by_province", {}).items())
    names = PLOTS
    events_html = ""
    if ctx.mon.timeline:
        from sim.model import oneoff
        from sim.outputs import timeline as _timeline

        _timeline.plot(ctx.mon.months, ctx.mon.timeline, ctx.frame.weight,
                       plots / "timeline.png", oneoff.monthly_rows(ctx))
        names = ("timeline", *PLOTS)
        events_html = _timeline.table_html(ctx.mon.timeline)
    from sim.calibration import provenance
    from sim.calibration import sections as calibration_sections

    est_html = calibration_sections.estimates_html(provenance.estimates_of(scen.data))
    imgs = "\n".join(
        f'<h2>{name.replace("_", " ")}</h2><img alt="{name}" src="data:image/png;base64,'
        f'{base64.b64encode((plots / f"{name}.png").read_bytes()).decode()}">' for name in names)
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(scen.name)}: bansos flow model report</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto}}
table{{border-collapse:collapse}}td{{border:1px solid #ccc;padding:2px 8px}}img{{max-width:100%}}
</style></head><body>
<h1>Scenario {html.escape(scen.name)}</h1>
<p><b>Question:</b> {html.escape(scen["scenario"]["question"])}</p>
<p>Seed {scen["scenario"]["seed"]}, {scen["scenario"]["months"]} months from
{scen["scenario"]["start"].isoformat()}, territory {html.escape(scen["territory"]["scope"])}
{html.escape(", ".join(scen["territory"]["codes"]))} at fraction
{ctx.frame.fraction:.6g} ({ctx.frame.households:,} simulated households standing for
{ctx.frame.real_households:,}). Synthetic data; NIKs replaced by keyed pseudonyms.
Money and counts are territory totals (simulated values times {ctx.frame.weight:.6g}).</p>
{events_html}
{imgs}
<h2>KPIs</h2>
<table>{rows}</table>
<h2>By province (BPNT; target group defined over the whole territory)</h2>
<p>Kemensos shares: inclusion share = recipients outside the target group (the poorest
{ctx.p["targeting"]["kemensos_target_share"]:.0%} of households by true consumption) / recipients;
exclusion share = target group not receiving / target group (docs/calibration.md §6).</p>
<table><tr><td>province</td><td>households</td><td>recipients</td><td>inclusion share</td>
<td>exclusion share</td></tr>
{prov_rows}</table>
{"".join(s.html() for s in sections)}
{est_html}
</body></html>
"""
    (out / "report.html").write_text(doc, encoding="utf-8")
