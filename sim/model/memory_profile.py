"""Live bytes per household of a run's simulation phase (a measuring aid, `tracemalloc`).

Builds a scenario's national stages and partitions in one process (`sim.model.run.build`), then
runs the windows (`sim.model.windows.run_windows`) under `tracemalloc`, reading the live bytes
after every barrier. Prints, per household and above the built model: the highest live bytes
at a barrier (and the day of that barrier), the highest peak while the regions run a window
(what a worker holds at its highest, temporaries of the credit day included), the highest peak
during the national stages' barriers (the client's work on a cluster) and the live bytes at
the end. Usage
(docs/distributed.md §6)::

    python -m sim.model.memory_profile [scenario.toml] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from pathlib import Path

from sim.model.event_profile import KOTA_MAGELANG, ROOT


def profile(path: Path, overrides: list[str]) -> dict[str, float]:
    """Bytes per household above the built model: ``barrier_max`` (at ``barrier_day``),
    ``window_peak``, ``national_peak`` and ``end``, with ``households``."""
    from sim.model.run import build
    from sim.model.windows import run_windows
    from sim.scenario.loader import load
    tracemalloc.start()
    nat, parts = build(load(path, overrides))
    households = sum(len(r.ctx.registry) for p in parts.parts for r in p.regions)
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    highest = [0, 0.0]
    peaks = {"window": 0, "national": 0}
    barrier, step = nat.barrier, parts.step

    def peak_of(kind: str, call, *args):
        tracemalloc.reset_peak()
        out = call(*args)
        peaks[kind] = max(peaks[kind], tracemalloc.get_traced_memory()[1])
        return out

    def measured(t, outs):
        inbox = peak_of("national", barrier, t, outs)
        now = tracemalloc.get_traced_memory()[0]
        if now > highest[0]:
            highest[:] = [now, t]
        return inbox

    nat.barrier = measured
    parts.step = lambda *args: peak_of("window", step, *args)
    results = run_windows(nat, parts)
    end = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del results
    return {"households": households, "barrier_max": (highest[0] - base) / households,
            "barrier_day": highest[1], "window_peak": (peaks["window"] - base) / households,
            "national_peak": (peaks["national"] - base) / households,
            "end": (end - base) / households}


def main(argv: list[str] | None = None) -> int:
    """Print the live bytes per household of a scenario (default: baseline on Kota Magelang,
    a year)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "baseline.toml"))
    ap.add_argument("--set", action="append", default=None, metavar="KEY=VALUE",
                    help="scenario override (default: Kota Magelang 33.71 at fraction 1)")
    a = ap.parse_args(argv)
    r = profile(Path(a.scenario), a.set if a.set is not None else list(KOTA_MAGELANG))
    sys.stdout.write(
        f"{r['households']:,} households; live bytes per household above the built model: "
        f"highest at a barrier {r['barrier_max']:.0f} (day {r['barrier_day']:g}), "
        f"peak in the regions' windows {r['window_peak']:.0f}, "
        f"peak in the national barriers {r['national_peak']:.0f}, at the end {r['end']:.0f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
