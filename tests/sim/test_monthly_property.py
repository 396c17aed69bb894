"""Property tests: the numpy engine and the plain-Python reference agree, month after month.

Random small registries (few kab/kota, a small pool of NIKs and KKs so duplicates happen, few
distinct scores so ties happen, -0.0 among them), random change batches and random params; over
several consecutive periods both engines must leave identical registry columns, ledgers and
counters, including a rerun of the same period and a resume after an interruption.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.hotpath import changes as ch
from sim.hotpath import disburse as fast_d
from sim.hotpath import keyindex, monthly, reference
from sim.params import N_KABKOTA, Params
from sim.registry import population
from sim.registry.table import SCHEMA, Registry

_POP = population.generate(400, 11)
VALID_NIK = _POP["nik"][:40].tolist()
VALID_KK = _POP["kk"][:40].tolist()
BAD_NIK = [VALID_NIK[0] % 10**15, VALID_NIK[1] - VALID_NIK[1] % 10_000, -5, 10**16 + 3]
SCORES = [-1.5, -0.0, 0.0, 0.25, 0.25, 1.0, 2.5, 7.75, 13.0]
KABS = 3

nik_st = st.one_of(st.sampled_from(VALID_NIK), st.sampled_from(VALID_NIK),
                   st.sampled_from(BAD_NIK))
kk_st = st.one_of(st.sampled_from(VALID_KK), st.sampled_from(VALID_KK),
                  st.sampled_from([VALID_KK[0] % 10**15, VALID_KK[2] + 40 * 10**8]))
score_st = st.one_of(st.sampled_from(SCORES), st.sampled_from(SCORES),
                     st.floats(-5, 20, width=32), st.sampled_from([float("nan")]))
count_st = st.integers(0, 3)


@st.composite
def registries(draw) -> Registry:
    """A small registry with every SCHEMA column."""
    n = draw(st.integers(1, 40))

    def col(strategy):
        return draw(st.lists(strategy, min_size=n, max_size=n))

    cols = {
        "nik": col(nik_st), "kk": col(kk_st), "desa": [0] * n,
        "kabkota": col(st.integers(0, KABS - 1)), "province": [0] * n,
        "size": col(st.integers(1, 8)), "earns_umr": col(st.booleans()),
        # members in another JKN segment: up to more than the household has (clipped)
        "n_other_jkn": col(st.sampled_from([0, 0, 0, 1, 2, 9])),
        "consumption": [1] * n, "pmt_score": col(score_st),
        "dukcapil_match": col(st.sampled_from([True, True, True, False])),
        "status": col(st.sampled_from([0, 1, 1, 1, 2, 3, 4])), "desil": [0] * n,
        "programmes": col(st.integers(0, 7)), "bank": [0] * n,
        "balance": col(st.sampled_from([0, 0, 5, 150_000, 1_234_567])),
        "unspent_months": col(st.integers(0, 4)),
    }
    for m in ch.MEMBER_COLUMNS:
        cols[m] = col(count_st)
    reg = Registry.from_columns({k: np.array(v) for k, v in cols.items()})
    assert set(reg.columns) == set(SCHEMA)
    return reg


@st.composite
def batches(draw, n: int) -> ch.ChangeBatch:
    """A change batch of up to 25 records against rows 0..n-1."""
    m = draw(st.integers(0, 25))
    recs = {name: [] for name in ch.COLUMNS}
    for _ in range(m):
        kind = draw(st.sampled_from([ch.PROPOSE, ch.UPDATE, ch.REMOVE]))
        recs["kind"].append(kind)
        recs["row"].append(draw(st.integers(0, n - 1)))
        recs["reason"].append(draw(st.sampled_from(ch.REQUEST_REASONS)) if kind == ch.REMOVE else 0)
        data = kind != ch.REMOVE
        recs["nik"].append(draw(nik_st) if data else 0)
        recs["kk"].append(draw(kk_st) if data else 0)
        recs["size"].append(draw(st.integers(1, 8)) if data else 0)
        for c in ch.MEMBER_COLUMNS:
            recs[c].append(draw(count_st) if data else 0)
        recs["earns_umr"].append(draw(st.booleans()) if data else False)
        recs["pmt_score"].append(draw(score_st) if data else 0.0)
        recs["dukcapil_match"].append(
            draw(st.sampled_from([True, True, False])) if data else False)
    return ch.ChangeBatch.from_columns({k: np.array(v) for k, v in recs.items()})


@st.composite
def params_st(draw) -> Params:
    """Random params: deciles, UMR rule, caps, cadences, redemption, quotas for KABS kab/kota."""
    quota = np.zeros((3, N_KABKOTA), dtype=np.int64)
    quota[:, :KABS] = np.array(draw(st.lists(st.integers(0, 8), min_size=3 * KABS,
                                             max_size=3 * KABS))).reshape(3, KABS)

    def mask():
        lo = draw(st.integers(1, 10))
        hi = draw(st.integers(lo, 10))
        return tuple(lo <= d <= hi for d in range(11))

    # a registry sampled at several fractions: unequal weights per kab/kota in the deciles
    weight = None
    if draw(st.booleans()):
        weight = np.ones(N_KABKOTA, dtype=np.int64)
        weight[:KABS] = draw(st.lists(st.sampled_from([1, 2, 3, 7, 1000, 33_333]),
                                      min_size=KABS, max_size=KABS))

    return Params(
        cadence_months=draw(st.sampled_from([1, 1, 2])),
        eligible_desil=(mask(), mask(), mask()),
        umr_excludes=draw(st.integers(0, 7)), quota=quota, desil_weight=weight,
        bpnt_every=draw(st.integers(1, 2)), pkh_every=draw(st.integers(1, 3)),
        pbi_every=draw(st.integers(1, 2)),
        pkh_max_components=draw(st.integers(0, 5)), pkh_max_children=draw(st.integers(0, 4)),
        pkh_max_early_child=draw(st.integers(0, 3)),
        pkh_max_disabled_elderly=draw(st.integers(0, 4)),
        pkh_max_pregnant=draw(st.integers(0, 2)),
        redeem_bp=draw(st.sampled_from([0, 5000, 9000, 10000])),
        full_spend_bp=draw(st.sampled_from([0, 7000, 10000])),
        partial_min_bp=draw(st.sampled_from([0, 3000, 9999])),
        return_after_months=draw(st.integers(0, 3)),
        arrears_tranches=draw(st.sampled_from([0, 0, 1, 2, 255])),
        paused=draw(st.sampled_from([0, 0, 0, 1, 2, 3])),
        # the DTSEN era: removals other than deaths stay ranked, barred from programmes
        ranks_population=draw(st.booleans()),
    )


def payable_st(n: int):
    """No payable mask (everybody may be paid) or a random one."""
    return st.none() | st.lists(st.booleans(), min_size=n, max_size=n).map(
        lambda v: np.array(v, dtype=bool))


def assert_same(a: Registry, b: Registry, where: str) -> None:
    for name in SCHEMA:
        assert np.array_equal(a[name], b[name], equal_nan=True), f"{where}: column {name}"


def assert_same_ledger(a: fast_d.DisbursementState, b: fast_d.DisbursementState,
                       where: str) -> None:
    assert np.array_equal(a.last_credit, b.last_credit), f"{where}: last_credit"
    assert np.array_equal(a.last_settled, b.last_settled), f"{where}: last_settled"
    zeros = np.zeros((3, len(a.last_settled)), dtype=np.uint8)
    owed_a = zeros if a.owed is None else a.owed
    owed_b = zeros if b.owed is None else b.owed
    assert np.array_equal(owed_a, owed_b), f"{where}: owed"
    for f in ("funded", "credited", "redeemed", "returned", "cursor", "period", "stats"):
        assert getattr(a, f) == getattr(b, f), f"{where}: ledger {f}"


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_engines_agree_over_months(data) -> None:
    reg = data.draw(registries())
    params = data.draw(params_st())
    seed = data.draw(st.integers(0, 2**32))
    a, b = reg.copy(), reg.copy()
    state = monthly.MonthlyState()
    la, lb = fast_d.DisbursementState.open(a), fast_d.DisbursementState.open(b)
    period = data.draw(st.integers(0, 5))
    for month in range(4):
        batch = data.draw(batches(len(reg))) if data.draw(st.booleans()) else ch.ChangeBatch.empty()
        if month and data.draw(st.booleans()):
            state.invalidate()  # a full decree on a registry that has had decrees
        # programmes with their own decree schedule: some lists stand at some decrees
        params = dataclasses.replace(params, standing=data.draw(
            st.sampled_from([0, 0, 0, 1, 2, 4, 5, 7])))
        ra = monthly.run_month(a, batch, params, period, state)
        rb = reference.run_month(b, batch, params, period)
        where = f"month {month} period {period}"
        assert ra.counters() == rb.counters(), where
        assert_same(a, b, where)
        stop = data.draw(st.none() | st.integers(0, len(reg)))
        pay = data.draw(payable_st(len(reg)))
        if stop is not None:
            with contextlib.suppress(fast_d.DisbursementInterrupted):
                fast_d.disburse(a, la, params, period, seed, stop_after_rows=stop, payable=pay)
        da = fast_d.disburse(a, la, params, period, seed, payable=pay)
        db = reference.disburse(b, lb, params, period, seed, payable=pay)
        assert da.counters() == db.counters(), where
        assert_same(a, b, where)
        assert_same_ledger(la, lb, where)
        if data.draw(st.booleans()):  # rerun the same period with a lost cursor: no money moves
            before = a["balance"].copy()
            owed = None if la.owed is None else la.owed.copy()
            la.cursor = 0
            again = fast_d.disburse(a, la, params, period, seed, payable=pay)
            assert np.array_equal(before, a["balance"])
            assert again.credited == da.credited and again.redeemed == da.redeemed
            assert again.withheld == da.withheld
            assert owed is None or np.array_equal(owed, la.owed)  # nothing owed twice
            lb.cursor = 0
            reference.disburse(b, lb, params, period, seed, payable=pay)
            assert_same_ledger(la, lb, where + " rerun")
        period += data.draw(st.integers(1, 2))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_equal_decile_weights_rank_as_no_weights(data) -> None:
    """Every household weighing the same c ranks exactly as unweighted, in both twins."""
    reg = data.draw(registries())
    params = dataclasses.replace(data.draw(params_st()), desil_weight=None, cadence_months=1)
    c = data.draw(st.sampled_from([1, 5, 1000]))
    weighted = dataclasses.replace(params, desil_weight=np.full(N_KABKOTA, c, dtype=np.int64))
    out = []
    for p, engine in ((params, monthly.run_month), (weighted, monthly.run_month),
                      (weighted, reference.run_month)):
        r = reg.copy()
        engine(r, ch.ChangeBatch.empty(), p, 0)
        out.append(r["desil"])
    assert np.array_equal(out[0], out[1]) and np.array_equal(out[0], out[2])


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_reference_interrupted_anywhere_equals_uninterrupted(data) -> None:
    reg = data.draw(registries())
    params = data.draw(params_st())
    reference.run_month(reg, ch.ChangeBatch.empty(), dataclasses.replace(params, cadence_months=1),
                        0)
    a, b = reg.copy(), reg.copy()
    la, lb = fast_d.DisbursementState.open(a), fast_d.DisbursementState.open(b)
    stops = data.draw(st.lists(st.integers(0, len(reg)), max_size=3))
    for stop in stops:
        with contextlib.suppress(fast_d.DisbursementInterrupted):
            reference.disburse(a, la, params, 6, 99, stop_after_rows=stop)
    ra = reference.disburse(a, la, params, 6, 99)
    rb = fast_d.disburse(b, lb, params, 6, 99)
    assert ra.counters() == rb.counters()
    assert_same(a, b, "interrupted")


def test_nik_reason_matches_vectorized_validator() -> None:
    from sim.registry.nik import nik_reasons

    values = np.concatenate([_POP["nik"], _POP["kk"], np.array(BAD_NIK),
                             np.random.default_rng(3).integers(0, 10**16, 2000)])
    fast = nik_reasons(values).tolist()
    assert [reference.nik_reason(v) for v in values.tolist()] == fast


def test_engines_agree_on_a_generated_registry() -> None:
    """A few thousand generated households: many rows share a score bin, quotas bind."""
    from sim.params import params_for

    reg = population.generate(6000, 21)
    reg["pmt_score"][::7] = np.round(reg["pmt_score"][::7], 1)  # ties across rows
    params = params_for(reg)
    a, b = reg.copy(), reg.copy()
    state = monthly.MonthlyState()
    la, lb = fast_d.DisbursementState.open(a), fast_d.DisbursementState.open(b)
    for t in range(3):
        batch = ch.random_batch(a, 300, 40 + t)
        ra = monthly.run_month(a, batch, params, t, state)
        rb = reference.run_month(b, batch, params, t)
        assert ra.counters() == rb.counters()
        assert ra.entered["bpnt"] > 0 and ra.rejected["superseded"] > 0
        assert_same(a, b, f"period {t}")
        assert fast_d.disburse(a, la, params, t, 7).counters() == \
            reference.disburse(b, lb, params, t, 7).counters()
        assert_same(a, b, f"period {t} disbursed")


def test_key_index_finds_current_values_and_drops_stale_entries() -> None:
    values = np.arange(1000, 1100, dtype=np.int64)
    column = values.copy()
    index = keyindex.KeyIndex(values, np.arange(50), 100)
    column[5], column[6] = 7777, 8888  # rows 5 and 6 change their values
    index.add(column[[5, 6]], np.array([5, 6]))
    assert len(index.delta) == 2  # small additions stay in the delta
    found = index.lookup(np.array([7777, 1006, 1010, 1070], dtype=np.int64), column)
    assert sorted(found.tolist()) == [5, 10]  # 1006 is stale (row 6 moved on), 1070 never added


def test_fenced_lower_bound_equals_searchsorted() -> None:
    """The fence + bisection search (used on big index arrays) is `np.searchsorted` exactly."""
    rng = np.random.default_rng(3)
    for n in (keyindex.FENCE * 1024 + 1, 200_003):
        words = np.sort(rng.integers(0, 1 << 40, n, dtype=np.int64).astype(np.uint64))
        words[1000:1300] = words[1000]  # a long run of equal words
        words[-5:] = words[-1]
        q = np.concatenate([words[rng.integers(0, n, 5000)],
                            rng.integers(0, 1 << 40, 5000).astype(np.uint64),
                            np.array([0, words[0], words[-1], words[-1] + 1, 1 << 41],
                                     dtype=np.uint64)])
        fence = words[::keyindex.FENCE].copy()
        got = keyindex.lower_bound(words, fence, q)
        assert np.array_equal(got, np.searchsorted(words, q))


def test_key_index_lookup_on_a_big_index_leaves_out_own_rows() -> None:
    """Lookups through the fenced search (a big base) find every current holder of a
    value, except each key's own row when `own` is given."""
    rng = np.random.default_rng(4)
    n = 400_000
    column = rng.integers(10**15, 10**16, n, dtype=np.int64)
    column[1::97] = column[0::97][: len(column[1::97])]  # pairs of rows sharing a value
    index = keyindex.KeyIndex(column, np.arange(n - 30_000), n)
    added = np.arange(n - 30_000, n)
    index.add(column[added], added)
    moved = rng.choice(n, 2000, replace=False)
    column[moved] += 1  # stale entries
    index.add(column[moved[:1000]], moved[:1000])
    assert len(index.base) > keyindex.FENCE * 1024 and len(index.delta) == 1000
    own = rng.choice(n, 20_000, replace=False)
    keys = column[own]
    got = np.sort(index.lookup(keys, column, own))
    indexed = np.ones(n, dtype=bool)
    indexed[moved[1000:]] = False  # their current value was never indexed
    want = []
    pos = {}
    for i in np.flatnonzero(indexed):
        pos.setdefault(int(column[i]), []).append(int(i))
    for r, k in zip(own.tolist(), keys.tolist(), strict=True):
        want += [i for i in pos.get(k, []) if i != r]
    assert got.tolist() == sorted(want)
    assert sorted(index.lookup(keys, column).tolist()) == sorted(
        want + [r for r, k in zip(own.tolist(), keys.tolist(), strict=True)
                if indexed[r]])


