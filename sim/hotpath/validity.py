"""Pass/fail of the record checks of docs/monthly.md §2.1.1-2.1.4, for whole columns at once.

A full decree re-checks every DTKS household (38M at national size), but only needs to know
*whether* a row fails, not why. `sim.hotpath.monthly.record_reasons` (the reasons, for the batch)
splits every number into its fields; here a NIK or No. KK is valid iff three independent parts
are: the region `PPKKCC` (a 10^6-entry table), the date `DDMMYY` (a 10^6-entry table, a stricter
one for the KK) and the serial `SSSS != 0`. Both tables are computed once from
`sim.registry.nik.nik_reasons` itself, so the two agree by construction (the property tests
check it on random and edge values).
"""

from __future__ import annotations

import functools

import numpy as np

from sim.registry.nik import nik_reasons

_REGION = 10**6  # PPKKCC codes; index _REGION means "out of range"
_E4 = np.uint64(10**4)
_E10 = np.uint64(10**10)
_M6 = np.uint64(10**6)
_REGION_U = np.uint64(_REGION)
_CHUNK = 1 << 16  # rows per inner step: temporaries stay in the L2 cache


@functools.lru_cache(maxsize=1)
def tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(region_ok, nik_date_ok, kk_date_ok): bool tables of 10^6 + 1 entries.

    `region_ok[PPKKCC]` says the province, kab/kota and kecamatan are known; `*_date_ok[DDMMYY]`
    says the date is valid for a NIK (day 01-31 or 41-71) or a No. KK (day at most 31). The last
    entry of each is False (the index of out-of-range numbers).
    """
    codes = np.arange(_REGION, dtype=np.int64)
    # a valid date (01 01 00) and serial (0001) leave the region as the only check that can fail
    region = np.zeros(_REGION + 1, dtype=bool)
    region[:_REGION] = nik_reasons(codes * 10**10 + 10100 * 10**4 + 1) == 0
    valid_region = int(np.flatnonzero(region)[0]) if region.any() else 0
    nik_date = np.zeros(_REGION + 1, dtype=bool)
    nik_date[:_REGION] = nik_reasons(valid_region * 10**10 + codes * 10**4 + 1) == 0
    kk_date = nik_date.copy()
    kk_date[:_REGION] &= codes // 10**4 <= 31
    return region, nik_date, kk_date


def _number_ok(u: np.ndarray, date_ok: np.ndarray, region_ok: np.ndarray,
               out: np.ndarray, hi: np.ndarray, mid: np.ndarray) -> None:
    """`out &=` "`u` (int64 numbers viewed as uint64) is a valid NIK / No. KK" under the uint8
    date table `date_ok`; `hi` and `mid` are uint64 work buffers of the same length."""
    np.floor_divide(u, _E10, out=hi)  # PPKKCC, or >= 10^6 when out of range (or negative)
    np.floor_divide(u, _E4, out=mid)
    out &= u != mid * _E4  # serial 0000
    np.subtract(mid, hi * _M6, out=mid)  # DDMMYY
    np.minimum(hi, _REGION_U, out=hi)
    out &= np.take(region_ok, hi.view(np.int64)).view(bool)
    out &= np.take(date_ok, mid.view(np.int64)).view(bool)


def records_valid(nik: np.ndarray, kk: np.ndarray, match: np.ndarray,
                  score: np.ndarray) -> np.ndarray:
    """True where `record_reasons(nik, kk, match, score) == 0` (bool, one per record)."""
    region_ok, nik_date, kk_date = (t.view(np.uint8) for t in tables())
    n = len(nik)
    out = np.empty(n, dtype=bool)
    nik = np.ascontiguousarray(nik, dtype=np.int64).view(np.uint64)
    kk = np.ascontiguousarray(kk, dtype=np.int64).view(np.uint64)
    hi = np.empty(min(n, _CHUNK), dtype=np.uint64)
    mid = np.empty_like(hi)
    for lo in range(0, n, _CHUNK):
        m = min(lo + _CHUNK, n) - lo
        o = out[lo:lo + m]
        np.isfinite(score[lo:lo + m], out=o)
        o &= match[lo:lo + m].astype(bool, copy=False)
        _number_ok(nik[lo:lo + m], nik_date, region_ok, o, hi[:m], mid[:m])
        _number_ok(kk[lo:lo + m], kk_date, region_ok, o, hi[:m], mid[:m])
    return out
