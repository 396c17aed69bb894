"""Plots and the self-contained HTML report of a run (matplotlib Agg, byte-stable PNGs).

Five plots: the funnel from proposal to first redemption, the lead-time distribution, queues and
utilisation over time, coverage and targeting errors by decile, money per month. PNGs carry no
date or software tag (``metadata={"Software": None}``), fonts and sizes are fixed, so the same
run gives the same bytes.

``report.html`` stands alone (plots embedded as base64) and is built from `SECTIONS`, each a
function of a `ReportView` returning HTML (or "" to leave it out): the question and privacy
banner, how to read the numbers (scale, units, noise), the headline KPIs, what differs from a
baseline run (``--baseline DIR``), every KPI grouped with labels and units
(`sim.outputs.labels`), proposals by state, the plots with alt text, provinces. A new section is
a new function added to `SECTIONS`; a feature outside the core run passes `Section`s
(`sim.outputs.section`), shown after the plots.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from sim.model.context import STAGES
from sim.outputs import compare, labels
from sim.outputs.html import esc, figure, page, section, table
from sim.outputs.section import Section

_PNG_META = {"Software": None}
_RC = {"font.family": "DejaVu Sans", "font.size": 9, "figure.dpi": 100, "savefig.dpi": 100,
       "svg.hashsalt": "kks", "path.simplify": True}
PLOTS = ("funnel", "lead_time", "queues", "deciles", "money")


def _legend(ax, **kwargs) -> None:
    """A legend when the axes have labelled artists (an empty run has none)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)


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
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right")
        else:
            ax.text(0.5, 0.5, "no proposal reached DTKS in this run", transform=ax.transAxes,
                    ha="center")
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
        _legend(a1, ncol=4, fontsize=7)
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
        _legend(a2, ncol=4, fontsize=6)
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
        _legend(a1)
        progs = ["bpnt", "pkh", "pbi"]
        xi = np.arange(3)
        a2.bar(xi - 0.2, [kpi[f"kemensos_inclusion_share_{p}"] for p in progs], 0.4,
               label="inclusion share (Kemensos)")
        a2.bar(xi + 0.2, [kpi[f"kemensos_exclusion_share_{p}"] for p in progs], 0.4,
               label="exclusion share (Kemensos)")
        a2.set_xticks(xi, [p.upper() for p in progs])
        a2.set_ylim(0, 1)
        a2.set_title("Targeting errors")
        _legend(a2)
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
        _legend(ax)
        fig.tight_layout()
        _save(fig, path)


PLOT_TEXT = {
    "funnel": ("Funnel: proposals reaching each stage",
               "Horizontal bar chart of the simulated proposals that reached each stage of the "
               "pipeline, from proposal through verval, DTKS, the decree, account and card to "
               "first redemption."),
    "lead_time": ("Lead times and where they go",
                  "Histograms of days from proposal to DTKS, to first credit and to first "
                  "redemption, and a bar chart of the mean days spent in each stage."),
    "queues": ("Queues and utilisation over time",
               "Line charts of the number waiting at each stage on working days (log scale) and "
               "of weekly mean utilisation per stage."),
    "deciles": ("Coverage and targeting errors by decile",
                "Bar chart of the share of households receiving BPNT, PKH and PBI-JK in each "
                "true consumption decile, and bars of inclusion and exclusion errors per "
                "programme."),
    "timeline": ("Policy events over time",
                 "Line chart of recipients and money per month with the dated policy events "
                 "(programme cycles, pauses, one-off rounds, rule changes) marked on the time "
                 "axis."),
    "money": ("Money per month",
              "Line chart of rupiah credited, redeemed, returned and held on KKS per month, in "
              "billions, territory totals."),
}


