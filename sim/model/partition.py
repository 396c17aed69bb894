"""A partition: the regions one worker simulates, and the plan that spreads regions over workers.

A `Partition` holds whole regions (`sim.model.region`) and nothing else: their SimPy
environments, proposals, queues and registry columns stay resident in it from the first window to
the last; the records they accumulate go to part files on its machine (`sim.model.records`),
which the merge reads back through `read`. Every call is deterministic in its arguments, which is
what the fault recovery of `sim.model.windows` replays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.model.records import Spill
from sim.model.region import Region, RegionResult, RegionSpec
from sim.scenario.loader import Scenario


class Partition:
    """The regions of one worker; `step` runs one window, `finish` hands back the results."""

    def __init__(self, scen: Scenario, specs: list[RegionSpec]) -> None:
        self.spill = Spill()
        self.regions = [Region(scen, spec, self.spill) for spec in specs]

    def step(self, inboxes: dict[int, dict[str, Any]], until: float,
             decree: tuple[int, int] | None) -> dict[int, dict[str, Any]]:
        """Deliver the last barrier's *inboxes*, run to *until*, return each region's outbox."""
        out = {}
        for reg in self.regions:
            reg.deliver(inboxes.get(reg.region, {}))
            out[reg.region] = reg.advance(until, decree)
        return out

    def finish(self, inboxes: dict[int, dict[str, Any]]) -> list[RegionResult]:
        """Deliver the last barrier's *inboxes* and return every region's final state."""
        for reg in self.regions:
            reg.deliver(inboxes.get(reg.region, {}))
        return [reg.result() for reg in self.regions]

    def read(self, region: int, name: str) -> np.ndarray:
        """Every value of record *name* of *region* (after `finish`), from its part file."""
        return self.spill.read(region, name)

    def close(self) -> None:
        """Remove the partition's part files (after the merge has read them)."""
        self.spill.close()


def plan(households: list[int], n: int) -> list[list[int]]:
    """Split regions (given their household counts, in region order) into *n* partitions.

    Consecutive regions, each partition as close as possible to an equal share of households
    (greedy on the running total); never an empty partition, so at most one per region.
    """
    n = max(1, min(n, len(households)))
    total = sum(households)
    parts: list[list[int]] = [[] for _ in range(n)]
    acc = 0
    k = 0
    for r, h in enumerate(households):
        left_regions = len(households) - r
        # move on when this partition has its share, or when the rest need one region each
        if parts[k] and k < n - 1 and (acc + h / 2 > total * (k + 1) / n
                                       or left_regions <= n - 1 - k):
            k += 1
        parts[k].append(r)
        acc += h
    return parts
