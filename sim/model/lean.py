"""Memory-lean handling of per-household columns in a region (docs/distributed.md §5).

A region holds every household of its kab/kota for the whole run, so what it keeps per row, and
what a step makes per row at once, sets a worker's memory. Three helpers serve every module:

* `narrow`: a non-negative integer column in the smallest of int16 / int32 / int64 that holds
  it (unit and row numbers within one region);
* `picked` / `below`: a generator's draw over every registry row (common random numbers), made
  one `BLOCK` of rows at a time, keeping only what is asked for; the same numbers as one call;
* `ints`: a column's values as Python ints, one block at a time (for per-row loops that must stay
  in Python, e.g. SimPy processes), instead of one list of them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

#: rows per block of a region-wide draw or walk
BLOCK = 1 << 15


def int_type(top: int) -> type:
    """The smallest of int16, int32 and int64 that holds non-negative values up to *top*."""
    if top < 2**15:
        return np.int16
    return np.int32 if top < 2**31 else np.int64


def narrow(a: np.ndarray) -> np.ndarray:
    """Non-negative integer column *a* in `int_type` of its largest value."""
    return a.astype(int_type(int(a.max()) if len(a) else 0))


def picked(draw: Callable[..., np.ndarray], n_all: int, rows: np.ndarray,
           width: int = 0) -> np.ndarray:
    """``draw(n_all)[rows]`` (``draw((n_all, width))[rows]`` with *width*), without the whole
    column: *draw* is called on consecutive blocks of `BLOCK` registry rows, in row order, and
    only the values of *rows* are kept.

    A generator's draws in consecutive blocks are the same numbers as in one call (its methods
    here keep no state between calls but the bit generator's), so the result is value for value
    the same; only the transient memory differs (a block, not a value per registry row).
    """
    out = np.empty((len(rows), width) if width else len(rows))
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    for lo in range(0, n_all, BLOCK):
        hi = min(lo + BLOCK, n_all)
        vals = draw((hi - lo, width) if width else hi - lo)
        a, b = np.searchsorted(sorted_rows, (lo, hi))
        if b > a:
            out[order[a:b]] = vals[sorted_rows[a:b] - lo]
    return out


def below(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    """``np.flatnonzero(rng.random(n) < p)``, drawn one block of rows at a time (the same
    numbers: a generator's uniforms in consecutive blocks are those of one call)."""
    hits = [lo + np.flatnonzero(rng.random(min(BLOCK, n - lo)) < p)
            for lo in range(0, n, BLOCK)]
    return np.concatenate(hits) if hits else np.zeros(0, dtype=np.int64)


def ints(a: np.ndarray) -> Iterator[int]:
    """The values of *a* as Python ints, converted one block at a time."""
    for lo in range(0, len(a), BLOCK):
        yield from a[lo:lo + BLOCK].tolist()
