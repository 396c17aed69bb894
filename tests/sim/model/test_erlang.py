"""Validity: the e-warong agent fed Poisson arrivals and exponential service is an M/M/c queue,
so its mean wait must match Erlang C (docs/performance.md §2: lambda=8, mu=1, c=10 ->
Wq=0.20459)."""

from __future__ import annotations

import math

import numpy as np
import simpy

from sim.model.redemption import Agent
from sim.scenario.streams import Streams

LAM, MU, C = 8.0, 1.0, 10


def erlang_c_wq(lam: float, mu: float, c: int) -> float:
    """Mean queue wait of M/M/c by the Erlang C formula."""
    a = lam / mu
    rho = a / c
    top = a**c / math.factorial(c) / (1 - rho)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c * mu - lam)


def test_erlang_c_formula_matches_perf_baselines() -> None:
    assert abs(erlang_c_wq(LAM, MU, C) - 0.204590) < 5e-6


def test_ewarong_queue_matches_erlang_c() -> None:
    warmup, batches, per_batch = 10_000, 20, 10_000
    n = warmup + batches * per_batch
    rng = Streams(7).get("ewarong.validation")
    gaps = rng.exponential(1 / LAM, n)
    service = rng.exponential(1 / MU, n)
    env = simpy.Environment()
    agent = Agent(env, C)  # no stock: an EDC counter pool
    waits: list[float] = []

    def source():
        for g, s in zip(gaps.tolist(), service.tolist(), strict=True):
            yield env.timeout(g)
            served, _, wait = agent.arrive(env.now, s)  # no patience: always served
            assert served
            waits.append(wait)

    env.process(source())
    env.run()
    assert len(waits) == n
    w = np.asarray(waits[warmup:])
    means = w.reshape(batches, per_batch).mean(axis=1)
    grand = float(means.mean())
    half = 2.093 * float(means.std(ddof=1)) / math.sqrt(batches)  # t(0.975, 19)
    wq = erlang_c_wq(LAM, MU, C)
    assert abs(grand - wq) <= half, f"simulated Wq {grand:.5f} +- {half:.5f} vs Erlang C {wq:.5f}"
    assert half < 0.05, "confidence interval too wide to be a test"
