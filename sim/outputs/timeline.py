"""The report's timeline: the scenario's dated events over the monthly series.

One plot (payments per programme, DTKS size and KPM credited per month, with a vertical line
and a number at every event's date) and one table (number, date, event, source, changes).
Written only for runs with events, so a run without them keeps its report byte for byte.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from sim.outputs.report import _RC, _save

#: monthly series drawn (key in the monthly rows, label); money in Rp billion
_MONEY = (("bpnt_rp", "BPNT paid"), ("pkh_rp", "PKH paid"), ("pbi_premium_rp", "PBI premium"))
_COUNTS = (("dtks", "DTKS households"), ("bpnt_credits", "BPNT KPM credited"),
           ("pkh_credits", "PKH KPM credited"))


def _x(date: str) -> float:
    d = _dt.date.fromisoformat(date)
    return d.year + (d.month - 1) / 12 + (d.day - 1) / 365.25


def plot(months: list[dict], timeline: list[dict], weight: float, path: Path,
         oneoff_rows: list[dict] = ()) -> None:
    """Monthly money and counts with the events marked at their dates (one-off programme
    payments per calendar month, if any, drawn at mid-month)."""
    with plt.rc_context(_RC):
        fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
        if months:
            x = [_x(m["date"]) for m in months]
            for key, label in _MONEY:
                if key in months[0]:
                    a1.plot(x, [m[key] * weight / 1e9 for m in months], marker=".", label=label)
            for key, label in _COUNTS:
                a2.plot(x, [m[key] * weight for m in months], marker=".", label=label)
        if oneoff_rows:
            a1.plot([_x(r["month"] + "-15") for r in oneoff_rows],
                    [r["paid"] * weight / 1e9 for r in oneoff_rows], marker="s",
                    label="one-off programme paid")
        for j, ev in enumerate(timeline, 1):
            xe = _x(ev["date"])
            for ax in (a1, a2):
                ax.axvline(xe, color="#aa3333", linewidth=0.8, linestyle="--")
            a1.annotate(str(j), (xe, 1.0), xycoords=("data", "axes fraction"),
                        color="#aa3333", ha="left", va="top")
        a1.set_ylabel("Rp billion (territory)")
        a1.set_title("Timeline: events (dashed, numbered as in the table) over the monthly series")
        a2.set_ylabel("households (territory)")
        a2.set_xlabel("year")
        if months:
            a1.legend(fontsize=7)
            a2.legend(fontsize=7)
        fig.tight_layout()
        _save(fig, path)


def table_html(timeline: list[dict]) -> str:
    """The events as an HTML section (number, date, event, source, what changed)."""
    from sim.outputs.html import section, table

    rows = [(str(j), ev["date"], ev["name"], ev["source"], ev["changes"])
            for j, ev in enumerate(timeline, 1)]
    return section("events", "Events", table(
        "Dated events and what changes from each date", ("#", "date", "event", "source",
                                                          "changes from that date"), rows))