def test_collision_with_a_row_accepted_in_an_earlier_month() -> None:
    """Small batches keep accepted rows in the index's delta: collisions must still be found."""
    from sim.params import params_for

    reg = population.generate(6000, 4)
    params = params_for(reg)
    a, b = reg.copy(), reg.copy()
    state = monthly.MonthlyState()
    outside = np.flatnonzero(reg["status"] != 1)
    first = ch.ChangeBatch.from_columns({
        "kind": [ch.PROPOSE], "row": [outside[0]],
        **{c: [reg[c][outside[0]]] for c in ch.DATA_COLUMNS}})
    first.columns["dukcapil_match"][:] = True
    for t, batch in enumerate([ch.random_batch(reg, 10, 1), first]):
        ra = monthly.run_month(a, batch, params, t, state)
        assert ra.counters() == reference.run_month(b, batch, params, t).counters()
    assert a["status"][outside[0]] == 1 and len(state.nik_index.delta) > 0
    dup = ch.ChangeBatch.from_columns({
        "kind": [ch.PROPOSE], "row": [outside[1]],
        **{c: [a[c][outside[1]]] for c in ch.DATA_COLUMNS}})
    dup.columns["nik"][:] = a["nik"][outside[0]]
    dup.columns["dukcapil_match"][:] = True
    ra = monthly.run_month(a, dup, params, 2, state)
    rb = reference.run_month(b, dup, params, 2)
    assert ra.counters() == rb.counters()
    assert ra.removed["duplicate"] == 1 and a["status"][outside[0]] == 2
    assert_same(a, b, "delta collision")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 40)), st.lists(st.integers(0, 40)))
