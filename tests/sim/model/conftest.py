"""Fixtures of the flow-model tests: a small full-resolution territory and run caching.

Kota Magelang (33.71, ~42k households at fraction 1) is small enough for a one-year run in about
a second and large enough for every stage to see traffic.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.model.run import run
from sim.outputs import results as outputs
from sim.scenario.loader import load

ROOT = Path(__file__).resolve().parents[3]
SCENARIOS = ROOT / "scenarios"
SMALL = ('territory.scope="kabkota"', 'territory.codes=["33.71"]', "territory.fraction=1.0")

_CACHE: dict[tuple[str, tuple[str, ...]], object] = {}


def run_small(name: str, *extra: str):
    """Run scenario *name* (file stem) on the small territory; cached per process."""
    key = (name, extra)
    if key not in _CACHE:
        scen = load(SCENARIOS / f"{name}.toml", [*SMALL, *extra])
        _CACHE[key] = run(scen)
    return _CACHE[key]


@pytest.fixture
def small():
    """The `run_small` helper."""
    return run_small


@pytest.fixture
def kpis_of():
    """KPIs of a finished run."""
    return outputs.kpis
