"""Targeting errors over time and the censoring of lead times."""

from __future__ import annotations

import numpy as np


def test_time_average_is_the_duration_weighted_mean_of_the_decree_snapshots(small,
                                                                            kpis_of) -> None:
    res = small("baseline")
    k = kpis_of(res)
    snaps = res.ctx.mon.targeting
    assert len(snaps) == k["targeting_snapshots"] >= 12  # the initial decree and every month
    t = np.array([s["t"] for s in snaps] + [res.ctx.cal.days])
    err = np.array([s["kemensos_inclusion_share_bpnt"] for s in snaps])
    want = float((err * np.diff(t)).sum() / (t[-1] - t[0]))
    assert abs(k["kemensos_inclusion_share_bpnt_time_avg"] - want) < 1e-6
    # the end-of-horizon snapshot is kept separately
    assert k["kemensos_inclusion_share_bpnt_time_avg"] != k["kemensos_inclusion_share_bpnt"]


def test_quarterly_cadence_has_one_snapshot_per_decree(small, kpis_of) -> None:
    res = small("quarterly_penetapan")
    k = kpis_of(res)
    assert k["targeting_snapshots"] == 1 + 4  # the initial decree, then January..October
    months = [s["date"][5:7] for s in res.ctx.mon.targeting[1:]]
    assert months == ["01", "04", "07", "10"]


def test_censored_share_shrinks_with_a_longer_horizon(small, kpis_of) -> None:
    short = kpis_of(small("baseline", "scenario.months=3"))
    full = kpis_of(small("baseline"))
    for label in ("dtks", "credit", "redeem"):
        s, f = (short[f"lead_time_{label}_censored_share"],
                full[f"lead_time_{label}_censored_share"])
        assert 0 < f < s <= 1, label
    # the censored are open proposals without the milestone: never more than all proposals
    assert short["lead_time_credit_censored"] <= short["proposals_simulated"]