def test_merge_sorted(a, b) -> None:
    x, y = np.sort(np.array(a, dtype=np.uint64)), np.sort(np.array(b, dtype=np.uint64))
    assert keyindex.merge_sorted(x, y).tolist() == sorted(a + b)


_NUMBERS = st.one_of(
    st.sampled_from(VALID_NIK + VALID_KK + BAD_NIK),
    st.integers(-10**17, 10**17),
    st.integers(10**15, 10**16 - 1),
    # valid region, any date and serial: the date and serial tables decide
    st.builds(lambda v, d, s: v // 10**10 * 10**10 + d * 10**4 + s,
              st.sampled_from(VALID_NIK), st.integers(0, 999_999), st.integers(0, 9_999)),
    # valid date and serial, any region
    st.builds(lambda v, r: r * 10**10 + v % 10**10, st.sampled_from(VALID_NIK),
              st.integers(0, 999_999)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_NUMBERS, _NUMBERS, st.booleans(), score_st), min_size=1,
                max_size=60))
def test_table_record_checks_equal_record_reasons(recs) -> None:
    """The full decree's pass/fail record check (region and date tables) is exactly
    `record_reasons(...) == 0`, the batch validator (§2.1.1-2.1.4)."""
    from sim.hotpath.validity import records_valid

    nik, kk, match, score = (np.array(c) for c in zip(*recs, strict=True))
    score = score.astype(np.float32)
    want = monthly.record_reasons(nik, kk, match, score) == 0
    assert np.array_equal(records_valid(nik, kk, match, score), want)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_byte_pkh_caches_equal_pkh_annual(data) -> None:
    """The byte-arithmetic PKH caches equal `pkh_annual` (any caps, counts up to 255)."""
    from sim.hotpath.members import member_stats

    params = data.draw(params_st())
    n = data.draw(st.integers(1, 50))
    counts = {m: np.array(data.draw(st.lists(st.sampled_from([0, 1, 2, 3, 4, 7, 255]),
                                             min_size=n, max_size=n)), dtype=np.uint8)
              for m in ch.MEMBER_COLUMNS}
    unit, dtype = monthly.pkh_scale(params)
    qual, pay = member_stats(counts, params, unit, dtype)
    want = fast_d.pkh_annual(counts, params) * params.pkh_every // 12
    assert np.array_equal(pay.astype(np.int64) * unit, want)
    assert np.array_equal(qual, sum(counts[m].astype(int) for m in ch.MEMBER_COLUMNS) > 0)


