"""Measures over time and censoring: targeting errors averaged over the horizon and per
decree, and the share of each lead-time cohort still open at the horizon.

Targeting errors change at every decree (who holds a programme) and in between as households'
consumption moves (shocks, graduation). `sim.model.targeting.record` snapshots them right
after every decree; the time average weights each snapshot by the time it stood, from the
initial decree to the horizon (consumption changes between decrees are seen at the next
snapshot). The end-of-horizon snapshot stays its own KPI (``kemensos_inclusion_share_bpnt``
and the other families of docs/calibration.md §6): under a quarterly cadence it is taken up to
three months after the last decree, the worst point of the cycle.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.model.context import Context, S
from sim.model.targeting import FAMILIES

_PROGS = (("bpnt", None), ("pkh", None), ("pbi", None))
#: states of a proposal that has not ended: its milestones may still come after the horizon
OPEN = frozenset(S[n] for n in ("prelist", "verval", "siks", "dinsos", "bupati", "kemensos",
                                "decree", "issuance", "awaiting_credit", "credited"))


def time_averages(ctx: Context) -> dict[str, float | None]:
    """Time-weighted mean of each error over [first snapshot, horizon]."""
    snaps = ctx.mon.targeting
    if not snaps:
        return {}
    ends = [s["t"] for s in snaps[1:]] + [float(ctx.cal.days)]
    dur = np.array([max(e - s["t"], 0.0) for s, e in zip(snaps, ends, strict=True)])
    total = float(dur.sum())
    out: dict[str, float | None] = {}
    for name, _ in _PROGS:
        for fam in FAMILIES:
            k = f"{fam}_{name}"
            vals = np.array([s[k] for s in snaps])
            out[f"{k}_time_avg"] = float((vals * dur).sum() / total) if total > 0 else None
    out["targeting_snapshots"] = len(snaps)
    return out


def censoring(ctx: Context) -> dict[str, Any]:
    """Per lead-time milestone: the share of proposals still open at the horizon without it.

    A proposal that has not reached the milestone is *censored* when it is still open (it may
    reach it after the horizon) and *ended* when it failed (it never will). The share is
    censored / (reached + censored): how much of the cohort the lead-time percentiles cannot
    see; with a large share their p90 reads low.
    """
    props = ctx.props
    state = np.asarray(props.state, dtype=np.int64)
    still = np.isin(state, sorted(OPEN))
    out: dict[str, Any] = {}
    for label, t, upto in (("dtks", props.t_dtks, S["decree"]),
                           ("credit", props.t_credit, S["awaiting_credit"]),
                           ("redeem", props.t_redeem, S["credited"])):
        reached = np.isfinite(np.asarray(t, dtype=np.float64))
        censored = ~reached & still & (state <= upto)
        n_r, n_c = int(reached.sum()), int(censored.sum())
        out[f"lead_time_{label}_censored"] = n_c
        out[f"lead_time_{label}_censored_share"] = n_c / (n_r + n_c) if n_r + n_c else None
    return out
