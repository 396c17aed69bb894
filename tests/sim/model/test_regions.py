"""Regions inside the nation: a province's own settings change that province only (CRN)."""

from __future__ import annotations

import pytest

from kks_emulator.errors import ConfigError
from sim.model.run import run
from sim.outputs import results, tables
from sim.registry import privacy, regions
from sim.scenario.loader import load
from tests.sim.model.conftest import SCENARIOS

NATIONAL = ('territory.scope="national"', "territory.fraction=0.0005", "scenario.months=3")


_RUNS: dict[tuple[str, ...], object] = {}


def _national(*extra: str):
    """The small national run with *extra* overrides (cached: the baseline serves two tests)."""
    if extra not in _RUNS:
        _RUNS[extra] = run(load(SCENARIOS / "baseline.toml", [*NATIONAL, *extra]))
    return _RUNS[extra]


def test_a_one_province_override_changes_only_that_province() -> None:
    base = _national()
    # at this tiny fraction NTT is one virtual kecamatan of ~900 households, so only a ratio
    # below its ~175 BPNT KPM can change its agents (effect accounting would flag 780 as inert)
    ntt = run(load(SCENARIOS / "baseline.toml",
                   [*NATIONAL, "regions.53.capacity.ewarong_kpm_ratio=60"]))
    key = privacy.load_key("households", allow_synthetic=True)
    a = tables.households(base.ctx, key).to_pylist()
    b = tables.households(ntt.ctx, key).to_pylist()
    assert len(a) == len(b)
    outside = [(x, y) for x, y in zip(a, b, strict=True) if x["province"] != "53"]
    inside = [(x, y) for x, y in zip(a, b, strict=True) if x["province"] == "53"]
    assert outside and inside
    assert all(x == y for x, y in outside)  # every other province: same bytes (CRN)
    pa_, pb = results.by_province(base.ctx), results.by_province(ntt.ctx)
    for code in pa_:
        if code != "53":
            assert pa_[code] == pb[code], code
    assert pb["53"]["resources_ewarong_agents"] > pa_["53"]["resources_ewarong_agents"]
    # the province's KPM queue at more e-warong (the agents the model created there)
    from sim.outputs.service import _vkec_province

    def ntt_agents(res) -> int:
        prov = _vkec_province(res.ctx)
        p53 = int(regions.load().province_lookup[53])
        return sum(1 for kec, _ in res.ctx.agents.ewarong if prov[kec] == p53)

    assert ntt_agents(ntt) > ntt_agents(base) >= 1


@pytest.mark.parametrize(("override", "key"), [
    ("regions.99.capacity.ewarong_kpm_ratio=780", "regions.99"),
    ("regions.53.capacity.nonsense=1", "regions.53.capacity.nonsense"),
    ("regions.53.capacity.ewarong_kpm_ratio=0", "regions.53.capacity.ewarong_kpm_ratio"),
    ("regions.53.programmes.quota_factor=-1", "regions.53.programmes.quota_factor"),
    ("regions.5x.capacity.ewarong_kpm_ratio=1", "regions.5x"),
])
def test_bad_region_settings_are_one_line_naming_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load(SCENARIOS / "baseline.toml", [override])
    assert key in str(exc.value) and "\n" not in str(exc.value)


def test_a_region_outside_the_territory_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"inside territory\.codes"):
        load(SCENARIOS / "baseline.toml", ['territory.scope="kabkota"',
                                           'territory.codes=["33.71"]',
                                           "regions.53.capacity.verval_per_desa=2"])


def test_kabkota_value_wins_over_its_province() -> None:
    from sim.model.regional import kab_values
    from sim.registry import regions

    scen = load(SCENARIOS / "baseline.toml", ["regions.53.capacity.verval_per_desa=2",
                                              "regions.53.71.capacity.verval_per_desa=3"])
    v = kab_values(scen.data, "capacity", "verval_per_desa")
    regs = regions.load()
    kupang = int(regs.kabkota_lookup[5371])
    other_ntt = int(regs.kabkota_lookup[5301])
    java = int(regs.kabkota_lookup[3371])
    assert (v[kupang], v[other_ntt], v[java]) == (3, 2, 1)


def test_national_context_needs_a_smaller_territory() -> None:
    with pytest.raises(ConfigError, match=r"territory\.context"):
        load(SCENARIOS / "baseline.toml", ['territory.context="national"'])


def test_a_province_and_a_kabkota_bank_share_change_only_their_accounts() -> None:
    """``[regions."53"] issuance.bank_shares`` inside a national run: NTT's accounts follow
    its own shares (Kota Kupang's own win there), Aceh keeps BSI (bank_shares_by_province), and
    every household outside NTT is the same, bank included (CRN: each keeps its draw)."""
    base = _national()
    own = _national("regions.53.issuance.bank_shares={BNI = 1.0}",
                    "regions.53.71.issuance.bank_shares={BRI = 1.0}")
    key = privacy.load_key("households", allow_synthetic=True)
    a = tables.households(base.ctx, key).to_pylist()
    b = tables.households(own.ctx, key).to_pylist()
    assert len(a) == len(b)
    assert all(x == y for x, y in zip(a, b, strict=True) if x["province"] != "53")
    ntt = [(x, y) for x, y in zip(a, b, strict=True) if x["province"] == "53" and y["bank"]]
    kupang = [y["bank"] for _, y in ntt if y["kabkota"] == "53.71"]
    rest = [y["bank"] for _, y in ntt if y["kabkota"] != "53.71"]
    assert rest and set(rest) == {"BNI"} and set(kupang) <= {"BRI"}
    assert len({x["bank"] for x, _ in ntt}) > 1  # the baseline's NTT had the national mix
    aceh = {y["bank"] for y in b if y["province"] == "11" and y["bank"]}
    assert aceh == {"BSI"}
    # effect accounting names the province's rule
    from sim.outputs import effects

    found = {e.key: e for e in effects.account(own.scenario, own.ctx)}
    e = found["regions.53"]
    assert e.warning is None and found["regions.53.71"].warning is None
    assert e.changed["rule_bank_shares.53"][1] == "BNI=1 | BRI=1"
    assert "rule_bank_shares.11" not in e.changed


@pytest.mark.parametrize(("override", "key"), [
    ("regions.53.issuance.bank_shares={XYZ = 1.0}", "regions.53.issuance.bank_shares.XYZ"),
    ("regions.53.issuance.bank_shares={BNI = 0.5}", "regions.53.issuance.bank_shares"),
    ("regions.53.issuance.burekol_fail=0.1", "regions.53.issuance.burekol_fail"),
])
def test_bad_region_bank_shares_are_one_line_naming_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load(SCENARIOS / "baseline.toml", [override])
    assert key in str(exc.value) and "\n" not in str(exc.value)
