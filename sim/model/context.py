"""Shared run state of the flow model: the context, scaled stages, proposals and the monitor.

Every stage module receives one `Context` and touches the world only through it: the SimPy
environment, the working-day calendar, the named random streams, the scenario values, the
columnar registry and the per-proposal table. Nothing here is global.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from sim.registry.table import Registry
from sim.scenario.calendar import WorkCalendar
from sim.scenario.streams import Streams

if TYPE_CHECKING:
    from sim.model.records import Stored

#: every state a proposal can be in; each proposal is in exactly one at any time.
STATES: tuple[str, ...] = (
    "prelist",            # 0 waiting for the musdes (prelist awal)
    "verval",             # 1 queued for or in field verval
    "siks",               # 2 SIKS-NG entry
    "dinsos",             # 3 Dinas Sosial checks (incl. Dukcapil corrections)
    "bupati",             # 4 waiting for the Bupati/Walikota sign-off
    "kemensos",           # 5 Kemensos processing
    "decree",             # 6 waiting for the Minister's penetapan
    "issuance",           # 7 recipient: account opening, printing, post, activation
    "awaiting_credit",    # 8 card active or account open, no credit yet
    "credited",           # 9 first credit received (terminal for the horizon)
    "redeemed",           # 10 first redemption done (terminal)
    "dropped_musdes",     # 11 left out of the prelist akhir (terminal)
    "rejected_verval",    # 12 found not eligible in verval (terminal)
    "rejected_dukcapil",  # 13 record could not be matched with Dukcapil (terminal)
    "dtks_only",          # 14 in DTKS, no programme this period (terminal)
    "pbi_only",           # 15 in DTKS with PBI-JK only: no KKS needed (terminal)
    "card_returned",      # 16 card never collected, returned (terminal)
    "removed",            # 17 removed again before receiving (terminal)
    "burekol_failed",     # 18 account opening failed twice (gagal burekol, terminal)
    "rejected_decree",    # 19 rejected by the engine at penetapan (NIK, duplicate, ...)
)
S = {name: i for i, name in enumerate(STATES)}
TERMINAL = frozenset(S[n] for n in ("credited", "redeemed", "dropped_musdes", "rejected_verval",
                                     "rejected_dukcapil", "dtks_only", "pbi_only",
                                     "card_returned", "removed", "burekol_failed",
                                     "rejected_decree"))
#: states that advance along the pipeline; `advance` never moves a proposal backwards.
PIPELINE = tuple(S[n] for n in ("prelist", "verval", "siks", "dinsos", "bupati", "kemensos",
                                "decree", "issuance", "awaiting_credit", "credited", "redeemed"))

_TERMINAL_PIPELINE = frozenset((S["credited"], S["redeemed"]))

#: stages with queues: name -> level (desa, kabkota, national, territory)
STAGES: tuple[str, ...] = ("verval", "siks", "dinsos", "kemensos", "burekol", "printing",
                           "redeem")


class Transitions:
    """The ``(proposal, state, time)`` log of every state change, as three typed columns.

    Columnar (8 + 1 + 8 bytes per transition) rather than a list of tuples (about 120 bytes
    each): the log grows with every proposal's every step over the whole run. Iterating yields
    the tuples, in log order.
    """

    __slots__ = ("i", "state", "t")

    def __init__(self) -> None:
        self.i = array("q")
        self.state = array("b")
        self.t = array("d")

    def append(self, i: int, state: int, t: float) -> None:
        """Log proposal *i* entering *state* at time *t*."""
        self.i.append(i)
        self.state.append(state)
        self.t.append(t)

    def clear(self) -> None:
        """Drop every logged transition (in place: the columns stay the same objects)."""
        del self.i[:], self.state[:], self.t[:]

    def __len__(self) -> int:
        return len(self.i)

    def __iter__(self):
        return zip(self.i, self.state, self.t, strict=True)


class Proposals:
    """The per-proposal table, as typed columns (`array.array`: scalar access from processes
    stays cheap, and each value is 1 or 8 bytes instead of a Python object).

    Every state change is also logged as ``(proposal, state, time)`` in `transitions`, so the
    time spent in each stage (batch waits included) can be measured afterwards.
    """

    def __init__(self, env: simpy.Environment | None = None) -> None:
        self.env = env
        self.transitions = Transitions()
        self.row = array("q")        # registry row of the household
        self.source = array("b")     # SOURCE_KEYS value
        self.serial = array("q")     # index within its source (for per-entity CRN)
        self.state = array("b")
        self.t_arrive = array("d")
        self.t_dtks = array("d")     # decree that put it in DTKS (nan if never)
        self.t_credit = array("d")
        self.t_redeem = array("d")

    def __len__(self) -> int:
        return len(self.row)

    def advance(self, i: int, state: int) -> None:
        """Move proposal *i* forward to pipeline *state* (no-op if further along or done)."""
        cur = self.state[i]
        if cur in TERMINAL and cur not in _TERMINAL_PIPELINE:
            return
        if state > cur:
            self.state[i] = state
            self.transitions.append(i, state, self.env.now if self.env else float("nan"))

    def advance_at(self, i: int, state: int, t: float) -> None:
        """`advance`, logged at time *t* (a national stage's completion told at a barrier)."""
        cur = self.state[i]
        if cur in TERMINAL and cur not in _TERMINAL_PIPELINE:
            return
        if state > cur:
            self.state[i] = state
            self.transitions.append(i, state, t)

    def fail(self, i: int, state: int) -> None:
        """End proposal *i* in failure *state* unless it already reached its first redemption."""
        if self.state[i] != S["redeemed"]:
            self.state[i] = state
            self.transitions.append(i, state, self.env.now if self.env else float("nan"))

    def add(self, row: int, source: int, serial: int, t: float) -> int:
        """Append a proposal in state prelist and return its index."""
        nan = float("nan")
        self.row.append(row)
        self.source.append(source)
        self.serial.append(serial)
        self.state.append(S["prelist"])
        self.t_arrive.append(t)
        self.t_dtks.append(nan)
        self.t_credit.append(nan)
        self.t_redeem.append(nan)
        self.transitions.append(len(self.row) - 1, S["prelist"], t)
        return len(self.row) - 1


@dataclass
class Monitor:
    """Counters and samples the report reads; all plain numbers and lists."""

    #: waits and per-visit values as packed doubles (8 bytes each, not a float object); in a
    #: merged run, `Stored` columns on disk (`sim.model.merge`), read whole by the outputs
    waits: dict[str, array | Stored] = field(
        default_factory=lambda: {s: array("d") for s in STAGES})
    work: dict[str, float] = field(default_factory=lambda: {s: 0.0 for s in STAGES})
    servers: dict[str, int] = field(default_factory=lambda: {s: 0 for s in STAGES})
    queued: dict[str, int] = field(default_factory=lambda: {s: 0 for s in STAGES})
    busy: dict[str, int] = field(default_factory=lambda: {s: 0 for s in STAGES})
    samples: list[tuple[int, str, int, int, int]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    months: list[dict[str, Any]] = field(default_factory=list)
    redeem_wait_days: array | Stored = field(default_factory=lambda: array("d"))
    travel_min: array | Stored = field(default_factory=lambda: array("d"))
    #: targeting errors right after every decree (`sim.model.targeting.record`)
    targeting: list[dict[str, Any]] = field(default_factory=list)
    events: int = 0
    #: dated events applied so far (`sim.model.timeline`): date, day, name, source, changes
    timeline: list[dict[str, Any]] = field(default_factory=list)

    def count(self, name: str, n: int = 1) -> None:
        """Add *n* to counter *name*."""
        self.counts[name] = self.counts.get(name, 0) + n


class Stage:
    """A pool of identical servers working on the calendar, scaled to the sampling *share*.

    A real pool of *servers* serving a *share* of the real load becomes ``max(1, round(servers *
    share))`` SimPy servers whose work per item is stretched by ``c_eff / (servers * share)``, so
    utilisation is preserved exactly (at share 1 the pool is the real one).
    """

    __slots__ = ("cal", "env", "mon", "name", "res", "scale")

    def __init__(self, ctx: Context, name: str, servers: int, share: float) -> None:
        c_eff = max(1, round(servers * share))
        self.scale = c_eff / (servers * share)
        self.res = simpy.Resource(ctx.env, capacity=c_eff)
        self.env = ctx.env
        self.cal = ctx.cal
        self.mon = ctx.mon
        self.name = name
        ctx.mon.servers[name] += c_eff

    def resize(self, servers: int, share: float) -> None:
        """Resize the pool to *servers* real servers at sampling *share* from now on.

        Work in progress finishes at its old pace; queued work is served by the new pool. A
        smaller pool admits nobody new until enough servers are free. SimPy has no public
        resize: the capacity slot is set and waiting requests are re-offered (simpy is pinned
        in constraints.txt).
        """
        c_eff = max(1, round(servers * share))
        self.mon.servers[self.name] += c_eff - self.res.capacity
        self.scale = c_eff / (servers * share)
        self.res._capacity = c_eff
        self.res._trigger_put(None)

    def serve(self, work_days: float):
        """Generator: queue for a server, then hold it for *work_days* of working time.

        Records the queue wait (request to start of service) and the work done.
        """
        env, mon, name = self.env, self.mon, self.name
        t0 = env.now
        mon.queued[name] += 1
        with self.res.request() as req:
            yield req
            mon.queued[name] -= 1
            mon.busy[name] += 1
            mon.waits[name].append(env.now - t0)
            work = work_days * self.scale
            yield env.timeout(self.cal.add_working(env.now, work) - env.now)
            mon.busy[name] -= 1
        mon.work[name] += work


@dataclass
class Context:
    """Everything a stage process needs, passed explicitly."""

    env: simpy.Environment
    cal: WorkCalendar
    streams: Streams
    p: dict[str, dict[str, Any]]
    registry: Registry
    frame: Any
    props: Proposals = field(default_factory=Proposals)
    mon: Monitor = field(default_factory=Monitor)
    signals: dict[str, simpy.Event] = field(default_factory=dict)
    desa_stages: dict[tuple[str, int], Stage] = field(default_factory=dict)
    kab_stages: dict[tuple[str, int], Stage] = field(default_factory=dict)
    #: per registry row: the household's KKS is active (stock at start, or activated)
    card_active: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: open proposal of a row (row -> proposal index) until it ends or first redeems
    proposal_of_row: dict[int, int] = field(default_factory=dict)
    #: true log consumption per row, and the verval pass threshold on it
    log_c: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pass_log_c: float = 0.0
    #: standardised log consumption at the start (registration targeting weights; a region
    #: frees it once its first window has run, `sim.model.region.Region`)
    frame_z: np.ndarray | None = field(default_factory=lambda: np.zeros(0))
    #: rows whose true log consumption changed in this window (reported to the national stage)
    log_c_changed: list[int] = field(default_factory=list)
    #: proposals handed to the national Kemensos stage in this window: (time, proposal)
    kemensos_arrivals: list[tuple[float, int]] = field(default_factory=list)
    #: verval assessments and Dukcapil corrections waiting to go to the engine with a PROPOSE
    assessed: dict[int, float] = field(default_factory=dict)
    dukcapil_fixed: set[int] = field(default_factory=set)
    issuing: set[int] = field(default_factory=set)
    sanggah_upheld: list[int] = field(default_factory=list)
    pbi_quick_days: list[float] = field(default_factory=list)
    decree_results: list = field(default_factory=list)
    #: period -> (row, pre-settlement balance, unspent months) of KPM who gave up collecting
    giveups: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)
    #: rows credited in the last disbursed period
    last_credited: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    engine: Any = None
    row_draws: Any = None
    printer: Any = None
    agents: Any = None
    #: `sim.model.regional.Regional`: per-region capacities (None: none given)
    regional: Any = None
    #: the territory's view of a national-context run (`sim.model.view`): the national target
    #: groups (name -> bool per row) cut to its rows
    nation: Any = None
    #: the whole country's merged `Context` behind a territory's view (`sim.model.view`)
    national: Any = None
    #: the months of money the budget ceilings count when they are not ``mon.months``: a
    #: territory's view holds the whole country's, weighted (`sim.model.ceiling`)
    ceiling_months: Any = None
    restocking: bool = False
    #: per decree: households and persons who left PBI-JK because of their decile
    pbi_exits: list = field(default_factory=list)
    #: periods in which a dated event calls for a decree whatever the cadence
    forced_decrees: set[int] = field(default_factory=set)
    #: the register ranks the whole population (from the start, or since the population
    #: enumeration of a dated switch to ``register.ranking = "population"``: `enumeration`)
    enumerated: bool = False
    #: the one-off programmes' ledger (`sim.model.oneoff`)
    oneoff: Any = None
    #: the budget ceilings' book (`sim.model.ceiling.Book`)
    ceilings: Any = None
    #: an event opens self-registration that the scenario starts with closed
    self_registration_opens: bool = False
    #: kab/kota code (int PPKK) per registry kab/kota index (`sim.registry.regions`)
    kabkota_codes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: province code (int) per registry province index (`sim.registry.regions`)
    province_codes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def start_restocking(self) -> None:
        """Start the e-warong restocking process unless it runs already."""
        if not self.restocking:
            from sim.model import redemption

            self.restocking = True
            self.env.process(redemption.restocking(self))

    def apply_shock(self, row: int, factor: float) -> None:
        """Household *row*'s consumption falls by *factor* (its PMT score is unchanged until
        a verval re-assesses it)."""
        c = self.registry["consumption"]
        c[row] = max(1, int(c[row] * factor))
        self.log_c[row] = float(np.log(c[row]))
        self.log_c_changed.append(row)

    def signal(self, name: str) -> simpy.Event:
        """The pending event of the next occurrence of a periodic signal (musdes, decree, ...)."""
        ev = self.signals.get(name)
        if ev is None or ev.triggered:
            ev = self.env.event()
            self.signals[name] = ev
        return ev

    def fire(self, name: str, value: Any = None) -> None:
        """Trigger the pending occurrence of signal *name* (waiters resume at the current time)."""
        ev = self.signal(name)
        ev.succeed(value)

    def desa_stage(self, name: str, vdesa: int, servers: int) -> Stage:
        """The village-level pool *name* of virtual desa *vdesa* (created on first use)."""
        key = (name, vdesa)
        st = self.desa_stages.get(key)
        if st is None:
            if self.regional is not None:
                servers = self.regional.servers(name, "desa", vdesa, servers)
            st = self.desa_stages[key] = Stage(self, name, servers, 1.0)
        return st

    def kab_stage(self, name: str, vkab: int, servers: int) -> Stage:
        """The district-level pool *name* of virtual kab/kota *vkab* (created on first use)."""
        key = (name, vkab)
        st = self.kab_stages.get(key)
        if st is None:
            if self.regional is not None:
                servers = self.regional.servers(name, "kab", vkab, servers)
            st = self.kab_stages[key] = Stage(self, name, servers, 1.0)
        return st