@dataclass
class ReportView:
    """What the report's sections read: the run, its KPIs and summary, plots, a baseline."""

    res: Any
    kpi: dict[str, Any]
    summary: dict
    plots: Path
    privacy: dict[str, Any]
    baseline: compare.Results | None = None
    this: compare.Results | None = None
    #: sections added by features outside the core run (e.g. card fidelity), after the plots
    extra: Sequence[Section] = field(default_factory=tuple)
    #: the plots in `plots`, in order (the events timeline first when the run has events)
    plot_names: Sequence[str] = PLOTS
    #: the dated events' section (`sim.outputs.timeline.table_html`), "" without events
    events_html: str = ""
    #: the estimates (EST) the run depends on (`sim.calibration.sections.estimates_html`)
    estimates_html: str = ""


def _header(v: ReportView) -> str:
    scen = v.res.scenario
    fr = v.res.ctx.frame
    codes = ", ".join(scen["territory"]["codes"])
    banner = ("" if v.privacy.get("pseudonyms_protective")
              else f'<p class="banner" role="alert"><strong>Privacy:</strong> '
                   f'{esc(v.privacy["banner"])}</p>')
    return (f"<header><h1>Scenario {esc(scen.name)}</h1>\n"
            f"<p><strong>Question:</strong> {esc(scen['scenario']['question'])}</p>\n"
            f"<p>Seed {scen['scenario']['seed']}; {scen['scenario']['months']} months from "
            f"{scen['scenario']['start'].isoformat()}; territory "
            f"{esc(scen['territory']['scope'])} {esc(codes)} ({fr.real_households:,} "
            f"households). Synthetic data: no real person is in it.</p>{banner}</header>")


def _contents(v: ReportView) -> str:
    items = [("scale", "How to read these numbers"), ("headline", "Headline KPIs")]
    if v.baseline is not None:
        items.append(("baseline", "Differs from baseline"))
    if v.events_html:
        items.append(("events", "Events"))
    items += [("kpis", "All KPIs by group"), ("states", "Proposals by state"),
              ("plots", "Plots"), ("provinces", "By province")]
    if v.estimates_html:
        items.append(("estimates", "Estimates this run depends on"))
    items += [(s.anchor, s.title) for s in v.extra]
    lis = "".join(f'<li><a href="#{i}">{esc(t)}</a></li>' for i, t in items)
    return f'<nav aria-label="Contents"><h2>Contents</h2><ol>{lis}</ol></nav>'


def _context_note(v: ReportView) -> str:
    """With ``territory.context = "national"``: what is the territory's and what is national."""
    t = v.res.ctx.p["territory"]
    if t["context"] != "national":
        return ""
    whole = v.res.ctx.national
    rest = len(whole.registry) - v.res.ctx.frame.households if whole is not None else 0
    return (f'<p class="note">The territory ran inside the whole country: every other '
            f"kab/kota was simulated too, at fraction {t['context_fraction']:.6g} "
            f"({rest:,} more households), with national quotas, deciles, poverty lines and "
            f"national pools. Everything here is the territory's except the Kemensos and "
            f"printer pools' servers, utilisation and queues, which serve the whole country "
            f"(docs/scenarios.md).</p>\n")


def _scale(v: ReportView) -> str:
    fr = v.res.ctx.frame
    body = (f'<p class="note">This run simulated {fr.households:,} households standing for '
            f"{fr.real_households:,} (sampling fraction {fr.fraction:.6g}, so each simulated "
            f"household has weight {fr.weight:,.6g}). Counts and money are <strong>territory "
            f"totals</strong>: simulated values times the weight. Lead times, waits, shares "
            f"and errors are not weighted. Counts marked <em>simulated</em> are raw counts of "
            f"the sample.</p>\n{_context_note(v)}"
            f"<p>Units: rupiah as Rp with {esc(labels.SCALE_NOTE)}; counts in the same "
            f"short scale; lead times and waits in days or minutes; shares in percent "
            f"(differences in percentage points, pp).</p>\n"
            f"<p><strong>Noise:</strong> this is one run of one seed, so no confidence "
            f"interval can be given: a KPI moves between seeds of the same scenario. Run "
            f"<code>kks sim run SCENARIO --replications 10</code> for means with 95% "
            f"confidence intervals, and compare two such folders with <code>kks sim "
            f"compare</code> for paired intervals of each change.</p>")
    return section("scale", "How to read these numbers", body)


