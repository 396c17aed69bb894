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

    def __init__(self, scen: Scenario, specs: list[RegionSpec] = ()) -> None:
        self.scen = scen
        self.spill = Spill()
        self.regions: list[Region] = []
        self.build(specs)

    def build(self, specs: list[RegionSpec]) -> None:
        """Build the regions of *specs* (in order, after any it holds). On Dask the specs come
        by this call, not with the actor: a call's arguments are dropped once it returns, while
        the scheduler keeps an actor's own arguments as long as the actor lives."""
        self.regions += [Region(self.scen, spec, self.spill) for spec in specs]

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
    """Split regions (given their household counts, in region order) into *n* partitions of
    whole regions, the largest partition as small as this finds; never an empty partition, so
    at most one per region. Each partition lists its regions in order, and partitions are in
    the order of their first region.

    Two splits are made and the one with the smaller largest partition kept (the consecutive
    one on a tie): consecutive regions, greedy on the running total (`_consecutive`); and any
    regions, largest first into the partition with the fewest households, then improved by
    moving or swapping a region between the largest partition and another while that makes the
    largest smaller (`_balanced`). A partition's work follows its households (a year of Bali:
    its nine kab/kota at 23-34 µs of windows per household, docs/distributed.md §6), and the
    results do not depend on the split: regions are merged and the national stages read them in
    region order (`sim.model.merge`, `National.barrier`).
    """
    n = max(1, min(n, len(households)))
    first = _consecutive(households, n)
    second = _balanced(households, n)

    def largest(parts: list[list[int]]) -> int:
        return max(sum(households[r] for r in part) for part in parts)

    return second if largest(second) < largest(first) else first


def _consecutive(households: list[int], n: int) -> list[list[int]]:
    """Consecutive regions, each partition as close as possible to an equal share of
    households (greedy on the running total)."""
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


def _balanced(households: list[int], n: int) -> list[list[int]]:
    """Largest region first into the partition with the fewest households (ties: the fewer
    regions, then the lower partition), then single moves and pairwise swaps out of the largest
    partition while one makes it smaller without making the other as large."""
    parts: list[list[int]] = [[] for _ in range(n)]
    load = [0] * n
    for r in sorted(range(len(households)), key=lambda r: (-households[r], r)):
        k = min(range(n), key=lambda k: (load[k], len(parts[k]), k))
        parts[k].append(r)
        load[k] += households[r]
    # each step lowers the sum of the squared loads (a d moved from La to Lb with Lb + d < La),
    # so this ends; the bound is a guard
    for _ in range(4 * len(households)):
        a = max(range(n), key=lambda k: (load[k], -k))
        best = None  # (new larger of the two, b, region out of a, region out of b or -1)
        for b in range(n):
            if b == a:
                continue
            for x in parts[a]:
                moves = [(x, -1)] if len(parts[a]) > 1 else []
                moves += [(x, y) for y in parts[b] if households[y] < households[x]]
                for x_, y in moves:
                    d = households[x_] - (households[y] if y >= 0 else 0)
                    cand = (max(load[a] - d, load[b] + d), b, x_, y)
                    if cand[0] < load[a] and (best is None or cand < best):
                        best = cand
        if best is None:
            break
        _, b, x, y = best
        parts[a].remove(x)
        parts[b].append(x)
        load[a] -= households[x]
        load[b] += households[x]
        if y >= 0:
            parts[b].remove(y)
            parts[a].append(y)
            load[b] -= households[y]
            load[a] += households[y]
    return sorted((sorted(part) for part in parts), key=lambda part: part[0])
