"""Verification: musdes, verval, SIKS-NG, Dinas Sosial, Bupati, Kemensos.

docs/glossary.md flows 1, 2 and 4.

One proposal's journey from the prelist awal to the Minister's decree:

1. waits in the *prelist awal* for the village musdes (monthly, on a working day of the month);
   the musdes drops part of the non-poor (the *prelist akhir* keeps the rest);
2. field *verval* by the desa's officers (a pool per virtual desa), whose welfare assessment
   (log consumption plus noise) becomes the household's PMT score; it passes when the assessment
   is below the territory's ``pass_quantile``;
3. *SIKS-NG* entry by the desa operator;
4. *Dinas Sosial* checks (a pool per kab/kota): a record not matched (padan) with Dukcapil goes
   back for correction once with probability ``dukcapil_fix_prob``, else it is rejected;
5. waits for the monthly *Bupati/Walikota* sign-off;
6. *Kemensos* processing (a national pool), then waits for the next *penetapan*.

PMKS (online route, flow 4) skip the village: the LKS sponsor's documents are verified by Dinsos
(``pmks_lks_days``), then the Dinsos check and Kemensos matching; no Bupati batch.
"""

from __future__ import annotations

from sim.model.context import Context, S
from sim.model.registration import Draws
from sim.scenario.streams import SOURCE_KEYS

_PMKS = SOURCE_KEYS["pmks"]


def signals(ctx: Context):
    """Process: fire the monthly ``musdes`` and ``bupati`` signals on their working days."""
    env, cal = ctx.env, ctx.cal
    v = ctx.p["verification"]
    for y, m in cal.months():
        for name, nth in sorted((("musdes", v["musdes_working_day"]),
                                 ("bupati", v["bupati_working_day"])), key=lambda x: x[1]):
            day = cal.working_day_of_month(y, m, nth)
            if day < env.now:
                continue
            yield env.timeout(day + 0.5 - env.now)  # meetings are held at midday
            ctx.fire(name)


def proposal(ctx: Context, i: int, d: Draws, s: int):
    """Process: one proposal from the prelist awal to the decree queue (or a rejection)."""
    props, reg = ctx.props, ctx.registry
    row = props.row[i]
    v = ctx.p["verification"]
    c = ctx.p["capacity"]
    env = ctx.env
    pmks = props.source[i] == _PMKS
    if pmks:
        yield env.timeout(ctx.cal.add_working(env.now, v["pmks_lks_days"]) - env.now)
    else:
        yield ctx.signal("musdes")
        if ctx.log_c[row] > ctx.pass_log_c and d.musdes_u[s] < v["musdes_drop_nonpoor"]:
            _end(ctx, i, "dropped_musdes")
            return
        props.advance(i, S["verval"])
        vd = int(ctx.frame.vdesa[row])
        yield from ctx.desa_stage("verval", vd, c["verval_per_desa"]).serve(d.verval_work[s])
        assessed = ctx.log_c[row] + v["verval_noise"] * d.verval_err[s]
        # the verval assessment is the score the ranking will use; it reaches the registry
        # through the PROPOSE record (the engine owns the score column)
        ctx.assessed[row] = float(assessed)
        if assessed > ctx.pass_log_c:
            _end(ctx, i, "rejected_verval")
            return
        props.advance(i, S["siks"])
        yield from ctx.desa_stage("siks", vd, c["siks_per_desa"]).serve(v["siks_days"])
    props.advance(i, S["dinsos"])
    kab = int(ctx.frame.vkab[row])
    dinsos = ctx.kab_stage("dinsos", kab, c["dinsos_per_kabkota"])
    fixed = False
    while True:
        yield from dinsos.serve(v["dinsos_days"])
        if reg["dukcapil_match"][row] or row in ctx.dukcapil_fixed:
            break
        if fixed or d.fix_u[s] >= v["dukcapil_fix_prob"]:
            _end(ctx, i, "rejected_dukcapil")
            return
        yield env.timeout(float(d.fix_days[s]))
        ctx.dukcapil_fixed.add(row)  # corrected at Dukcapil, resubmitted with the record
        fixed = True
    if not pmks:
        props.advance(i, S["bupati"])
        yield ctx.signal("bupati")
    props.advance(i, S["kemensos"])
    yield from ctx.national["kemensos"].serve(v["kemensos_days"])
    props.advance(i, S["decree"])
    ctx.pending.append(i)


def _end(ctx: Context, i: int, state: str) -> None:
    ctx.props.fail(i, S[state])
    ctx.proposal_of_row.pop(ctx.props.row[i], None)
    ctx.mon.count(state)

