"""Effect accounting: an override that changes nothing is flagged by key, a real one is not.

Effects are read from the built model (frame, registry, initial decree), so nothing is
simulated here: each case costs two builds of Kota Magelang.
"""

from __future__ import annotations

from sim.model.run import built
from sim.outputs import effects
from sim.scenario.loader import load
from tests.sim.model.conftest import SCENARIOS, SMALL


def _effects(_small, *extra):
    scen = load(SCENARIOS / "baseline.toml", [*SMALL, *extra])
    return {e.key: e for e in effects.account(scen, built(scen))}


def test_a_real_ratio_change_is_reported_and_not_flagged(small) -> None:
    e = _effects(small, "capacity.ewarong_kpm_ratio=780")["capacity.ewarong_kpm_ratio"]
    assert e.warning is None
    before, after = e.changed["resources_ewarong_agents"]
    assert after < before and e.expected == {"resources_ewarong_agents": 0.5}
    assert "resources_ewarong_agents.33" in e.changed  # per province too


def test_a_setting_the_channel_does_not_use_is_flagged(small) -> None:
    e = _effects(small, "capacity.pos_officers_per_kecamatan=6")[
        "capacity.pos_officers_per_kecamatan"]
    assert e.warning is not None and "disbursement.channel" in e.warning
    assert e.changed == {}
    line = effects.warnings([e])[0]
    assert line.startswith("warning: --set capacity.pos_officers_per_kecamatan:")


def test_a_ratio_clamped_by_the_minimum_is_flagged(small) -> None:
    e = _effects(small, "capacity.ewarong_kpm_ratio=100000")["capacity.ewarong_kpm_ratio"]
    assert e.warning is not None and "far less than its ratio" in e.warning


def test_a_factor_for_a_province_outside_the_territory_is_flagged(small) -> None:
    e = _effects(small, 'programmes.province_quota={"53" = 2.0}')["programmes.province_quota"]
    assert e.warning is not None and "quota_bpnt.53" in e.warning


def test_same_value_as_the_base_is_flagged(small) -> None:
    e = _effects(small, "capacity.verval_per_desa=1")["capacity.verval_per_desa"]
    assert e.warning is not None and "same value" in e.warning


def test_a_province_setting_is_accounted_on_its_province(small) -> None:
    scen = load(SCENARIOS / "baseline.toml",
                ['territory.scope="provinces"', 'territory.codes=["33", "34"]',
                 "territory.fraction=0.002", "regions.34.capacity.ewarong_kpm_ratio=780"])
    (e,) = effects.account(scen, built(scen))
    assert e.key == "regions.34" and e.warning is None
    assert e.expected == {"resources_ewarong_agents.34": 0.5}
    b, a = e.changed["resources_ewarong_agents.34"]
    assert abs(a - b / 2) <= 0.1 * b
    assert "resources_ewarong_agents.33" not in e.changed  # the other province is untouched


def test_the_report_and_summary_name_the_inert_key(small, tmp_path) -> None:
    import json

    from sim.outputs import results

    res = small("baseline", "scenario.months=1", "capacity.pos_officers_per_kecamatan=6",
                "capacity.ewarong_kpm_ratio=780")
    res.effects = effects.account(res.scenario, res.ctx)
    results.write(res, tmp_path / "r")
    html = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "What the overrides changed" in html
    assert "capacity.pos_officers_per_kecamatan" in html and "warning:" in html
    summ = json.loads((tmp_path / "r" / "summary.json").read_text(encoding="utf-8"))
    by_key = {e["key"]: e for e in summ["effects"]}
    assert by_key["capacity.pos_officers_per_kecamatan"]["warning"]
    assert by_key["capacity.pos_officers_per_kecamatan"]["changed"] == {}  # its own effect only
    assert by_key["capacity.ewarong_kpm_ratio"]["warning"] is None


def _event_scenario(tmp_path, body: str, *extra: str):
    """A scenario extending the baseline with the dated events in *body* (TOML)."""
    f = tmp_path / "events.toml"
    f.write_text(f'extends = "{(SCENARIOS / "baseline.toml").as_posix()}"\n'
                 '[scenario]\nname = "events"\n' + body, encoding="utf-8")
    return load(f, [*SMALL, *extra])


