"""The SQL peer computes exactly what the numpy engine computes (it is the benchmark's baseline)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.hotpath import changes as ch
from sim.hotpath import disburse, monthly
from sim.params import params_for
from sim.registry import population

duckdb = pytest.importorskip("duckdb")


def test_duckdb_peer_matches_numpy_over_months() -> None:
    from sim.bench.duckdb_peer import DuckPeer

    # members in other JKN segments: PBI-JK's quota and premium count fewer than every member
    reg = population.generate(4000, 8, params=population.PopulationParams(pbi_other_share=0.6))
    assert reg["n_other_jkn"].any()
    reg["pmt_score"][::5] = np.round(reg["pmt_score"][::5], 1)
    params = params_for(reg)
    peer = DuckPeer(reg, params, threads=1)
    state = monthly.MonthlyState()
    ledger = disburse.DisbursementState.open(reg)
    for t in range(12, 17):
        batch = ch.random_batch(reg, 250, t)
        if t == 15:  # a full decree again: every row re-checked on both sides
            state.invalidate()
            peer.verified = False
        mine = monthly.run_month(reg, batch, params, t, state)
        theirs = peer.run_month(batch, t)
        assert mine.counters() == theirs.counters()
        d_mine = disburse.disburse(reg, ledger, params, t, 3).counters()
        d_theirs = peer.disburse(t, 3)
        del d_theirs["seconds"]
        assert d_mine == d_theirs
        cols = peer.columns()
        for name in ("nik", "kk", "status", "desil", "programmes", "balance",
                     "unspent_months", "pmt_score", "earns_umr"):
            assert np.array_equal(cols[name], reg[name]), name
        for p in range(3):
            assert np.array_equal(cols[f"lc{p}"], ledger.last_credit[p])
        assert np.array_equal(cols["ls"], ledger.last_settled)


def test_duckdb_peer_returns_and_quarterly_decrees() -> None:
    """Returns of unspent balances and a decree cadence of 3 months (deferred batches)."""
    import dataclasses

    from sim.bench.duckdb_peer import DuckPeer

    reg = population.generate(3000, 9)
    params = dataclasses.replace(params_for(reg), return_after_months=1, redeem_bp=4000,
                                 cadence_months=3)
    peer = DuckPeer(reg, params, threads=2)
    state = monthly.MonthlyState()
    ledger = disburse.DisbursementState.open(reg)
    returns = 0
    for t in range(3, 8):
        batch = ch.random_batch(reg, 200, t)
        mine = monthly.run_month(reg, batch, params, t, state)
        assert mine.counters() == peer.run_month(batch, t).counters()
        d_mine = disburse.disburse(reg, ledger, params, t, 5).counters()
        d_theirs = peer.disburse(t, 5)
        del d_theirs["seconds"]
        assert d_mine == d_theirs
        returns += d_mine["returns"]
        cols = peer.columns()
        for name in ("status", "desil", "programmes", "balance", "unspent_months"):
            assert np.array_equal(cols[name], reg[name]), name
    assert returns > 0
