"""How many cases a heavy test runs: one rule for every suite.

`sized(ci, long, env)` is read when the test runs: the environment variable `env` (a count) wins
when set, else the long count under `KKS_LONG=1`, else the CI count. Tests marked `long` (run
with `-m long`) take the `long_counts` fixture of `tests/conftest.py`, which sets `KKS_LONG=1`
and then run the same body as their CI twin, so a long variant can never drift from it. Test
names do not carry counts: the count depends on this rule.
"""

from __future__ import annotations

import os


def sized(ci: int, long: int, env: str | None = None) -> int:
    """The count to run now: `$env` if set, else `long` under KKS_LONG=1, else `ci`."""
    if env and os.environ.get(env):
        return int(os.environ[env])
    return long if os.environ.get("KKS_LONG") == "1" else ci
