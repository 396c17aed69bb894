"""Monthly penetapan + disbursement benchmarks at 1M and 10M households: the steady cycle, the
full decree, each step, and the DuckDB peer on the same two cycles (ratios in one run).

Run with `make bench` (or `pytest benchmarks/test_monthly_bench.py -m benchmark --benchmark-only
--benchmark-group-by=group`). Each size generates a registry once, runs the first (full) decree
to build the engine state, and then times steady-state months with a 1% change batch each (the
batch is drawn in the untimed setup). Step groups time the engine's internals on that state:
validation of a batch, the NIK/KK collision lookup, decile ranking, recipient selection, and the
disbursement of one period. The full-decree group times `run_month` after
`MonthlyState.invalidate()` (every household validated, deduplicated and re-ranked, the state
rebuilt), the engine beside the DuckDB peer (unverified: it re-checks every row too); the cycle
group has the peer's steady cycle beside the engine's. The national size (94M) is opt-in with
KKS_BENCH_NATIONAL=1 (about a minute to generate, ~7 GiB for the engine, the peer on top: hold
`flock /tmp/kks-bigmem.lock`); `kks bench monthly --households 94000000` is the full comparison
with the reference, DuckDB (on a 10M sample) and the streaming floor.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from sim.hotpath import changes, disburse, monthly
from sim.params import params_for
from sim.registry import population

pytestmark = pytest.mark.benchmark

SIZES = [1_000_000, 10_000_000]
if os.environ.get("KKS_BENCH_NATIONAL") == "1":
    SIZES.append(94_000_000)


class Engine:
    """A registry in steady state: the first decree done, a period counter for the next."""

    def __init__(self, households: int) -> None:
        self.n = households
        self.reg = population.generate(households, 1)
        self.params = params_for(self.reg)
        self.state = monthly.MonthlyState()
        self.ledger = disburse.DisbursementState.open(self.reg)
        self.period = 300
        self.cycle(self.batch())

    def batch(self) -> changes.ChangeBatch:
        return changes.random_batch(self.reg, self.n // 100, self.period)

    def cycle(self, batch: changes.ChangeBatch) -> None:
        monthly.run_month(self.reg, batch, self.params, self.period, self.state)
        disburse.disburse(self.reg, self.ledger, self.params, self.period, 1)
        self.period += 1


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: f"{n // 1_000_000}m")
def engine(request):
    return Engine(request.param)


def _rounds(engine: Engine) -> int:
    return 5 if engine.n <= 1_000_000 else 3


def _per_household(benchmark, engine: Engine) -> None:
    benchmark.extra_info["households"] = engine.n
    benchmark.extra_info["households_per_s"] = engine.n / benchmark.stats.stats.median


def test_cycle(benchmark, engine):
    """Whole month: penetapan with a 1% batch, then disbursement. It runs first on a fresh
    engine, so its rounds are periods 301-305 (1M) or 301-303 (10M, 94M): the April 2025 PKH
    payment (period 303) is always one of them."""
    benchmark.group = f"monthly-{engine.n // 1_000_000}m-cycle"
    first = engine.period
    benchmark.pedantic(engine.cycle, setup=lambda: ((engine.batch(),), {}),
                       rounds=_rounds(engine), iterations=1)
    assert any(p % engine.params.pkh_every == 0 for p in range(first, engine.period))
    _per_household(benchmark, engine)


def test_full_decree(benchmark, engine):
    """A full decree: every household validated, deduplicated and re-ranked (state rebuilt)."""
    benchmark.group = f"monthly-{engine.n // 1_000_000}m-full-decree"

    def setup():
        engine.state.invalidate()
        return (engine.batch(),), {}

    def run(batch):
        res = monthly.run_month(engine.reg, batch, engine.params, engine.period, engine.state)
        engine.period += 1
        return res

    res = benchmark.pedantic(run, setup=setup, rounds=_rounds(engine), iterations=1)
    assert res.decree and res.dtks > 0
    _per_household(benchmark, engine)


@pytest.fixture(scope="module")
def peer(engine):
    """The DuckDB peer on a copy of the engine's registry (after its first decree)."""
    pytest.importorskip("duckdb")
    from sim.bench.duckdb_peer import DuckPeer

    return DuckPeer(engine.reg, engine.params, threads=2)


