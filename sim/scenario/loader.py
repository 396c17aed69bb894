"""Loading and validating TOML scenarios, before anything runs.

A scenario is a TOML file (read with `tomllib`) whose tables and keys are listed in
`sim.scenario.schema.SCHEMA`. ``extends = "baseline.toml"`` (relative to the file) takes every
value from another scenario and overrides table by table, key by key; ``--set table.key=value``
overrides on the command line (the value is parsed as TOML, so ``--set penetapan.cadence=quarterly``
and ``--set capacity.verval_per_desa=4`` both work).

Every problem raises `ConfigError(file, key, expected)`: one line naming the file the value came
from, the dotted key and what was expected.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kks_emulator.errors import ConfigError
from sim.scenario import calendar as _calendar
from sim.scenario import decree_calendar
from sim.scenario import events as _events
from sim.scenario.calendar import horizon_days
from sim.scenario.schema import REGION_SCHEMA, SCHEMA, Key, is_date
from sim.scenario.text import MAX_SCENARIO_BYTES, decode

#: reasons a DTKS household can be removed (docs/glossary.md flow 7; docs/calibration.md
#: [EXCLUDE-REASONS]).
REMOVAL_REASONS = ("died", "moved", "dukcapil_unreported", "resigned", "ineligible_local",
                   "pkh_no_member", "earns_umr")
BANKS = ("BRI", "BNI", "Mandiri", "BTN", "BSI")
_MAX_EXTENDS = 8


@dataclass
class Scenario:
    """A validated scenario: nested *data*, the file each value came from, and the input files."""

    path: Path
    data: dict[str, dict[str, Any]]
    origins: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    #: dated events in timeline order (`sim.scenario.events`); empty = none
    events: list[_events.Event] = field(default_factory=list)

    def __getitem__(self, table: str) -> dict[str, Any]:
        return self.data[table]

    @property
    def name(self) -> str:
        """The scenario's short name."""
        return str(self.data["scenario"]["name"])

    def input_hashes(self) -> dict[str, str]:
        """SHA-256 of every scenario file read (the file and what it extends), by file name."""
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in self.files}

    def canonical(self) -> dict[str, dict[str, Any]]:
        """The resolved values with dates as ISO strings (for manifest.json)."""
        def conv(v: Any) -> Any:
            if is_date(v):
                return v.isoformat()
            if isinstance(v, list):
                return [conv(x) for x in v]
            if isinstance(v, dict):
                return {k: conv(v[k]) for k in sorted(v)}
            return v
        out: dict[str, Any] = {t: {k: conv(v) for k, v in sorted(keys.items())}
                               for t, keys in sorted(self.data.items())}
        if self.events:  # absent when there are none: an empty list changes nothing
            out["events"] = [e.canonical() for e in self.events]
        return out


def _decode_error_key(text: str, msg: str) -> str:
    """Best guess of the dotted key on the line a TOML decode error points at."""
    m = re.search(r"line (\d+)", msg)
    if not m:
        return "<document>"
    lines = text.splitlines()
    lineno = int(m.group(1))
    table = ""
    for line in lines[: lineno - 1]:
        h = re.match(r"\s*\[([^\[\]]+)\]", line)
        if h:
            table = h.group(1).strip()
    here = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    k = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*=", here)
    if k:
        return f"{table}.{k.group(1)}" if table else k.group(1)
    return f"line {lineno}"


def _read(path: Path) -> dict[str, Any]:
    """The TOML document at *path*; any unreadable, undecodable or invalid file is one line."""
    try:
        if not path.is_file():
            raise ConfigError(str(path), "<file>", "an existing scenario file")
        with path.open("rb") as fh:
            raw = fh.read(MAX_SCENARIO_BYTES + 1)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(str(path), "<file>", f"a readable scenario file ({reason})") from None
    text = decode(raw, str(path))
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        key = _decode_error_key(text, str(exc))
        raise ConfigError(str(path), key, f"valid TOML ({exc})") from None
    except RecursionError:
        raise ConfigError(str(path), "<document>", "TOML nested at most a few hundred levels "
                          "deep") from None
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        raise ConfigError(str(path), "<document>", f"valid TOML values ({exc})") from None


