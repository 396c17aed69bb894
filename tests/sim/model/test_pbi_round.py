"""A PBI-JK deactivation round (sim/model/pbi_round.py): richest first, to its share of the
PBI-JK persons held (members in other JKN segments not counted)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model.pbi_round import apply_round, round_rows
from sim.registry.table import (
    PROG_BPNT,
    PROG_PBI,
    STATUS_IN_DTKS,
    STATUS_NOT_IN_DTKS,
    pbi_persons,
)


def _registry(scores, sizes, programmes, status, others=None) -> dict[str, np.ndarray]:
    return {"pmt_score": np.asarray(scores, dtype=np.float32),
            "size": np.asarray(sizes, dtype=np.uint8),
            "n_other_jkn": np.asarray(others if others is not None else [0] * len(sizes),
                                      dtype=np.uint8),
            "programmes": np.asarray(programmes, dtype=np.uint8),
            "status": np.asarray(status, dtype=np.int8)}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-50, 50), st.integers(1, 9), st.booleans(), st.booleans(),
                          st.integers(0, 9)),
                min_size=1, max_size=60),
       st.floats(0.01, 1.0))
def test_round_takes_the_richest_holders_until_its_share_of_persons(rows, share) -> None:
    reg = _registry([r[0] / 10 for r in rows], [r[1] for r in rows],
                    [int(PROG_PBI) if r[2] else int(PROG_BPNT) for r in rows],
                    [int(STATUS_IN_DTKS) if r[3] else int(STATUS_NOT_IN_DTKS) for r in rows],
                    [r[4] for r in rows])
    held = np.flatnonzero(((reg["programmes"] & PROG_PBI) != 0)
                          & (reg["status"] == STATUS_IN_DTKS))
    out = round_rows(reg, share)
    if not len(held):
        assert len(out) == 0
        return
    assert set(out.tolist()) <= set(held.tolist()) and len(out) >= 1
    pbi = pbi_persons(reg["size"], reg["n_other_jkn"]).astype(int)
    persons = pbi[held].sum()
    taken = pbi[out].sum()
    # enough persons, and without its last (poorest) household the round would fall short
    assert taken >= min(share * persons, persons) - 1e-9
    score = reg["pmt_score"]
    left = np.setdiff1d(held, out)
    if len(left):
        assert score[out].min() >= score[left].max()
        last = out[np.lexsort((-out, -score[out].astype(np.float64)))[-1]]
        assert taken - int(pbi[last]) < share * persons


def test_apply_round_clears_only_the_pbi_bit() -> None:
    reg = _registry([3.0, 1.0, 2.0, 0.5], [4, 2, 3, 5], [int(PROG_PBI | PROG_BPNT)] * 4,
                    [int(STATUS_IN_DTKS)] * 4)
    rows = apply_round(reg, 0.25)  # 14 persons: the richest household (4) reaches 3.5
    assert rows.tolist() == [0]
    assert reg["programmes"].tolist() == [int(PROG_BPNT)] + [int(PROG_PBI | PROG_BPNT)] * 3
    assert len(apply_round(reg, 0.0)) == 0
