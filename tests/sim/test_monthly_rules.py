"""Each rule of docs/monthly.md on hand-made households, on both engines.

Every test runs the same scenario through `sim.hotpath.monthly` and `sim.hotpath.reference` (the
`engine`
fixture) and checks the outcome the specification names.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim.hotpath import changes as ch
from sim.hotpath import disburse as fast_d
from sim.hotpath import monthly, reference
from sim.params import N_KABKOTA, Params
from sim.registry import population
from sim.registry.table import (
    STATUS_BARRED,
    STATUS_DIED,
    STATUS_IN_DTKS,
    STATUS_NOT_IN_DTKS,
    STATUS_REMOVED,
    Registry,
)

_POP = population.generate(300, 5)
_VALID = np.flatnonzero(monthly.record_reasons(_POP["nik"], _POP["kk"], _POP["dukcapil_match"],
                                                _POP["pmt_score"]) == 0)
NIKS = _POP["nik"][_VALID]
KKS = _POP["kk"][_VALID]


def make(scores, *, status=STATUS_IN_DTKS, kab=None, programmes=0, **cols) -> Registry:
    """A registry of len(scores) valid, distinct households in DTKS (kab/kota 0 by default)."""
    n = len(scores)
    base = {"nik": NIKS[:n], "kk": KKS[:n], "pmt_score": np.array(scores, dtype=np.float32),
            "kabkota": np.zeros(n) if kab is None else np.array(kab), "size": np.full(n, 4),
            "dukcapil_match": np.ones(n, bool), "status": np.full(n, status),
            "programmes": np.full(n, programmes), "n_sd": np.ones(n)}
    reg = Registry.empty(n)
    for name, values in {**base, **cols}.items():
        reg.columns[name][:] = np.broadcast_to(np.asarray(values), (n,))
    return reg


def quota(bpnt=100, pkh=100, pbi=100) -> np.ndarray:
    q = np.zeros((3, N_KABKOTA), dtype=np.int64)
    q[0], q[1], q[2] = bpnt, pkh, pbi
    return q


ALL = tuple(bool(d) for d in range(11))
PARAMS = Params(quota=quota(), eligible_desil=(ALL, ALL, ALL))


def batch(*records: dict) -> ch.ChangeBatch:
    keys = ch.COLUMNS
    return ch.ChangeBatch.from_columns({k: np.array([r.get(k, 0) for r in records])
                                        for k in keys})


def data_record(reg: Registry, row: int, kind: int = ch.UPDATE, **over) -> dict:
    rec = {name: reg[name][row].item() for name in ch.DATA_COLUMNS}
    rec.update(kind=kind, row=row, **over)
    return rec


@pytest.fixture(params=["numpy", "reference"])
def engine(request):
    """`run(registry, batch, params, period)` through one of the two engines."""
    if request.param == "numpy":
        state = monthly.MonthlyState()
        return lambda r, b, p=PARAMS, t=0: monthly.run_month(r, b, p, t, state)
    return lambda r, b, p=PARAMS, t=0: reference.run_month(r, b, p, t)


@pytest.mark.parametrize("reason", ch.REQUEST_REASONS)
def test_each_removal_request_removes_with_its_reason(engine, reason) -> None:
    reg = make([1.0, 2.0, 3.0], programmes=7)
    engine(reg, ch.ChangeBatch.empty())
    res = engine(reg, batch({"kind": ch.REMOVE, "row": 1, "reason": reason}), t=1)
    gone = STATUS_DIED if reason == ch.DIED else STATUS_REMOVED
    assert reg["status"].tolist() == [STATUS_IN_DTKS, gone, STATUS_IN_DTKS]
    assert reg["programmes"][1] == 0 and reg["desil"][1] == 0
    assert res.removed[ch.REMOVAL_REASONS[reason]] == 1
    assert res.left["bpnt"]["removed"] == 1


DTSEN = dataclasses.replace(PARAMS, ranks_population=True)


@pytest.mark.parametrize("reason", ch.REQUEST_REASONS)
def test_dtsen_era_removal_keeps_the_rank_unless_the_family_died(engine, reason) -> None:
    """DTSEN ranks every family of the population [DTSEN-2025-07]: a family removed by any
    request but death stays in the deciles, barred from every programme (docs/monthly.md §2.5)."""
    reg = make([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], programmes=7)
    engine(reg, ch.ChangeBatch.empty(), DTSEN)
    res = engine(reg, batch({"kind": ch.REMOVE, "row": 0, "reason": reason}), DTSEN, 1)
    assert res.removed[ch.REMOVAL_REASONS[reason]] == 1
    assert reg["programmes"][0] == 0 and res.left["bpnt"]["removed"] == 1
    if reason == ch.DIED:  # left the population: unranked, the others re-ranked without it
        assert reg["status"][0] == STATUS_DIED and reg["desil"][0] == 0
        assert res.dtks == 9
        assert reg["desil"][1:].tolist() == [1 + 10 * r // 9 for r in range(9)]
    else:  # still the poorest family of the population, and no programme
        assert reg["status"][0] == STATUS_BARRED and reg["desil"][0] == 1
        assert res.dtks == 10 and reg["desil"].tolist() == list(range(1, 11))
        assert res.recipients["bpnt"] == 9


def test_barred_family_is_ranked_but_needs_a_proposal(engine) -> None:
    reg = make([1.0, 2.0, 3.0], programmes=7)
    engine(reg, ch.ChangeBatch.empty(), DTSEN)
    engine(reg, batch({"kind": ch.REMOVE, "row": 0, "reason": ch.RESIGNED}), DTSEN, 1)
    res = engine(reg, batch(data_record(reg, 0), {"kind": ch.REMOVE, "row": 0,
                                                  "reason": ch.DIED}), DTSEN, 2)
    assert res.rejected["not_in_dtks"] == 2  # an update or a removal of a barred row: refused
    assert reg["status"][0] == STATUS_BARRED and reg["programmes"][0] == 0
    engine(reg, batch(data_record(reg, 0, kind=ch.PROPOSE)), DTSEN, 3)
    assert reg["status"][0] == STATUS_IN_DTKS and reg["programmes"][0] == 7


def test_dtks_era_removal_unranks_every_reason(engine) -> None:
    reg = make([1.0, 2.0, 3.0], programmes=7)
    engine(reg, ch.ChangeBatch.empty())
    res = engine(reg, batch({"kind": ch.REMOVE, "row": 0, "reason": ch.DECLARED_INELIGIBLE}),
                 t=1)
    assert reg["status"][0] == STATUS_REMOVED and reg["desil"][0] == 0 and res.dtks == 2


def test_pkh_family_without_qualifying_member_leaves_pkh_only(engine) -> None:
    reg = make([1.0, 2.0], programmes=7)
    engine(reg, ch.ChangeBatch.empty())
    res = engine(reg, batch(data_record(reg, 0, n_sd=0)), t=1)
    assert reg["programmes"].tolist() == [1 | 4, 7]
    assert res.left["pkh"]["no_qualifying_member"] == 1


def test_member_earning_minimum_wage_loses_the_excluded_programmes(engine) -> None:
    reg = make([1.0, 2.0], programmes=7)
    params = dataclasses.replace(PARAMS, umr_excludes=1 | 2)  # BPNT and PKH, not PBI
    engine(reg, ch.ChangeBatch.empty(), params)
    res = engine(reg, batch(data_record(reg, 1, earns_umr=True)), params, 1)
    assert reg["programmes"].tolist() == [7, 4]
    assert res.left["bpnt"]["umr"] == 1 and res.left["pkh"]["umr"] == 1


def test_decile_out_of_range_leaves(engine) -> None:
    reg = make([float(i) for i in range(10)], programmes=1)
    only_1_to_5 = tuple(1 <= d <= 5 for d in range(11))
    params = dataclasses.replace(PARAMS, eligible_desil=(only_1_to_5, ALL, ALL))
    res = engine(reg, ch.ChangeBatch.empty(), params)
    assert reg["desil"].tolist() == list(range(1, 11))
    assert (reg["programmes"] & 1).tolist() == [1] * 5 + [0] * 5
    assert res.left["bpnt"]["desil"] == 5


def test_invalid_and_duplicate_existing_rows_are_removed_first_time(engine) -> None:
    reg = make([1.0, 2.0, 3.0, 4.0])
    reg["dukcapil_match"][0] = False
    reg["nik"][2] = reg["nik"][3]  # row 2 and 3 share a NIK: the later row (3) stays
    res = engine(reg, ch.ChangeBatch.empty())
    assert reg["status"].tolist() == [STATUS_REMOVED, STATUS_IN_DTKS, STATUS_REMOVED,
                                      STATUS_IN_DTKS]
    assert res.removed["invalid"] == 1 and res.removed["duplicate"] == 1


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("nik", 3273010101900000, "nik_serial"), ("nik", 327301010190001, "nik_province"),
    ("kk", 3273014101900001, "kk_invalid"), ("dukcapil_match", False, "dukcapil"),
    ("pmt_score", float("nan"), "bad_score")])
def test_validation_rejects_with_reason(engine, field, value, reason) -> None:
    reg = make([1.0, 2.0], status=STATUS_NOT_IN_DTKS)
    res = engine(reg, batch(data_record(reg, 0, ch.PROPOSE, **{field: value})))
    assert res.rejected[reason] == 1
    assert reg["status"][0] == STATUS_NOT_IN_DTKS


def test_update_of_a_row_outside_dtks_is_rejected(engine) -> None:
    reg = make([1.0], status=STATUS_NOT_IN_DTKS)
    res = engine(reg, batch(data_record(reg, 0, ch.UPDATE)))
    assert res.rejected["not_in_dtks"] == 1 and reg["status"][0] == STATUS_NOT_IN_DTKS


def test_latest_proposal_wins_per_row_nik_and_kk(engine) -> None:
    reg = make([1.0, 2.0, 3.0, 4.0], status=STATUS_NOT_IN_DTKS)
    res = engine(reg, batch(
        data_record(reg, 0, ch.PROPOSE, pmt_score=5.0),
        data_record(reg, 0, ch.PROPOSE, pmt_score=6.0),            # same row: wins
        data_record(reg, 1, ch.PROPOSE, nik=int(NIKS[3])),         # loses to row 3 (later)
        data_record(reg, 2, ch.PROPOSE, kk=int(KKS[3])),           # loses to row 3 on KK
        data_record(reg, 3, ch.PROPOSE)))
    assert reg["pmt_score"][0] == 6.0
    assert reg["status"].tolist() == [STATUS_IN_DTKS, STATUS_NOT_IN_DTKS, STATUS_NOT_IN_DTKS,
                                      STATUS_IN_DTKS]
    assert res.rejected["superseded"] == 1
    assert res.rejected["duplicate_nik"] == 1 and res.rejected["duplicate_kk"] == 1


def test_accepted_proposal_removes_existing_row_with_same_nik(engine) -> None:
    reg = make([1.0, 2.0, 3.0])
    reg["status"][2] = STATUS_NOT_IN_DTKS
    engine(reg, ch.ChangeBatch.empty())
    res = engine(reg, batch(data_record(reg, 2, ch.PROPOSE, nik=int(NIKS[0]))), t=1)
    assert reg["status"].tolist() == [STATUS_REMOVED, STATUS_IN_DTKS, STATUS_IN_DTKS]
    assert res.removed["duplicate"] == 1


def test_equal_scores_rank_by_row(engine) -> None:
    reg = make([2.0, 1.0, 1.0, -0.0, 0.0], kab=[0, 0, 0, 0, 0])
    params = dataclasses.replace(PARAMS, quota=quota(bpnt=3))
    engine(reg, ch.ChangeBatch.empty(), params)
    # order: row 3 (-0.0), row 4 (+0.0, equal, later row), rows 1, 2 (1.0), row 0 (2.0)
    assert reg["desil"].tolist() == [9, 5, 7, 1, 3]
    assert (reg["programmes"] & 1).tolist() == [0, 1, 0, 1, 1]


def test_current_recipients_keep_their_place_and_vacancies_go_poorest_first(engine) -> None:
    reg = make([5.0, 1.0, 2.0, 3.0], programmes=0)
    reg["programmes"][0] = 1  # the richest already receives BPNT
    params = dataclasses.replace(PARAMS, quota=quota(bpnt=2))
    res = engine(reg, ch.ChangeBatch.empty(), params)
    assert (reg["programmes"] & 1).tolist() == [1, 1, 0, 0]
    assert res.entered["bpnt"] == 1
    # quota cut to 1: the poorer of the two current recipients stays
    params = dataclasses.replace(PARAMS, quota=quota(bpnt=1))
    res = engine(reg, ch.ChangeBatch.empty(), params, 1)
    assert (reg["programmes"] & 1).tolist() == [0, 1, 0, 0]
    assert res.left["bpnt"]["quota"] == 1


def test_quota_is_per_kabkota(engine) -> None:
    reg = make([1.0, 2.0, 3.0, 4.0], kab=[0, 1, 1, 0])
    q = quota(bpnt=0)
    q[0, 1] = 1
    q[0, 0] = 2
    engine(reg, ch.ChangeBatch.empty(), dataclasses.replace(PARAMS, quota=q))
    assert (reg["programmes"] & 1).tolist() == [1, 1, 0, 1]


@pytest.mark.parametrize(("counts", "annual"), [
    ({"n_early_child": 3, "n_sd": 0}, 2 * 3_000_000),                        # 2 early children
    ({"n_early_child": 2, "n_sd": 2}, 2 * 3_000_000 + 900_000),             # 3 children
    ({"n_sd": 1, "n_smp": 1, "n_disabled": 1, "n_elderly": 2},
     900_000 + 1_500_000 + 2_400_000 + 2_400_000),                          # 4 components
    ({"n_disabled": 3, "n_elderly": 3, "n_sd": 0}, 4 * 2_400_000),          # 4 dis+eld, 4 comp
    ({"n_pregnant": 3, "n_sd": 0}, 2 * 3_000_000),                          # 2 pregnancies
    ({"n_sma": 1, "n_pregnant": 1}, 2_000_000 + 900_000 + 3_000_000),       # default n_sd=1
])
def test_pkh_caps(counts, annual) -> None:
    reg = make([1.0], **counts)
    row = {m: int(reg[m][0]) for m in (*ch.MEMBER_COLUMNS, "size")}
    assert reference.pkh_annual(row, PARAMS) == annual
    fast = fast_d.pkh_annual({m: reg[m] for m in ch.MEMBER_COLUMNS}, PARAMS)
    assert fast.tolist() == [annual]


def test_entitlements_per_payment(engine) -> None:
    reg = make([1.0], programmes=7, size=3, n_sd=1, n_elderly=1)
    res = engine(reg, ch.ChangeBatch.empty())
    assert res.entitlement_total == {"bpnt": 200_000, "pkh": (900_000 + 2_400_000) * 3 // 12,
                                     "pbi": 3 * 42_000}


def test_non_decree_period_defers_the_batch(engine) -> None:
    reg = make([1.0, 2.0])
    params = dataclasses.replace(PARAMS, cadence_months=3)
    b = batch({"kind": ch.REMOVE, "row": 0, "reason": ch.RESIGNED})
    res = engine(reg, b, params, 4)
    assert not res.decree and res.deferred is b
    assert reg["status"][0] == STATUS_IN_DTKS


def test_unchanged_month_keeps_the_decree_and_counters() -> None:
    reg = make([3.0, 1.0, 2.0])
    params = dataclasses.replace(PARAMS, quota=quota(bpnt=2, pkh=1, pbi=3))
    state = monthly.MonthlyState()
    first = monthly.run_month(reg, ch.ChangeBatch.empty(), params, 0, state)
    before = reg.copy()
    again = monthly.run_month(reg, ch.ChangeBatch.empty(), params, 1, state)
    ref = reference.run_month(before.copy(), ch.ChangeBatch.empty(), params, 1)
    assert "unchanged" in again.timings
    assert again.counters() == ref.counters()
    assert again.recipients == first.recipients
    for name in before.columns:
        assert np.array_equal(before[name], reg[name])


def test_disbursement_credits_once_and_returns_unspent_money() -> None:
    reg = make([1.0], programmes=1)
    params = dataclasses.replace(PARAMS, redeem_bp=0, return_after_months=2,
                                 pkh_every=12, pbi_every=12)
    ledger = fast_d.DisbursementState.open(reg)
    r0 = fast_d.disburse(reg, ledger, params, 1, 0)
    assert r0.credited["bpnt"] == 200_000 and reg["balance"][0] == 200_000
    assert reg["unspent_months"][0] == 1
    ledger.cursor = 0
    again = fast_d.disburse(reg, ledger, params, 1, 0)
    assert again.skipped["bpnt"] == 1 and reg["balance"][0] == 200_000
    r1 = fast_d.disburse(reg, ledger, params, 2, 0)
    assert r1.returns == 1 and r1.returned == 400_000 and reg["balance"][0] == 0
    assert ledger.credited[0] == ledger.redeemed + ledger.returned + int(reg["balance"].sum())


def test_invariant_violation_is_reported() -> None:
    from kks_emulator.errors import LedgerInvariantError

    reg = make([1.0], programmes=1)
    ledger = fast_d.DisbursementState.open(reg)
    fast_d.disburse(reg, ledger, PARAMS, 1, 0)
    reg["balance"][0] += 1  # money created outside the ledger
    with pytest.raises(LedgerInvariantError, match="opening"):
        fast_d.disburse(reg, ledger, PARAMS, 2, 0)


def test_same_seed_same_bytes() -> None:
    def run(seed: int) -> bytes:
        reg = population.generate(2000, 3)
        from sim.params import params_for

        params = params_for(reg)
        state = monthly.MonthlyState()
        ledger = fast_d.DisbursementState.open(reg)
        for t in range(3):
            monthly.run_month(reg, ch.random_batch(reg, 100, seed + t), params, t, state)
            fast_d.disburse(reg, ledger, params, t, seed)
        return b"".join(reg[c].tobytes() for c in reg.columns)

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_pbi_quota_counts_persons_and_households_alongside(engine) -> None:
    """§2.9: PBI-JK's quota is in persons [PROG-2022]: the poorest households enter while their
    persons fit; a kab/kota over its person quota drops its richest holders and takes nobody."""
    reg = make([1.0, 2.0, 3.0, 4.0], size=[3, 5, 2, 1])
    pbi = lambda: ((reg["programmes"] & 4) != 0).tolist()  # noqa: E731
    res = engine(reg, ch.ChangeBatch.empty(), dataclasses.replace(PARAMS, quota=quota(pbi=7)))
    assert pbi() == [True, False, False, False]  # 3 persons; the next 5 would make 8 > 7
    assert res.recipients["pbi"] == 1 and res.recipients["bpnt"] == 4
    per_person = PARAMS.pbi_premium * PARAMS.pbi_every
    assert res.entitlement_total["pbi"] == 3 * per_person
    res = engine(reg, ch.ChangeBatch.empty(), dataclasses.replace(PARAMS, quota=quota(pbi=10)),
                 1)
    assert pbi() == [True, True, True, False] and res.entered["pbi"] == 2  # 3 + 5 + 2 = 10
    assert res.entitlement_total["pbi"] == 10 * per_person
    res = engine(reg, ch.ChangeBatch.empty(), dataclasses.replace(PARAMS, quota=quota(pbi=8)),
                 2)
    assert pbi() == [True, True, False, False]  # 10 > 8: the richest holder (2 persons) leaves
    assert res.left["pbi"]["quota"] == 1 and res.entered["pbi"] == 0
    assert res.recipients["pbi"] == 2 and res.entitlement_total["pbi"] == 8 * per_person
