"""One run's state from its regions and national stages, for `sim.outputs`.

Regions are merged in region order whatever partition simulated them: proposals are numbered
region by region, records (waits, travel times, the transition log) are concatenated region by
region into `Stored` columns (on disk, `sim.model.records`), counters are summed, midday queue
samples are summed per (day, stage). The result is the `Context` the outputs read, so a split
run writes the same results folder as a run in one process.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np
import simpy

from sim.model import oneoff
from sim.model.context import STAGES, Context, Monitor, Proposals
from sim.model.national import National
from sim.model.records import DTYPES, Reader, Stored, StoredTransitions
from sim.model.region import RegionResult


@dataclass
class AgentTotals:
    """One agent's totals (what the outputs read of an agent)."""

    visits: int
    work: float
    stockouts: int
    balked: int
    reneged: int
    closed: int


@dataclass
class MergedAgents:
    """The agents of every region, keyed as in one region (e-warong by (virtual kecamatan,
    index), PT Pos by virtual kecamatan, numbered over the whole territory), and the catchment
    counts."""

    channel: str
    per_kec: np.ndarray          # e-warong per virtual kecamatan (summed over regions)
    pos_servers_kec: np.ndarray  # PT Pos officers per virtual kecamatan
    atm_servers_kec: np.ndarray  # ATMs per virtual kecamatan
    ewarong: dict[tuple[int, int], AgentTotals] = field(default_factory=dict)
    pos: dict[int, AgentTotals] = field(default_factory=dict)
    atm: dict[int, AgentTotals] = field(default_factory=dict)
    #: waits (days) of served ATM cash-outs, region by region
    atm_waits: array | Stored = field(default_factory=lambda: array("d"))


def _extend(into: array, values: np.ndarray) -> None:
    """Append *values* (same item type as *into*) to the typed column *into*."""
    into.frombytes(memoryview(np.ascontiguousarray(values)).cast("B"))


def _column(nat: National, name: str, n: int, dtype: type) -> np.ndarray:
    """The national stages' column *name* to merge the regions' values into (every row is
    overwritten), or a new one for a territory's view, which has none of its own."""
    col = getattr(nat, name, None)
    return np.zeros(n, dtype=dtype) if col is None else col


def merge(nat: National, results: list[RegionResult], read: Reader) -> Context:
    """The run's `Context`: the national registry and stages plus every region, in order.

    *read* gives a region's spilled records (`sim.model.records`): they are read one region and
    one record at a time and appended to the run's `Stored` columns (anonymous files), so the
    merged run holds none of them in memory. *results* is consumed: it is emptied, each
    region's result dropped once merged.
    """
    results.sort(key=lambda r: r.region, reverse=True)
    oneoffs = []
    reg = nat.registry
    env = simpy.Environment()
    props = Proposals(env)
    # every record (`records.DTYPES`), appended region by region to a file, not held
    stored = {name: Stored(dtype) for name, dtype in DTYPES.items()}
    props.transitions = StoredTransitions(stored["transition_i"], stored["transition_state"],
                                          stored["transition_t"])
    mon = Monitor()
    mon.waits = {s: stored[f"wait_{s}"] for s in STAGES}
    mon.redeem_wait_days = stored["redeem_wait_days"]
    mon.travel_min = stored["travel_min"]
    n_kec = nat.frame.n_vkec
    agents = MergedAgents(channel=nat.p["disbursement"]["channel"],
                          per_kec=np.zeros(n_kec, dtype=np.int64),
                          pos_servers_kec=np.zeros(n_kec, dtype=np.int64),
                          atm_servers_kec=np.zeros(n_kec, dtype=np.int64),
                          atm_waits=stored["atm_waits"])
    off = 0
    n = len(reg)
    # the national stages' own columns are filled in place (they are not read after the merge):
    # no second copy of a column per household at the client's highest point
    log_c = _column(nat, "log_c", n, np.float64)
    card_active = _column(nat, "card_active", n, np.bool_)
    pbi_quick: list[float] = []
    samples: dict[tuple[int, str], list[int]] = {}
    while results:
        r = results.pop()
        oneoffs.append(r.oneoff)
        lo, hi = r.row0, r.row0 + len(r.log_c)
        _extend(props.row, np.asarray(r.props["row"], dtype=np.int64) + lo)
        for name in ("source", "serial", "state", "t_arrive", "t_dtks", "t_credit", "t_redeem"):
            getattr(props, name).extend(r.props[name])
        for name, col in stored.items():  # one record of the region in memory at a time
            values = read(r.region, name)
            col.extend(values + off if name == "transition_i" else values)
        off += len(r.props["row"])
        for s in STAGES:
            mon.work[s] += r.work[s]
            mon.servers[s] += r.servers[s]
        for name, v in r.counts.items():
            mon.count(name, v)
        pbi_quick += r.pbi_quick_days
        for kind in ("ewarong", "pos", "atm"):
            into = getattr(agents, kind)
            for key, totals in r.agents[kind]:
                glob = (key[0] + r.vkec0, key[1]) if isinstance(key, tuple) else key + r.vkec0
                into[glob] = AgentTotals(*totals)
        kec = r.vkec0 + np.arange(len(r.per_kec))
        np.add.at(agents.per_kec, kec, r.per_kec)
        agents.pos_servers_kec[kec] = r.pos_servers_kec
        agents.atm_servers_kec[kec] = r.atm_servers_kec
        for day, s, queued, busy, servers in r.samples:
            acc = samples.setdefault((day, s), [0, 0, 0])
            acc[0] += queued
            acc[1] += busy
            acc[2] += servers
        log_c[lo:hi] = r.log_c
        card_active[lo:hi] = r.card_active
        reg["consumption"][lo:hi] = r.consumption
        reg["bank"][lo:hi] = r.bank
    nm = nat.mon
    for s in ("kemensos", "printing"):
        mon.waits[s].extend(np.asarray(nm.waits[s], dtype=np.float64))
        mon.work[s] += nm.work[s]
        mon.servers[s] += nm.servers[s]
    for name, v in nm.counts.items():
        mon.count(name, v)
    mon.counts = dict(sorted(mon.counts.items()))
    for key, (queued, busy, servers) in nat.samples().items():
        acc = samples.setdefault(key, [0, 0, 0])
        acc[0] += queued
        acc[1] += busy
        acc[2] = servers
    order = {s: j for j, s in enumerate(STAGES)}
    mon.samples = [(day, s, *samples[(day, s)])
                   for day, s in sorted(samples, key=lambda k: (k[0], order[k[1]]))]
    mon.months = nm.months
    mon.targeting = nm.targeting
    mon.timeline = nm.timeline
    ctx = Context(env=env, cal=nat.cal, streams=nat.streams, p=nat.p, registry=reg,
                  frame=nat.frame, props=props, mon=mon)
    ctx.log_c = log_c
    ctx.card_active = card_active
    ctx.pass_log_c = nat.pass_log_c
    ctx.pbi_quick_days = pbi_quick
    ctx.agents = agents
    ctx.engine = nat.engine
    ctx.decree_results = nat.decree_results
    ctx.pbi_exits = nat.pbi_exits
    ctx.forced_decrees = nat.forced_decrees
    ctx.enumerated = nat.enumerated
    ctx.ceilings = nat.ceilings
    ctx.oneoff = oneoff.merge(nat.oneoff, oneoffs)
    ctx.province_codes = np.asarray(nat.province_code, dtype=np.int64)
    from sim.registry import regions

    ctx.kabkota_codes = np.asarray(regions.load().kabkota_code, dtype=np.int64)
    return ctx
