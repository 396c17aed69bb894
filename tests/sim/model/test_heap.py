"""`sim.model.heap.release` gives freed heap pages back: the resident size falls."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sim.model import heap

#: in a fresh interpreter: 96 arrays of 1 MiB taken from the heap, each followed by a small one
#: that stays, so that freeing the large ones leaves free pages inside the heap, which glibc never
#: trims by itself (only a free top of the heap is); print the resident size, release, print it
#: again (MiB)
_CHILD = """
import numpy as np, psutil
from sim.model import heap

rss = lambda: psutil.Process().memory_info().rss / 2**20
big = np.ones(16 << 20, dtype=np.uint8)  # mmapped; freeing it raises glibc's mmap threshold
del big
arrays, pins = [], []
for _ in range(96):
    arrays.append(np.ones(1 << 20, dtype=np.uint8))  # now taken from the heap
    pins.append(np.ones(64 << 10, dtype=np.uint8))
del arrays
before = rss()
heap.release()
print(before, rss())
"""


def test_release_returns_freed_heap_pages_to_the_system() -> None:
    if not heap.release():
        pytest.skip("this C library has no malloc_trim (not glibc): release() does nothing here")
    # glibc's own defaults: no malloc settings inherited (a Dask nanny in this process, or a
    # benchmark, may have set some in the environment)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                         check=True, timeout=60, env=env).stdout.split()
    before, after = (float(x) for x in out)
    inherited = {k: v for k, v in os.environ.items() if k not in env}
    assert before - after > 64, (before, after, inherited)  # most of the 96 MiB left
