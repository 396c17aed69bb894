"""Where the flow model's events go: events and time per process kind (a profiling aid).

Runs a scenario's simulation phase (the windows of `sim.model.windows`, in one process) with the
SimPy environments instrumented:

* every scheduled event is counted against the process that scheduled it (the generator that
  was running, with the innermost generator it delegates to, e.g. ``proposal/serve``) and the
  event's class; a process's start (``Initialize``) and its end (the ``Process`` event) are
  counted against that process (``start``/``end``); events scheduled by an event's callbacks
  outside any process (a request granted at a release, a condition met) are ``<callback>``, and
  those scheduled between windows (at a barrier) ``<barrier>``;
* the time of every step (the event's callbacks) is charged to the process it resumes (or to
  ``<no process>`` for events nobody waits on).

The instrumentation costs time of its own, so the times are shares, not rates: the rates are in
`benchmarks/test_simpy_flow.py`. The event total equals the run's (the sum of
``RegionResult.events``: the national stages keep a clock, not an event queue). Usage
(docs/distributed.md §6)::

    python -m sim.model.event_profile [scenario.toml] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from heapq import heappop, heappush
from pathlib import Path

import simpy
from simpy.core import EmptySchedule, StopSimulation
from simpy.events import Initialize, Process

ROOT = Path(__file__).resolve().parents[2]
KOTA_MAGELANG = ('territory.scope="kabkota"', 'territory.codes=["33.71"]',
                 "territory.fraction=1.0")


def _name() -> str:
    """``outer/innermost`` generator names of the running process, from the call stack (a
    running generator's ``gi_yieldfrom`` must not be read: it crashes CPython 3.11)."""
    names = []
    f = sys._getframe(2)
    while f is not None and f.f_code.co_name != "_resume":
        if f.f_code.co_flags & inspect.CO_GENERATOR:
            names.append(f.f_code.co_name)
        f = f.f_back
    if not names:
        return "<unknown>"
    outer, inner = names[-1], names[0]
    return outer if inner == outer else f"{outer}/{inner}"


@contextmanager
def instrumented() -> Iterator[tuple[Counter, Counter]]:
    """Patch `simpy.Environment` while inside: yields ``(events, seconds)`` counters keyed by
    ``(process kind, event class)`` and by process kind."""
    events: Counter = Counter()
    seconds: Counter = Counter()
    orig_schedule, orig_step = simpy.Environment.schedule, simpy.Environment.step

    stepping = [False]

    def schedule(self, event, priority=1, delay=0):
        if isinstance(event, Initialize):
            kind = "start " + event.callbacks[0].__self__._generator.gi_code.co_name
        elif isinstance(event, Process):
            kind = "end " + event._generator.gi_code.co_name
        elif self._active_proc is not None:
            kind = _name()
        else:
            kind = "<callback>" if stepping[0] else "<barrier>"
        events[(kind, type(event).__name__)] += 1
        heappush(self._queue, (self._now + delay, priority, next(self._eid), event))

    def step(self):
        try:
            self._now, _, _, event = heappop(self._queue)
        except IndexError:
            raise EmptySchedule from None
        callbacks, event.callbacks = event.callbacks, None
        kind = "<no process>"
        for cb in callbacks:
            owner = getattr(cb, "__self__", None)
            if isinstance(owner, Process):
                kind = owner._generator.gi_code.co_name
                break
        t0 = time.perf_counter()
        stepping[0] = True
        try:
            for callback in callbacks:
                callback(event)
        except StopSimulation:
            event.callbacks = callbacks[callbacks.index(callback) + 1:]
            self.schedule(event, -1)
            raise
        finally:
            stepping[0] = False
            seconds[kind] += time.perf_counter() - t0
        if not event._ok and not hasattr(event, "_defused"):
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc

    simpy.Environment.schedule, simpy.Environment.step = schedule, step
    try:
        yield events, seconds
    finally:
        simpy.Environment.schedule, simpy.Environment.step = orig_schedule, orig_step


def profile(path: Path, overrides: list[str]) -> tuple[Counter, Counter, int, int, float]:
    """Run *path* with *overrides*: ``(events, seconds, households, events counted by the
    run, wall seconds)``."""
    from sim.model.run import build
    from sim.model.windows import run_windows
    from sim.scenario.loader import load

    nat, parts = build(load(path, overrides))
    households = sum(len(r.ctx.registry) for p in parts.parts for r in p.regions)
    with instrumented() as (events, seconds):
        t0 = time.perf_counter()
        results = run_windows(nat, parts)
        wall = time.perf_counter() - t0
    total = sum(r.events for r in results)
    return events, seconds, households, total, wall


def table(events: Counter, seconds: Counter) -> str:
    """The profile as a Markdown table, most events first (kinds under 0.1% folded)."""
    total = sum(events.values()) or 1
    total_s = sum(seconds.values()) or 1.0
    by_kind: Counter = Counter()
    classes: dict[str, Counter] = {}
    for (kind, cls), n in events.items():
        by_kind[kind] += n
        classes.setdefault(kind, Counter())[cls] += n
    lines = ["| process (scheduled by) | events | share | event classes | step time share |",
             "| --- | ---: | ---: | --- | ---: |"]
    other = 0
    for kind, n in by_kind.most_common():
        if n / total < 0.001:
            other += n
            continue
        cls = ", ".join(f"{c} {k / n:.0%}" for c, k in classes[kind].most_common(3))
        owner = kind.split("/")[0].removeprefix("start ").removeprefix("end ")
        share_s = (None if kind.startswith(("start ", "end "))
                   else seconds.get(owner, 0.0) / total_s)
        lines.append(f"| {kind} | {n:,} | {n / total:.1%} | {cls} | "
                     f"{'' if share_s is None else f'{share_s:.1%}'} |")
    if other:
        lines.append(f"| (other kinds, each < 0.1%) | {other:,} | {other / total:.1%} | | |")
    lines.append(f"| **total** | **{total:,}** | 100% | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the event profile of a scenario (default: baseline on Kota Magelang, a year)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "baseline.toml"))
    ap.add_argument("--set", action="append", default=None, metavar="KEY=VALUE",
                    help="scenario override (default: Kota Magelang 33.71 at fraction 1)")
    a = ap.parse_args(argv)
    overrides = a.set if a.set is not None else list(KOTA_MAGELANG)
    events, seconds, households, total, wall = profile(Path(a.scenario), overrides)
    out = sys.stdout.write
    out(table(events, seconds) + "\n")
    out(f"\n{households:,} households, {total:,} events ({sum(events.values()):,} counted), "
          f"{wall:.1f} s instrumented, {total / max(households, 1):.1f} events per household\n")
    by_proc: Counter = Counter()
    for (kind, _), n in events.items():
        by_proc[kind.split("/")[0].removeprefix("start ").removeprefix("end ")] += n
    out("\nstep time by process resumed (share):\n")
    total_s = sum(seconds.values()) or 1.0
    for kind, s in seconds.most_common(12):
        out(f"  {kind:28s} {s / total_s:6.1%}  ({by_proc.get(kind, 0):,} events scheduled)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
