"""Issuance: account opening, KKS printing, delivery by post, distribution and activation.

Started by the decree for every new BPNT/PKH recipient without a KKS account
(docs/glossary.md flow 3, Permensos 4/2023, docs/calibration.md [KKS-ISSUANCE]):

1. *burekol*: collective account opening by the household's HIMBARA bank (chosen by the bank
   shares) at a pool per (kab/kota, bank) with a daily capacity; a failure on data (gagal
   burekol) is fixed and retried once after ``burekol_retry_days``, a second failure ends it.
   Once the account is open the registry's ``bank`` is set, so credits can flow;
2. *printing* in batches every ``print_batch_every`` working days at the national printer's
   capacity, paused by ``printer_outages`` (a national stage, `sim.model.national`); a card with
   wrong data is reprinted in a later batch;
3. *post* delivery (log-normal days);
4. *distribution* at the community point every ``distribution_every`` working days, where the
   KPM collects the card and activates it in person (PIN); a KPM may miss a distribution and
   come to the next one, up to ``max_collection_tries``, after which the card is returned.

PMKS cards go back to the sponsor through Dinsos (no community distribution, no missed days).
Per-household draws are indexed by registry row (streams ``burekol``, ``printing``, ``post``,
``activation``), so they do not depend on the order in which households are issued.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.model import rowdraws
from sim.model.context import Context, S
from sim.scenario.loader import BANKS
from sim.scenario.streams import SOURCE_KEYS

_MAX_TRIES = 12


@dataclass
class RowDraws:
    """Per-household issuance draws, indexed by registry row (hashed on demand: nothing stored
    per household, `sim.model.rowdraws`)."""

    bank_u: rowdraws.Uniforms       # picks the bank from the shares in force (`bank_of`)
    burekol_u: rowdraws.Uniforms    # [row, attempt]: failure uniforms for the two attempts
    wrong_u: rowdraws.Uniforms      # wrong data on the printed card
    post_days: rowdraws.LogNormals
    collect_u: rowdraws.Uniforms    # [row, try]: miss-the-distribution uniforms


def row_draws(ctx: Context) -> RowDraws:
    """Every household's issuance randomness, as hashed columns of the named streams."""
    iss = ctx.p["issuance"]
    st = ctx.streams
    key = rowdraws.stream_key
    return RowDraws(
        bank_u=rowdraws.Uniforms(key(st.get("burekol", 1))),
        burekol_u=rowdraws.Uniforms(key(st.get("burekol", 2)), 2),
        wrong_u=rowdraws.Uniforms(key(st.get("printing", 1))),
        post_days=rowdraws.LogNormals(key(st.get("post")), iss["post_days_median"],
                                      iss["post_days_sigma"]),
        collect_u=rowdraws.Uniforms(key(st.get("activation")), _MAX_TRIES))


def _pick(shares: dict[str, float], u: np.ndarray) -> np.ndarray:
    s = np.array([shares.get(b, 0.0) for b in BANKS])
    cum = np.cumsum(s / s.sum())
    return np.minimum(np.searchsorted(cum, u, side="right"), len(BANKS) - 1)


