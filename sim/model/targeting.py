"""Targeting errors of the moment, snapshotted after every decree (for time averages)."""

from __future__ import annotations

import numpy as np

from sim.model.context import Context
from sim.registry.table import PROG_BPNT, PROG_PBI, PROG_PKH

_PROGS = (("bpnt", PROG_BPNT), ("pkh", PROG_PKH), ("pbi", PROG_PBI))


def target_groups(log_c: np.ndarray, shares: dict[str, float],
                  lines: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Per programme, the households of its target group: the poorest *shares* of *log_c*, or,
    with national poverty *lines* (`sim.model.nation`), those at or below the line."""
    if lines is not None:
        return {name: log_c <= lines[name] for name, _ in _PROGS}
    n = len(log_c)
    order = np.argsort(log_c, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return {name: rank < round(shares[name] * n) for name, _ in _PROGS}


def of(ctx: Context) -> dict[str, np.ndarray]:
    """The target groups of the run now (national lines when in a national context)."""
    p = ctx.p["programmes"]
    shares = {"bpnt": p["bpnt_share"], "pkh": p["pkh_share"], "pbi": p["pbi_share"]}
    lines = ctx.nation.log_c_line if ctx.nation is not None else None
    return target_groups(ctx.log_c, shares, lines)


def targeting_errors(programmes: np.ndarray, groups: dict[str, np.ndarray]) -> dict[str, float]:
    """Inclusion and exclusion error per programme (definitions of `results.targeting`)."""
    out = {}
    for name, bit in _PROGS:
        rec = (programmes & bit) != 0
        target = groups[name]
        n_rec, n_tgt = int(rec.sum()), int(target.sum())
        out[f"inclusion_error_{name}"] = float((rec & ~target).sum() / n_rec) if n_rec else 0.0
        out[f"exclusion_error_{name}"] = float((target & ~rec).sum() / n_tgt) if n_tgt else 0.0
    return out


def record(ctx: Context, period: int) -> None:
    """Append the targeting errors right now (after a decree) to ``ctx.mon.targeting``."""
    row = {"period": period, "t": float(ctx.env.now),
           "date": ctx.cal.date(float(ctx.env.now)).isoformat()}
    # rounded like the KPIs: stable text, and no long digit runs in the outputs
    row.update({k: round(v, 6) for k, v in targeting_errors(ctx.registry["programmes"],
                                                              of(ctx)).items()})
    ctx.mon.targeting.append(row)
