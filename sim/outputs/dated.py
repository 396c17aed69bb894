"""Dated figures of a run: values of the monthly series at a month, for dated backtest rows.

`dated_kpis` turns a finished run into flat ``name -> value`` pairs (territory totals: simulated
counts times 1 / fraction, as the KPIs), named by month so a backtest row can ask for a figure at
a date: ``2023-04.recipients_bpnt`` (BPNT KPM credited on the credit day of April 2023),
``2025-10.recipients_pkh``, ``2025-10.decreed_bpnt`` (BPNT KPM of the decree of October 2025:
the tranche's allocation, paid or still pending), ``oneoff_recipients`` (KPM of every one-off
round), ``2026-02.pbi_exits_desil_persons`` (persons who lost PBI-JK because of their decile at the
decree of February 2026), ``2025.pbi_exits_desil_persons`` (the same over every decree of 2025:
the year's deactivation rounds together).
"""

from __future__ import annotations

from typing import Any

from sim.model.context import Context


def dated_kpis(ctx: Context) -> dict[str, Any]:
    """The dated figures of a finished run (see the module docstring)."""
    w = ctx.frame.weight
    out: dict[str, Any] = {}
    for m in ctx.mon.months:
        month = m["date"][:7]
        out[f"{month}.recipients_bpnt"] = round(m["bpnt_credits"] * w)
        out[f"{month}.recipients_pkh"] = round(m["pkh_credits"] * w)
        out[f"{month}.recipients_pbi"] = round(m["pbi_credits"] * w)
        out[f"{month}.bpnt_rp"] = round(m["bpnt_rp"] * w)
        out[f"{month}.pkh_rp"] = round(m["pkh_rp"] * w)
    for period, res in ctx.decree_results:
        month = f"{2000 + period // 12:04d}-{period % 12 + 1:02d}"
        for prog in ("bpnt", "pkh", "pbi"):
            if prog in res.recipients:
                out[f"{month}.decreed_{prog}"] = round(res.recipients[prog] * w)
    years: dict[str, int] = {}
    for e in ctx.pbi_exits:
        month = e["date"][:7]
        out[f"{month}.pbi_exits_desil_households"] = round(e["households"] * w)
        out[f"{month}.pbi_exits_desil_persons"] = round(e["persons"] * w)
        years[month[:4]] = years.get(month[:4], 0) + e["persons"]
    for year, persons in years.items():
        out[f"{year}.pbi_exits_desil_persons"] = round(persons * w)
    led = ctx.oneoff
    if led is not None:
        out["oneoff_recipients"] = round(sum(r["recipients"] for r in led.rounds) * w)
        out["oneoff_paid_rp"] = round(led.paid * w)
    return out