def _flatten_origins(doc: Mapping[str, Any], origin: str, out: dict[str, str]) -> None:
    for table, keys in doc.items():
        if isinstance(keys, dict):
            for k in keys:
                out[f"{table}.{k}"] = origin
        else:
            out[table] = origin


def _resolve(path: Path, depth: int, files: list[Path]) -> tuple[dict, dict[str, str]]:
    """Read *path* and what it extends; return merged data and key origins."""
    if depth > _MAX_EXTENDS:
        raise ConfigError(str(path), "extends", f"a chain of at most {_MAX_EXTENDS} files "
                          "without cycles")
    doc = _read(path)
    files.append(path)
    origins: dict[str, str] = {}
    base: dict[str, Any] = {}
    own_events = doc.pop("events", [])
    parent = doc.pop("extends", None)
    if parent is not None:
        if not isinstance(parent, str):
            raise ConfigError(str(path), "extends", "a file name (string)")
        try:
            ppath = (path.parent / parent).resolve()
            found = ppath.is_file()
        except (OSError, ValueError):
            found = False
        if not found:
            raise ConfigError(str(path), "extends",
                              f"an existing scenario file ({parent!r} not found)")
        base, origins = _resolve(ppath, depth + 1, files)
    merged = copy.deepcopy(base)
    for table, keys in doc.items():
        if isinstance(keys, dict) and isinstance(merged.get(table), dict):
            merged[table].update(keys)
        else:
            merged[table] = keys
    _flatten_origins(doc, str(path), origins)
    # events accumulate along the extends chain: the parent's first, then this file's
    inherited = merged.pop("events", [])
    if not isinstance(own_events, list):
        raise ConfigError(str(path), "events", "an array of tables ([[events]])")
    for j in range(len(own_events)):
        origins[f"events[{len(inherited) + j}]"] = str(path)
    if inherited or own_events:
        merged["events"] = [*inherited, *own_events]
    return merged, origins


def _parse_override(item: str) -> tuple[str, str, Any]:
    if "=" not in item:
        raise ConfigError("--set", item, "table.key=value")
    dotted, raw = item.split("=", 1)
    dotted = dotted.strip()
    parts = dotted.split(".")
    if "\n" in raw or "\r" in raw:
        raise ConfigError("--set", dotted, "a value on one line")
    if parts[0] == "regions" and len(parts) in (4, 5) and all(parts):
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except (tomllib.TOMLDecodeError, RecursionError, ValueError):
            raise ConfigError("--set", dotted, "a TOML value") from None
        return "regions", ".".join(parts[1:]), value
    if len(parts) != 2 or not all(parts):
        raise ConfigError("--set", dotted, "a key of the form table.key")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        value = raw  # a bare word such as `quarterly` (validation judges it)
    return parts[0], parts[1], value


def load(path: str | Path, overrides: Iterable[str] = ()) -> Scenario:
    """Read, merge and validate the scenario at *path* with ``table.key=value`` *overrides*."""
    path = Path(path)
    files: list[Path] = []
    try:
        start = path.resolve() if path.exists() else path
    except (OSError, ValueError):
        start = path
    data, origins = _resolve(start, 0, files)
    overrides = list(overrides)
    for item in overrides:
        table, key, value = _parse_override(item)
        if table == "regions":
            if key.count(".") < 2:
                raise ConfigError("--set", f"regions.{key}",
                                  "a key of the form regions.PP[.KK].table.key")
            *code, rtable, rkey = key.split(".")
            regions_data = data.setdefault("regions", {})
            region = regions_data.setdefault(".".join(code), {}) if isinstance(
                regions_data, dict) else None
            body = region.setdefault(rtable, {}) if isinstance(region, dict) else None
            if not isinstance(body, dict):
                raise ConfigError("--set", f"regions.{key}", "a region table")
            body[rkey] = value
            origins[f"regions.{'.'.join(code)}"] = "--set"
            continue
        if table not in SCHEMA:
            raise ConfigError("--set", f"{table}.{key}",
                              "a known table (" + ", ".join(SCHEMA) + ")")
        if key not in SCHEMA[table]:
            raise ConfigError("--set", f"{table}.{key}", f"a known key of [{table}]")
        data.setdefault(table, {})[key] = value
        origins[f"{table}.{key}"] = "--set"
    scen = Scenario(path=path, data=data, origins=origins, files=files, overrides=overrides)
    validate(scen)
    return scen


