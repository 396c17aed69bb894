"""Partitioned runs on Dask: each partition an actor resident on a worker, one window per call.

`run_distributed` starts a `LocalCluster` of *workers* processes, or joins the cluster whose
scheduler is at *scheduler*, and places one `sim.model.partition.Partition` actor per partition
(round robin over the workers, in worker address order). The partition's regions stay on that
worker from the first window to the last; per window the client sends each actor the previous
barrier's messages for its regions and gets back their outboxes (`sim.model.windows`).

Faults. Every call a partition has received is kept (its *input log*, the messages of every
barrier so far: small next to the partition's state). The partition is deterministic in its
inputs, so when its worker dies the client starts a new actor on a live worker and replays the
log up to the last barrier, checking that the replayed outboxes equal the recorded ones, then
repeats the failed window: only that partition is re-run, the other partitions keep their
state and the results are identical. SimPy's generators cannot be pickled, so the checkpoint of
a partition at a barrier is its input log, not a snapshot (docs/distributed.md).

A scheduler that goes away (or never answers) is a `ClusterError`: one line, exit code 2, and
nothing is written (the results folder is written only after the last window).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from kks_emulator.errors import KksError
from sim.model import heap
from sim.model.context import Context
from sim.model.inputlog import Spooled
from sim.model.national import National
from sim.model.partition import Partition, plan
from sim.model.region import RegionResult, RegionSpec
from sim.model.view import merged
from sim.model.windows import Progress, run_windows
from sim.scenario.loader import Scenario

#: seconds to wait for a scheduler to answer before giving up
CONNECT_TIMEOUT = 20


class ClusterError(KksError):
    """The Dask cluster cannot run the partitions (no scheduler, or it went away)."""


@contextlib.contextmanager
def cluster(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    """A connected `distributed.Client`: to *scheduler*, or to a new local cluster."""
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        raise ClusterError("partitioned runs need dask.distributed (install the "
                           "`distributed` extra)") from None
    yield from _connected(workers, scheduler)


def quiet_logs() -> None:
    """Silence the cluster's own log lines (reconnect attempts, restarted workers) for good.

    For `kks sim run`: errors reach its user as one `ClusterError` line; the client's
    background reconnect may still log after the run has failed, so this is not undone.
    """
    import logging

    with contextlib.suppress(ImportError):
        import distributed  # noqa: F401  (its import configures its loggers: after that)
    names = [n for n in logging.root.manager.loggerDict
             if n.split(".")[0] in ("distributed", "tornado", "dask")]
    for name in ("distributed", "tornado", "dask", *names):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _connected(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    from dask.distributed import Client

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"--scheduler {scheduler}: no Dask scheduler answers "
                               f"({type(exc).__name__})") from None
        with client:
            yield client
        return
    if workers is None or workers < 1:
        raise ClusterError(f"--workers must be >= 1, got {workers}")
    with local_cluster(workers) as lc, Client(lc) as client:
        yield client


#: the settings of the workers this module starts (`local_cluster`), and those it recommends
#: for a cluster the user starts (docs/distributed.md §4, `docs/dask/kks-workers.yaml`). Dask's
#: defaults cost a partition's windows about a fifth of their time (Bali, one worker, a year:
#: 42.9 s with both, 33.8 s with neither; 32.2 s in the client's own process):
#: - the nanny starts each worker with ``MALLOC_TRIM_THRESHOLD_=65536``. Setting it also fixes
#:   glibc's mmap threshold at 128 KiB, so every array of a window's temporaries is a fresh
#:   mmap and is faulted in page by page (1.24 M minor faults against 75 k);
#: - the worker's statistical profiler samples every thread's stack every 10 ms.
WORKER_CONFIG: dict[str, Any] = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
}


def local_cluster(workers: int) -> Any:
    """A `LocalCluster` of *workers* single-threaded worker processes, set for partitions
    (`WORKER_CONFIG`; a context manager, as `LocalCluster` is)."""
    import dask
    from dask.distributed import LocalCluster

    # the nanny reads its workers' settings when it is made: only then need they be set
    with dask.config.set(WORKER_CONFIG):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            dashboard_address=None)


class WorkerPartition(Partition):
    """A `Partition` that is a Dask actor: after each window it gives its worker's free heap
    back (`sim.model.heap`). In one process `run_windows` does that once, after the barrier."""

    def step(self, inboxes: dict[int, dict[str, Any]], until: float,
             decree: tuple[int, int] | None) -> dict[int, dict[str, Any]]:
        """`Partition.step`, then the window's temporaries handed back to the system."""
        out = super().step(inboxes, until, decree)
        heap.release()
        return out


