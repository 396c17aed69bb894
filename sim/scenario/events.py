"""Dated events: ``[[events]]`` in a scenario, overrides of scenario keys from a date on.

An event is a TOML table in the ``[[events]]`` array::

    [[events]]
    name = "DTSEN replaces DTKS"          # required: shown in the report's timeline
    date = 2025-02-01                     # or: month = "2025-02" (its first day),
                                          # or: decree_number = 3 (the 3rd decree's day;
                                          # decree_of = "pkh": of PKH's own decrees)
    source = "docs/calibration.md §3"     # where the date and values come from
    decree = false                        # true: a decree on the next decree day, any cadence
    [events.penetapan]
    cadence = "quarterly"                 # any key of a scenario table, validated as usual

Every other key of an event is a scenario table whose keys are overridden from the event's date
to the end of the run (or to a later event changing the same key). Validation happens before
anything runs, like every other key: an unknown table or key, a value out of its bounds, a date
outside the horizon, a key that is fixed for the whole run (`FIXED_TABLES`, `FIXED_KEYS`) or two
events changing the same key on the same day is one `ConfigError` naming the file, the event
and the key. How each kind of key takes effect in the model is in `sim.model.timeline` and
docs/scenarios.md.

An event anchored to a decree (``decree_number = k``: from the *k*-th penetapan of the run on) is
resolved before anything runs into a dated event on that decree's day that holds the decree
whatever the cadence (`sim.scenario.decree_calendar`); a number beyond the decrees the run holds
is one `ConfigError` too. Anchored events are resolved in order of their number, each against the
dated events and the anchored events of lower numbers (an anchored event may change the cadence
of the decrees after it).

A scenario that ``extends`` another gets the parent's events first, then its own. An empty
events list is the same as no ``events`` key.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kks_emulator.errors import ConfigError
from sim.scenario.schema import SCHEMA, Key, is_date

#: fields of an event that are not scenario tables
EVENT_FIELDS = ("name", "date", "month", "decree_number", "decree_of", "source", "decree")
#: programmes whose own decrees an event may count (``decree_of``)
DECREE_OF = ("bpnt", "pkh", "pbi")

#: tables no event may change, and why (printed in the error)
FIXED_TABLES: dict[str, str] = {
    "scenario": "the run's identity, start and horizon",
    "territory": "the simulated households are drawn once",
    "calendar": "holidays are already dated",
    "fidelity": "the card-fidelity mirror is set up once",
}

#: keys no event may change, and why: each is drawn or laid out once for the whole horizon
#: (so that runs with and without an event share every other random number)
FIXED_KEYS: dict[str, str] = {
    "registration.rtrw_per_1000": "arrivals are drawn once for the horizon",
    "registration.rtrw_targeting": "arrivals are drawn once for the horizon",
    "registration.self_per_1000": "arrivals are drawn once for the horizon",
    "registration.self_targeting": "arrivals are drawn once for the horizon",
    "registration.shock_per_1000": "arrivals are drawn once for the horizon",
    "registration.pmks_per_1000": "arrivals are drawn once for the horizon",
    "verification.verval_days": "verval work is drawn once per proposal",
    "verification.verval_cv": "verval work is drawn once per proposal",
    "verification.dukcapil_fix_days": "correction times are drawn once per proposal",
    "issuance.printer_outages": "outages are already dated",
    "issuance.post_days_median": "post days are drawn once per household",
    "issuance.post_days_sigma": "post days are drawn once per household",
    "churn.sanggah_per_1000_kpm": "objections are drawn once for the horizon",
    "churn.pbi_lapse_per_1000": "KIS lapses are drawn once for the horizon",
    "churn.pbi_window_months": "KIS lapses are drawn once for the horizon",
    "status.checks_per_proposal_month": "status checks are drawn once for the horizon",
    "register.initial_share": "the starting register is drawn once",
    "register.dtks_noise_sd": "the starting register is drawn once",
    "register.stale_score_sd": "the starting register is drawn once",
    "register.unranked_share": "the starting register is drawn once",
}


@dataclass(frozen=True)
class Event:
    """One validated event: from *date* on, *changes* (table -> key -> value) hold."""

    index: int            # position in the scenario's events list (parents' first)
    name: str
    date: _dt.date
    source: str
    origin: str           # the file the event came from
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    decree: bool = False  # hold a decree on the next decree day whatever the cadence
    #: anchored to this decree of the run (its date is that decree's day), or None
    decree_number: int | None = None
    #: the programme whose own decrees *decree_number* counts, or None (every decree)
    decree_of: str | None = None

    @property
    def label(self) -> str:
        """How errors and the report name the event: ``events[2] "BLTS 2025"``."""
        return f'events[{self.index}] "{self.name}"'

    def dotted_keys(self) -> list[str]:
        """The dotted keys the event changes, in table then key order."""
        return [f"{t}.{k}" for t in sorted(self.changes) for k in sorted(self.changes[t])]

    def describe(self) -> str:
        """The changes as ``table.key = value; ...`` (for the report's timeline)."""
        return "; ".join(f"{t}.{k} = {_show(v)}" for t in sorted(self.changes)
                         for k, v in sorted(self.changes[t].items()))

    def canonical(self) -> dict[str, Any]:
        """The event as plain JSON values (for manifest.json and summary.json)."""
        out: dict[str, Any] = {"name": self.name, "date": self.date.isoformat()}
        if self.decree_number is not None:  # absent otherwise: dated runs keep their bytes
            out["decree_number"] = self.decree_number
        if self.decree_of is not None:
            out["decree_of"] = self.decree_of
        return {**out, "source": self.source, "decree": self.decree,
                "changes": {f"{t}.{k}": _plain(v) for t in sorted(self.changes)
                            for k, v in sorted(self.changes[t].items())}}


def _plain(v: Any) -> Any:
    if is_date(v):
        return v.isoformat()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(v[k]) for k in sorted(v)}
    return v


