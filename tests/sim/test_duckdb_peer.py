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

    reg = population.generate(4000, 8)
    reg["pmt_score"][::5] = np.round(reg["pmt_score"][::5], 1)
    params = params_for(reg)
    peer = DuckPeer(reg, params, threads=1)
    state = monthly.MonthlyState()
    ledger = disburse.DisbursementState.open(reg)
    for t in range(12, 16):
        batch = ch.random_batch(reg, 250, t)
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
