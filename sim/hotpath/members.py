"""Per-household PKH caches from the member counts in byte arithmetic (docs/monthly.md §2.8-2.10).

`sim.hotpath.disburse.pkh_annual` is the definition (int64, any params); a full decree computes
the caches of every household (94M at national size), so here the caps run on the uint8 counts
and the amount is summed in units of the greatest common divisor of the component amounts
(uint16), which is exact whenever `sim.hotpath.monthly.pkh_scale` stores amounts as uint16 units
and every cap fits a byte. Otherwise `member_stats` falls back to `pkh_annual`.
"""

from __future__ import annotations

import math

import numpy as np

from sim.params import Params

#: member-count columns in the priority order of §2.10
PRIORITY = ("n_early_child", "n_sd", "n_smp", "n_sma", "n_disabled", "n_elderly", "n_pregnant")
_CHILDREN = ("n_early_child", "n_sd", "n_smp", "n_sma")
_DIS_ELD = ("n_disabled", "n_elderly")
_CHUNK = 1 << 16  # households per piece of the byte arithmetic (temporaries stay in L2)


def byte_path(params: Params) -> tuple[int, ...] | None:
    """The component amounts in units (by priority) if the byte arithmetic is exact, else None."""
    amounts = params.pkh_amounts()
    g = math.gcd(*amounts) or 1
    caps = (params.pkh_max_components, params.pkh_max_children, params.pkh_max_early_child,
            params.pkh_max_disabled_elderly, params.pkh_max_pregnant)
    bound = max(params.pkh_max_components, 1) * max(amounts) // g
    if (g * params.pkh_every) % 12 or bound >= 1 << 16 or min(amounts) < 0:
        return None
    if not all(0 <= c <= 255 for c in caps):
        return None
    a = dict(zip(("n_early_child", "n_sd", "n_smp", "n_sma", "n_disabled", "n_elderly",
                  "n_pregnant"), amounts, strict=True))
    return tuple(a[name] // g for name in PRIORITY)


def member_stats(counts: dict[str, np.ndarray], params: Params,
                 unit: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """(has a PKH-qualifying member, PKH amount per payment / `unit` as `dtype`) per household.

    `unit` and `dtype` are `sim.hotpath.monthly.pkh_scale(params)`.
    """
    from sim.hotpath.disburse import pkh_annual

    n = len(counts["n_sd"])
    units = byte_path(params)
    if units is None or dtype != np.uint16 or any(
            counts[m].dtype != np.uint8 for m in PRIORITY):
        qual = np.zeros(n, dtype=bool)
        for m in PRIORITY:
            qual |= counts[m] > 0
        pay = pkh_annual(counts, params) * params.pkh_every // 12
        return qual, (pay // unit).astype(dtype)
    if n > _CHUNK:  # in cache-sized pieces: ~45 byte operations per household
        qual, total = np.empty(n, dtype=bool), np.empty(n, dtype=np.uint16)
        for lo in range(0, n, _CHUNK):
            part = {m: c[lo:lo + _CHUNK] for m, c in counts.items()}
            qual[lo:lo + _CHUNK], total[lo:lo + _CHUNK] = member_stats(part, params, unit, dtype)
        return qual, total
    anyone = counts[PRIORITY[0]].copy()
    for m in PRIORITY[1:]:
        anyone |= counts[m]
    qual = anyone != 0
    slots = np.full(n, params.pkh_max_components, dtype=np.uint8)
    children = np.full(n, params.pkh_max_children, dtype=np.uint8)
    dis_eld = np.full(n, params.pkh_max_disabled_elderly, dtype=np.uint8)
    total = np.zeros(n, dtype=np.uint16)
    c = np.empty(n, dtype=np.uint8)
    for name, amount in zip(PRIORITY, units, strict=True):  # the steps of pkh_annual
        np.copyto(c, counts[name])
        if name == "n_early_child":
            np.minimum(c, np.uint8(params.pkh_max_early_child), out=c)
        if name in _CHILDREN:
            np.minimum(c, children, out=c)
            children -= c
        elif name in _DIS_ELD:
            np.minimum(c, dis_eld, out=c)
            dis_eld -= c
        else:
            np.minimum(c, np.uint8(params.pkh_max_pregnant), out=c)
        np.minimum(c, slots, out=c)
        slots -= c
        if amount:
            total += c * np.uint16(amount)
    return qual, total
