"""The conservative synchronous windows that couple regions and national stages.

One loop serves every way of running: in one process (`LocalPartitions`) or on Dask workers
(`sim.model.distributed`). Each window ends at the next national event (`National.next_time`):
every partition delivers the previous barrier's messages, runs its regions up to that time and
returns their outboxes; the national stage consumes them in region order and acts. Nothing in
the loop depends on how many partitions there are or which one answers first, so the results
are the same for any split (docs/distributed.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from sim.model import heap
from sim.model.national import National
from sim.model.partition import Partition
from sim.model.region import RegionResult, RegionSpec
from sim.scenario.loader import Scenario

#: progress callback: (simulated days done, horizon days)
Progress = Callable[[float, float], None]


class Partitions(Protocol):
    """The partitions of a run, wherever they live."""

    def step(self, inboxes: dict[int, dict[str, Any]], until: float,
             decree: tuple[int, int] | None) -> dict[int, dict[str, Any]]:
        """One window on every partition; the outboxes of all regions."""

    def finish(self, inboxes: dict[int, dict[str, Any]]) -> list[RegionResult]:
        """The last barrier's messages, then every region's result (in region order)."""

    def read(self, region: int, name: str) -> np.ndarray:
        """Record *name* of *region* after `finish` (`sim.model.records`)."""

    def close(self) -> None:
        """Drop the partitions' part files (after the merge)."""


class LocalPartitions:
    """Partitions in this process (the single-process run is one or more of these)."""

    def __init__(self, scen: Scenario, groups: list[list[RegionSpec]]) -> None:
        self.parts = [Partition(scen, g) for g in groups]

    def step(self, inboxes: dict[int, dict[str, Any]], until: float,
             decree: tuple[int, int] | None) -> dict[int, dict[str, Any]]:
        """Run every partition through one window, one after the other."""
        out: dict[int, dict[str, Any]] = {}
        for part in self.parts:
            out.update(part.step(_only(inboxes, part), until, decree))
        return out

    def finish(self, inboxes: dict[int, dict[str, Any]]) -> list[RegionResult]:
        """Every region's result, in region order."""
        res = [r for part in self.parts for r in part.finish(_only(inboxes, part))]
        return sorted(res, key=lambda r: r.region)

    def read(self, region: int, name: str) -> np.ndarray:
        """Record *name* of *region*, from the part file of the partition holding it."""
        for part in self.parts:
            if any(r.region == region for r in part.regions):
                return part.read(region, name)
        raise KeyError(region)

    def close(self) -> None:
        """Remove every partition's part files."""
        for part in self.parts:
            part.close()


def _only(inboxes: dict[int, dict[str, Any]], part: Partition) -> dict[int, dict[str, Any]]:
    return {r.region: inboxes[r.region] for r in part.regions if r.region in inboxes}


def run_windows(national: National, parts: Partitions,
                progress: Progress | None = None) -> list[RegionResult]:
    """Advance every region and the national stages window by window to the horizon."""
    inbox: dict[int, dict[str, Any]] = {}
    while True:
        t = national.next_time()
        outs = parts.step(inbox, t, national.decree_request(t))
        inbox = national.barrier(t, outs)
        heap.release()  # the barrier's temporaries (`sim.model.heap`)
        if progress is not None:
            progress(t, national.days)
        if t >= national.days:
            return parts.finish(inbox)
