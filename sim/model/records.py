"""The records a region accumulates over a run, spilled to disk at the barriers.

A region's per-visit and per-proposal records grow with every event of the run and are read only
by the outputs at the end: the transition log of its proposals (`context.Transitions`), the
queue waits of its stages, the waits and travel times of its redemption visits and the waits of
its ATM cash-outs. At every barrier (`Region.advance`) each record that holds at least
`SPILL_VALUES` values is appended, as raw typed values, to its own part file in the partition's
run-scoped directory and emptied in place; the region's result names only how many values each
record holds. The merge (`sim.model.merge`) then reads them back region by region, one record at
a time, in region order: the concatenation is value for value the list the region would have
kept in memory, so the results folder is the same bytes whether a record was spilled every
window, once at the end, or never split (docs/distributed.md §5).

The part files are little-endian native arrays (`numpy.fromfile`), one file per (region,
record), written append-only: a worker never holds more of a record than one barrier's worth.

The merged run does not hold them in memory either: the merge appends each region's values to a
`Stored` column, an anonymous temporary file of the client, and the outputs read one record
whole at a time, when they compute its KPIs (`sim.outputs.results`), so the client's peak
holds at most one record, not all of them at once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sim.model.context import STAGES, Context

#: a record is spilled at a barrier once it holds this many values (256 KB of doubles)
SPILL_VALUES = 1 << 15

#: (region, record name) -> the record's values, in the order they were recorded
Reader = Callable[[int, str], np.ndarray]


def columns(ctx: Context) -> Iterator[tuple[str, array]]:
    """Every spilled record of a region as (name, typed column), in a fixed order.

    The three columns of the transition log come first and are always spilled together.
    """
    tr = ctx.props.transitions
    yield "transition_i", tr.i
    yield "transition_state", tr.state
    yield "transition_t", tr.t
    for s in STAGES:
        yield f"wait_{s}", ctx.mon.waits[s]
    yield "redeem_wait_days", ctx.mon.redeem_wait_days
    yield "travel_min", ctx.mon.travel_min
    yield "atm_waits", ctx.agents.atm_waits


#: every record's name and numpy item type
DTYPES: dict[str, np.dtype] = {
    "transition_i": np.dtype(np.int64), "transition_state": np.dtype(np.int8),
    "transition_t": np.dtype(np.float64),
    **{f"wait_{s}": np.dtype(np.float64) for s in STAGES},
    "redeem_wait_days": np.dtype(np.float64), "travel_min": np.dtype(np.float64),
    "atm_waits": np.dtype(np.float64),
}


def _worker_directory() -> str | None:
    """The local directory of the Dask worker running this code, None outside a worker."""
    try:
        from distributed import get_worker
    except ImportError:
        return None
    try:
        return get_worker().local_directory
    except ValueError:  # not in a worker
        return None


class Spill:
    """The part files of one partition's regions, in a directory that lives as long as it does.

    The directory is made in the local directory of the Dask worker the partition runs on (which
    Dask purges when a worker that died is replaced or the machine's next worker starts), or
    under the system's temporary directory in a run without Dask; it is removed by `close` (or
    when the partition is dropped, or the process exits normally).
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="kks-records-", dir=_worker_directory()))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.root, True)
        #: (region, record) -> values spilled so far
        self.counts: dict[tuple[int, str], int] = {}

    def path(self, region: int, name: str) -> Path:
        """The part file of record *name* of *region*."""
        return self.root / f"r{region:05d}.{name}.bin"

    def flush(self, region: int, ctx: Context, minimum: int | None = None) -> None:
        """Append every record of *region* holding at least *minimum* values (`SPILL_VALUES`
        by default) to its part file and empty it in place (processes keep appending to the
        same column objects)."""
        if minimum is None:
            minimum = SPILL_VALUES
        tr = ctx.props.transitions
        spill_tr = len(tr) >= minimum and len(tr) > 0
        for name, col in columns(ctx):
            if name.startswith("transition_"):
                if not spill_tr:
                    continue
            elif len(col) < minimum or not len(col):
                continue
            if col.itemsize != DTYPES[name].itemsize:
                raise TypeError(f"record {name}: {col.typecode!r} is not {DTYPES[name]}")
            with open(self.path(region, name), "ab") as fh:
                col.tofile(fh)
            key = (region, name)
            self.counts[key] = self.counts.get(key, 0) + len(col)
            del col[:]

    def totals(self, region: int) -> dict[str, int]:
        """Values spilled per record of *region* (every record named, 0 if none)."""
        return {name: self.counts.get((region, name), 0) for name in DTYPES}

    def read(self, region: int, name: str) -> np.ndarray:
        """Every value of record *name* of *region*, in recorded order."""
        path = self.path(region, name)
        n = self.counts.get((region, name), 0)
        if not n:
            return np.zeros(0, dtype=DTYPES[name])
        out = np.fromfile(path, dtype=DTYPES[name])
        if len(out) != n:
            raise OSError(f"{path}: {len(out)} values, {n} were spilled")
        return out

    def close(self) -> None:
        """Remove the directory and every part file in it."""
        self._cleanup()


