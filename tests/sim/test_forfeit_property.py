"""Give-ups (docs/monthly.md §4.5): `disburse.forfeit` and its plain twin agree, keep the money
to the rupiah, and leave each forfeiting row exactly as if its draw had said "no redemption"."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kks_emulator.errors import InputError
from sim.hotpath import changes as ch
from sim.hotpath import disburse as fast_d
from sim.hotpath import reference
from sim.params import params_for
from sim.registry import population
from tests.sim.test_monthly_property import assert_same, assert_same_ledger, params_st, registries


def _settled(reg, params, period, seed):
    """A registry with recipients, disbursed once at period-1 and credited+settled at period."""
    reference.run_month(reg, ch.ChangeBatch.empty(), dataclasses.replace(params, cadence_months=1),
                        period - 1)
    led = fast_d.DisbursementState.open(reg)
    fast_d.disburse(reg, led, params, period - 1, seed)
    return led


def _pre_settle(reg, led, params, period):
    """Balance and unspent months of every row just before `period` is settled: the balance
    after crediting `period` with no redemption and no return (on copies)."""
    c = reg.copy()
    fast_d.disburse(c, _copy_ledger(led), dataclasses.replace(params, redeem_bp=0,
                                                               return_after_months=0),
                    period, 0)
    return c["balance"].copy(), reg["unspent_months"].copy()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_forfeit_equals_no_redemption_and_twins_agree(data) -> None:
    reg = data.draw(registries())
    params = data.draw(params_st())
    seed = data.draw(st.integers(0, 2**32))
    period = 4
    led = _settled(reg, params, period, seed)
    pre_b, pre_u = _pre_settle(reg, led, params, period)
    a, b = reg.copy(), reg.copy()
    la = _copy_ledger(led)
    lb = _copy_ledger(led)
    fast_d.disburse(a, la, params, period, seed)
    reference.disburse(b, lb, params, period, seed)
    draws = fast_d.redemption_draws(params, seed, period, np.arange(len(reg)), pre_b)
    redeemers = np.flatnonzero(draws.redeem & (draws.amount > 0))
    pick = data.draw(st.lists(st.sampled_from(redeemers.tolist()), unique=True)
                     if len(redeemers) else st.just([]))
    rows = np.array(sorted(pick), dtype=np.int64)
    ra = fast_d.forfeit(a, la, params, period, seed, rows, pre_b[rows], pre_u[rows])
    rb = reference.forfeit(b, lb, params, period, seed, rows, pre_b[rows], pre_u[rows])
    assert ra.counters() == rb.counters()
    assert_same(a, b, "forfeit")
    assert_same_ledger(la, lb, "forfeit")
    # as if the draw had said no: settle the same rows with redemption switched off
    c = reg.copy()
    lc = _copy_ledger(led)
    fast_d.disburse(c, lc, dataclasses.replace(params, redeem_bp=0), period, seed)
    for col in ("balance", "unspent_months"):
        assert np.array_equal(a[col][rows], c[col][rows]), col
    others = np.setdiff1d(np.arange(len(reg)), rows)
    d = reg.copy()
    dres = fast_d.disburse(d, _copy_ledger(led), params, period, seed)
    assert np.array_equal(a["balance"][others], d["balance"][others])
    # money: opening + credited = redeemed + returned + held, to the rupiah
    held = int(a["balance"].sum(dtype=np.int64))
    assert la.opening_held + la.credited[0] + la.credited[1] == la.redeemed + la.returned + held
    # the period's redeemed total lost exactly what the forfeiting rows had redeemed
    assert ra.redeemed == dres.redeemed - int(draws.amount[rows].sum())
    assert ra.redeemers == dres.redeemers - len(rows)


def _copy_ledger(led: fast_d.DisbursementState) -> fast_d.DisbursementState:
    return fast_d.DisbursementState(
        last_credit=led.last_credit.copy(), last_settled=led.last_settled.copy(),
        opening_held=led.opening_held, funded=list(led.funded), credited=list(led.credited),
        redeemed=led.redeemed, returned=led.returned, period=led.period, cursor=led.cursor,
        stats=dataclasses.replace(led.stats, credits=list(led.stats.credits),
                                  credited=list(led.stats.credited),
                                  skipped=list(led.stats.skipped), days=list(led.stats.days)))


def test_forfeit_refuses_a_row_that_did_not_redeem() -> None:
    reg = population.generate(300, 5)
    params = params_for(reg)
    led = _settled(reg, params, 4, 11)
    pre_b, pre_u = _pre_settle(reg, led, params, 4)
    fast_d.disburse(reg, led, params, 4, 11)
    draws = fast_d.redemption_draws(params, 11, 4, np.arange(len(reg)), pre_b)
    idle = np.flatnonzero(~draws.redeem | (draws.amount == 0))[:1]
    before = reg["balance"].copy()
    for twin in (fast_d.forfeit, reference.forfeit):
        with pytest.raises(InputError):
            twin(reg, led, params, 4, 11, idle, pre_b[idle], pre_u[idle])
    assert np.array_equal(before, reg["balance"])
