"""The worker's memory cuts compute the same values as the whole-region code they replace
(docs/distributed.md §5): per-household draws made one block of rows at a time, and the
catchments computed one kecamatan at a time, against plain references."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model import lean, redemption


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3 * lean.BLOCK + 7), width=st.sampled_from([0, 1, 3]),
       picks=st.integers(0, 400), seed=st.integers(0, 2**32 - 1))
def test_draws_in_blocks_are_the_whole_region_draws(n: int, width: int, picks: int,
                                                    seed: int) -> None:
    """`lean.picked(draw, n, rows)` is ``draw(n)[rows]`` for rows in any order (uniforms,
    log-normals, gammas: every draw the credit day makes), and the generator is left where one
    whole call leaves it."""
    pick = np.random.default_rng(seed ^ 0x5EED)
    rows = pick.integers(0, n, picks).astype(np.int64)
    shape = (n, width) if width else n
    for make in (lambda g: g.random, lambda g: lambda s: g.lognormal(-4.0, 0.6, s),
                 lambda g: lambda s: g.gamma(2.5, 0.4, s)):
        whole, blocks = np.random.default_rng(seed), np.random.default_rng(seed)
        expected = make(whole)(shape)[rows]
        got = lean.picked(make(blocks), n, rows, width)
        assert got.shape == expected.shape
        assert np.array_equal(got, expected)
        assert whole.random() == blocks.random()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 3 * lean.BLOCK + 5), p=st.floats(0.0, 1.0),
       seed=st.integers(0, 2**32 - 1))
def test_rows_below_in_blocks_are_the_whole_region_rows(n: int, p: float, seed: int) -> None:
    """`lean.below` is ``flatnonzero(rng.random(n) < p)``, and leaves the generator where
    that call does."""
    whole, blocks = np.random.default_rng(seed), np.random.default_rng(seed)
    expected = np.flatnonzero(whole.random(n) < p)
    got = lean.below(blocks, n, p)
    assert got.dtype == np.int64
    assert np.array_equal(got, expected)
    assert whole.random() == blocks.random()


def _catchments_per_row(vkec, vdesa, n_kec, agents_kec):
    """Plain reference: each row's position among its kecamatan's rows (in row order) gives
    its run of the kecamatan's equal cuts; the agent sits in the desa of the run's middle row."""
    members: dict[int, list[int]] = {}
    for row, k in enumerate(vkec.tolist()):
        members.setdefault(k, []).append(row)
    idx = [0] * len(vkec)
    hops = [0] * len(vkec)
    for k, rows in members.items():
        m, kk = len(rows), max(int(agents_kec[k]), 1)
        for pos, row in enumerate(rows):
            j = pos * kk // m
            mid = min(((2 * j + 1) * m) // (2 * kk), m - 1)
            idx[row] = j
            hops[row] = abs(int(vdesa[row]) - int(vdesa[rows[mid]]))
    return idx, hops


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 300), n_kec=st.integers(1, 9), desa=st.integers(1, 40_000),
       sort=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_catchments_per_kecamatan_match_the_per_row_rule(n: int, n_kec: int, desa: int,
                                                         sort: bool, seed: int) -> None:
    """`catchments` (one kecamatan at a time, int16/int32 columns) against the per-row rule."""
    rng = np.random.default_rng(seed)
    vkec = rng.integers(0, n_kec, n)
    vkec = (np.sort(vkec) if sort else vkec).astype(np.int16)
    vdesa = rng.integers(0, desa, n).astype(np.int32)
    agents_kec = rng.integers(0, 50, n_kec)
    idx, hops = redemption.catchments(vkec, vdesa, n_kec, agents_kec)
    ref_idx, ref_hops = _catchments_per_row(vkec, vdesa, n_kec, agents_kec)
    assert idx.dtype in (np.int16, np.int32) and hops.dtype in (np.int16, np.int32)
    assert idx.tolist() == ref_idx
    assert hops.tolist() == ref_hops


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2**40), max_size=40), st.sampled_from([2**15 - 1, 2**31 - 1, 2**40]))
def test_narrow_keeps_every_value_in_the_smallest_type(values: list[int], top: int) -> None:
    """`lean.narrow` gives int16 / int32 / int64 by the largest value and changes no value;
    `lean.ints` walks a column block by block as the whole `tolist`."""
    a = np.asarray([min(v, top) for v in values], dtype=np.int64)
    out = lean.narrow(a)
    largest = int(a.max()) if len(a) else 0
    want = np.int16 if largest < 2**15 else np.int32 if largest < 2**31 else np.int64
    assert out.dtype == want and out.tolist() == a.tolist()
    assert list(lean.ints(np.tile(a, 2000))) == np.tile(a, 2000).tolist()