def test_duckdb_cycle(benchmark, engine, peer):
    """The DuckDB peer's steady cycle (decree with a 1% batch, then disbursement)."""
    benchmark.group = f"monthly-{engine.n // 1_000_000}m-cycle"
    period = [engine.period + 1000]
    if not peer.verified:  # its first decree checks every row: not part of the steady cycle
        peer.run_month(engine.batch(), period[0])
        peer.disburse(period[0], 1)
        period[0] += 1

    def run(batch):
        peer.run_month(batch, period[0])
        peer.disburse(period[0], 1)
        period[0] += 1

    benchmark.pedantic(run, setup=lambda: ((engine.batch(),), {}), rounds=_rounds(engine),
                       iterations=1)
    _per_household(benchmark, engine)


def test_duckdb_full_decree(benchmark, engine, peer):
    """The DuckDB peer's full decree (unverified: every existing row re-checked)."""
    benchmark.group = f"monthly-{engine.n // 1_000_000}m-full-decree"
    period = [engine.period + 2000]

    def setup():
        peer.verified = False
        return (engine.batch(),), {}

    def run(batch):
        res = peer.run_month(batch, period[0])
        period[0] += 1
        return res

    res = benchmark.pedantic(run, setup=setup, rounds=_rounds(engine), iterations=1)
    assert res.dtks > 0
    _per_household(benchmark, engine)


def test_penetapan(benchmark, engine):
    """run_month alone (validate, dedupe, rank, select) with a 1% batch."""
    benchmark.group = f"monthly-{engine.n // 1_000_000}m-step"

    def run(batch):
        res = monthly.run_month(engine.reg, batch, engine.params, engine.period, engine.state)
        engine.period += 1
        return res

    res = benchmark.pedantic(run, setup=lambda: ((engine.batch(),), {}),
                             rounds=_rounds(engine), iterations=1)
    assert res.decree and res.recipients["bpnt"] > 0
    _per_household(benchmark, engine)


def test_validate_batch(benchmark, engine):
    """Step: NIK/KK/Dukcapil/score checks of a 1% batch."""
    benchmark.group = f"monthly-{engine.n // 1_000_000}m-step"
    b = engine.batch()
    reasons = benchmark(monthly.record_reasons, b["nik"], b["kk"], b["dukcapil_match"],
                        b["pmt_score"])
    assert len(reasons) == len(b)


def test_dedupe_lookup(benchmark, engine):
    """Step: find DTKS rows whose NIK or KK equals that of 1% accepted records (kept index)."""
    benchmark.group = f"monthly-{engine.n // 1_000_000}m-step"
    reg, st = engine.reg, engine.state
    rows = np.flatnonzero(reg["status"][: engine.n // 50] == 1)[: engine.n // 100]

    def lookup():
        return (st.nik_index.lookup(reg["nik"][rows], reg["nik"]),
                st.kk_index.lookup(reg["kk"][rows], reg["kk"]))

    hits, _ = benchmark.pedantic(lookup, rounds=_rounds(engine), iterations=1)
    assert np.isin(rows, hits).all()  # every DTKS row finds itself
    _per_household(benchmark, engine)


def test_rank(benchmark, engine):
    """Step: deciles of every row from the kept histogram (exact in boundary bins)."""
    benchmark.group = f"monthly-{engine.n // 1_000_000}m-step"
    n_dtks, counts = benchmark.pedantic(monthly._deciles, args=(engine.reg, engine.state),
                                        rounds=_rounds(engine), iterations=1)
    assert sum(counts) == n_dtks > 0
    _per_household(benchmark, engine)


def test_select(benchmark, engine):
    """Step: recipients per programme and kab/kota, entitlement totals (steady state)."""
    benchmark.group = f"monthly-{engine.n // 1_000_000}m-step"
    quota = engine.params.require_quota()

    def select():
        res = monthly.empty_result(engine.period)
        monthly._select(engine.reg, engine.state, engine.params, quota, res)
        return res

    res = benchmark.pedantic(select, rounds=_rounds(engine), iterations=1)
    assert res.recipients["pkh"] > 0
    _per_household(benchmark, engine)


def test_disburse(benchmark, engine):
    """Step: credit and settle one period for every household."""
    benchmark.group = f"monthly-{engine.n // 1_000_000}m-step"

    def run():
        res = disburse.disburse(engine.reg, engine.ledger, engine.params, engine.period, 1)
        engine.period += 1
        return res

    res = benchmark.pedantic(run, rounds=_rounds(engine), iterations=1)
    assert res.credits["bpnt"] > 0
    _per_household(benchmark, engine)
