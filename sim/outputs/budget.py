"""Budget use per programme and month: ``budget.parquet`` of every run.

One row per (month, programme): BPNT, PKH and PBI from the engine's credit day of the month
(rupiah credited, KPM credited, tranches withheld and tranches paid in arrears), and every
one-off programme from its own ledger (rupiah decreed, paid and returned in that calendar month).
Money is in simulated rupiah of the territory; ``weight`` (1 / fraction) turns it into the
territory's real total, as in the KPIs. ``conserved`` is 1 when the month's money adds up: for
the regular programmes the engine checks funded = credited per programme every period (a failure
stops the run), for a one-off the ledger's budget = paid + returned + outstanding.
"""

from __future__ import annotations

import pyarrow as pa

from sim.model import oneoff
from sim.model.context import Context

_COLUMNS = ("month", "programme", "credited_rp", "kpm", "withheld_tranches", "arrears_tranches",
            "decreed_rp", "returned_rp", "conserved")


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
    return out


def table(ctx: Context) -> pa.Table:
    """`rows` as an Arrow table with the data dictionary's columns and types."""
    rs = rows(ctx)
    return pa.table({c: pa.array([r[c] for r in rs],
                                 pa.string() if c in ("month", "programme") else pa.int64())
                     for c in _COLUMNS})
