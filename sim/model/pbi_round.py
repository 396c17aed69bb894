"""A PBI-JK deactivation round: a share of the PBI-JK persons held loses PBI-JK at one decree.

From May 2025 PBI-JK follows DTSEN, and a first round deactivated the persons not in it, judged
no longer poor or vulnerable (PBI-DEACT-2025: 7.3 M persons, before the deciles 6-10 round of
February 2026, PBI-DEACT-2026). Its size is published; its rule only as that. An event sets
``programmes.pbi_round_share`` (the round's persons over the PBI-JK persons held); at the next
decree the holders lose PBI-JK richest DTSEN score first (EST: the round's order) until that
share of the persons held is reached (a household is taken whole: the last one may pass it).
Eligibility is not changed: the decree refills the persons quota poorest first, as any vacancy.
"""

from __future__ import annotations

import numpy as np

from sim.registry.table import PROG_PBI, STATUS_IN_DTKS, pbi_persons_at


def round_rows(registry, share: float, rel: np.ndarray | None = None) -> np.ndarray:
    """Rows that lose PBI-JK in a round of *share* of the PBI-JK persons held: the holders in the
    register, richest score first (ties: the later row first), until their PBI-JK persons
    (`sim.registry.table.pbi_persons`) reach *share* of the persons held (the household that
    reaches it included). With *rel* (a weight per row: a registry sampled at several fractions,
    `sim.model.nation`) persons are weighted by it."""
    held = np.flatnonzero(((registry["programmes"] & PROG_PBI) != 0)
                          & (registry["status"] == STATUS_IN_DTKS))
    if share <= 0 or not len(held):
        return np.zeros(0, dtype=np.int64)
    size = pbi_persons_at(registry, held).astype(np.int64)
    if rel is not None:
        size = size * rel[held]
    target = share * float(size.sum())
    order = np.lexsort((-held, -registry["pmt_score"][held].astype(np.float64)))
    cum = np.cumsum(size[order])
    n = int(np.searchsorted(cum, target, side="left")) + 1
    return np.sort(held[order[:min(n, len(held))]])


def apply_round(registry, share: float, rel: np.ndarray | None = None) -> np.ndarray:
    """Take PBI-JK from the rows of a round of *share* (`round_rows`); returns them."""
    rows = round_rows(registry, share, rel)
    registry["programmes"][rows] &= np.uint8(~PROG_PBI & 0xFF)
    return rows
