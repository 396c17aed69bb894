"""Synthetic population benchmarks: generation at 1M and 10M, NIK checks, save and load.

Run with `make bench` or `pytest benchmarks/test_population_bench.py -m benchmark`. The 10M
cases run once (pedantic, one round): linear extrapolation from 10M to the national 94M is close
(measured on the project machine: 10M in 4.7 s, 94M in 40 s with 4.8 GiB peak RSS).
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.registry import nik, population
from sim.registry.table import load, save

pytestmark = pytest.mark.benchmark


@pytest.fixture(scope="module")
def reg10m():
    return population.generate(10_000_000, 1)


@pytest.mark.benchmark(group="population-generate")
def test_generate_1m(benchmark):
    reg = benchmark.pedantic(population.generate, args=(1_000_000, 1), rounds=3, iterations=1,
                             warmup_rounds=1)
    assert len(reg) == 1_000_000
    benchmark.extra_info["households_per_s"] = 1_000_000 / benchmark.stats.stats.median


@pytest.mark.benchmark(group="population-generate")
def test_generate_10m(benchmark):
    reg = benchmark.pedantic(population.generate, args=(10_000_000, 2), rounds=1, iterations=1)
    assert len(reg) == 10_000_000
    seconds = benchmark.stats.stats.median
    benchmark.extra_info["households_per_s"] = 10_000_000 / seconds
    benchmark.extra_info["extrapolated_94m_s"] = seconds * 9.4


@pytest.mark.benchmark(group="population-nik")
def test_nik_reasons_10m(benchmark, reg10m):
    reasons = benchmark.pedantic(nik.nik_reasons, args=(reg10m["nik"],), rounds=2, iterations=1)
    assert np.count_nonzero(reasons) == reg10m.meta["counts"]["invalid_nik"]


@pytest.mark.benchmark(group="population-io")
def test_save_10m(benchmark, reg10m, tmp_path):
    benchmark.pedantic(save, args=(reg10m, tmp_path / "r"), rounds=2, iterations=1)
    assert (tmp_path / "r" / "meta.json").is_file()


@pytest.mark.benchmark(group="population-io")
def test_load_10m(benchmark, reg10m, tmp_path):
    save(reg10m, tmp_path / "r")
    back = benchmark.pedantic(load, args=(tmp_path / "r",), rounds=3, iterations=1)
    assert np.array_equal(back["nik"], reg10m["nik"])


@pytest.mark.benchmark(group="population-calibration")
def test_calibrate_pmt_sigma(benchmark):
    sigma, _ = benchmark.pedantic(population.calibrate_pmt_sigma, rounds=1, iterations=1)
    assert abs(sigma - population.PMT_SIGMA) < 0.02