def test_full_decree_on_a_big_registry_equals_reference(monkeypatch) -> None:
    """A full decree (invalidate) on 80,000 generated households (thousands of index entries
    sharing a hash word, several threads' blocks), with duplicated NIKs and KKs planted among
    existing rows; small blocks, so the two threads share many of them."""
    from sim.params import params_for

    monkeypatch.setattr(monthly, "FULL_BLOCK", 3000)

    reg = population.generate(80_000, 5)
    src = np.flatnonzero(reg["status"] == 1)[:400]
    reg["nik"][src[200:300]] = reg["nik"][src[:100]]  # existing duplicates
    reg["kk"][src[300:400]] = reg["kk"][src[100:200]]
    params = params_for(reg)
    a, b = reg.copy(), reg.copy()
    state = monthly.MonthlyState()
    for t in range(3):
        batch = ch.random_batch(a, 2000, 70 + t)
        if t == 2:
            state.invalidate()
        ra = monthly.run_month(a, batch, params, t, state)
        rb = reference.run_month(b, batch, params, t)
        assert ra.counters() == rb.counters()
        assert_same(a, b, f"period {t}")
    assert ra.removed["duplicate"] > 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=80), st.integers(1, 9))
def test_key_index_shared_rows(values, block) -> None:
    """Rows whose value another indexed row also holds, in any block size."""
    column = np.array(values, dtype=np.int64)
    index = keyindex.KeyIndex(column, np.arange(len(column)), max(len(column), 1))
    counts = {v: values.count(v) for v in values}
    want = [i for i, v in enumerate(values) if counts[v] > 1]
    assert index.shared_rows(block).tolist() == want == index.shared_rows().tolist()


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_arrears_pay_each_withheld_tranche_exactly_once(data) -> None:
    """A household withheld for k due tranches (card not active, or the tranche paused) and
    then paid receives exactly k + 1 tranches when the arrears cap allows k, and no tranche is
    paid twice: over the whole run it is paid once per due period it held the programme."""
    n = data.draw(st.integers(1, 12))
    periods = data.draw(st.integers(1, 10))
    reg = Registry.from_columns({
        **{k: np.zeros(n, dtype=SCHEMA[k][0]) for k in SCHEMA},
        "nik": np.array(VALID_NIK[:n]), "kk": np.array(VALID_KK[:n]),
        "size": np.ones(n, dtype=np.int8), "status": np.ones(n, dtype=np.int8),
        "programmes": np.full(n, 1, dtype=np.uint8)})  # BPNT for every household
    params = Params(quota=np.zeros((3, N_KABKOTA), dtype=np.int64), arrears_tranches=255,
                    redeem_bp=0, return_after_months=0)
    engine = data.draw(st.sampled_from([fast_d.disburse, reference.disburse]))
    ledger = fast_d.DisbursementState.open(reg)
    masks = [np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
             for _ in range(periods)]
    paused = [data.draw(st.booleans()) for _ in range(periods)]
    masks.append(np.ones(n, dtype=bool))  # a last period in which everybody may be paid
    paused.append(False)
    for t, (mask, stop) in enumerate(zip(masks, paused, strict=True)):
        p = dataclasses.replace(params, paused=1 if stop else 0)
        engine(reg, ledger, p, t, 5, payable=mask)
        if data.draw(st.booleans()):  # a rerun of the period pays and owes nothing more
            before = (reg["balance"].copy(), ledger.owed.copy(), list(ledger.credited))
            ledger.cursor = 0
            engine(reg, ledger, p, t, 5, payable=mask)
            assert np.array_equal(before[0], reg["balance"])
            assert np.array_equal(before[1], ledger.owed)
            assert before[2] == ledger.credited
    assert reg["balance"].tolist() == [200_000 * (periods + 1)] * n
    assert ledger.funded[0] == ledger.credited[0] == 200_000 * (periods + 1) * n
    assert not ledger.owed.any()