def kpi_rows(kpi: dict[str, Any], names: list[str]) -> list[tuple[str, str, str]]:
    """Rows (label, value, raw key) for the KPIs *names* present in *kpi*."""
    return [(labels.kpi(n).label, labels.value(n, kpi[n]), n) for n in names if n in kpi]


def _kpi_table(caption: str, rows: list[tuple[str, str, str]]) -> str:
    cells = [(esc(lab), esc(val), f"<code>{esc(key)}</code>") for lab, val, key in rows]
    return table(caption, ("KPI", "value", "key"), cells, numeric=(False, True, False),
                 raw=True)


def _headline(v: ReportView) -> str:
    return section("headline", "Headline KPIs",
                   _kpi_table("Headline KPIs (territory totals; single run)",
                              kpi_rows(v.kpi, labels.headline())))


def _baseline(v: ReportView) -> str:
    if v.baseline is None or v.this is None:
        return ""
    b, t = v.baseline, v.this
    diff = compare.input_diff(b, t)
    parts = [f"<p>Baseline: <code>{esc(b.path)}</code> "
             f"({esc(b.manifest.get('scenario', {}).get('name', b.name))}).</p>"]
    mismatch = compare.territory_mismatch(b, t)
    if mismatch:
        parts.append(f'<p class="banner">{esc(mismatch)}: the KPI changes below compare '
                     "different places.</p>")
    warn = compare.scale_warning(b, t)
    if warn:
        parts.append(f'<p class="banner">{esc(warn)}</p>')
    if diff:
        parts.append(table("Inputs that differ (after extends, --set and seed)",
                           ("input", "baseline", "this run"),
                           [(k, _show(x), _show(y)) for k, x, y in diff]))
    else:
        parts.append("<p>No input differs from the baseline.</p>")
    rows = []
    for c in compare.changes(b, t, compare.kpi_names(b, t, every=False)):
        rows.append((labels.kpi(c.name).label, labels.value(c.name, c.a),
                     labels.value(c.name, c.b), labels.delta(c.name, c.diff),
                     labels.percent(c.pct), _noise_text(c)))
    parts.append(table("Headline KPIs: baseline and this run", ("KPI", "baseline", "this run",
                       "change", "change %", "beyond noise?"), rows,
                       numeric=(False, True, True, True, True, False)))
    parts.append(f'<p class="note">{esc(compare.noise_advice(b, t))}</p>')
    return section("baseline", "Differs from baseline", "\n".join(parts))


def _show(x: Any) -> str:
    return "(not set)" if x is None else str(x)


def _noise_text(c: compare.Change) -> str:
    if c.noise == "unknown":
        return "unknown (single runs)"
    if c.noise == "none":
        return "no change"
    ci = labels.spread(c.name, c.half)
    return f"{'yes' if c.noise == 'beyond' else 'no'} (95% CI {ci})"


def _events(v: ReportView) -> str:
    return v.events_html


def _groups(v: ReportView) -> str:
    by: dict[str, list[str]] = {}
    for name in v.kpi:
        g = labels.kpi(name).group
        if g != "states":
            by.setdefault(g, []).append(name)
    parts = []
    for g in [*labels.GROUPS, "other"]:
        if by.get(g):
            title = labels.GROUP_TITLES[g]
            parts.append(f"<h3>{esc(title)}</h3>\n" + _kpi_table(title, kpi_rows(v.kpi, by[g])))
    return section("kpis", "All KPIs by group", "\n".join(parts))


