"""Build one run of the flow model from a validated scenario and run it to the horizon.

A run is always regions (one per (virtual) kab/kota, `sim.model.region`) coupled to the national
stages (`sim.model.national`) by conservative windows (`sim.model.windows`). In one process the
regions are grouped into `partitions` local partitions (1 by default); with Dask
(`sim.model.distributed`) each partition lives on a worker. The answer is the same either way
(docs/distributed.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sim.model.context import Context
from sim.scenario.calendar import horizon_days  # noqa: F401  (re-exported: older imports)
from sim.scenario.loader import Scenario

#: progress callback: (simulated days done, horizon days)
Progress = Callable[[float, float], None]


@dataclass
class ModelResult:
    """The state of a finished run, for `sim.outputs`."""

    scenario: Scenario
    ctx: Context
    events: int
    #: `sim.outputs.effects.Effect` per overridden key, when accounted (`kks sim run`)
    effects: list | None = None

    @property
    def national(self) -> Context | None:
        """``territory.context = "national"``: the whole country's merged run (``ctx`` is then
        the territory's view, `sim.model.view`); None otherwise."""
        return self.ctx.national


def build(scen: Scenario, partitions: int = 1):
    """The national stages and *partitions* local partitions of *scen* (nothing run yet)."""
    from sim.model.national import National
    from sim.model.partition import plan
    from sim.model.windows import LocalPartitions

    nat = National(scen)
    specs = nat.specs()
    groups = plan([s.households for s in specs], partitions)
    return nat, LocalPartitions(scen, [[specs[r] for r in g] for g in groups])


def built(scen: Scenario) -> Context:
    """The model of *scen* built (national stages after the initial decree, every region with
    its processes registered), nothing simulated, merged into one `Context` (for inventories;
    with ``territory.context = "national"`` the territory's view, `sim.model.view`)."""
    from sim.model.view import merged

    nat, parts = build(scen)
    try:
        return merged(nat, parts.finish({}), parts.read)
    finally:
        parts.close()


def run(scen: Scenario, progress: Progress | None = None, partitions: int = 1,
        workers: int | None = None, scheduler: str | None = None) -> ModelResult:
    """Build and run *scen* to its horizon, calling *progress* at every window's barrier.

    By default the regions run here in *partitions* local partitions; with *workers* (a local
    Dask cluster of that many worker processes) or *scheduler* (an existing cluster's address)
    each partition runs on a Dask worker (`sim.model.distributed`). Results are identical.
    """
    from sim.model.view import merged
    from sim.model.windows import run_windows

    if workers is not None or scheduler is not None:
        from sim.model.distributed import run_distributed

        ctx, events = run_distributed(scen, progress, workers=workers, scheduler=scheduler,
                                      partitions=partitions)
        return ModelResult(scenario=scen, ctx=ctx, events=events)
    nat, parts = build(scen, partitions)
    try:
        results = run_windows(nat, parts, progress)
        events = sum(r.events for r in results)
        ctx = merged(nat, results, parts.read)
    finally:
        parts.close()
    return ModelResult(scenario=scen, ctx=ctx, events=events)
