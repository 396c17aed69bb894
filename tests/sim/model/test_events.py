"""Dated events (`[[events]]`): validation corpus, byte-identity without events, exact dates.

* every file of ``bad_events/`` fails `kks sim validate` with exit 2 and one line naming the
  file, the event and the key its first line expects;
* a scenario with ``events = []`` writes the same bytes as the one without the key;
* an event takes effect exactly on its date (hypothesis over dates): the monthly series is
  identical to the run without it in every month before the first credit day on or after the
  date, and differs from that month on when it changes the amount paid;
* the timeline reaches the report and summary.json.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kks_emulator.errors import ConfigError
from sim.model.run import run
from sim.outputs import results as outputs
from sim.scenario.loader import load
from tests.sim.model.conftest import SCENARIOS

CORPUS = Path(__file__).resolve().parent / "bad_events"
#: a tiny run: Kota Magelang at a 10% sample for six months (under a second)
TINY = ('territory.scope="kabkota"', 'territory.codes=["33.71"]', "territory.fraction=0.1",
        "scenario.months=6")
BASE = SCENARIOS / "baseline.toml"


def _expectation(path: Path) -> tuple[str, str]:
    first = path.read_text().splitlines()[0]
    key, expected = first.removeprefix("# expect: ").split(" | ", 1)
    return key, expected


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.toml")), ids=lambda p: p.stem)
def test_bad_events_corpus_one_line_exit_2(path: Path, capsys) -> None:
    from kks_emulator.cli.main import main

    key, expected = _expectation(path)
    with pytest.raises(ConfigError) as err:
        load(path)
    assert err.value.path == str(path.resolve())
    assert err.value.key == key
    assert err.value.expected.startswith(expected), err.value.expected
    assert main(["sim", "validate", str(path)]) == 2
    captured = capsys.readouterr()
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and key in lines[0] and "Traceback" not in captured.err


def test_corpus_covers_every_rule() -> None:
    assert len(list(CORPUS.glob("*.toml"))) >= 15


def _scenario(tmp_path: Path, body: str, name: str = "ev.toml") -> Path:
    p = tmp_path / name
    p.write_text(f'extends = "{BASE}"\n{body}')
    return p


def test_events_parse_in_date_order_and_extend(tmp_path: Path) -> None:
    parent = _scenario(tmp_path, '[[events]]\nname = "late"\ndate = 2025-09-01\n'
                       "[events.programmes]\nbpnt_amount = 300000\n", "parent.toml")
    child = tmp_path / "child.toml"
    child.write_text('extends = "parent.toml"\n[[events]]\nname = "early"\nmonth = "2025-03"\n'
                     '[events.penetapan]\ncadence = "quarterly"\n')
    scen = load(child)
    assert [(e.name, e.date, e.index) for e in scen.events] == [
        ("early", dt.date(2025, 3, 1), 1), ("late", dt.date(2025, 9, 1), 0)]
    assert scen.events[1].origin == str(parent)
    assert scen["programmes"]["bpnt_amount"] == 200_000  # the base value is untouched
    assert scen.canonical()["events"][0]["changes"] == {"penetapan.cadence": "quarterly"}


def test_empty_events_list_is_byte_identical(tmp_path: Path) -> None:
    outs = []
    for sub, body in (("plain", ""), ("empty", "events = []\n")):
        (tmp_path / sub).mkdir()
        path = _scenario(tmp_path / sub, body, "s.toml")
        scen = load(path, TINY)
        assert scen.events == []
        out = tmp_path / sub / "out"
        outputs.write(run(scen), out)
        outs.append(out)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(outs[1]) for p in outs[1].rglob("*") if p.is_file())
    for rel in files:
        a, b = (o / rel for o in outs)
        if rel.name == "manifest.json":  # the scenario file's own hash differs: nothing else
            ma, mb = json.loads(a.read_text()), json.loads(b.read_text())
            assert ma["inputs"].pop("s.toml") != mb["inputs"].pop("s.toml")
            assert ma == mb
        else:
            assert a.read_bytes() == b.read_bytes(), rel


_REF: dict[str, list[dict]] = {}


def _months(scen) -> list[dict]:
    return run(scen).ctx.mon.months


def _reference() -> list[dict]:
    if "base" not in _REF:
        _REF["base"] = _months(load(BASE, TINY))
    return _REF["base"]


@settings(max_examples=16, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(day=st.integers(1, 180),
       change=st.sampled_from([("programmes", "bpnt_amount", 350_000),
                               ("programmes", "bpnt_max_desil", 3),
                               ("disbursement", "redeem_prob", 0.3),
                               ("capacity", "verval_per_desa", 4),
                               ("disbursement", "channel", '"pos"'),
                               ("penetapan", "cadence", '"quarterly"')]))
def test_event_takes_effect_exactly_on_its_date(tmp_path: Path, day: int, change) -> None:
    table, key, value = change
    date = dt.date(2025, 1, 1) + dt.timedelta(days=day)
    body = (f'[[events]]\nname = "e"\ndate = {date.isoformat()}\n[events.{table}]\n'
            f"{key} = {value}\n")
    path = _scenario(tmp_path, body, f"ev_{day}_{key}.toml")
    scen = load(path, TINY)
    months = _months(scen)
    ref = _reference()
    assert len(months) == len(ref)
    # the month from which the event can show: the first credit day on or after its date
    effective = next((j for j, m in enumerate(ref) if m["date"] >= date.isoformat()), len(ref))
    assert months[:effective] == ref[:effective]
    if key == "bpnt_amount" and effective < len(ref):
        m = months[effective]
        assert m["bpnt_rp"] == m["bpnt_credits"] * value  # the new amount, from that month
        assert ref[effective]["bpnt_rp"] == ref[effective]["bpnt_credits"] * 200_000


@pytest.mark.filterwarnings("error::UserWarning")  # e.g. a plot without its series
def test_timeline_in_summary_and_report(tmp_path: Path) -> None:
    body = ('[[events]]\nname = "quarterly tahap"\nmonth = "2025-04"\n'
            'source = "docs/calibration.md"\n[events.disbursement]\ntahap_months = 3\n'
            '[[events]]\nname = "more officers"\ndate = 2025-03-10\n[events.capacity]\n'
            "verval_per_desa = 2\npos_officers_per_kecamatan = 4\n")
    scen = load(_scenario(tmp_path, body), TINY)
    out = tmp_path / "out"
    outputs.write(run(scen), out)
    summary = json.loads((out / "summary.json").read_text())
    assert [e["name"] for e in summary["events"]] == ["more officers", "quarterly tahap"]
    assert summary["events"][1]["changes"] == "disbursement.tahap_months = 3"
    assert (out / "plots" / "timeline.png").is_file()
    report = (out / "report.html").read_text()
    assert "<h2>Events</h2>" in report and "quarterly tahap" in report


def test_capacity_event_resizes_existing_pools() -> None:
    from sim.model import timeline
    from sim.model.run import build
    from sim.model.windows import run_windows
    from sim.scenario.events import Event

    scen = load(BASE, [*TINY])
    nat, parts = build(scen)
    run_windows(nat, parts)
    region = parts.parts[0].regions[0].ctx  # Kota Magelang: one region
    before = {k: s.res.capacity for k, s in region.desa_stages.items() if k[0] == "verval"}
    scale = nat.kemensos_scale
    ev = Event(index=0, name="x", date=dt.date(2025, 6, 1), source="", origin="t",
               changes={"capacity": {"verval_per_desa": 3, "kemensos_officers": 1000}})
    timeline.apply(region, ev)
    timeline.apply_national(nat, ev)
    after = {k: s.res.capacity for k, s in region.desa_stages.items() if k[0] == "verval"}
    assert before and set(before.values()) == {1} and set(after.values()) == {3}
    assert region.p["capacity"]["verval_per_desa"] == 3
    c_eff = max(1, round(1000 * nat.frame.national_share))  # the national pool, scaled
    assert len(nat.kemensos_free) == c_eff and nat.mon.servers["kemensos"] == c_eff
    assert nat.kemensos_scale == c_eff / (1000 * nat.frame.national_share) < scale
    assert nat.p["capacity"]["kemensos_officers"] == 1000
    assert scen["capacity"]["verval_per_desa"] == 1  # the scenario itself is unchanged
