"""A sorted-key index: the rows holding a given value of a 64-bit column, for exact lookups.

The decree uses one over NIK and one over No. KK to find the DTKS rows a new or updated record
collides with (docs/monthly.md §7). Entries are only ever added; stale ones are dropped at lookup
by reading the row's current value, so the index never needs deleting.
"""

from __future__ import annotations

import numpy as np

_MIX = np.uint64(0x9E3779B97F4A7C15)


def merge_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The sorted union (with repeats) of two sorted arrays, in linear passes.

    numpy's stable sort of 64-bit integers is a timsort: on two concatenated sorted runs it
    is one galloping merge (3x faster than placing `b` by searchsorted and a boolean mask).
    """
    out = np.concatenate([a, b])
    out.sort(kind="stable")
    return out


#: every FENCE-th word of a `KeyIndex` base is kept in a small (cache-resident) fence array
FENCE = 64


def lower_bound(words: np.ndarray, fence: np.ndarray | None, q: np.ndarray) -> np.ndarray:
    """`np.searchsorted(words, q)` (side left) for sorted `words` with `fence = words[::FENCE]`.

    A binary search over a large array makes ~log2(n) dependent cache misses per key; here the
    search runs in the small fence, then a branch-free bisection of the FENCE-word window is
    done for all keys at once, round by round (independent gathers: the misses overlap).
    """
    n = len(words)
    if fence is None or n <= FENCE * 1024 or len(q) == 0:
        return np.searchsorted(words, q)
    j = np.searchsorted(fence, q)
    # i: an index whose word is < q (the fence word before q), or 0 when j == 0 (fixed below)
    i = (j.astype(np.intp) - 1) * FENCE
    np.maximum(i, 0, out=i)
    top = n - 1
    half = FENCE >> 1
    c = np.empty_like(i)
    while half:
        np.add(i, half, out=c)
        np.minimum(c, top, out=c)
        less = np.take(words, c) < q
        i += less * half
        half >>= 1
    i += 1
    i[j == 0] = 0
    np.minimum(i, n, out=i)
    return i


class KeyIndex:
    """Rows by NIK (or KK): sorted `hash(value) << row_bits | row` words, for exact lookups.

    Entries are only added (the rows of accepted records go to a small sorted `delta`, merged
    into `base` when it grows); an entry whose row has since changed its value or left DTKS is
    stale, and `lookup` drops it by checking the row's current value. 8 bytes per entry, plus
    a fence of every FENCE-th base word for the searches (`lower_bound`).
    """

    def __init__(self, column: np.ndarray, rows: np.ndarray, n_rows: int) -> None:
        """Index `rows` under their values in `column` (built block by block: no big temps)."""
        self.row_bits = max(27, int(n_rows).bit_length())
        self.base = np.empty(len(rows), dtype=np.uint64)
        for lo in range(0, len(rows), 1 << 20):
            r = rows[lo:lo + (1 << 20)]
            self.base[lo:lo + len(r)] = self._pack(column[r], r)
        self.base.sort()
        self.fence = self.base[::FENCE].copy()
        self.delta = np.zeros(0, dtype=np.uint64)

    def _fp(self, values: np.ndarray) -> np.ndarray:
        return (values.astype(np.uint64) * _MIX) >> np.uint64(self.row_bits)

    def _pack(self, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return (self._fp(values) << np.uint64(self.row_bits)) | rows.astype(np.uint64)

    def shared_rows(self, block: int = 1 << 20) -> np.ndarray:
        """Rows of `base` whose hash is also another base entry's (every pair of rows with
        equal values among them, plus the rare hash collisions), ascending. Block by block:
        no temporary of the base's size but a bool mask."""
        m = len(self.base)
        hit = np.zeros(m, dtype=bool)
        shift = np.uint64(self.row_bits)
        for lo in range(0, max(m - 1, 0), block):
            hi = min(lo + block, m - 1)
            fp = self.base[lo:hi + 1] >> shift
            same = fp[1:] == fp[:-1]  # entries i and i + 1 share their hash
            hit[lo:hi] |= same
            hit[lo + 1:hi + 1] |= same
        rows = self.base[hit] & np.uint64((1 << self.row_bits) - 1)
        rows.sort()
        return rows.astype(np.int64)

    def add(self, values: np.ndarray, rows: np.ndarray) -> None:
        """Index `rows` under their (new) `values`."""
        if len(rows) == 0:
            return
        self.delta = merge_sorted(self.delta, np.sort(self._pack(values, rows)))
        if len(self.delta) * 16 > len(self.base):
            self.base = merge_sorted(self.base, self.delta)
            self.fence = self.base[::FENCE].copy()
            self.delta = np.zeros(0, dtype=np.uint64)

    def lookup(self, keys: np.ndarray, column: np.ndarray,
               own: np.ndarray | None = None) -> np.ndarray:
        """Rows (maybe repeated) whose current `column` value is one of `keys`.

        With `own` (the row each key belongs to), a key's own row is left out: it is found
        without reading `column` (no random access), and callers drop it anyway.
        """
        if len(keys) == 0:
            return np.zeros(0, dtype=np.int64)
        fp = self._fp(keys)
        order = np.argsort(fp)
        fp, keys = fp[order], keys[order]
        if own is not None:
            own = own[order]
        shift = np.uint64(self.row_bits)
        mask = np.uint64((1 << self.row_bits) - 1)
        fence = getattr(self, "fence", None)
        if fence is None or len(fence) != -(-len(self.base) // FENCE):
            fence = self.fence = self.base[::FENCE].copy()
        q = fp << shift
        out = []
        for words, fw in ((self.base, fence), (self.delta, self.delta[::FENCE])):
            if len(words) == 0:
                continue
            pos = lower_bound(words, fw, q)
            qi = np.arange(len(fp))
            while len(pos):
                e = words[np.minimum(pos, len(words) - 1)]
                m = (pos < len(words)) & ((e >> shift) == fp[qi])
                rows = (e[m] & mask).astype(np.int64)
                qm = qi[m]
                if own is not None:
                    other = rows != own[qm]
                    rows, qo = rows[other], qm[other]
                else:
                    qo = qm
                out.append(rows[column[rows] == keys[qo]])
                pos, qi = pos[m] + 1, qm
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
