"""Targeting errors of the moment, snapshotted after every decree (for time averages)."""

from __future__ import annotations

import numpy as np

from sim.model.context import Context
from sim.registry.table import PROG_BPNT, PROG_PBI, PROG_PKH

_PROGS = (("bpnt", PROG_BPNT), ("pkh", PROG_PKH), ("pbi", PROG_PBI))


def targeting_errors(log_c: np.ndarray, programmes: np.ndarray, shares: dict[str, float]
                     ) -> dict[str, float]:
    """Inclusion and exclusion error per programme (definitions of `results.targeting`)."""
    n = len(log_c)
    order = np.argsort(log_c, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    out = {}
    for name, bit in _PROGS:
        rec = (programmes & bit) != 0
        target = rank < round(shares[name] * n)
        n_rec, n_tgt = int(rec.sum()), int(target.sum())
        out[f"inclusion_error_{name}"] = float((rec & ~target).sum() / n_rec) if n_rec else 0.0
        out[f"exclusion_error_{name}"] = float((target & ~rec).sum() / n_tgt) if n_tgt else 0.0
    return out


def record(ctx: Context, period: int) -> None:
    """Append the targeting errors right now (after a decree) to ``ctx.mon.targeting``."""
    p = ctx.p["programmes"]
    shares = {"bpnt": p["bpnt_share"], "pkh": p["pkh_share"], "pbi": p["pbi_share"]}
    row = {"period": period, "t": float(ctx.env.now),
           "date": ctx.cal.date(float(ctx.env.now)).isoformat()}
    row.update(targeting_errors(ctx.log_c, ctx.registry["programmes"], shares))
    ctx.mon.targeting.append(row)
