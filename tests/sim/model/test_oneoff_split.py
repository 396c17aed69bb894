"""The one-off round's split over kab/kota (`sim.model.oneoff.split_quota`, docs/calibration.md
§8, BLTS 2025): by where the eligible deciles are, so the round reaches its national size."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model.oneoff import split_quota


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5_000), min_size=1, max_size=60), st.integers(-10, 200_000))
def test_split_sums_exactly_never_exceeds_and_is_proportional(eligible: list[int],
                                                              total: int) -> None:
    el = np.array(eligible, dtype=np.int64)
    out = split_quota(total, el)
    supply = int(el.sum())
    assert out.dtype == np.int64 and len(out) == len(el)
    assert int(out.sum()) == min(max(total, 0), supply)
    assert (out >= 0).all() and (out <= el).all()
    if supply:
        exact = el * (min(max(total, 0), supply) / supply)
        assert (np.abs(out - exact) < 1.0 + 1e-9).all()


def test_a_rich_kabkota_does_not_hold_back_the_round() -> None:
    """Split by population, kab/kota 0 (few eligible) would leave 300 of its 400 places empty
    while kab/kota 1's eligible families went unpaid; split by eligible the round is whole."""
    eligible = np.array([100, 900])
    out = split_quota(744, eligible)   # 0.372 of 2,000 households, 1,000 in each kab/kota
    assert out.tolist() == [74, 670] and out.sum() == 744
    by_population = np.minimum(np.array([372, 372]), eligible)
    assert by_population.sum() == 472


def test_round_recipients_follow_the_deciles_across_kabkota() -> None:
    """`recipients` on a register of two kab/kota of 1,000 households each, deciles 1-4 being
    100 of kab/kota 0 and 900 of kab/kota 1: the round takes 0.372 of all households, the
    poorest first inside each kab/kota, only from deciles 1-4."""
    from types import SimpleNamespace

    from sim.model.oneoff import recipients
    from sim.registry.table import STATUS_IN_DTKS

    n = 2000
    kab = np.repeat(np.array([0, 1], dtype=np.int16), 1000)
    desil = np.full(n, 8, dtype=np.int8)
    desil[:100] = 2
    desil[1000:1900] = 3
    score = np.random.default_rng(3).normal(size=n).astype(np.float32)
    class Columns(dict):  # the registry's columns; len() = rows, as `Registry`
        def __len__(self) -> int:
            return n

    reg = Columns(kabkota=kab, status=np.full(n, STATUS_IN_DTKS), desil=desil, pmt_score=score)
    rows = recipients(SimpleNamespace(registry=reg, frame=SimpleNamespace(kab_rel=None)),
                      0.372, 4)
    assert len(rows) == 744 and (desil[rows] <= 4).all()
    assert np.count_nonzero(kab[rows] == 0) == 74
    kept = rows[kab[rows] == 1]
    left = np.setdiff1d(np.arange(1000, 1900), kept)
    assert score[kept].max() <= score[left].min()
