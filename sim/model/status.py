"""Status checks (docs/glossary.md flow 6): proposers ask where their proposal stands.

A household with an open proposal checks its status now and then: by NIK in the Cek Bansos app
or on the cekbansos site by region and name (no staff time), or by NIK at the village operator,
who looks it up in SIKS-NG and so takes time from the same desa operator pool that enters
proposals. The check changes nothing in the pipeline; it costs operator time and shows what
proposers see (the KPIs count checks per channel and the states they found).
"""

from __future__ import annotations

from sim.model.context import STATES, Context

#: draws made at once by `checks` (numbers per block; the stream's order is block by block)
_BLOCK = 512


def checks(ctx: Context):
    """Process: status checks of open proposals, a Poisson stream over the horizon.

    Thinning: candidates come at rate ``checks_per_proposal_month`` per proposal ever made and
    pick one of the proposals made so far; a candidate that picks a finished proposal is no
    check. A finished proposal never reopens, so a candidate that picks one finished at its draw
    costs no event: only candidates on proposals still open are waited for (and looked at again
    when their time comes). Draws come in blocks from the ``status`` stream.
    """
    env, mon = ctx.env, ctx.mon
    st = ctx.p["status"]
    rng = ctx.streams.get("status")
    per_day = st["checks_per_proposal_month"] / 30.44
    if per_day <= 0:
        return
    props, open_of = ctx.props, ctx.proposal_of_row
    days = ctx.cal.days
    gaps: list[float] = []
    picks: list[list[float]] = []
    t = env.now
    while True:
        if not gaps:
            gaps = rng.standard_exponential(_BLOCK).tolist()[::-1]
            picks = rng.random((_BLOCK, 2)).tolist()[::-1]
        n = len(props)
        e = gaps.pop()
        u_pick, u_channel = picks.pop()
        t += 1.0 if n == 0 else e / (per_day * n)
        if t >= days:
            return
        if n == 0:  # nobody to check yet: look again in a day
            yield env.timeout(t - env.now)
            continue
        i = min(int(u_pick * n), n - 1)
        if open_of.get(props.row[i], -1) != i:
            continue  # finished already: nothing to check, no event spent
        if t > env.now:
            yield env.timeout(t - env.now)
        ctx.agents.visits.flush(env.now)  # redemptions due before are stamped
        row = props.row[i]
        if open_of.get(row, -1) != i:
            continue  # that proposal finished meanwhile
        mon.count(f"status_seen_{STATES[props.state[i]]}")
        if u_channel < st["app_share"]:
            mon.count("status_checks_app")
            continue
        mon.count("status_checks_operator")
        vd = int(ctx.frame.vdesa[row])
        pool = ctx.desa_stage("siks", vd, ctx.p["capacity"]["siks_per_desa"])
        env.process(_at_operator(pool, st["operator_days"]))


def _at_operator(pool, work: float):
    yield from pool.serve(work)
