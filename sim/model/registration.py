"""Registration: where proposals come from (docs/glossary.md flows 1, 2, 4 and 9).

Four sources, each a Poisson stream of proposals over the horizon with its own random streams:

* ``rtrw``: an RT/RW (or the citizen at the desa office) proposes a household; RT/RW know their
  poor, so households are drawn with weight ``exp(-k z)`` on standardised log consumption;
* ``self``: self-registration in the Cek Bansos app ("Daftar Usulan"); weaker self-targeting;
  switched off by ``registration.self_registration = false``;
* ``shock``: a household's situation worsens (job loss, illness): its consumption drops by
  ``shock_factor`` and it reports to the PKH facilitator or Dinsos (data update, flow 9);
* ``pmks``: a PMKS (disabled or elderly member) sponsored by an LKS through the online route.

Only households not in DTKS and without an open proposal are proposed; a draw that hits one of
those is counted as a duplicate and dropped. The per-entity draws every later stage needs are
made here, per source, in arrival order, so scenarios that change capacities keep each
proposal's own randomness (common random numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model import lean
from sim.model.context import Context
from sim.registry.table import STATUS_IN_DTKS
from sim.scenario.streams import SOURCE_KEYS

#: proposals per simulated proposal source are capped to keep a misconfigured scenario bounded
MAX_PER_SOURCE = 5_000_000


@dataclass
class Draws:
    """Per-entity draws of one source (index = serial in that source)."""

    musdes_u: np.ndarray
    verval_work: np.ndarray
    verval_err: np.ndarray
    fix_u: np.ndarray
    fix_days: np.ndarray


def _gamma_work(rng: np.random.Generator, mean: float, cv: float, n: int) -> np.ndarray:
    if cv <= 0:
        return np.full(n, mean)
    k = 1.0 / (cv * cv)
    return rng.gamma(k, mean / k, n)


def entity_draws(ctx: Context, source: int, n: int, *sub: int) -> Draws:
    """The per-proposal draws of *n* proposals of *source* (one stream per stage and source;
    *sub* adds sub-keys, e.g. the appeal number)."""
    v = ctx.p["verification"]
    st = ctx.streams
    vr = st.get("verval", source, *sub)
    return Draws(
        musdes_u=st.get("musdes", source, *sub).random(n),
        verval_work=_gamma_work(vr, v["verval_days"], v["verval_cv"], n),
        verval_err=vr.standard_normal(n),
        fix_u=st.get("dinsos", source, *sub).random(n),
        fix_days=st.get("dinsos", source, *sub, 1).exponential(
            max(v["dukcapil_fix_days"], 1e-9), n),
    )


def _weights(ctx: Context, kind: str) -> np.ndarray:
    reg = ctx.registry
    r = ctx.p["registration"]
    z = ctx.frame_z
    if kind == "rtrw":
        return np.exp(-r["rtrw_targeting"] * z)
    if kind == "self":
        return np.exp(-r["self_targeting"] * z)
    if kind == "pmks":
        return ((reg["n_disabled"] > 0) | (reg["n_elderly"] > 0)).astype(np.float64) + 1e-12
    return np.ones(len(reg))


def schedule(ctx: Context, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Arrival times (sorted, days) and candidate registry rows of source *kind*."""
    r = ctx.p["registration"]
    rate = {"rtrw": r["rtrw_per_1000"], "self": r["self_per_1000"],
            "shock": r["shock_per_1000"], "pmks": r["pmks_per_1000"]}[kind]
    if kind == "self" and not (r["self_registration"] or ctx.self_registration_opens):
        rate = 0.0
    rng = ctx.streams.get(f"arrivals.{kind}")
    years = ctx.cal.days / 365.25
    n = int(rng.poisson(rate / 1000.0 * len(ctx.registry) * years))
    n = min(n, MAX_PER_SOURCE)
    times = np.sort(rng.uniform(0.0, ctx.cal.days, n))
    # only households outside DTKS are proposed; the rest of the draws stay identical (CRN)
    w = _weights(ctx, kind) * (ctx.registry["status"] != STATUS_IN_DTKS)
    total = float(w.sum())
    if total <= 0:  # everybody is already in DTKS: nobody left to propose
        return times[:0], np.zeros(0, dtype=np.int64)
    rows = rng.choice(len(w), size=n, p=w / total) if n else np.zeros(0, dtype=np.int64)
    return times, rows


def source(ctx: Context, kind: str, flow):
    """Process: release the proposals of source *kind* at their times and start *flow* for each.

    *flow* is ``flow(ctx, i, draws, serial)``, the generator of one proposal's journey.
    """
    env = ctx.env
    src = SOURCE_KEYS[kind]
    times, rows = schedule(ctx, kind)
    draws = entity_draws(ctx, src, len(times))
    status = ctx.registry["status"]
    open_rows = ctx.proposal_of_row
    reg_p = ctx.p["registration"]  # read per arrival: dated events may change it
    # read one arrival at a time from the typed columns (not as lists of Python numbers: a
    # source's whole horizon of arrivals would then be live objects for the whole run)
    rows = lean.narrow(rows)
    for serial in range(len(times)):
        t = float(times[serial])
        row = int(rows[serial])
        if t > env.now:
            yield env.timeout(t - env.now)
        if kind == "self" and not reg_p["self_registration"]:
            ctx.mon.count("self_registration_closed")
            continue
        if status[row] == STATUS_IN_DTKS or row in open_rows:
            ctx.mon.count(f"duplicate_{kind}")
            continue
        if kind == "shock":
            ctx.apply_shock(row, reg_p["shock_factor"])
        i = ctx.props.add(row, src, serial, env.now)
        open_rows[row] = i
        ctx.mon.count(f"proposals_{kind}")
        env.process(flow(ctx, i, draws, serial))


def repropose(ctx: Context, row: int, flow, draws: Draws, serial: int,
              source: str = "pbi") -> None:
    """Enter household *row* again (KIS PBI inactive beyond the window: through the village;
    an appeal after a verval rejection: through Dinsos)."""
    ctx.agents.visits.flush(ctx.env.now)  # a first redemption due before closes a proposal
    if row in ctx.proposal_of_row:
        ctx.mon.count(f"duplicate_{source}")
        return
    i = ctx.props.add(row, SOURCE_KEYS[source], serial, ctx.env.now)
    ctx.proposal_of_row[row] = i
    ctx.mon.count(f"proposals_{source}")
    ctx.env.process(flow(ctx, i, draws, serial))
