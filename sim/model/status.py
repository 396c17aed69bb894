"""Status checks (docs/glossary.md flow 6): proposers ask where their proposal stands.

A household with an open proposal checks its status now and then: by NIK in the Cek Bansos app
or on the cekbansos site by region and name (no staff time), or by NIK at the village operator,
who looks it up in SIKS-NG and so takes time from the same desa operator pool that enters
proposals. The check changes nothing in the pipeline; it costs operator time and shows what
proposers see (the KPIs count checks per channel and the states they found).
"""

from __future__ import annotations

from sim.model.context import STATES, Context


def checks(ctx: Context):
    """Process: status checks of open proposals, a Poisson stream over the horizon."""
    env, mon = ctx.env, ctx.mon
    st = ctx.p["status"]
    rng = ctx.streams.get("status")
    per_day = st["checks_per_proposal_month"] / 30.44
    if per_day <= 0:
        return
    props = ctx.props
    while True:
        # thinning: draw among all proposals so far, keep the open ones (O(1) per check)
        n = len(props)
        gap = 1.0 if n == 0 else float(rng.exponential(1.0 / (per_day * n)))
        u_pick, u_channel = rng.random(2)
        if env.now + gap >= ctx.cal.days:
            return
        yield env.timeout(gap)
        n = len(props)
        if n == 0:
            continue
        i = min(int(u_pick * n), n - 1)
        row = props.row[i]
        if ctx.proposal_of_row.get(row, -1) != i:
            continue  # that proposal is finished: nothing to check
        mon.count(f"status_seen_{STATES[ctx.props.state[i]]}")
        if u_channel < st["app_share"]:
            mon.count("status_checks_app")
            continue
        mon.count("status_checks_operator")
        vd = int(ctx.frame.vdesa[row])
        pool = ctx.desa_stage("siks", vd, ctx.p["capacity"]["siks_per_desa"])
        env.process(_at_operator(pool, st["operator_days"]))


def _at_operator(pool, work: float):
    yield from pool.serve(work)
