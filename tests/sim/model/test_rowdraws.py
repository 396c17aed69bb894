"""Hashed per-household draws: the array path equals the scalar path, draws look uniform."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model import rowdraws


@settings(max_examples=200, deadline=None)
@given(key=st.integers(0, 2**64 - 1),
       rows=st.lists(st.integers(0, 2**40), min_size=1, max_size=50),
       width=st.integers(1, 12))
def test_array_path_equals_scalar_path(key, rows, width) -> None:
    u = rowdraws.Uniforms(key, width)
    arr = np.array(rows, dtype=np.int64)
    assert u[arr].tolist() == [u[r] for r in rows]
    assert [u[r, 0] for r in rows] == [u[r] for r in rows]
    assert all(0.0 <= u[r, width - 1] < 1.0 for r in rows)


def test_draws_are_uniform_and_keyed() -> None:
    rows = np.arange(200_000, dtype=np.int64)
    a = rowdraws.Uniforms(12345)[rows]
    b = rowdraws.Uniforms(12347)[rows]
    counts = np.bincount((a * 20).astype(np.int64), minlength=20)
    assert abs(counts - 10_000).max() < 500  # ~5 sd of a binomial(200k, 1/20)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01


def test_lognormal_median() -> None:
    ln = rowdraws.LogNormals(99, median=7.0, sigma=0.5)
    x = np.array([ln[r] for r in range(20_000)])
    assert abs(np.median(x) - 7.0) < 0.15
    assert abs(np.log(x).std() - 0.5) < 0.02