def _event_effects(scen):
    return {(e.source.split(" (")[0], e.key): e for e in effects.account(scen, built(scen))}


def test_an_event_halving_agents_is_reported_from_its_date_and_not_flagged(small,
                                                                            tmp_path) -> None:
    scen = _event_scenario(tmp_path, '[[events]]\nname = "half agents"\nmonth = "2025-04"\n'
                           "[events.capacity]\newarong_kpm_ratio = 780\n")
    e = _event_effects(scen)[('events[0] "half agents"', "capacity.ewarong_kpm_ratio")]
    assert e.warning is None and e.source == 'events[0] "half agents" (2025-04-01)'
    assert e.base == 390 and e.value == 780
    before, after = e.changed["resources_ewarong_agents"]
    assert abs(after - before / 2) <= 3 and e.expected == {"resources_ewarong_agents": 0.5}


def test_an_inert_event_override_is_flagged_naming_the_event_and_key(small, tmp_path) -> None:
    scen = _event_scenario(
        tmp_path,
        '[[events]]\nname = "more PT Pos staff"\nmonth = "2025-03"\n'
        "[events.capacity]\npos_officers_per_kecamatan = 6\n"
        '[[events]]\nname = "agents clamped"\nmonth = "2025-05"\n'
        "[events.capacity]\newarong_kpm_ratio = 100000\nverval_per_desa = 1\n")
    found = _event_effects(scen)
    pos = found[('events[0] "more PT Pos staff"', "capacity.pos_officers_per_kecamatan")]
    assert pos.warning and "disbursement.channel = 'ewarong'" in pos.warning
    assert pos.changed == {}
    clamp = found[('events[1] "agents clamped"', "capacity.ewarong_kpm_ratio")]
    assert clamp.warning and "far less than its ratio" in clamp.warning
    same = found[('events[1] "agents clamped"', "capacity.verval_per_desa")]
    assert same.warning and "in force before the event" in same.warning
    lines = effects.warnings(list(found.values()))
    assert ('warning: events[0] "more PT Pos staff" (2025-03-01) '
            "capacity.pos_officers_per_kecamatan: ") in "\n".join(lines)


def test_an_event_after_a_channel_switch_sees_the_channel_of_its_date(small, tmp_path) -> None:
    scen = _event_scenario(
        tmp_path,
        '[[events]]\nname = "PT Pos pays"\nmonth = "2025-03"\n'
        '[events.disbursement]\nchannel = "pos"\n'
        '[[events]]\nname = "more PT Pos staff"\nmonth = "2025-06"\n'
        "[events.capacity]\npos_officers_per_kecamatan = 6\n",
        "capacity.verval_per_desa=2")
    found = _event_effects(scen)
    switch = found[('events[0] "PT Pos pays"', "disbursement.channel")]
    assert switch.changed["rule_channel"] == ["ewarong", "pos"]
    assert switch.changed["resources_ewarong_agents"][1] == 0
    pos = found[('events[1] "more PT Pos staff"', "capacity.pos_officers_per_kecamatan")]
    assert pos.warning is None and pos.base == 3
    assert pos.expected == {"resources_pos_officers": 2.0}
    b, a = pos.changed["resources_pos_officers"]
    assert a == 2 * b > 0
    # the --set layer is accounted against the model as built, not as the events left it
    verval = found[("--set", "capacity.verval_per_desa")]
    assert verval.warning is None and "rule_channel" not in verval.changed


def test_rules_that_act_at_a_later_decree_are_rule_changes_not_inert(small) -> None:
    """The enumeration and the quarterly re-ranking change nothing in the built model (they act
    at a decree of the run), but they are rules the run follows: reported, not flagged."""
    got = _effects(small, 'register.ranking="population"', "penetapan.rerank_every_months=3",
                   "penetapan.rerank_refresh=0.25")
    for key, item, change in (("register.ranking", "rule_ranking", ("register", "population")),
                              ("penetapan.rerank_every_months", "rule_rerank_every_months", (0, 3)),
                              ("penetapan.rerank_refresh", "rule_rerank_refresh", (0.0, 0.25))):
        assert got[key].warning is None, key
        assert {k: tuple(v) for k, v in got[key].changed.items()} == {item: change}, key