class Stored:
    """One record of a whole run (every region's values in region order), kept in an anonymous
    temporary file of the process that merged it, not in memory.

    It is filled once, by the merge (`extend`), and then read whole by the output that needs it
    (`values`, or `numpy.asarray`), which drops it when done: a merged run holds none of its
    records, and the outputs at most one at a time. Each read is a fresh writable array. It
    pickles by value (its values, then a new file where it is unpickled).
    """

    __slots__ = ("_fh", "_n", "dtype")

    def __init__(self, dtype: Any) -> None:
        self.dtype = np.dtype(dtype)
        # lives as long as the column (deleted by the system when closed or collected)
        self._fh = tempfile.TemporaryFile(prefix="kks-record-")  # noqa: SIM115
        self._n = 0

    def extend(self, values: Any) -> None:
        """Append *values* (cast to the column's type) at the end."""
        arr = np.ascontiguousarray(values, dtype=self.dtype)
        if not len(arr):
            return
        self._fh.seek(0, os.SEEK_END)
        self._fh.write(memoryview(arr).cast("B"))
        self._n += len(arr)

    def values(self) -> np.ndarray:
        """Every value, in the order appended (read from the file: a new array each call)."""
        if not self._n:
            return np.zeros(0, dtype=self.dtype)
        self._fh.flush()
        self._fh.seek(0)
        out = np.fromfile(self._fh, dtype=self.dtype, count=self._n)
        if len(out) != self._n:
            raise OSError(f"a stored record holds {len(out)} values, {self._n} were appended")
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.values()
        return out if dtype is None else out.astype(dtype, copy=False)

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def __iter__(self) -> Iterator[Any]:
        return iter(self.values().tolist())

    def __getstate__(self) -> tuple[str, bytes]:
        return self.dtype.str, self.values().tobytes()

    def __setstate__(self, state: tuple[str, bytes]) -> None:
        dtype, data = state
        self.__init__(dtype)
        self.extend(np.frombuffer(data, dtype=self.dtype))

    def close(self) -> None:
        """Delete the file (the column is empty afterwards)."""
        self._fh.close()
        self._n = 0


class StoredTransitions:
    """The merged run's transition log (`context.Transitions`) as three `Stored` columns."""

    __slots__ = ("i", "state", "t")

    def __init__(self, i: Stored, state: Stored, t: Stored) -> None:
        self.i, self.state, self.t = i, state, t

    def __len__(self) -> int:
        return len(self.i)

    def __iter__(self) -> Iterator[tuple[int, int, float]]:
        """The ``(proposal, state, time)`` tuples, in log order."""
        return zip(self.i, self.state, self.t, strict=True)
