"""``territory.context = "national"``: the territory at its fraction inside the whole country,
simulated at the context fraction (issue 15, item 2; sim/model/nation.py, docs/scenarios.md).

At one fraction the run is the national run itself, draw for draw, and its results folder is
the national run's territory; at two fractions the territory gets its national share of the
quotas (within the replication spread of national runs), NTT gets more BPNT and a lower
inclusion error than alone, the territory's money balances, and the answer is the same however
the run is split (a real Dask `LocalCluster`). Bad combinations are one line, exit code 2.
"""

from __future__ import annotations

import hashlib
import math
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kks_emulator.errors import ConfigError
from sim.model.national import National
from sim.model.run import run
from sim.outputs import results, tables
from sim.registry import privacy, regions
from sim.registry.table import STATUS_IN_DTKS
from sim.scenario.loader import load
from tests.sim.model.conftest import ROOT, SCENARIOS

NTT = ('territory.scope="provinces"', 'territory.codes=["53"]')
CONTEXT = 'territory.context="national"'


def _scen(*sets: str):
    return load(SCENARIOS / "baseline.toml", list(sets))


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_at_the_territory_fraction_it_is_the_national_run() -> None:
    """context_fraction == fraction: the whole country draw for draw as the national run (a
    one-off round included), and the territory's outputs are the national run's NTT rows and
    figures."""
    common = ("territory.fraction=0.0003", "scenario.months=2", "oneoff.amount=600000",
              "oneoff.share=0.2")
    nat = run(_scen('territory.scope="national"', *common))
    inside = run(_scen(*NTT, *common, CONTEXT, "territory.context_fraction=0.0003"))
    a, b = nat.ctx, inside.national
    assert b is not None and len(b.registry) == len(a.registry)
    for name in a.registry.columns:
        assert np.array_equal(a.registry[name], b.registry[name]), name
    for name in ("row", "source", "state"):
        assert getattr(a.props, name) == getattr(b.props, name), name
    for name in ("t_arrive", "t_dtks", "t_credit", "t_redeem"):
        assert np.array_equal(getattr(a.props, name), getattr(b.props, name), equal_nan=True)
    assert a.mon.months == b.mon.months and a.mon.targeting == b.mon.targeting
    view = inside.ctx
    ntt = a.registry["province"] == int(regions.load().province_lookup[53])
    assert len(view.registry) == int(ntt.sum()) > 0
    assert results.by_province(view) == {"53": results.by_province(a)["53"]}
    key = privacy.load_key("households", allow_synthetic=True)
    want = [r for r in tables.households(a, key).to_pylist() if r["province"] == "53"]
    assert tables.households(view, key).to_pylist() == want
    def without_number(rows: list[dict]) -> list[dict]:  # the view numbers its own from 0
        return [{k: v for k, v in r.items() if k != "proposal"} for r in rows]

    props = [r for r in tables.proposals(a, key).to_pylist() if r["province"] == "53"]
    assert without_number(tables.proposals(view, key).to_pylist()) == without_number(props)
    # the territory's money: its own rows, balanced every month (balances start at 0)
    assert list(view.mon.months[0]) == list(a.mon.months[0])
    opening = 0
    for m in view.mon.months:
        assert opening + m["credited_rp"] == m["redeemed_rp"] + m["returned_rp"] + m["held_rp"]
        opening = m["held_rp"]
        assert 0 < m["bpnt_credits"] < next(x for x in a.mon.months
                                            if x["period"] == m["period"])["bpnt_credits"]
    assert view.mon.months[-1]["held_rp"] == int(view.registry["balance"].sum())
    # the national stages' row counters count the territory's rows in its view
    start = National(_scen('territory.scope="national"', *common))
    in_ntt = start.registry["province"] == int(regions.load().province_lookup[53])
    assert view.mon.counts["initial_dtks"] == int(np.count_nonzero(
        (start.registry["status"] == STATUS_IN_DTKS) & in_ntt)) < a.mon.counts["initial_dtks"]
    assert view.mon.counts["cards_printed"] <= a.mon.counts["cards_printed"]
    # the territory's part of the one-off round: its recipients, its money
    whole, part = a.oneoff, view.oneoff
    assert b.oneoff.rounds == whole.rounds and b.oneoff.paid == whole.paid
    n = part.rounds[0]["recipients"]
    assert 0 < n < whole.rounds[0]["recipients"] and n == view.mon.counts["oneoff_recipients"]
    assert part.budget == n * 600_000 == part.paid + part.returned + part.outstanding


