"""What the client keeps of each partition for its recovery, on disk instead of in memory.

A partition is rebuilt from its region specs (`RegionSpec`: the registry columns of its rows at
the start) and replayed from its input log (the messages of every barrier so far,
`sim.model.distributed`). Both are read only when a worker dies, and both grow with the
territory: the specs hold about 20 bytes per household, and the log carries every credit day's
rows and every decree's changes. They are pickled to anonymous temporary files of the client's
machine (deleted when closed or when the process ends) and read back only for a replay.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Iterator
from typing import Any


class Spooled:
    """An append-only sequence of picklable entries in an anonymous temporary file."""

    def __init__(self) -> None:
        # lives as long as the log (closed by `close` or when collected)
        self._fh = tempfile.TemporaryFile(prefix="kks-log-")  # noqa: SIM115
        self._n = 0

    def append(self, entry: Any) -> None:
        """Add *entry* at the end."""
        self._fh.seek(0, os.SEEK_END)
        pickle.dump(entry, self._fh, protocol=pickle.HIGHEST_PROTOCOL)
        self._n += 1

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[Any]:
        """Every entry, in the order appended (the file is read back entry by entry)."""
        self._fh.flush()
        self._fh.seek(0)
        n = self._n
        for _ in range(n):
            yield pickle.load(self._fh)

    def close(self) -> None:
        """Delete the file."""
        self._fh.close()