def bank_of(ctx: Context, rows: np.ndarray) -> np.ndarray:
    """The HIMBARA bank (int8 index into BANKS) that opens the accounts of *rows* today.

    Each household's own uniform draw picks from the shares in force: its kab/kota's or else
    its province's ``[regions."PP[.KK]"] issuance.bank_shares`` if the scenario gives one
    (`sim.model.regional`), else its province's row of ``issuance.bank_shares_by_province`` if
    there is one (in Aceh only the syariah bank BSI pays), else the national
    ``issuance.bank_shares``. Read when the account is opened, so a dated event changing the
    shares moves only accounts opened from its date on. Only the split moves: every household
    keeps its draw, so outside a region with its own shares every bank is the same (CRN).
    """
    iss = ctx.p["issuance"]
    u = ctx.row_draws.bank_u[rows]
    out = _pick(iss["bank_shares"], u)
    regional = iss.get("bank_shares_by_province") or {}
    if regional:
        prov = ctx.registry["province"][rows]
        codes = ctx.province_codes
        for code in sorted(regional):
            here = np.flatnonzero(codes[prov] == int(code))
            if len(here):
                out[here] = _pick(regional[code], u[here])
    own = {code: body["issuance"]["bank_shares"]
           for code, body in (ctx.p.get("regions") or {}).items()
           if "bank_shares" in body.get("issuance", {})}
    if own:
        kab = ctx.kabkota_codes[ctx.registry["kabkota"][rows]]
        for code in sorted(own, key=lambda c: (len(c), c)):  # provinces, then kab/kota
            if "." in code:
                pp, kk = code.split(".")
                here = np.flatnonzero(kab == int(pp) * 100 + int(kk))
            else:
                here = np.flatnonzero(kab // 100 == int(code))
            if len(here):
                out[here] = _pick(own[code], u[here])
    return out.astype(np.int8)


def distributions(ctx: Context):
    """Process: fire the ``distribution`` signal every ``distribution_every`` working days."""
    env, cal = ctx.env, ctx.cal
    iss = ctx.p["issuance"]
    t = cal.next_working(float(iss["distribution_every"]))
    while t < cal.span - 1:
        yield env.timeout(t + 0.4 - env.now)
        ctx.fire("distribution")
        t = cal.next_working(math.floor(cal.add_working(t + 1.0, iss["distribution_every"] - 1)))


def issue(ctx: Context, row: int):
    """Process: open the account, print, post and hand over the KKS of household *row*."""
    env, cal, reg, mon = ctx.env, ctx.cal, ctx.registry, ctx.mon
    iss = ctx.p["issuance"]
    d = ctx.row_draws
    i = ctx.proposal_of_row.get(row, -1)
    if i >= 0:
        ctx.props.advance(i, S["issuance"])
    bank = int(bank_of(ctx, np.array([row]))[0])
    kab = int(ctx.frame.vkab[row])
    pool = ctx.kab_stage("burekol", kab * 8 + bank, 1)
    per_account = 1.0 / (ctx.regional.kab_value("capacity", "burekol_per_branch_day", "kab", kab)
                         if ctx.regional is not None and ctx.regional.active
                         else ctx.p["capacity"]["burekol_per_branch_day"])
    for attempt in range(2):
        yield from pool.serve(per_account)
        if d.burekol_u[row, attempt] >= iss["burekol_fail"]:
            break
        mon.count("burekol_failures")
        if attempt == 1:
            mon.count("burekol_failed")
            ctx.issuing.discard(row)
            if i >= 0:
                ctx.props.fail(i, S["burekol_failed"])
                ctx.proposal_of_row.pop(row, None)
            return
        yield env.timeout(iss["burekol_retry_days"])
    reg["bank"][row] = bank
    mon.count("accounts_opened")
    yield ctx.printer.order()
    if d.wrong_u[row] < iss["wrong_data_prob"]:
        mon.count("cards_reprinted")
        yield ctx.printer.order()
    yield env.timeout(float(d.post_days[row]))
    pmks = i >= 0 and ctx.props.source[i] == SOURCE_KEYS["pmks"]
    if pmks:  # back to the sponsor through Dinsos; activation at the sponsor's next visit
        yield env.timeout(cal.add_working(env.now, 2.0) - env.now)
    else:
        tries = min(iss["max_collection_tries"], _MAX_TRIES)
        for k in range(tries):
            yield ctx.signal("distribution")
            if d.collect_u[row, k] >= iss["not_collected_prob"]:
                break
            mon.count("distribution_missed")
        else:
            mon.count("cards_returned")
            ctx.issuing.discard(row)
            if i >= 0:
                ctx.props.fail(i, S["card_returned"])
                ctx.proposal_of_row.pop(row, None)
            return
    ctx.card_active[row] = True
    ctx.issuing.discard(row)
    mon.count("cards_activated")
    if i >= 0:
        ctx.props.advance(i, S["awaiting_credit"])