def test_ntt_inside_the_country_gets_national_quotas_and_lines() -> None:
    """NTT alone re-bases quotas and the target group on NTT; inside the simulated country NTT
    gets its part of the national quotas (more BPNT, NTT being poor) and the national poverty
    line (a lower inclusion error)."""
    common = (*NTT, "territory.fraction=0.01", "scenario.months=2")
    alone = results.kpis(run(_scen(*common)))
    inside = run(_scen(*common, CONTEXT, "territory.context_fraction=0.0003"))
    k = results.kpis(inside)
    assert k["households"] == alone["households"]
    assert k["households_simulated"] == alone["households_simulated"]
    assert k["recipients_bpnt"] > 1.02 * alone["recipients_bpnt"]
    assert k["kemensos_inclusion_share_bpnt"] < alone["kemensos_inclusion_share_bpnt"] - 0.1
    # the rest of the country was simulated: its proposals reached the national stages
    whole = inside.national
    assert len(whole.props) > 2 * len(inside.ctx.props)
    real_rest = whole.frame.real_households - k["households"]
    assert len(whole.registry) - len(inside.ctx.registry) == pytest.approx(real_rest * 0.0003,
                                                                           rel=1e-3)


def _real_quota(kab: int, *sets: str, seeds: range) -> list[float]:
    """Real BPNT quota of kab/kota row *kab* (simulated quota / its fraction) per seed."""
    out = []
    for seed in seeds:
        nat = National(_scen(*sets, f"scenario.seed={seed}", "scenario.months=1"))
        fr = nat.frame
        f = fr.fraction / (1.0 if fr.kab_rel is None else float(fr.kab_rel[kab]))
        out.append(float(nat.engine.params.quota[0][kab]) / f)
    return out


def test_a_small_kabkota_at_full_resolution_gets_its_national_share_of_quota() -> None:
    """Kota Magelang at fraction 1 with the rest of the country at 0.0003 gets the BPNT quota a
    national run gives it, within the replication spread (national runs at 0.002, 3 seeds)."""
    kab = int(regions.load().kabkota_lookup[3371])
    inside = _real_quota(kab, 'territory.scope="kabkota"', 'territory.codes=["33.71"]',
                         "territory.fraction=1.0", CONTEXT, "territory.context_fraction=0.0003",
                         seeds=range(3))
    nat = _real_quota(kab, 'territory.scope="national"', "territory.fraction=0.002",
                      seeds=range(3))
    m_in, m_nat = statistics.mean(inside), statistics.mean(nat)
    se = math.sqrt(statistics.variance(inside) / 3 + statistics.variance(nat) / 3)
    assert abs(m_in - m_nat) < 3 * se + 0.02 * m_nat, (inside, nat)


def test_rest_of_the_country_carries_its_weight_at_the_national_pools() -> None:
    """A rest-of-the-country region weighs its weight relative to the territory's: the
    regions' weights are the two parts' and the pools are those of the whole country."""
    scen = _scen('territory.scope="kabkota"', 'territory.codes=["33.71"]',
                 "territory.fraction=0.05", CONTEXT, "territory.context_fraction=0.0005",
                 "scenario.months=1")
    nat = National(scen)
    fr = nat.frame
    rel = sorted(set(nat.region_rel))
    assert rel[0] == 1.0 and len(rel) == 2 and rel[1] == pytest.approx(100.0, rel=0.01)
    own = [r for r, t in enumerate(nat.region_in_territory) if t]
    assert all(nat.region_rel[r] == 1.0 for r in own) and len(own) == 1
    # the simulated share of the country, in the territory's weight: about the fraction
    assert fr.national_share == pytest.approx(0.05, rel=0.01)
    specs = nat.specs()
    assert {round(s.weight) for s in specs} == {round(fr.weight), round(fr.weight * rel[1])}


def test_a_weighted_one_off_round_is_share_of_the_weighted_households() -> None:
    """The round of a registry at two fractions: *share* of the real households, split by the
    weighted eligible households and counted at each kab/kota's fraction."""
    from sim.model.oneoff import weighted_quota

    rel = np.array([1.0, 5.0, 5.0])
    households = np.array([1000, 200, 400])
    eligible = np.array([500, 40, 200])
    parts = weighted_quota(0.2, households, eligible, rel)
    assert float(np.dot(parts, rel)) == pytest.approx(0.2 * 4000, abs=5)
    assert (parts <= eligible).all()
    # eligible weight 500 : 200 : 1000 -> 800 real recipients in the same proportions
    assert parts.tolist() == [235, 19, 94]


