"""S-INPUT: any bytes as a scenario file and any `--set` value validate, or give one line and exit
2 before anything runs: never a traceback, never a results folder.

The named cases cover the encodings and magnitudes of the target (UTF-8 with and without a
byte-order mark, UTF-16, Latin-1, binary, 10^30, 2^63-1, inf, nan); the hypothesis property
generates documents (random tables, keys, types, sizes, nesting), encodings and `--set` values
and runs `kks sim run` on a tiny territory (85 households, one month), so an accepted document
really runs and writes its folder. Everything runs in-process through the CLI's own `main`,
which is what turns errors into one line and an exit code.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kks_emulator.cli.main import main
from sim.scenario.schema import SCHEMA
from tests.sim.model.conftest import ROOT

BASELINE = ROOT / "scenarios" / "baseline.toml"
#: after any random --set: a territory of 85 households for one month (an accepted run is fast)
TINY = ["--set", 'territory.scope="kabkota"', "--set", 'territory.codes=["33.71"]',
        "--set", "territory.fraction=0.002", "--set", "scenario.months=1"]


def _cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def _one_line_error(code: int, err: str) -> str:
    lines = err.strip("\n").split("\n")
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("kks: error: "), err
    assert "Traceback" not in err
    return lines[0]


def _extends(body: str) -> str:
    return f"extends = {json.dumps(str(BASELINE))}\n{body}"


CASES = [
    ("utf8_bom", b"\xef\xbb\xbf" + _extends("[capacity]\nverval_per_desa = 2\n").encode(), None),
    ("utf16_bom", _extends("").encode("utf-16"), "<file>: UTF-8 text (found UTF-16 with a "
                                                 "byte-order mark"),
    ("utf16_no_bom", _extends("").encode("utf-16-le"), "<file>: UTF-8 text (found UTF-16 "
                                                       "without a byte-order mark"),
    ("utf32", _extends("").encode("utf-32"), "<file>: UTF-8 text (found UTF-32"),
    ("latin1", _extends('[scenario]\nquestion = "café"\n').encode("latin-1"),
     "<file>: UTF-8 text (byte 0xE9 at line 3, column"),
    ("binary", bytes(range(256)) * 4, "<file>: a text file (found binary data"),
    ("huge_int", _extends("[capacity]\nverval_per_desa = 1000000000000000000000000000000\n")
     .encode(), "capacity.verval_per_desa: an integer in [1, 1000]"),
    ("int64_max", _extends("[capacity]\nprinter_cards_per_day = 9223372036854775807\n").encode(),
     "capacity.printer_cards_per_day: an integer in [1, 10_000_000]"),
    ("float_1e30", _extends("[verification]\nverval_days = 1e30\n").encode(),
     "verification.verval_days: a number in [0.001, 365]"),
    ("inf", _extends("[disbursement]\nservice_minutes = inf\n").encode(),
     "disbursement.service_minutes: a number in [0.01, 1440]"),
    ("nan", _extends("[issuance]\nburekol_fail = nan\n").encode(),
     "issuance.burekol_fail: a probability in [0, 1]"),
    ("huge_share", _extends("[issuance]\nbank_shares = { BRI = 1e400 }\n").encode(),
     "issuance.bank_shares.BRI: a number in [0, 1]"),
    ("digits", _extends("[capacity]\nverval_per_desa = " + "9" * 5000 + "\n").encode(),
     "<document>: valid TOML values"),
    ("deep", _extends("[scenario]\nquestion = " + "[" * 5000 + "]" * 5000 + "\n").encode(),
     "TOML nested at most"),
    ("bad_name", _extends('[scenario]\nname = "../../etc"\n').encode(), "scenario.name: a name"),
    ("control_key", _extends('[scenario]\n"a\\nb" = 1\n').encode(), "scenario.a\\nb: a known"),
    ("too_large", b"#" * (2 << 20), "<file>: a scenario file of at most"),
]


@pytest.mark.parametrize(("case", "data", "message"), CASES, ids=[c[0] for c in CASES])
def test_named_inputs(tmp_path, capsys, case, data, message) -> None:
    path = tmp_path / f"{case}.toml"
    path.write_bytes(data)
    code, err = _cli(capsys, "sim", "validate", str(path))
    if message is None:
        assert code == 0, err
        return
    line = _one_line_error(code, err)
    assert line.startswith(f"kks: error: {path}: "), line
    assert message in line, line


SET_CASES = [
    ("capacity.verval_per_desa=1e999", "--set: capacity.verval_per_desa: an integer"),
    ("verification.verval_days=inf", "--set: verification.verval_days: a number in"),
    ("verification.verval_days=nan", "--set: verification.verval_days: a number in"),
    ("scenario.seed=9223372036854775808", "--set: scenario.seed: an integer in"),
    ("capacity.verval_per_desa=" + "[" * 3000, "--set: capacity.verval_per_desa: an integer"),
    ("scenario.name=a\nb", "--set: scenario.name: a value on one line"),
    ("bogus\x00.key=1", "--set: bogus\\x00.key: a known table"),
    ("scenario.question=" + "x" * 5000, "--set: scenario.question: a string of at most 2000"),
    ("nodot=1", "--set: nodot: a key of the form table.key"),
    ("regions.33=", "--set: regions.33: a key of the form regions.PP[.KK].table.key"),
]


@pytest.mark.parametrize(("item", "message"), SET_CASES, ids=[c[1][:40] for c in SET_CASES])
def test_named_set_values(capsys, item, message) -> None:
    code, err = _cli(capsys, "sim", "validate", str(BASELINE), "--set", item)
    assert message in _one_line_error(code, err)


def test_seed_beyond_int64_is_one_line(capsys) -> None:
    code, err = _cli(capsys, "sim", "validate", str(BASELINE), "--seed", str(2**64))
    assert "scenario.seed: an integer in [0, 9223372036854775807]" in _one_line_error(code, err)


# ---- the property --------------------------------------------------------------------------

#: schema keys, and region overrides ([regions."33"] / [regions."33.71"] with random bodies)
_KEYS = [(t, k) for t, keys in SCHEMA.items() for k in keys] + [
    ("regions", "33"), ("regions", "33.71"), ("regions", "99.99"), ("events", "date")]


def _toml_scalar():
    return st.one_of(
        st.integers(), st.sampled_from([10**30, 2**63 - 1, -(2**63), 2**64, 0, 1, -1]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([1e30, -1e30, 1e-300, 0.5, 0.0]), st.booleans(),
        st.text(max_size=30), st.dates(min_value=dt.date(1, 1, 1)))


def _toml_value():
    return st.recursive(_toml_scalar(), lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4)), max_leaves=12)


def _literal(v) -> str:
    """A TOML literal for *v* (floats NaN/inf as TOML spells them)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_literal(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {_literal(x)}"
                           for k, x in v.items()) + "}"