class DaskPartitions:
    """The partitions of a run as Dask actors, with replay of a lost partition."""

    def __init__(self, client: Any, scen: Scenario, groups: list[list[RegionSpec]],
                 where: str) -> None:
        self.client = client
        self.scen = scen
        #: per partition: its regions (the specs themselves are kept on disk, for a restart)
        self.regions = [[s.region for s in g] for g in groups]
        self.where = where
        #: per partition: (inbox, until, decree, digest of the outbox) of every window so far,
        #: on disk (`sim.model.inputlog`): read only to replay a lost partition
        self.logs = [Spooled() for _ in groups]
        self.specs = [Spooled() for _ in groups]
        for k, g in enumerate(groups):
            self.specs[k].append(g)
        self.restarts = 0
        #: per partition: the last barrier's messages handed to `finish` (for a replay)
        self.final: list[dict | None] = [None for _ in groups]
        workers = self._workers()
        # every partition is sent before any is awaited: they build on their workers at once
        # (one after the other, a cluster of P partitions would take P builds to start)
        pending = [self._submit(k, workers[k % len(workers)]) for k in range(len(groups))]
        self.actors = [self._started(k, fut) for k, fut in enumerate(pending)]
        builds = [self._build(k, g) for k, g in enumerate(groups)]
        for k, fut in enumerate(builds):
            self._started(k, fut)

    def _workers(self) -> list[str]:
        self._check()
        workers = sorted(self.client.scheduler_info()["workers"])
        if not workers:
            raise ClusterError(f"{self.where}: the Dask cluster has no workers")
        return workers

    def _check(self) -> None:
        if self.client.status != "running":
            raise ClusterError(f"{self.where}: the Dask scheduler went away mid-run; "
                               "nothing was written")

    def _start(self, k: int, worker: str | None) -> Any:
        """Partition *k* started again on *worker* (any if None), its regions built from the
        specs kept on disk."""
        actor = self._started(k, self._submit(k, worker))
        self.actors[k] = actor
        self._started(k, self._build(k, next(iter(self.specs[k]))))
        return actor

    def _submit(self, k: int, worker: str | None) -> Any:
        """An empty actor for partition *k* on *worker* (any if None): its future.

        The region specs follow by a call (`_build`), not as the actor's arguments: the
        scheduler keeps a task's arguments as long as its result lives, which for an actor is
        the whole run (about 17 bytes per household, in the client's own process on a
        `LocalCluster`), while a call's arguments are dropped once it returns."""
        try:
            return self.client.submit(WorkerPartition, self.scen, actor=True, pure=False,
                                      workers=[worker] if worker else None)
        except (OSError, TimeoutError, RuntimeError) as exc:
            raise self._cannot_start(k, exc) from None

    def _build(self, k: int, group: list[RegionSpec]) -> Any:
        """Send partition *k*'s region *group* to its actor to build: the call's future."""
        try:
            return self.actors[k].build(group)
        except (OSError, TimeoutError, RuntimeError) as exc:
            raise self._cannot_start(k, exc) from None

    def _started(self, k: int, fut: Any) -> Any:
        """The actor of partition *k* once built on its worker."""
        try:
            return fut.result()
        except (OSError, TimeoutError, RuntimeError) as exc:
            raise self._cannot_start(k, exc) from None

    def _cannot_start(self, k: int, exc: Exception) -> ClusterError:
        self._check()
        return ClusterError(f"{self.where}: cannot start partition {k} on the cluster "
                            f"({type(exc).__name__}: {exc})")

    def _recover(self, k: int) -> None:
        """Start partition *k* again on a live worker and replay its input log."""
        self._check()
        self.restarts += 1
        if self.restarts > 2 * len(self.regions):
            raise ClusterError(f"{self.where}: workers keep dying "
                               f"({self.restarts} partition restarts)")
        actor = self._start(k, None)
        for inbox, until, decree, expect in self.logs[k]:
            got = actor.step(inbox, until, decree).result()
            if _digest(got) != expect:
                raise ClusterError(f"{self.where}: replay of partition {k} diverged at "
                                   f"day {until:g}")

    def _call(self, k: int, inbox: dict, until: float, decree: Any) -> dict:
        for _ in range(3):
            try:
                return self.actors[k].step(inbox, until, decree).result()
            except (OSError, RuntimeError):
                self._recover(k)
        raise ClusterError(f"{self.where}: partition {k} failed three times at day {until:g}")

    def step(self, inboxes: dict[int, dict[str, Any]], until: float,
             decree: tuple[int, int] | None) -> dict[int, dict[str, Any]]:
        """One window on every actor (all sent before any is awaited)."""
        self._check()
        mine = [{r: inboxes[r] for r in g if r in inboxes} for g in self.regions]
        futures = []
        for k, actor in enumerate(self.actors):
            try:
                futures.append(actor.step(mine[k], until, decree))
            except (OSError, RuntimeError):
                futures.append(None)
        out: dict[int, dict[str, Any]] = {}
        for k, fut in enumerate(futures):
            try:
                got = fut.result() if fut is not None else None
            except (OSError, RuntimeError):
                got = None
            if got is None:
                got = self._call(k, mine[k], until, decree)
            self.logs[k].append((mine[k], until, decree, _digest(got)))
            out.update(got)
        self._check()
        return out

    def finish(self, inboxes: dict[int, dict[str, Any]]) -> list[RegionResult]:
        """Every region's result, in region order."""
        res: list[RegionResult] = []
        for k, g in enumerate(self.regions):
            mine = {r: inboxes[r] for r in g if r in inboxes}
            self.final[k] = mine
            for _ in range(3):
                try:
                    res += self.actors[k].finish(mine).result()
                    break
                except (OSError, RuntimeError):
                    self._recover(k)
            else:
                raise ClusterError(f"{self.where}: partition {k} failed three times at the end")
        self._check()
        return sorted(res, key=lambda r: r.region)

    def read(self, region: int, name: str) -> Any:
        """Record *name* of *region* from its partition's part files, on its worker.

        A partition whose worker died after `finish` is replayed and finished again.
        """
        k = next(k for k, g in enumerate(self.regions) if region in g)
        for _ in range(3):
            try:
                return self.actors[k].read(region, name).result()
            except (OSError, RuntimeError):
                self._recover(k)
                self.actors[k].finish(self.final[k]).result()
        raise ClusterError(f"{self.where}: partition {k} failed three times at the merge")

    def close(self) -> None:
        """Remove every partition's part files on its worker (a dead worker's go with it)."""
        for actor in self.actors:
            with contextlib.suppress(OSError, RuntimeError):
                actor.close().result()
        for spooled in (*self.logs, *self.specs):
            spooled.close()