def _states(v: ReportView) -> str:
    w = v.res.ctx.frame.weight
    rows = []
    for name, val in v.kpi.items():
        if labels.kpi(name).group == "states" and val is not None:
            rows.append((name[len("state_"):].replace("_", " "), f"{int(val):,}",
                         labels.value("proposals", val * w)))
    body = ("<p>Where every simulated proposal is at the end of the run. The first column "
            "counts the sample; the second estimates the territory total (times the weight "
            f"{w:,.6g}).</p>\n" + table("Proposals by state at the end of the run",
                                         ("state", "simulated proposals",
                                          "territory estimate"), rows,
                                         numeric=(False, True, True)))
    return section("states", "Proposals by state", body)


def _plots(v: ReportView) -> str:
    figs = []
    for name in v.plot_names:
        title, alt = PLOT_TEXT.get(name, (name.replace("_", " "), name.replace("_", " ")))
        figs.append(f"<h3>{esc(title)}</h3>\n" + figure((v.plots / f"{name}.png").read_bytes(),
                                                       alt, title))
    return section("plots", "Plots", "\n".join(figs))


def _provinces(v: ReportView) -> str:
    rows = [(code, labels.value("households", d["households"]),
             labels.value("recipients_bpnt", d["recipients_bpnt"]),
             labels.value("kemensos_inclusion_share_bpnt", d.get("kemensos_inclusion_share_bpnt")),
             labels.value("kemensos_exclusion_share_bpnt",
                          d.get("kemensos_exclusion_share_bpnt")))
            for code, d in v.summary.get("by_province", {}).items()]
    return section("provinces", "By province",
                   table("BPNT by province (target group defined over the whole territory)",
                         ("province", "households", "BPNT recipients",
                          "inclusion share (Kemensos)", "exclusion share (Kemensos)"), rows,
                         numeric=(False, True, True, True, True)))


def _estimates(v: ReportView) -> str:
    return v.estimates_html


def _extra(v: ReportView) -> str:
    return "\n".join(s.html() for s in v.extra)


def _footer(v: ReportView) -> str:
    return ("<footer><p>Inputs, versions, seeds and the random stream map are in "
            "<code>manifest.json</code>; every KPI with full precision in <code>kpi.csv</code> "
            "and <code>summary.json</code>.</p></footer>")


#: the report, top to bottom
SECTIONS: tuple[Callable[[ReportView], str], ...] = (
    _header, _contents, _scale, _headline, _baseline, _events, _groups, _states, _plots, _provinces,
    _estimates, _extra, _footer)


def render(view: ReportView) -> str:
    """The report document for *view*."""
    body = "\n".join(part for part in (fn(view) for fn in SECTIONS) if part)
    return page(f"{view.res.scenario.name}: bansos flow model report", f"<main>\n{body}\n</main>")


def write(res, kpi: dict[str, Any], summary: dict, out: Path,
          sections: Sequence[Section] = (), privacy: dict[str, Any] | None = None,
          baseline: Path | None = None) -> None:
    """Write ``plots/*.png`` and ``report.html`` for run *res* into folder *out*.

    *sections* are appended after the built-in ones; *baseline*, a results folder, adds the
    "differs from baseline" section (the new run's manifest and KPIs must already be in *out*).
    """
    plots = out / "plots"
    plots.mkdir()
    ctx = res.ctx
    plot_funnel(summary, plots / "funnel.png")
    plot_lead_time(ctx.props, kpi, plots / "lead_time.png")
    plot_queues(ctx.mon.samples, kpi, plots / "queues.png")
    plot_deciles(summary, kpi, plots / "deciles.png")
    plot_money(ctx.mon.months, ctx.frame.weight, plots / "money.png")
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

    est_html = calibration_sections.estimates_html(provenance.estimates_of(res.scenario.data))
    view = ReportView(res, kpi, summary, plots, privacy or {"pseudonyms_protective": True},
                      extra=tuple(sections), plot_names=names, events_html=events_html,
                      estimates_html=est_html)
    if baseline is not None:
        view.baseline = compare.open_results(baseline)
        view.this = compare.open_results(out)
    (out / "report.html").write_text(render(view), encoding="utf-8")