@st.composite
def documents(draw) -> bytes:
    """A scenario document as bytes: mostly schema keys with random values, in a random
    encoding; sometimes random text or bytes."""
    shape = draw(st.sampled_from(["schema", "schema", "schema", "text", "bytes"]))
    if shape == "bytes":
        return draw(st.binary(max_size=300))
    if shape == "text":
        body = draw(st.text(max_size=200))
    else:
        lines: dict[str, list[str]] = {}
        for _ in range(draw(st.integers(0, 4))):
            table, key = draw(st.sampled_from(_KEYS))
            if draw(st.integers(0, 9)) == 0:
                key = draw(st.text(min_size=1, max_size=10))
            value = draw(_toml_value())
            lines.setdefault(table, []).append(f"{json.dumps(key, ensure_ascii=False)} = "
                                               f"{_literal(value)}")
        body = "".join(f"[{t}]\n" + "\n".join(kv) + "\n" for t, kv in lines.items())
        body = _extends(body)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-16-le",
                                     "latin-1", "cp1252"]))
    return body.encode(encoding, errors="replace")


@st.composite
def set_values(draw) -> list[str]:
    out = []
    for _ in range(draw(st.integers(0, 2))):
        table, key = draw(st.sampled_from(_KEYS))
        raw = draw(st.one_of(st.builds(_literal, _toml_value()), st.text(max_size=40)))
        dotted = f"{table}.{key}" if draw(st.integers(0, 5)) else draw(st.text(max_size=12))
        out += ["--set", f"{dotted}={raw}"]
    return out


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(doc=documents(), sets=set_values())
def test_any_document_and_set_value_runs_or_is_one_line(capsys, doc, sets) -> None:
    capsys.readouterr()  # the fixture is shared by the examples: start each one clean
    base = Path(tempfile.mkdtemp(prefix="kks-any-input-"))
    try:
        path = base / "scenario.toml"
        path.write_bytes(doc)
        out = base / "results"
        code, err = _cli(capsys, "sim", "run", str(path), "--out", str(out), *sets, *TINY)
        event(f"exit {code}")
        if code == 0:
            assert (out / "manifest.json").is_file(), err
        else:
            _one_line_error(code, err)
            assert not out.exists()
            assert sorted(p.name for p in base.iterdir()) == ["scenario.toml"], \
                "partial results left behind"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _extreme_sets(side: str) -> list[str]:
    """`--set` items putting every numeric key of the schema at its upper or lower bound."""
    out = []
    for table, keys in SCHEMA.items():
        for name, key in keys.items():
            if table == "territory" or f"{table}.{name}" in (
                    "scenario.months", "disbursement.open_hour", "disbursement.close_hour"):
                continue  # the territory stays tiny; opening hours must stay ordered
            if key.kind in ("int", "float"):
                bound = key.hi if side == "hi" else key.lo
                value = int(bound) if key.kind == "int" else float(bound)
                out += ["--set", f"{table}.{name}={value}"]
            elif key.kind == "prob":
                out += ["--set", f"{table}.{name}={1.0 if side == 'hi' else 0.0}"]
    return [*out, "--set", "disbursement.open_hour=0", "--set", "disbursement.close_hour=24"]


@pytest.mark.parametrize("side", ["hi", "lo"])
def test_every_numeric_key_at_its_bound_runs(tmp_path, capsys, side) -> None:
    """The bounds are safe: a run with every numeric key at its upper (or lower) bound at once
    finishes and writes its folder (a bound that let a later step crash would fail here)."""
    out = tmp_path / side
    code, err = _cli(capsys, "sim", "run", str(BASELINE), "--out", str(out),
                     *_extreme_sets(side), *TINY)
    assert code == 0, err
    assert (out / "report.html").is_file()


@pytest.mark.long
@pytest.mark.parametrize(("side", "months"), [("hi", 24), ("lo", 120)])
def test_every_numeric_key_at_its_bound_runs_for_long_horizons(tmp_path, capsys, side,
                                                                months) -> None:
    """Longer horizons (every rate at its upper bound makes each month costly: 24 months)."""
    out = tmp_path / side
    code, err = _cli(capsys, "sim", "run", str(BASELINE), "--out", str(out),
                     *_extreme_sets(side), *TINY, "--set", f"scenario.months={months}")
    assert code == 0, err
