"""The scenario layer: what a run is asked to do, before anything runs.

* `schema`: every key with its type, bounds, default and meaning;
* `loader`: TOML reading, `extends`, `--set` overrides, validation (`load` -> `Scenario`);
* `calendar`: working days, holidays and decree days;
* `streams`: the fixed map from stream name to `SeedSequence` spawn key (common random numbers).

`load`, `Scenario` and the constants of `loader` are re-exported here.
"""

from sim.scenario.loader import BANKS, REMOVAL_REASONS, Scenario, load, validate

__all__ = ["BANKS", "REMOVAL_REASONS", "Scenario", "load", "validate"]
