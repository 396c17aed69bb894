"""The memory profiler (`sim.model.memory_profile`) reads live bytes at every barrier."""

from __future__ import annotations

import tracemalloc

from sim.model.event_profile import KOTA_MAGELANG, ROOT
from sim.model.memory_profile import profile


def test_profile_reads_the_windows_and_the_barriers() -> None:
    r = profile(ROOT / "scenarios" / "baseline.toml", [*KOTA_MAGELANG, "scenario.months=2"])
    assert r["households"] == 42338
    # the live bytes at the end of a barrier are at most that barrier's peak
    assert 0 < r["barrier_max"] <= r["national_peak"] and r["window_peak"] > 0, r
    assert 0 < r["barrier_day"] <= 2 * 31, r
    assert not tracemalloc.is_tracing()
