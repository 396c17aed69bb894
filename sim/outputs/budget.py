"""Budget use per programme and month: ``budget.parquet`` of every run.

One row per (month, programme): BPNT, PKH and PBI from the engine's credit day of the month
(rupiah credited, KPM credited, tranches withheld and tranches paid in arrears), and every
one-off programme from its own ledger (rupiah decreed, paid and returned in that calendar month).
Money is in simulated rupiah of the territory; ``weight`` (1 / fraction) turns it into the
territory's real total, as in the KPIs. ``conserved`` is 1 when the month's money adds up: for
the regular programmes the engine checks funded = credited per programme every period (a failure
stops the run), for a one-off the ledger's budget = paid + returned + outstanding.
``ytd_rp`` is the programme's money of the fiscal year (January to December) up to and including
the month, and ``ceiling_rp`` the programme's budget line for the year in force that month (0 =
none; `sim.model.ceiling`), so the use can be read against the ceiling month by month.
"""

from __future__ import annotations

import pyarrow as pa

from sim.model import oneoff
from sim.model.context import Context

_COLUMNS = ("month", "programme", "credited_rp", "kpm", "withheld_tranches", "arrears_tranches",
            "decreed_rp", "returned_rp", "conserved", "ytd_rp", "ceiling_rp")


def _ceiling_money(ctx: Context) -> dict[tuple[str, str], int]:
    """(month, programme) -> the money the budget ceilings count, where it is not the row's own
    ``credited_rp``: a national-context run's territory counts the whole country's, weighted
    (`sim.model.ceiling`), against the national line."""
    months = getattr(ctx, "ceiling_months", None)
    if not months:
        return {}
    return {(m["date"][:7], prog): m[key] for m in months
            for prog, key in (("bpnt", "bpnt_rp"), ("pkh", "pkh_rp"), ("pbi", "pbi_premium_rp"))}


def rows(ctx: Context) -> list[dict]:
    """The budget rows of a finished run, month by month, programme by programme."""
    out: list[dict] = []
    for m in ctx.mon.months:
        month = m["date"][:7]
        for prog, kpm_key in (("bpnt", "bpnt_credits"), ("pkh", "pkh_credits")):
            out.append({"month": month, "programme": prog, "credited_rp": m[f"{prog}_rp"],
                        "kpm": m[kpm_key], "withheld_tranches": m[f"{prog}_withheld"],
                        "arrears_tranches": m[f"{prog}_arrears"], "decreed_rp": 0,
                        "returned_rp": 0, "conserved": 1})
        out.append({"month": month, "programme": "pbi", "credited_rp": m["pbi_premium_rp"],
                    "kpm": m["pbi_credits"], "withheld_tranches": 0, "arrears_tranches": 0,
                    "decreed_rp": 0, "returned_rp": 0, "conserved": 1})
    led = ctx.oneoff
    name = ctx.p["oneoff"]["name"]
    for r in oneoff.monthly_rows(ctx):
        out.append({"month": r["month"], "programme": name, "credited_rp": r["paid"],
                    "kpm": r["payments"], "withheld_tranches": 0, "arrears_tranches": 0,
                    "decreed_rp": r["decreed"], "returned_rp": r["returned"],
                    "conserved": int(led.budget == led.paid + led.returned + led.outstanding)})
    out.sort(key=lambda r: (r["month"], r["programme"]))
    book = getattr(ctx, "ceilings", None)
    caps = book.month_ceiling if book is not None else {}
    counted = _ceiling_money(ctx)
    ytd: dict[tuple[str, str], int] = {}
    for r in out:
        key = (r["programme"], r["month"][:4])
        ytd[key] = ytd.get(key, 0) + counted.get((r["month"], r["programme"]), r["credited_rp"])
        r["ytd_rp"] = ytd[key]
        r["ceiling_rp"] = caps.get((r["programme"], r["month"]), 0)
    return out


def ceiling_rows(ctx: Context) -> list[dict]:
    """Per regular programme and fiscal year with a ceiling: the line, the money used, the KPM
    cap of the year's last decree, decrees capped and tranches withheld for lack of budget
    (territory totals: simulated rupiah times the weight)."""
    book = getattr(ctx, "ceilings", None)
    if book is None or not book.years:
        return []
    w = ctx.frame.weight
    counted = _ceiling_money(ctx)
    used: dict[tuple[str, int], int] = {}
    for r in rows(ctx):
        key = (r["programme"], int(r["month"][:4]))
        used[key] = used.get(key, 0) + counted.get((r["month"], r["programme"]),
                                                   r["credited_rp"])
    return [{"programme": e["programme"], "year": e["year"],
             "ceiling_rp": round(e["ceiling_rp"] * w),
             "used_rp": round(used.get((e["programme"], e["year"]), 0) * w),
             "within": int(used.get((e["programme"], e["year"]), 0) <= e["ceiling_rp"]),
             "cap_kpm": round(e["cap_kpm"] * w) if e["cap_kpm"] >= 0 else None,
             "capped_decrees": e["capped_decrees"], "withheld_periods": e["withheld_periods"]}
            for e in book.rows()]


def ceiling_section(ctx: Context):
    """The report's "Budget ceilings" section, or None when no programme has one."""
    from sim.outputs.html import table
    from sim.outputs.section import Section

    rs = ceiling_rows(ctx)
    if not rs:
        return None
    body = table("Budget use against each programme's ceiling per fiscal year (territory, "
                 "rupiah)", ("programme", "year", "ceiling", "used", "used / ceiling",
                             "KPM cap (last decree)", "decrees capped",
                             "tranches withheld for budget"),
                 [(r["programme"], str(r["year"]), f"{r['ceiling_rp']:,}", f"{r['used_rp']:,}",
                   f"{r['used_rp'] / r['ceiling_rp']:.1%}" if r["ceiling_rp"] else "-",
                   "-" if r["cap_kpm"] is None else f"{r['cap_kpm']:,}",
                   str(r["capped_decrees"]), str(r["withheld_periods"])) for r in rs],
                 numeric=(False, True, True, True, True, True, True, True))
    return Section("budget-ceilings", "Budget ceilings", "<p>Each regular programme with a "
                   "budget line (<code>programmes.*_budget_rp</code>) admits at each decree only "
                   "the KPM the rest of its fiscal year can pay, poorest first, and withholds a "
                   "tranche the line cannot pay (paid later as arrears). Month by month in "
                   "<code>budget.csv</code> (<code>ytd_rp</code> against "
                   "<code>ceiling_rp</code>).</p>" + body)


def table(ctx: Context) -> pa.Table:
    """`rows` as an Arrow table with the data dictionary's columns and types."""
    rs = rows(ctx)
    return pa.table({c: pa.array([r[c] for r in rs],
                                 pa.string() if c in ("month", "programme") else pa.int64())
                     for c in _COLUMNS})
