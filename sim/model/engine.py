"""Thin adapter from the flow model to the vectorized engine (`sim.hotpath.monthly`,
`sim.hotpath.disburse`).

The engine owns penetapan (apply the change batch, validate, deduplicate, remove, rank deciles,
pick recipients per programme and kab/kota quota, entitlements) and disbursement (credit each
recipient once per period, settle the month's redemptions, return long-unspent balances), over
the whole registry, with its own money invariants. This module only

* translates scenario values into `sim.params.Params` (amounts, deciles, cadence, quotas with the
  scenario's per-province multipliers);
* builds `sim.hotpath.changes.ChangeBatch` records from the flow model's proposals, updates and
  removals;
* withholds credits from recipients whose KKS is not yet active (SIKS-NG moves burekol -> SI ->
  top-up, docs/calibration.md [KKS-ISSUANCE]: no top-up before the card is handed over), by masking
  their BPNT/PKH bits for the duration of the disbursement call only;
* recovers the per-household redemptions (who, which day) the engine settled, with the engine's
  own `splitmix` draws, so the flow model can queue those visits.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from sim.hotpath import changes as ch
from sim.hotpath import disburse as _disburse
from sim.hotpath import monthly as _monthly
from sim.params import N_KABKOTA, Params
from sim.registry.table import STATUS_IN_DTKS, Registry, pbi_persons_at

#: PKH amounts and caps: scenario keys of [programmes] with the same name as in `Params`
_PKH_KEYS = ("pkh_pregnant", "pkh_early_child", "pkh_sd", "pkh_smp", "pkh_sma", "pkh_disabled",
             "pkh_elderly", "pkh_max_components", "pkh_max_children", "pkh_max_early_child",
             "pkh_max_disabled_elderly", "pkh_max_pregnant")


def _mask(hi: int) -> tuple[bool, ...]:
    return tuple(1 <= d <= hi for d in range(11))


def quotas(p: dict, registry: Registry, province_code: np.ndarray,
           kab_rel: np.ndarray | None = None, in_register: np.ndarray | None = None
           ) -> np.ndarray:
    """Recipient quota (3, 514), each in its source's unit, split by kab/kota DTKS size.

    BPNT and PKH quotas count families (KPM) [BPNT-Q4-2025] [PKH-Q4-2025]; the PBI-JK quota counts
    **persons** [PROG-2022], and the engine fills it in persons (a household weighs its PBI-JK
    persons, `sim.registry.table.pbi_persons`,
    docs/monthly.md §2.9), with households counted alongside (`recipients_pbi` and
    `recipients_pbi_persons`; the premium is budgeted per person, `pbi_premium_rp`). Quotas are
    rounded to the nearest household or person (flooring lost up to one household per kab/kota:
    half a million nationally at a 0.05% sample). A province listed in
    ``programmes.province_quota`` has its quotas multiplied by its factor, and a region's
    ``programmes.quota_factor`` (`sim.model.regional`) multiplies on top. In a registry whose
    kab/kota are sampled at different fractions (``territory.context = "national"``,
    `sim.model.nation`), *kab_rel* is each kab/kota's weight relative to the territory's: the
    register and the households are weighted by it, and each kab/kota's part of the national
    quota is counted at its own fraction (divided by its weight).
    *in_register* (a bool per registry row) is the register the split follows when it is not
    the rows in DTKS now: the register as the DTKS -> DTSEN enumeration leaves it, at its decree
    (`sim.model.enumeration.register_after`).
    """
    prog = p["programmes"]
    n = len(registry)
    kab = registry["kabkota"].astype(np.int64)
    dtks = registry["status"] == STATUS_IN_DTKS if in_register is None else in_register
    dtks_k = np.bincount(kab[dtks], minlength=N_KABKOTA).astype(np.float64)
    total = max(dtks_k.sum(), 1.0)
    prov_of_kab = np.full(N_KABKOTA, -1, dtype=np.int64)
    prov_of_kab[kab] = registry["province"].astype(np.int64)
    mult = np.ones(N_KABKOTA)
    for code, factor in sorted(prog["province_quota"].items()):
        rows = np.flatnonzero(province_code == int(code))
        if len(rows):
            mult[prov_of_kab == rows[0]] = factor
    from sim.model.regional import kab_values

    mult = mult * kab_values(p, "programmes", "quota_factor")
    if kab_rel is not None:
        return _weighted_quotas(prog, registry, dtks_k, mult, kab_rel)
    persons = float(registry["size"].astype(np.float64).sum())
    out = np.zeros((3, N_KABKOTA), dtype=np.int64)
    for j, share in enumerate((prog["bpnt_share"], prog["pkh_share"])):
        out[j] = np.rint(dtks_k / total * share * n * mult).astype(np.int64)
    out[2] = np.rint(dtks_k / total * prog["pbi_share"] * persons * mult).astype(np.int64)
    return out


def _weighted_quotas(prog: dict, registry: Registry, dtks_k: np.ndarray, mult: np.ndarray,
                     kab_rel: np.ndarray) -> np.ndarray:
    """`quotas` of a registry sampled at several fractions: households, persons and the
    register weighted by *kab_rel* (in the territory's weight), each kab/kota's part back at its
    own fraction."""
    kab = registry["kabkota"].astype(np.int64)
    n_k = np.bincount(kab, minlength=N_KABKOTA).astype(np.float64)
    persons_k = np.bincount(kab, weights=registry["size"].astype(np.float64),
                            minlength=N_KABKOTA)
    n_w = float(np.dot(n_k, kab_rel))
    persons_w = float(np.dot(persons_k, kab_rel))
    share_k = dtks_k * kab_rel / max(float(np.dot(dtks_k, kab_rel)), 1.0)
    out = np.zeros((3, N_KABKOTA), dtype=np.int64)
    for j, share in enumerate((prog["bpnt_share"], prog["pkh_share"])):
        out[j] = np.rint(share_k * share * n_w * mult / kab_rel).astype(np.int64)
    out[2] = np.rint(share_k * prog["pbi_share"] * persons_w * mult / kab_rel).astype(np.int64)
    return out


def refresh_pbi_quota(engine: Engine, p: dict, province_code: np.ndarray,
                      kab_rel: np.ndarray | None = None,
                      in_register: np.ndarray | None = None) -> None:
    """Re-split the PBI-JK person quota over kab/kota by the register of this decree.

    The national person quota is fixed; its split follows each kab/kota's DTKS size, which
    changes as the register does, so it is recomputed before each decree (*in_register*: the
    register as this decree's enumeration leaves it, see `quotas`).
    """
    quota = engine.params.require_quota().copy()
    quota[2] = quotas(p, engine.registry, province_code, kab_rel, in_register)[2]
    engine.with_params(quota=quota)


def params_from(p: dict, quota: np.ndarray, desil_weight: np.ndarray | None = None) -> Params:
    """`Params` of the engine from the scenario's tables (*desil_weight*: the households'
    weights in the national deciles per kab/kota, `sim.model.nation.desil_weight`)."""
    prog, disb = p["programmes"], p["disbursement"]
    cash = disb["channel"] in ("pos", "bank")
    return Params(
        cadence_months=3 if p["penetapan"]["cadence"] == "quarterly" else 1,
        eligible_desil=(_mask(prog["bpnt_max_desil"]), _mask(prog["pkh_max_desil"]),
                        _mask(prog["pbi_max_desil"])),
        quota=quota,
        desil_weight=desil_weight,
        bpnt_monthly=prog["bpnt_amount"],
        bpnt_every=disb["tahap_months"],
        redeem_bp=round(disb["redeem_prob"] * 10_000),
        full_spend_bp=10_000 if cash else round(disb["full_spend_prob"] * 10_000),
        redeem_days=disb["redeem_days"],
        return_after_months=disb["return_after_months"],
        arrears_tranches=disb["arrears_tranches"],
        paused=(1 if prog["bpnt_paused"] else 0) | (2 if prog["pkh_paused"] else 0),
        pkh_every=prog["pkh_tahap_months"],
        pbi_premium=prog["pbi_premium"],
        # DTSEN ranks every family of the population [DTSEN-2025-07]: removed families but the
        # dead stay ranked, barred from programmes (docs/monthly.md §2.5)
        ranks_population=p["register"]["ranking"] == "population",
        **{k: prog[k] for k in _PKH_KEYS},
    )


@dataclass
class Credits:
    """One period's disbursement as the flow model needs it."""

    result: _disburse.DisburseResult
    credited_rows: np.ndarray   # rows that received a BPNT or PKH credit this period
    redeem_rows: np.ndarray     # rows that redeemed (spent > 0)
    redeem_days: np.ndarray     # 1-based day of the period of each redemption
    pre_balance: np.ndarray     # balance of each redeem row before the period was settled
    pre_unspent: np.ndarray     # its unspent months before the period was settled
    #: the month's money of the rows of *part* alone (`Engine.disburse`), or None
    part: dict | None = None
    #: the month's programme money with every row weighted (`Engine.disburse`), or None
    weighted: dict | None = None


class Engine:
    """The monthly engine bound to one run's registry, parameters and seed."""

    def __init__(self, registry: Registry, params: Params, seed: int) -> None:
        self.registry = registry
        self.params = params
        self.seed = int(seed)
        self.state = _monthly.MonthlyState() if hasattr(_monthly, "MonthlyState") else None
        self.ledger = _disburse.DisbursementState.open(registry)
        #: period -> the `Params` its disbursement used (for forfeits later in the period)
        self.disbursed_with: dict[int, Params] = {}

    def with_params(self, **changes) -> None:
        """Replace some engine parameters (e.g. quotas after the initial decree)."""
        self.params = dataclasses.replace(self.params, **changes)

    def decree(self, batch: ch.ChangeBatch, period: int):
        """Penetapan of *period* with *batch*; returns the engine's `MonthResult`."""
        if self.state is not None:
            return _monthly.run_month(self.registry, batch, self.params, period, state=self.state)
        return _monthly.run_month(self.registry, batch, self.params, period)

    def invalidate(self) -> None:
        """Tell the engine that identity/score columns were written outside a change batch."""
        if self.state is not None and hasattr(self.state, "invalidate"):
            self.state.invalidate()

    def disburse(self, period: int, payable: np.ndarray,
                 part: np.ndarray | None = None, weight: np.ndarray | None = None) -> Credits:
        """Credit and settle *period*; only rows with *payable* true receive BPNT/PKH credits
        (the others' tranches are withheld and owed, docs/monthly.md §4.1). With *part* (bool
        per row) the month's money of those rows alone is returned too (`part_month`), with
        *weight* (float per row) the programmes' money weighted by it (`weighted_money`)."""
        reg = self.registry
        before = reg["balance"].copy()
        unspent_before = reg["unspent_months"].copy()
        owed = self.ledger.owed_array().copy()
        self.disbursed_with = {period: self.params}
        res = _disburse.disburse(reg, self.ledger, self.params, period, self.seed,
                                 payable=payable)
        marks = self.ledger.last_credit
        pre_settle = before.copy()
        for p in (0, 1):  # BPNT and PKH go to the household balance
            rows_p = np.flatnonzero(marks[p] == period)
            units = 1 + np.minimum(owed[p, rows_p], self.params.arrears_tranches)
            pre_settle[rows_p] += _disburse.entitlements(reg, p, rows_p, self.params) * units
        credited = np.flatnonzero((marks[0] == period) | (marks[1] == period))
        # spent or returned; of those, the engine's own draws say who redeemed (monthly.md §4.2)
        moved = np.flatnonzero(reg["balance"] < pre_settle)
        if len(moved):
            draws = _disburse.redemption_draws(self.params, self.seed, period, moved,
                                               pre_settle[moved])
            did = draws.redeem & (draws.amount > 0)
            rows = moved[did]
            days = draws.day[did]
        else:
            rows = days = np.zeros(0, dtype=np.int64)
        out = Credits(result=res, credited_rows=credited, redeem_rows=rows, redeem_days=days,
                      pre_balance=pre_settle[rows], pre_unspent=unspent_before[rows])
        if part is not None:
            out.part = self.part_month(period, part, before, owed, credited, rows,
                                       draws.amount[did] if len(moved) else rows)
        if weight is not None:
            out.weighted = self.weighted_money(period, owed, weight)
        return out

    def weighted_money(self, period: int, owed: np.ndarray, weight: np.ndarray) -> dict:
        """The programmes' money of *period* just after `disburse` (``bpnt_rp``, ``pkh_rp``,
        ``pbi_premium_rp``), each row's amount times its *weight* (*owed*: owed tranches before
        the period), rounded to the rupiah."""
        reg, params, marks = self.registry, self.params, self.ledger.last_credit
        out = {}
        for p, name in ((0, "bpnt_rp"), (1, "pkh_rp")):
            rows_p = np.flatnonzero(marks[p] == period)
            units = 1 + np.minimum(owed[p, rows_p], params.arrears_tranches).astype(np.int64)
            amount = _disburse.entitlements(reg, p, rows_p, params) * units
            out[name] = round(float(np.dot(amount.astype(np.float64), weight[rows_p])))
        pbi = np.flatnonzero(marks[2] == period)
        held = pbi_persons_at(reg, pbi)
        persons = float(np.dot(held.astype(np.float64), weight[pbi]))
        out["pbi_premium_rp"] = round(persons * params.pbi_premium * params.pbi_every)
        return out

    def part_month(self, period: int, part: np.ndarray, before: np.ndarray, owed: np.ndarray,
                   credited: np.ndarray, redeem_rows: np.ndarray,
                   redeem_amounts: np.ndarray) -> dict:
        """The month record (`sim.model.national` ``mon.months`` keys) of the rows of *part*
        just after `disburse` of *period*: the same rules as the engine's totals, summed over
        those rows (*before*: balances, *owed*: owed tranches before the period)."""
        reg, params, marks = self.registry, self.params, self.ledger.last_credit
        prog = reg["programmes"]
        every = params.every()
        out: dict = {}
        rp = 0
        for p, name in ((0, "bpnt"), (1, "pkh")):
            rows_p = np.flatnonzero((marks[p] == period) & part)
            units = 1 + np.minimum(owed[p, rows_p], params.arrears_tranches).astype(np.int64)
            amount = int((_disburse.entitlements(reg, p, rows_p, params) * units).sum())
            out[f"{name}_credits"] = len(rows_p)
            out[f"{name}_rp"] = amount
            out[f"{name}_arrears"] = int(units.sum()) - len(rows_p)
            held = ((prog & _disburse.PROG_BITS[p]) != 0) & (marks[p] < period) & part
            out[f"{name}_withheld"] = 0 if period % every[p] else int(np.count_nonzero(held))
            rp += amount
        pbi = np.flatnonzero((marks[2] == period) & part)
        out["pbi_credits"] = len(pbi)
        out["pbi_premium_rp"] = (int(pbi_persons_at(reg, pbi).sum(dtype=np.int64))
                                 * params.pbi_premium * params.pbi_every)
        out["credited_rp"] = rp
        mine = part[redeem_rows]
        out["redeemed_rp"] = int(np.asarray(redeem_amounts, dtype=np.int64)[mine].sum())
        out["redeemers"] = int(np.count_nonzero(mine))
        out["held_rp"] = int(reg["balance"][part].sum(dtype=np.int64))
        out["opening_rp"] = int(before[part].sum(dtype=np.int64))
        out["returned_rp"] = out["opening_rp"] + rp - out["redeemed_rp"] - out["held_rp"]
        mine_credited = credited[part[credited]]
        out["kpm_credited"] = len(mine_credited)
        out["collected"] = int(np.isin(redeem_rows[mine], mine_credited).sum())
        return out

    def forfeit(self, period: int, giveups: list[tuple[int, int, int]]):
        """Undo the redemptions of *period* that KPM gave up on (docs/monthly.md §4.5).

        *giveups* holds ``(row, pre-settlement balance, unspent months)``; returns the engine's
        `DisburseResult` of the period after the forfeits.
        """
        g = sorted(giveups)
        rows = np.array([x[0] for x in g], dtype=np.int64)
        # the rules the period was disbursed with (a dated event may have changed them since)
        params = self.disbursed_with.get(period, self.params)
        return _disburse.forfeit(self.registry, self.ledger, params, period, self.seed,
                                 rows, np.array([x[1] for x in g], dtype=np.int64),
                                 np.array([x[2] for x in g], dtype=np.int64))

