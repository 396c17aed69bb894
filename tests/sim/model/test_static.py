"""S-NOGLOBAL and S-TIES, statically: model code draws only from injected generators, never reads
the wall clock, and never iterates a set in process code."""

from __future__ import annotations

import re

import pytest

from tests.sim.model.conftest import ROOT

#: every layer a scenario run executes: the model, the scenario layer, the hot path, the registry
#: and the outputs
MODEL_FILES = sorted(f for layer in ("model", "scenario", "hotpath", "registry", "outputs")
                     for f in (ROOT / "sim" / layer).glob("*.py"))
FORBIDDEN = [
    (re.compile(r"np\.random\.seed\("), "global numpy seed"),
    (re.compile(r"np\.random\.(?!Generator|PCG64|SeedSequence|default_rng)[a-z_]+\("),
     "global numpy distribution"),
    (re.compile(r"^\s*import random\b|^\s*from random import", re.M), "stdlib random"),
    (re.compile(r"time\.time\(|datetime\.now\(|date\.today\("), "wall clock"),
    (re.compile(r"for [^\n]+ in [^\n]*\.issuing\b"), "iterating a set"),
]


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
def test_no_global_randomness_or_wall_clock(path) -> None:
    text = path.read_text()
    for pattern, what in FORBIDDEN:
        m = pattern.search(text)
        assert m is None, f"{path.name}: {what}: {m.group(0) if m else ''}"
