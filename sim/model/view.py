"""The territory's own view of a national-context run (``territory.context = "national"``).

A national-context run simulates the whole country (`sim.model.nation`): the territory's
kab/kota at ``territory.fraction``, the rest at ``territory.context_fraction``. Its results folder
reports the *territory*: this module merges the territory's regions alone (`sim.model.merge`,
their rows renumbered from 0 in row order) with the national stages' figures of the territory
(its monthly money, targeting errors after every decree, decreed recipients, PBI-JK exits, and
the waits of its own jobs at Kemensos and the printer). Every row of the view is sampled at the
territory's fraction, so one weight (``frame.weight``) turns its counts into territory totals.

What stays national: the queues, servers and utilisation of the national pools (Kemensos, the
printer serve the whole country), the quotas and deciles (ranked over the national register),
the target groups (national poverty lines), the counters of the national stages, the dated
events' log.
"""

from __future__ import annotations

import dataclasses
from array import array
from typing import Any

import numpy as np

from sim.model import heap
from sim.model.context import Context, Monitor
from sim.model.frame import Frame
from sim.model.records import Reader
from sim.model.region import RegionResult
from sim.registry.table import Registry


class _TerritoryStages:
    """The national stages as the merge reads them, cut to the territory's rows."""

    def __init__(self, nat: Any, rows: np.ndarray, frame: Frame) -> None:
        self._nat = nat
        self.registry = Registry({k: v[rows] for k, v in nat.registry.columns.items()},
                                 meta=dict(nat.registry.meta))
        self.frame = frame
        self.p, self.cal, self.streams = nat.p, nat.cal, nat.streams
        self.pass_log_c, self.engine = nat.pass_log_c, nat.engine
        self.forced_decrees, self.enumerated = nat.forced_decrees, nat.enumerated
        self.ceilings, self.province_code = nat.ceilings, nat.province_code
        self.oneoff = nat.territory_oneoff  # the territory's part of every round
        self.decree_results = nat.territory_decrees
        self.pbi_exits = nat.territory_pbi_exits
        mon = Monitor()
        for s in ("kemensos", "printing"):  # the territory's jobs; the pools are national
            mon.waits[s] = array("d", nat.territory_waits[s])
            mon.work[s] = nat.mon.work[s]
            mon.servers[s] = nat.mon.servers[s]
        from sim.model.national import TERRITORY_COUNTERS

        # the national stages' row counters count the territory's rows only
        mon.counts = {k: nat.territory_counts.get(k, 0) if k in TERRITORY_COUNTERS else v
                      for k, v in nat.mon.counts.items()}
        mon.months = nat.territory_months
        mon.targeting = nat.territory_targeting
        mon.timeline = nat.mon.timeline
        self.mon = mon

    def samples(self) -> dict:
        """The national pools' midday samples (they serve the whole country)."""
        return self._nat.samples()


def merged(nat: Any, results: list[RegionResult], read: Reader) -> Context:
    """The run's `Context` (`sim.model.merge.merge`), or with ``territory.context = "national"``
    the territory's view of it, the whole run as its ``national``."""
    from sim.model.merge import merge

    # the merge consumes its list: the territory's view below still needs the results
    ctx = merge(nat, results if nat.in_territory is None else list(results), read)
    heap.release()  # the regions' results, consumed by the merge (`sim.model.heap`)
    if nat.in_territory is None:
        return ctx
    view = territory(nat, results, ctx, read)
    view.national = ctx
    return view


def territory(nat: Any, results: list[RegionResult], national: Context,
              read: Reader) -> Context:
    """The territory's `Context` of a national-context run (see the module docstring);
    *national* is the merged whole run (its target groups are cut to the territory's rows),
    *read* gives the regions' spilled records (`sim.model.records`)."""
    from sim.model import targeting
    from sim.model.merge import merge
    from sim.registry import regions

    fr = nat.frame
    own = sorted((r for r in results if nat.region_in_territory[r.region]),
                 key=lambda r: r.region)
    rows = np.concatenate([np.arange(r.row0, r.row0 + len(r.log_c)) for r in own]) \
        if own else np.zeros(0, dtype=np.int64)
    kec = fr.vkec[rows]
    kec_new = np.unique(kec, return_inverse=True)[1].astype(np.int32) if len(rows) else kec
    desa_new = np.unique(fr.vdesa[rows], return_inverse=True)[1].astype(np.int32) \
        if len(rows) else fr.vdesa[rows]
    kab_new = np.unique(fr.vkab[rows], return_inverse=True)[1].astype(np.int32) \
        if len(rows) else fr.vkab[rows]
    real = int(regions.load().kabkota_population[fr.territory].sum()
               / nat.p["territory"]["household_size"])
    view = Frame(kab_rows=np.flatnonzero(fr.territory), real_households=real,
                 households=len(rows), fraction=fr.fraction, weight=fr.weight,
                 national_share=fr.national_share, vdesa=desa_new,
                 n_vdesa=int(desa_new.max()) + 1 if len(rows) else 0, vkec=kec_new,
                 n_vkec=int(kec_new.max()) + 1 if len(rows) else 0, vkab=kab_new,
                 n_vkab=int(kab_new.max()) + 1 if len(rows) else 0,
                 pmt_error=None if fr.pmt_error is None else fr.pmt_error[rows])
    stages = _TerritoryStages(nat, rows, view)
    moved = []
    off = 0
    for r in own:
        # the region's first virtual kecamatan in the view's numbering
        first = int(kec_new[off]) if len(r.log_c) else 0
        moved.append(dataclasses.replace(r, row0=off, vkec0=first))
        off += len(r.log_c)
    ctx = merge(stages, moved, read)
    if nat.rel is not None:  # the ceilings count the whole country's money, weighted
        ctx.ceiling_months = nat.weighted_months
    ctx.nation = {k: v[rows] for k, v in targeting.of(national).items()}
    ctx.nation["true_decile"] = targeting.true_deciles(national)[rows]
    return ctx
