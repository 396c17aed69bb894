"""The event profiler (`sim.model.event_profile`) counts every event of a run, and only while on."""

from __future__ import annotations

import simpy

from sim.model.event_profile import KOTA_MAGELANG, ROOT, instrumented, profile, table


def test_profile_counts_every_event_of_the_run() -> None:
    events, seconds, households, total, _ = profile(
        ROOT / "scenarios" / "baseline.toml", [*KOTA_MAGELANG, "scenario.months=1"])
    assert households == 42338 and total > 1_000
    # every event the run counts, less the environments' stop events of env.run(until=...)
    counted = sum(events.values())
    assert 0 <= total - counted <= 20, (total, counted)
    assert any(k.startswith("start ") for k, _ in events) and seconds["source"] > 0
    text = table(events, seconds)
    assert text.splitlines()[-1].startswith("| **total** | **" + f"{counted:,}")


def test_instrumentation_is_removed_afterwards() -> None:
    before = simpy.Environment.schedule, simpy.Environment.step
    with instrumented() as (events, _):
        env = simpy.Environment()
        env.timeout(1.0)
        env.run()
    assert events[("<barrier>", "Timeout")] == 1
    assert (simpy.Environment.schedule, simpy.Environment.step) == before
