"""Give the process's free heap back to the system between the phases of a run.

numpy takes an array below glibc's mmap threshold from the heap. That threshold rises by
itself up to 32 MiB once larger blocks have been freed, so a region's columns and a window's
temporaries are mostly heap blocks. When they are freed, glibc keeps the pages for reuse unless
they sit at the top of the heap, and the process's resident size does not fall. In a year of
Bali on 2 workers the client's heap held about 140 bytes per household free at every barrier,
beside about 100 in use (`mallinfo2`). `release` hands those free pages back
(`malloc_trim(0)`, which on glibc 2.8 and later also releases free pages inside the heap).

It is called where a phase of the run has dropped its temporaries: after the registry is
generated and at the end of the national build (`sim.model.national`), after each barrier
(`sim.model.windows`), at the end of each window on a Dask worker
(`sim.model.distributed.WorkerPartition`) and after the merge (`sim.model.view`). It costs
under a millisecond on a small heap and changes nothing but the process's memory: the next
allocations fault their pages in again.
Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS, Windows)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None


def release() -> bool:
    """Return the heap's free pages to the system; True if the C library could."""
    trim = _trim()
    if trim is None:
        return False
    trim(0)
    return True
