"""`targeting.poorest` (selection) picks exactly the rows a stable sort would (property test
against a plain per-row reference)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model.targeting import deciles, poorest, target_groups

#: few distinct values, so ties (broken by row) are common; NaN sorts last
VALUES = st.lists(st.sampled_from([-1.5, 0.0, 0.25, 2.0, 7.0, math.nan, -math.inf, math.inf]),
                  max_size=60)


def _reference(values: list[float], k: int) -> list[bool]:
    """The first *k* rows of the stable ascending order, NaN last, ties by row: one by one."""
    order = sorted(range(len(values)),
                   key=lambda i: (math.isnan(values[i]),
                                  0.0 if math.isnan(values[i]) else values[i], i))
    chosen = set(order[:max(k, 0)])
    return [i in chosen for i in range(len(values))]


@settings(max_examples=400, deadline=None)
@given(VALUES, st.integers(-2, 64))
def test_poorest_is_the_head_of_the_stable_order(values: list[float], k: int) -> None:
    got = poorest(np.asarray(values, dtype=np.float64), k)
    assert got.dtype == bool and got.tolist() == _reference(values, k)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False, width=32), max_size=200),
       st.floats(0, 1), st.floats(0, 1))
def test_target_groups_are_the_shares_of_the_stable_ranking(values, kem, ala) -> None:
    """The groups as they were computed before the selection: ranks of a stable argsort."""
    log_c = np.asarray(values, dtype=np.float64)
    n = len(log_c)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(log_c, kind="stable")] = np.arange(n)
    groups = target_groups(log_c, {"kemensos": kem, "alatas": ala})
    for name, share in (("kemensos", kem), ("alatas", ala)):
        assert np.array_equal(groups[name], rank < round(share * n)), name


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([-2.0, 0.0, 0.5, 3.0, 11.0]), max_size=80))
def test_deciles_are_the_stable_ranks_in_tenths(values: list[float]) -> None:
    """`deciles` (nine selections) against the rank of each row in a stable sort: 10 r // n + 1."""
    arr = np.asarray(values, dtype=np.float64)
    n = len(arr)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(arr, kind="stable")] = np.arange(n)
    assert deciles(arr).tolist() == ((rank * 10) // max(n, 1) + 1).tolist()
    # the weighted path with a weight of one per row is the same ranking
    if n:
        assert deciles(arr, np.ones(n)).tolist() == deciles(arr).tolist()
