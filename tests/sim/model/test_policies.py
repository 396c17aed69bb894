"""Every policy scenario moves its KPI the expected way against the baseline (same seed, CRN),
and every run conserves money and proposals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.model.context import PIPELINE, STATES, TERMINAL, S
from sim.outputs import results as outputs
from tests.sim.model.conftest import run_small

POLICY_EFFECTS = [
    ("verval_officers", "wait_verval_mean_days", -1),
    ("verval_officers", "lead_time_dtks_p50_days", -1),
    ("verval_officers", "lead_time_credit_p50_days", -1),
    ("quarterly_penetapan", "lead_time_dtks_p50_days", +1),
    ("quarterly_penetapan", "lead_time_credit_p50_days", +1),
    ("printer_outage", "wait_printing_mean_days", +1),
    ("pos_delivery", "unspent_rp", -1),
    ("province_quota", "recipients_bpnt", +1),
    ("province_quota", "kemensos_exclusion_share_bpnt", -1),
    ("no_self_registration", "proposals", -1),
    ("no_self_registration", "wait_verval_mean_days", -1),
    ("dtsen_2025", "lead_time_dtks_p50_days", +1),
    ("dtsen_2025", "unspent_rp", -1),
    ("dtsen_switch", "lead_time_credit_p50_days", +1),
    ("dtsen_switch", "lead_time_dtks_p50_days", +1),
    ("blt_2025", "visits", +1),
]


@pytest.mark.parametrize(("scenario", "kpi", "direction"), POLICY_EFFECTS)
def test_policy_moves_kpi(scenario: str, kpi: str, direction: int) -> None:
    base = outputs.kpis(run_small("baseline"))[kpi]
    new = outputs.kpis(run_small(scenario))[kpi]
    assert base is not None and new is not None, f"{kpi} undefined"
    assert (new - base) * direction > 0, f"{scenario}: {kpi} {base} -> {new}, sign {direction}"


def check_conservation(res) -> None:
    """Money and flow conservation of one finished run."""
    ctx = res.ctx
    k = outputs.kpis(res)
    led = ctx.engine.ledger
    held = int(ctx.registry["balance"].sum(dtype=np.int64))
    into = led.opening_held + led.credited[0] + led.credited[1]
    assert into == led.redeemed + led.returned + held, "money in != money out + held"
    months = ctx.mon.months
    assert sum(m["credited_rp"] for m in months) == led.credited[0] + led.credited[1]
    assert sum(m["redeemed_rp"] for m in months) == led.redeemed
    assert sum(m["returned_rp"] for m in months) == led.returned
    assert k["money_conserved"] == 1
    assert (ctx.registry["balance"] >= 0).all(), "a negative balance"
    # flow: every proposal is in exactly one known state, consistent with its timestamps
    p = ctx.props
    assert len(p.state) == len(p.row) == len(p.t_arrive)
    assert all(0 <= s < len(STATES) for s in p.state)
    counts = np.bincount(np.asarray(p.state), minlength=len(STATES))
    assert int(counts.sum()) == len(p)
    assert k["flow_conserved"] == 1
    for i, s in enumerate(p.state):
        credited = not math.isnan(p.t_credit[i])
        redeemed = not math.isnan(p.t_redeem[i])
        if s in (S["credited"], S["redeemed"]):
            assert credited or redeemed, f"proposal {i} {STATES[s]} without a credit"
        if s == S["redeemed"]:
            assert redeemed
        if redeemed:
            assert p.t_redeem[i] >= p.t_arrive[i]
        if credited:
            assert p.t_credit[i] >= p.t_dtks[i] >= p.t_arrive[i]
        assert s in TERMINAL or s in PIPELINE
    # open proposals are exactly those not finished (or credited, awaiting first redemption)
    for row, i in ctx.proposal_of_row.items():
        assert p.row[i] == row
        assert p.state[i] not in TERMINAL or p.state[i] == S["credited"], STATES[p.state[i]]
    # arrivals recorded = proposals counted per source
    arrived = sum(v for n, v in ctx.mon.counts.items() if n.startswith("proposals_"))
    assert arrived == len(p)
    # utilisation within [0, 1], no negative waits
    for name, v in k.items():
        if name.startswith("utilisation_"):
            assert 0.0 <= v <= 1.0, name
        if name.startswith("wait_") and v is not None:
            assert v >= 0, name


@pytest.mark.parametrize("scenario", ["baseline", "verval_officers", "quarterly_penetapan",
                                      "printer_outage", "pos_delivery", "province_quota",
                                      "no_self_registration", "dtsen_2025", "dtsen_switch",
                                      "quarterly_rapel", "blt_2025"])
def test_conservation_after_every_run(scenario: str) -> None:
    check_conservation(run_small(scenario))


@pytest.mark.parametrize("extra", [
    ("disbursement.channel=bank",),
    ("disbursement.tahap_months=3",),
    ("scenario.months=3", "scenario.start=2025-01-31"),
    ("penetapan.cadence=quarterly", "disbursement.channel=pos"),
], ids=["bank", "quarterly_tahap", "short_midmonth", "quarterly_pos"])
def test_conservation_of_variants(extra) -> None:
    res = run_small("baseline", *extra)
    check_conservation(res)
    counts = res.ctx.mon.counts
    if "disbursement.channel=bank" in extra:
        assert counts.get("atm_cashouts", 0) > 0 and counts.get("pos_takeover", 0) > 0
    if "disbursement.tahap_months=3" in extra:
        bpnt = [m["bpnt_credits"] for m in res.ctx.mon.months]
        assert bpnt[0] > 0 and bpnt[1] == 0 and bpnt[3] > 0, bpnt


@pytest.mark.long
def test_common_random_numbers_reduce_the_variance_of_differences() -> None:
    """S-CRN: paired differences (same seed) vary less than differences of independent runs."""
    kpi = "lead_time_dtks_p50_days"
    seeds = [11, 12, 13, 14, 15, 16]

    def k(name: str, seed: int) -> float:
        return outputs.kpis(run_small(name, f"scenario.seed={seed}"))[kpi]

    base = np.array([k("baseline", s) for s in seeds])
    paired = np.array([k("verval_officers", s) for s in seeds]) - base
    independent = np.array([k("verval_officers", s + 1000) for s in seeds]) - base
    ratio = paired.var(ddof=1) / independent.var(ddof=1)
    assert ratio < 1, f"variance ratio {ratio:.2f}"