def test_the_national_pool_carries_the_whole_country_s_load() -> None:
    """Kota Magelang at fraction 1 inside the country at 0.0003: the Kemensos pool is the real
    one and a rest-of-country proposal stands for ~3,300 worked by many officers at once, so the
    pool is as busy as in a national run and Magelang's proposals wait as the country's do."""
    common = ("scenario.months=2",)
    nat = results.kpis(run(_scen('territory.scope="national"', "territory.fraction=0.0003",
                                 *common)))
    inside = results.kpis(run(_scen('territory.scope="kabkota"', 'territory.codes=["33.71"]',
                                    "territory.fraction=1.0", CONTEXT,
                                    "territory.context_fraction=0.0003", *common)))
    assert inside["utilisation_kemensos"] == pytest.approx(nat["utilisation_kemensos"], rel=0.2)
    assert inside["wait_kemensos_mean_days"] == pytest.approx(nat["wait_kemensos_mean_days"],
                                                             rel=0.5)


def test_a_budget_ceiling_caps_the_whole_country_weighted() -> None:
    """A binding BPNT line (Rp 30 T a year) inside the simulated country caps the national KPM
    as a national run does, counting the rest of the country's money at its weight; the
    territory's ceiling table reads the national line against the national use."""
    common = ("scenario.months=2", "programmes.bpnt_budget_rp=30000000000000")
    nat = run(_scen('territory.scope="national"', "territory.fraction=0.0005", *common))
    inside = run(_scen(*NTT, "territory.fraction=0.005", CONTEXT,
                       "territory.context_fraction=0.0005", *common))
    from sim.outputs import budget

    a, b = budget.ceiling_rows(nat.ctx)[0], budget.ceiling_rows(inside.ctx)[0]
    assert a["capped_decrees"] > 0 and b["capped_decrees"] == a["capped_decrees"]
    assert b["ceiling_rp"] == pytest.approx(30e12, rel=1e-6)
    assert b["cap_kpm"] == pytest.approx(a["cap_kpm"], rel=0.02)
    assert b["used_rp"] == pytest.approx(a["used_rp"], rel=0.03)
    # the territory's own BPNT money is a small part of the national use
    own = sum(m["bpnt_rp"] for m in inside.ctx.mon.months) * inside.ctx.frame.weight
    assert 0 < own < 0.05 * b["used_rp"]


def _kks(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kks_emulator.cli.main", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("sets", "key"), [
    ((*NTT, CONTEXT, "territory.fraction=0.001", "territory.context_fraction=0.002"),
     "territory.context_fraction"),
    (('territory.scope="national"', CONTEXT, "territory.fraction=0.001"), "territory.context"),
])
def test_bad_context_combinations_are_one_line_exit_2(tmp_path, sets, key) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _scen(*sets)
    args = [a for s in sets for a in ("--set", s)]
    out = tmp_path / "results"
    r = _kks("sim", "run", "scenarios/baseline.toml", *args, "--out", str(out))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f": {key}: " in lines[0], r.stderr
    assert not out.exists()


@pytest.mark.dask
def test_mixed_resolution_split_on_a_cluster_equals_one_process(tmp_path,
                                                                missing_component) -> None:
    """Two fractions, one process vs 2 partitions on a real `LocalCluster`: same files."""
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        missing_component("dask.distributed is not installed (extra `distributed`)")
    from sim.model.distributed import local_cluster

    scen = _scen('territory.scope="kabkota"', 'territory.codes=["33.71"]',
                 "territory.fraction=0.05", CONTEXT, "territory.context_fraction=0.0002",
                 "scenario.months=2")
    results.write(run(scen), tmp_path / "one")
    with local_cluster(2) as cluster:
        res = run(scen, partitions=2, scheduler=cluster.scheduler_address)
    results.write(res, tmp_path / "two")
    assert _files(tmp_path / "two") == _files(tmp_path / "one")


def test_a_pbi_round_counts_weighted_persons() -> None:
    """A PBI-JK deactivation round over a registry at two fractions counts each household's
    persons times its weight: the same share takes more rows when the richest weigh less."""
    from sim.model.pbi_round import round_rows
    from sim.registry.table import PROG_PBI

    reg = {"programmes": np.full(4, PROG_PBI, dtype=np.uint8),
           "status": np.full(4, STATUS_IN_DTKS, dtype=np.uint8),
           "size": np.ones(4, dtype=np.uint8), "n_other_jkn": np.zeros(4, dtype=np.uint8),
           "pmt_score": np.array([4.0, 3.0, 2.0, 1.0], dtype=np.float32)}
    assert round_rows(reg, 0.25).tolist() == [0]
    assert round_rows(reg, 0.25, np.array([1.0, 1.0, 5.0, 5.0])).tolist() == [0, 1, 2]