def _check_value(where: str, dotted: str, key: Key, value: Any) -> Any:
    """Type- and bound-check one value; return it normalised (ints to floats where needed)."""
    def bad() -> ConfigError:
        return ConfigError(where, dotted, key.expected())

    def in_bounds(x: float) -> bool:
        return (key.lo is None or x >= key.lo) and (key.hi is None or x <= key.hi)

    k = key.kind
    if isinstance(value, list | dict) and len(value) > key.max_items:
        raise ConfigError(where, dotted, f"{key.expected()} (at most {key.max_items:,} items)")
    if k == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not in_bounds(value):
            raise bad()
        return value
    if k in ("float", "prob"):
        number = _finite(value)
        lo, hi = (0.0, 1.0) if k == "prob" else (key.lo, key.hi)
        if number is None or (lo is not None and number < lo) or (
                hi is not None and number > hi):
            raise bad()
        return number
    if k == "bool":
        if not isinstance(value, bool):
            raise bad()
        return value
    if k == "str":
        if (not isinstance(value, str) or (key.choices and value not in key.choices)
                or len(value) > key.max_len
                or (key.pattern and not re.fullmatch(key.pattern, value))):
            raise bad()
        return value
    if k == "date":
        if not is_date(value):
            raise bad()
        return value
    if k == "dates":
        if not isinstance(value, list) or not all(is_date(v) for v in value):
            raise bad()
        return value
    if k == "ints":
        if not isinstance(value, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) and in_bounds(v) for v in value):
            raise bad()
        return value
    if k == "strs":
        if not isinstance(value, list) or not all(
                isinstance(v, str) and len(v) <= key.max_len for v in value):
            raise bad()
        return value
    if k in ("shares", "factors"):
        if not isinstance(value, dict):
            raise bad()
        out = {}
        for name in sorted(value):
            number = _finite(value[name])
            if number is None or not in_bounds(number):
                lo, hi = (key.lo or 0), (key.hi if key.hi is not None else math.inf)
                raise ConfigError(where, f"{dotted}.{name}", f"a number in [{lo:g}, {hi:g}]")
            out[name] = number
        if k == "shares" and abs(sum(out.values()) - 1.0) > 1e-6:
            raise bad()
        return out
    if k == "regional_shares":
        if not isinstance(value, dict):
            raise bad()
        shares = Key("shares", key.doc, lo=0, hi=1)
        return {code: _check_value(where, f"{dotted}.{code}", shares, value[code])
                for code in sorted(value)}
    if k == "outages":
        if not isinstance(value, list):
            raise bad()
        for i, o in enumerate(value):
            if (not isinstance(o, dict) or set(o) != {"start", "end"}
                    or not is_date(o["start"]) or not is_date(o["end"])
                    or o["end"] < o["start"]):
                raise ConfigError(where, f"{dotted}[{i}]", key.expected())
        return value
    raise AssertionError(f"unknown kind {k}")  # pragma: no cover - schema bug


