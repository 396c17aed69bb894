"""People who give up at agents move money, and the e-warong ratio means what it says.

On Kota Magelang at full resolution (weight 1, so rupiah compare exactly) with common random
numbers: credits do not depend on queues, so what impatient KPM do not redeem must reappear,
to the rupiah, as unspent or returned money.
"""

from __future__ import annotations

#: two minutes' patience, one visit, and travel that does not make anyone wait longer
IMPATIENT = ("disbursement.patience_minutes_median=2.0", "disbursement.max_visits=1",
             "disbursement.travel_patience_factor=0")


def test_giving_up_moves_redeemed_money_to_unspent_and_returned(small, kpis_of) -> None:
    base = kpis_of(small("baseline"))
    imp = kpis_of(small("baseline", *IMPATIENT))
    assert imp["disbursed_rp"] == base["disbursed_rp"]  # credits are the same (CRN)
    assert imp["gave_up"] > 20 * max(base["gave_up"], 1)
    assert imp["payout_completion"] < base["payout_completion"] - 0.2
    drop = base["redeemed_rp"] - imp["redeemed_rp"]
    assert drop > 0
    kept = (imp["unspent_rp"] + imp["returned_rp"]) - (base["unspent_rp"] + base["returned_rp"])
    assert kept == drop  # money conserved to the rupiah
    assert imp["returned_rp"] > base["returned_rp"]  # months unspent feed the return rule
    # forfeited money stays on the card and much of it is spent the next month, so the drop
    # over the horizon is a real fraction of what was forfeited, never more
    extra_forfeit = imp["forfeited_rp"] - base["forfeited_rp"]
    assert 0.1 * extra_forfeit < drop <= extra_forfeit
    assert imp["money_conserved"] == 1 and base["money_conserved"] == 1


def test_baseline_payout_completion_is_in_the_calibrated_band(small, kpis_of) -> None:
    k = kpis_of(small("baseline"))
    assert 0.91 <= k["payout_completion"] <= 0.96


def test_halving_agents_by_ratio_halves_them(small, kpis_of) -> None:
    base = kpis_of(small("baseline"))
    half = kpis_of(small("baseline", "capacity.ewarong_kpm_ratio=780"))
    # catchments per kecamatan (3 in Kota Magelang): ceil per kecamatan, so within one each
    assert abs(half["resources_ewarong_agents"] - base["resources_ewarong_agents"] / 2) <= 3
    assert half["agent_wait_p90_min"] > base["agent_wait_p90_min"]
    assert half["gave_up"] > base["gave_up"]


BANK = ('disbursement.channel="bank"', "disbursement.bank_cashout_median_days=2.0",
        "scenario.months=6")


def test_a_queue_at_the_atm_sends_bank_kpm_to_pt_pos_and_moves_money(small, kpis_of) -> None:
    """Bank channel (sim/model/atm.py): one ATM per kecamatan and impatient KPM. Those who give
    up at the ATM until bank_collect_days are paid by PT Pos; those who give up there too
    forfeit the month, and the money they did not take reappears as unspent or returned."""
    base = kpis_of(small("baseline", *BANK))
    few = kpis_of(small("baseline", *BANK, "capacity.atm_per_kecamatan=1",
                        "disbursement.patience_minutes_median=10.0"))
    assert few["disbursed_rp"] == base["disbursed_rp"]  # credits are the same (CRN)
    assert base["atm_gave_up"] == 0 and base["atm_to_pos"] == 0  # ample ATMs: no give-ups
    assert base["resources_atms"] == 6 * few["resources_atms"] > 0
    assert few["atm_wait_p90_min"] > base["atm_wait_p90_min"]
    # the PT Pos take-over absorbs most who give up at the ATM: its share rises
    # (measured: 0 -> 21,421 sent to PT Pos; PT Pos share 0.086 -> 0.548)
    assert few["atm_to_pos"] > 1000
    assert few["bank_channel_pos_share"] > base["bank_channel_pos_share"] + 0.3
    assert few["atm_gave_up"] > 0 and few["gave_up"] >= few["atm_gave_up"]
    assert few["payout_completion"] < base["payout_completion"]
    drop = base["redeemed_rp"] - few["redeemed_rp"]
    kept = (few["unspent_rp"] + few["returned_rp"]) - (base["unspent_rp"] + base["returned_rp"])
    assert drop > 0 and kept == drop  # money conserved to the rupiah
    assert drop <= few["forfeited_rp"] - base["forfeited_rp"]
    assert few["money_conserved"] == 1


def test_the_cost_of_coming_back_makes_kpm_wait_longer(small, kpis_of) -> None:
    """A KPM waits up to its patience plus its round trip (travel_patience_factor = 1): with
    travel left out (0) more visits balk and more KPM forfeit a month, and waits served are
    shorter (those who would have waited longest left)."""
    base = kpis_of(small("baseline"))
    blind = kpis_of(small("baseline", "disbursement.travel_patience_factor=0"))
    assert blind["balked"] > base["balked"] and blind["gave_up"] > base["gave_up"]
    assert blind["forfeited_rp"] > base["forfeited_rp"]
    assert blind["agent_wait_p90_min"] < base["agent_wait_p90_min"]
    assert blind["travel_p50_min"] == base["travel_p50_min"]  # the trips are the same (CRN)


def test_an_event_slowing_atms_reaches_the_atms_that_exist(small, kpis_of) -> None:
    """A dated event on atm_service_minutes changes the ATMs already created: their expected
    withdrawal time (what a balking KPM weighs) as well as the service drawn from then on."""
    import datetime as dt

    from sim.model import timeline
    from sim.model.run import build
    from sim.scenario.events import Event
    from sim.scenario.loader import load
    from tests.sim.model.conftest import SCENARIOS, SMALL

    _, parts = build(load(SCENARIOS / "baseline.toml", [*SMALL, *BANK]))
    ctx = parts.parts[0].regions[0].ctx  # the first region's flow model (Kota Magelang)
    atm = ctx.agents.atm_of(0)
    ev = Event(index=0, name="slow", date=dt.date(2025, 3, 1), source="", origin="t",
               changes={"disbursement": {"atm_service_minutes": 12.0},
                        "capacity": {"atm_per_kecamatan": 2}})
    timeline.apply(ctx, ev)
    assert atm.mean_service == 12.0 / 1440.0 and atm.capacity == 2
    assert ctx.agents.atm_of(0) is atm and int(ctx.agents.atm_servers_kec.max()) == 2
