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
6. *Kemensos* processing (a national pool, `sim.model.national`), then waits for the next
   *penetapan*.

PMKS (online route, flow 4) skip the village: the LKS sponsor's documents are verified by Dinsos
(``pmks_lks_days``), then the Dinsos check and Kemensos matching; no Bupati batch.
"""

from __future__ import annotations

from sim.model.context import Context, S
from sim.model.registration import Draws, entity_draws, repropose
from sim.registry.table import STATUS_IN_DTKS
from sim.scenario.streams import SOURCE_KEYS

_PMKS = SOURCE_KEYS["pmks"]
_APPEAL = SOURCE_KEYS["appeal"]


def musdes_every(ctx: Context, row: int) -> int:
    """Months between musdes in household *row*'s desa (its kab/kota's, else the national)."""
    v = ctx.p["verification"]
    by_kab = v["musdes_every_by_kabkota"]
    if by_kab:
        code = int(ctx.kabkota_codes[int(ctx.registry["kabkota"][row])])
        key = f"{code // 100:02d}.{code % 100:02d}"
        if key in by_kab:
            return int(by_kab[key])
    return int(v["musdes_every_months"])


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
            ctx.fire(name, 12 * y + m - 1)


def proposal(ctx: Context, i: int, d: Draws, s: int):
    """Process: one proposal from the prelist awal to the decree queue (or a rejection)."""
    props, reg = ctx.props, ctx.registry
    row = props.row[i]
    v = ctx.p["verification"]
    c = ctx.p["capacity"]
    env = ctx.env
    pmks = props.source[i] == _PMKS
    appeal = props.source[i] == _APPEAL
    if pmks:
        yield env.timeout(ctx.cal.add_working(env.now, v["pmks_lks_days"]) - env.now)
    else:
        while not appeal:  # an appeal goes to Dinsos: no prelist, straight to a new verval
            month = yield ctx.signal("musdes")
            every = musdes_every(ctx, row)
            if every == 1 or month % every == 0:
                break
        if (not appeal and ctx.log_c[row] > ctx.pass_log_c
                and d.musdes_u[s] < v["musdes_drop_nonpoor"]):
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
            if v["appeal_prob"] > 0:
                _maybe_appeal(ctx, i)
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
    # handed over to the national Kemensos stage; it tells the region when it is done and the
    # decree takes it from there (sim.model.national)
    ctx.kemensos_arrivals.append((env.now, i))


def _maybe_appeal(ctx: Context, i: int) -> None:
    """A household rejected at verval appeals with ``appeal_prob`` (own draw per proposal)."""
    if ctx.streams.get("appeal", i).random() < ctx.p["verification"]["appeal_prob"]:
        ctx.env.process(_appeal(ctx, ctx.props.row[i]))


def _appeal(ctx: Context, row: int):
    """Process: after ``appeal_wait_days`` the household is proposed again through Dinsos."""
    yield ctx.env.timeout(ctx.p["verification"]["appeal_wait_days"])
    if ctx.registry["status"][row] == STATUS_IN_DTKS:
        return
    k = ctx.mon.counts.get("appeals", 0)
    ctx.mon.count("appeals")
    repropose(ctx, row, proposal, entity_draws(ctx, _APPEAL, 1, k), 0, source="appeal")


def _end(ctx: Context, i: int, state: str) -> None:
    ctx.props.fail(i, S[state])
    ctx.proposal_of_row.pop(ctx.props.row[i], None)
    ctx.mon.count(state)