def _digest(outbox: dict) -> bytes:
    """A fingerprint of an outbox (what a replay must reproduce), instead of keeping it."""
    import hashlib
    import pickle

    return hashlib.sha256(pickle.dumps(outbox, protocol=5)).digest()


def run_distributed(scen: Scenario, progress: Progress | None = None, *,
                    workers: int | None = None, scheduler: str | None = None,
                    partitions: int = 1) -> tuple[Context, int]:
    """Run *scen* with its partitions on Dask; the national stages and the merge stay in this
    process. Returns the merged `Context` (a territory's view with a national context,
    `sim.model.view`) and the number of events.

    *partitions* below 2 means one partition per worker.
    """
    where = f"--scheduler {scheduler}" if scheduler else f"local Dask cluster ({workers} workers)"
    with cluster(workers, scheduler) as client:
        try:
            nat = National(scen)
            specs = nat.specs()
            n = partitions if partitions > 1 else len(client.scheduler_info()["workers"])
            groups = plan([s.households for s in specs], max(n, 1))
            parts = DaskPartitions(client, scen, [[specs[r] for r in g] for g in groups], where)
            del specs  # on the workers now, and on disk for a restart (`sim.model.inputlog`)
            results = run_windows(nat, parts, progress)
            events = sum(r.events for r in results)
            ctx = merged(nat, results, parts.read)
        except ClusterError:
            raise
        except (Exception, asyncio.CancelledError) as exc:
            # the scheduler may go at any step (while the actors start, a window, the merge):
            # whatever Dask raises then (a closed comm, a cancelled future) is that one error
            if client.status == "running" and not isinstance(exc, (OSError, TimeoutError)):
                raise
            raise ClusterError(f"{where}: the cluster failed mid-run ({type(exc).__name__}); "
                               "nothing was written") from None
        parts.close()  # after a failure the part files go with the actors (`records.Spill`)
    return ctx, events