def _finite(value: Any) -> float | None:
    """*value* as a finite float, or None for a non-number, NaN, an infinity or an overflow."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def validate(scen: Scenario) -> None:
    """Check *scen* against the schema and the cross-key rules; fill defaults in place."""
    top = str(scen.path)

    def where(dotted: str) -> str:
        return scen.origins.get(dotted, scen.origins.get(dotted.split(".")[0], top))

    raw_events = scen.data.pop("events", [])

    for table in scen.data:
        if table == "regions":
            continue
        if table not in SCHEMA:
            raise ConfigError(where(table), table, "a known table (" + ", ".join(SCHEMA) + ")")
        if not isinstance(scen.data[table], dict):
            raise ConfigError(where(table), table, "a table")
    for table, keys in SCHEMA.items():
        given = scen.data.setdefault(table, {})
        for name in given:
            if name not in keys:
                raise ConfigError(where(f"{table}.{name}"), f"{table}.{name}",
                                  f"a known key of [{table}] (" + ", ".join(keys) + ")")
        for name, key in keys.items():
            dotted = f"{table}.{name}"
            if name not in given:
                if key.default is None:
                    raise ConfigError(top, dotted, f"{key.expected()} (required)")
                given[name] = copy.deepcopy(key.default)
                continue
            given[name] = _check_value(where(dotted), dotted, key, given[name])
    _check_regions(scen, where)
    _cross_checks(scen, where)
    _check_events(scen, raw_events)


def _check_events(scen: Scenario, raw_events: Any) -> None:
    """Validate the dated events and the scenario as it stands after each event date."""
    origins = [scen.origins.get(f"events[{i}]", str(scen.path))
               for i in range(len(raw_events) if isinstance(raw_events, list) else 0)]
    start = scen.data["scenario"]["start"]
    end = start + _dt.timedelta(days=horizon_days(start, scen.data["scenario"]["months"]))
    cal = _calendar.build(start, (end - start).days, scen.data["calendar"]["weekend"],
                          scen.data["calendar"]["holidays"])

    def decree_date(dated: list, number: int, programme: str | None):
        return decree_calendar.decree_date(cal, scen.data["penetapan"], dated, number,
                                           programme, scen.data["programmes"])

    scen.events = _events.parse(raw_events, origins, start, end, _check_value, decree_date)
    for _, group, state in _events.states(scen.data, scen.events):
        try:
            _cross_checks(Scenario(path=scen.path, data=state), lambda d: str(scen.path))
        except ConfigError as exc:
            blame = next((e for e in group if any(exc.key.startswith(k) for k in e.dotted_keys())),
                         group[-1])
            raise ConfigError(blame.origin, f"{blame.label}.{exc.key}", exc.expected) from None


def _check_regions(scen: Scenario, where) -> None:
    """``[regions."PP"]`` / ``[regions."PP.KK"]``: known codes in the territory, known keys,
    values within the bounds of `REGION_SCHEMA`."""
    regs_data = scen.data.setdefault("regions", {})
    if not isinstance(regs_data, dict):
        raise ConfigError(where("regions"), "regions", 'a table of regions ([regions."53"])')
    from sim.registry import regions

    frame = regions.load()
    t = scen.data["territory"]
    for code in sorted(regs_data):
        dotted = f"regions.{code}"
        src = where(dotted)
        body = regs_data[code]
        m = re.match(r"^(\d{2})(?:\.(\d{2}))?$", code)
        if not m:
            raise ConfigError(src, dotted, "a province code like \"53\" or a kab/kota code "
                              "like \"53.71\"")
        pp = int(m.group(1))
        known = (frame.province_lookup[pp] >= 0 if m.group(2) is None
                 else frame.kabkota_lookup[pp * 100 + int(m.group(2))] >= 0)
        if not known:
            raise ConfigError(src, dotted, "a region code of the frame (sim/data)")
        if t["scope"] != "national":
            inside = any(code == c or code.startswith(c + ".") or c.startswith(code + ".")
                         for c in t["codes"])
            if not inside:
                raise ConfigError(src, dotted, "a region inside territory.codes")
        if not isinstance(body, dict) or not body:
            raise ConfigError(src, dotted, "a table of settings (e.g. capacity.ewarong_kpm_"
                              "ratio = 780)")
        for table in sorted(body):
            if table not in REGION_SCHEMA or not isinstance(body[table], dict):
                raise ConfigError(src, f"{dotted}.{table}",
                                  "one of " + ", ".join(f"{t}.<key>" for t in REGION_SCHEMA))
            for key in sorted(body[table]):
                spec = REGION_SCHEMA[table].get(key)
                if spec is None:
                    raise ConfigError(src, f"{dotted}.{table}.{key}", "one of "
                                      + ", ".join(REGION_SCHEMA[table]))
                body[table][key] = _check_value(src, f"{dotted}.{table}.{key}", spec,
                                                body[table][key])
                if (table, key) == ("issuance", "bank_shares"):
                    for bank in body[table][key]:
                        if bank not in BANKS:
                            raise ConfigError(src, f"{dotted}.{table}.{key}.{bank}",
                                              "a HIMBARA bank (" + ", ".join(BANKS) + ")")


def _context_checks(d: dict, where) -> None:
    """``territory.context = "national"`` (`sim.model.nation`): the rest of the country at a
    sample no finer than the territory."""
    t = d["territory"]
    if t["context_fraction"] > t["fraction"]:
        raise ConfigError(where("territory.context_fraction"), "territory.context_fraction",
                          f"at most territory.fraction ({t['fraction']:g}): the rest of the "
                          "country is sampled no finer than the territory")


def _cross_checks(scen: Scenario, where) -> None:
    d = scen.data
    t = d["territory"]
    if t["scope"] != "national" and not t["codes"]:
        raise ConfigError(where("territory.codes"), "territory.codes",
                          f"at least one code for scope {t['scope']!r}")
    if t["scope"] == "national" and t["context"] == "national":
        raise ConfigError(where("territory.context"), "territory.context",
                          "'alone' for scope 'national' (the context is the territory itself)")
    if t["context"] == "national":
        _context_checks(d, where)
    pat = r"^\d{2}$" if t["scope"] == "provinces" else r"^\d{2}\.\d{2}$"
    for c in t["codes"] if t["scope"] != "national" else []:
        if not re.match(pat, c):
            raise ConfigError(where("territory.codes"), "territory.codes",
                              "province codes like '33'" if t["scope"] == "provinces"
                              else "kab/kota codes like '33.02'")
    disb = d["disbursement"]
    if disb["close_hour"] <= disb["open_hour"]:
        raise ConfigError(where("disbursement.close_hour"), "disbursement.close_hour",
                          "an hour later than disbursement.open_hour")
    for bank in d["issuance"]["bank_shares"]:
        if bank not in BANKS:
            raise ConfigError(where("issuance.bank_shares"), f"issuance.bank_shares.{bank}",
                              "a HIMBARA bank (" + ", ".join(BANKS) + ")")
    for code, shares in d["issuance"]["bank_shares_by_province"].items():
        if not re.match(r"^\d{2}$", code):
            raise ConfigError(where("issuance.bank_shares_by_province"),
                              f"issuance.bank_shares_by_province.{code}",
                              "a province code like '11'")
        for bank in shares:
            if bank not in BANKS:
                raise ConfigError(where("issuance.bank_shares_by_province"),
                                  f"issuance.bank_shares_by_province.{code}.{bank}",
                                  "a HIMBARA bank (" + ", ".join(BANKS) + ")")
    for code, months in d["verification"]["musdes_every_by_kabkota"].items():
        if not re.match(r"^\d{2}\.\d{2}$", code):
            raise ConfigError(where("verification.musdes_every_by_kabkota"),
                              f"verification.musdes_every_by_kabkota.{code}",
                              "a kab/kota code like '33.71'")
        if months != int(months) or not 1 <= months <= 12:
            raise ConfigError(where("verification.musdes_every_by_kabkota"),
                              f"verification.musdes_every_by_kabkota.{code}",
                              "a whole number of months in [1, 12]")
    for reason in d["churn"]["removals_per_year"]:
        if reason not in REMOVAL_REASONS:
            raise ConfigError(where("churn.removals_per_year"),
                              f"churn.removals_per_year.{reason}",
                              "a removal reason (" + ", ".join(REMOVAL_REASONS) + ")")
        if d["churn"]["removals_per_year"][reason] > 1:
            raise ConfigError(where("churn.removals_per_year"),
                              f"churn.removals_per_year.{reason}", "a yearly rate in [0, 1]")
    for code in d["programmes"]["province_quota"]:
        if not re.match(r"^\d{2}$", code):
            raise ConfigError(where("programmes.province_quota"),
                              f"programmes.province_quota.{code}", "a province code like '33'")
    start: _dt.date = d["scenario"]["start"]
    for h in d["calendar"]["holidays"]:
        if h.year < 1900 or h.year > 2200:
            raise ConfigError(where("calendar.holidays"), "calendar.holidays",
                              "dates between 1900 and 2200")
    if start.year < 2000 or start.year > 2100:
        raise ConfigError(where("scenario.start"), "scenario.start",
                          "a date between 2000-01-01 and 2100-12-31")