def _show(v: Any) -> str:
    v = _plain(v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {x}" for k, x in v.items()) + "}"
    return repr(v) if isinstance(v, str) else str(v)


def _date_of(raw: dict, where: str, label: str) -> _dt.date | int:
    """The event's date, or its decree number (an int) when anchored to a decree."""
    given = [k for k in ("date", "month", "decree_number") if k in raw]
    if len(given) != 1:
        raise ConfigError(where, f"{label}.date", "exactly one of date = YYYY-MM-DD or "
                          'month = "YYYY-MM" or decree_number = N')
    if given == ["decree_number"]:
        k = raw["decree_number"]
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(where, f"{label}.decree_number",
                              "an integer >= 1 (the k-th decree of the run)")
        return k
    if given == ["date"]:
        if not is_date(raw["date"]):
            raise ConfigError(where, f"{label}.date", "a date (YYYY-MM-DD)")
        return raw["date"]
    m = raw["month"]
    if not isinstance(m, str) or not re.fullmatch(r"\d{4}-\d{2}", m) or not (
            1 <= int(m[5:]) <= 12):
        raise ConfigError(where, f"{label}.month", 'a month "YYYY-MM"')
    return _dt.date(int(m[:4]), int(m[5:]), 1)


def parse(raw_events: Any, origins: list[str], start: _dt.date, end: _dt.date,
          check: Callable[[str, str, Key, Any], Any],
          decree_date: Callable[[list[Event], int, str | None],
                                 tuple[_dt.date | None, int]] | None = None,
          ) -> list[Event]:
    """Validate the raw ``events`` list; return the events in timeline order (date, index).

    *origins* names the file of each raw event; *end* is the first day after the horizon;
    *check* is the loader's per-value checker ``check(file, dotted_key, Key, value)``;
    *decree_date* ``(dated events in timeline order, k, programme or None) -> (date of the k-th
    decree (of that programme) or None, decrees held)`` resolves events anchored to a decree
    number (none allowed without it).
    """
    if not isinstance(raw_events, list):
        raise ConfigError(origins[0] if origins else "<scenario>", "events",
                          "an array of tables ([[events]])")
    events: list[Event] = []
    anchored: list[Event] = []
    for i, raw in enumerate(raw_events):
        where = origins[i] if i < len(origins) else "<scenario>"
        if not isinstance(raw, dict):
            raise ConfigError(where, f"events[{i}]", "a table ([[events]])")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(where, f"events[{i}].name", "a non-empty string (required)")
        label = f'events[{i}] "{name}"'
        date = _date_of(raw, where, label)
        number = None
        decree_of = raw.get("decree_of")
        if decree_of is not None and (decree_of not in DECREE_OF or "decree_number" not in raw):
            raise ConfigError(where, f"{label}.decree_of", "one of " + ", ".join(
                repr(p) for p in DECREE_OF) + ", with decree_number (count that programme's "
                "own decrees)")
        if isinstance(date, int):
            if decree_date is None:
                raise ConfigError(where, f"{label}.decree_number", "date or month (decree "
                                  "numbers are resolved by the scenario loader)")
            number, date = date, start
        elif not start < date < end:
            raise ConfigError(where, f"{label}.date",
                              f"a date after scenario.start {start.isoformat()} and before the "
                              f"end of the horizon {end.isoformat()}")
        source = raw.get("source", "")
        if not isinstance(source, str):
            raise ConfigError(where, f"{label}.source", "a string")
        decree = raw.get("decree", False)
        if not isinstance(decree, bool):
            raise ConfigError(where, f"{label}.decree", "true or false")
        changes: dict[str, dict[str, Any]] = {}
        for table, keys in raw.items():
            if table in EVENT_FIELDS:
                continue
            if table not in SCHEMA:
                raise ConfigError(where, f"{label}.{table}",
                                  "name, date or month, source, or a scenario table ("
                                  + ", ".join(t for t in SCHEMA if t not in FIXED_TABLES) + ")")
            if table in FIXED_TABLES:
                raise ConfigError(where, f"{label}.{table}", "a table an event can change ("
                                  f"[{table}] is fixed for the run: {FIXED_TABLES[table]})")
            if not isinstance(keys, dict) or not keys:
                raise ConfigError(where, f"{label}.{table}",
                                  f"a table of [{table}] keys to override")
            for key, value in keys.items():
                dotted = f"{table}.{key}"
                if key not in SCHEMA[table]:
                    raise ConfigError(where, f"{label}.{dotted}",
                                      f"a known key of [{table}] (" + ", ".join(SCHEMA[table])
                                      + ")")
                if dotted in FIXED_KEYS:
                    raise ConfigError(where, f"{label}.{dotted}", "a key an event can change "
                                      f"({dotted} is fixed for the run: {FIXED_KEYS[dotted]})")
                changes.setdefault(table, {})[key] = check(where, f"{label}.{dotted}",
                                                           SCHEMA[table][key], value)
        if not changes:
            raise ConfigError(where, label, "at least one scenario key to change")
        ev = Event(index=i, name=name, date=date, source=source, origin=where,
                   changes=changes, decree=decree, decree_number=number, decree_of=decree_of)
        (events if number is None else anchored).append(ev)
    for ev in sorted(anchored, key=lambda e: (e.decree_number, e.index)):
        assert decree_date is not None and ev.decree_number is not None
        when, held = decree_date(sorted(events, key=lambda e: (e.date, e.index)),
                                 ev.decree_number, ev.decree_of)
        if when is None:
            whose = f"of {ev.decree_of.upper()} " if ev.decree_of else ""
            raise ConfigError(ev.origin, f"{ev.label}.decree_number",
                              f"a decree {whose}of the run: 1 to {held} (the decrees it holds "
                              "under its cadence and the events before)")
        events.append(dataclasses.replace(ev, date=when, decree=True))
    seen: dict[tuple[_dt.date, str], Event] = {}
    for ev in events:
        for dotted in ev.dotted_keys():
            other = seen.get((ev.date, dotted))
            if other is not None:
                raise ConfigError(ev.origin, f"{ev.label}.{dotted}",
                                  f"one event per key and day ({other.label} also changes it "
                                  f"on {ev.date.isoformat()})")
            seen[(ev.date, dotted)] = ev
    return sorted(events, key=lambda e: (e.date, e.index))


def states(base: dict[str, dict[str, Any]], events: list[Event]):
    """Yield ``(date, events of that date, scenario values from that date on)`` in order.

    The values are a fresh nested copy per date: the base with every event up to that date
    applied (for cross-key checks and for tests).
    """
    import copy

    cur = copy.deepcopy(base)
    i = 0
    while i < len(events):
        date = events[i].date
        group = []
        while i < len(events) and events[i].date == date:
            group.append(events[i])
            for table, keys in events[i].changes.items():
                cur[table].update(copy.deepcopy(keys))
            i += 1
        yield date, group, copy.deepcopy(cur)
