"""KPIs of payout completion, give-ups and agent resources (e-warong, PT Pos).

Counts of people are weighted to the real territory (× 1/fraction) like every other count KPI;
shares are unweighted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.model.context import Context


def completion_kpis(ctx: Context) -> dict[str, Any]:
    """Payout completion and the give-ups behind it.

    * ``payout_completion``: credited KPM who collected in the month (were served), over KPM
      credited, summed over the horizon (calibration target 91-96%, docs/scenarios.md);
    * ``gave_up``: KPM who drew a redemption but were never served in its period (their
      redemption was forfeited: money stayed on the card);
    * ``balked``, ``reneged``, ``sent_home_at_closing``, ``repeat_visits``: visits behind them;
    * ``forfeited_rp``: rupiah that stayed on cards because of give-ups;
    * ``atm_gave_up``: of ``gave_up``, KPM whose cash-out began at an ATM (`sim.model.atm`);
      ``atm_to_pos``: bank-channel KPM who gave up at the ATM and were sent to PT Pos;
      ``atm_wait_p90_min``: 90th percentile wait of served ATM cash-outs.
    """
    w = ctx.frame.weight
    months = ctx.mon.months
    credited = sum(m.get("kpm_credited", 0) for m in months)
    collected = sum(m.get("collected", 0) for m in months)
    agents = [*ctx.agents.ewarong.values(), *ctx.agents.pos.values(),
              *ctx.agents.atm.values()]
    c = ctx.mon.counts
    atm_waits = np.asarray(ctx.agents.atm_waits) * 1440.0
    return {
        "payout_completion": collected / credited if credited else None,
        "gave_up": round(c.get("gave_up", 0) * w),
        "balked": round(sum(a.balked for a in agents) * w),
        "reneged": round(sum(a.reneged for a in agents) * w),
        "sent_home_at_closing": round(sum(a.closed for a in agents) * w),
        "repeat_visits": round(c.get("repeat_visits", 0) * w),
        "giveups_too_late": round(c.get("giveups_too_late", 0) * w),
        "forfeited_rp": round(ctx.mon.counts.get("forfeited_rp", 0) * w),
        "atm_gave_up": round(c.get("atm_gave_up", 0) * w),
        "atm_to_pos": round(c.get("atm_to_pos", 0) * w),
        "atm_wait_p90_min": (float(np.quantile(atm_waits, 0.9))
                             if len(atm_waits) else 0.0),
    }


def resource_counts(ctx: Context, province: int | None = None) -> dict[str, int]:
    """Servers per stage in the built model, scaled to the real territory (or one province row).

    Desa and kab/kota pools are counted as the real staff of the real units of the territory
    (virtual units have a real unit's staff), national pools at their national size (0 for a
    single province); e-warong by the catchment rule of every (virtual) kecamatan, PT Pos
    officers per kecamatan, scaled from the simulated kecamatan to the real ones.
    """
    from sim.model.regional import kab_values
    from sim.registry import regions

    p = ctx.p
    fr = ctx.frame
    c = p["capacity"]
    regs = regions.load()
    units = units_of(ctx, province)
    kab_rows = fr.kab_rows
    if province is not None:
        kab_rows = kab_rows[regs.kabkota_province[kab_rows] == province]
    desa_k = np.bincount(regs.desa_kabkota.astype(np.int64), minlength=len(regs.kabkota_code))

    def staff(key: str, per_kab: np.ndarray) -> int:
        return round(float((per_kab[kab_rows] * kab_values(p, "capacity", key)[kab_rows]).sum()))

    ones = np.ones(len(regs.kabkota_code))
    ag = ctx.agents
    national = 1 if province is None else 0
    out = {
        "resources_verval_officers": staff("verval_per_desa", desa_k),
        "resources_siks_operators": staff("siks_per_desa", desa_k),
        "resources_dinsos_officers": staff("dinsos_per_kabkota", ones),
        "resources_kemensos_officers": national * c["kemensos_officers"],
        "resources_printer_cards_per_day": national * c["printer_cards_per_day"],
        "resources_burekol_accounts_per_day": staff("burekol_per_branch_day", ones),
    }
    kec = np.ones(fr.n_vkec, dtype=bool)
    if province is not None:
        kec = _vkec_province(ctx) == province
    n_kec = int(kec.sum())
    scale = fr.real_households / max(fr.households, 1) if fr.fraction >= 0.5 else 1.0
    k_scale = units["kecamatan"] / n_kec if n_kec else 0.0
    agents = int(ag.per_kec[kec].sum())
    pos = int(ag.pos_servers_kec[kec].sum())
    channel = p["disbursement"]["channel"]  # a dated event may have switched it
    out["resources_ewarong_agents"] = (round(agents * k_scale * scale)
                                       if channel == "ewarong" else 0)
    out["resources_pos_officers"] = (round(pos * k_scale)
                                     if channel in ("pos", "bank") else 0)
    atms = int(ag.atm_servers_kec[kec].sum())
    out["resources_atms"] = round(atms * k_scale) if channel in ("ewarong", "bank") else 0
    return out


def resources_by_province(ctx: Context) -> dict[str, dict[str, int]]:
    """`resource_counts` of every province of the territory, by province code."""
    from sim.registry import regions

    regs = regions.load()
    provs = np.unique(regs.kabkota_province[ctx.frame.kab_rows]).tolist()
    return {f"{int(regs.province_code[p]):02d}": resource_counts(ctx, int(p)) for p in provs}


def _vkec_province(ctx: Context) -> np.ndarray:
    """Province row of every virtual kecamatan (of its first household)."""
    fr = ctx.frame
    out = np.full(fr.n_vkec, -1, dtype=np.int64)
    vk = fr.vkec.astype(np.int64)[::-1]
    out[vk] = ctx.registry["province"].astype(np.int64)[::-1]
    return out


def units_of(ctx: Context, province: int | None = None) -> dict[str, int]:
    """Real desa, kecamatan and kab/kota of the simulated territory (or of one province row)."""
    from sim.registry import regions

    regs = regions.load()
    rows = ctx.frame.kab_rows
    if province is not None:
        rows = rows[regs.kabkota_province[rows] == province]
    return {"desa": int(np.isin(regs.desa_kabkota, rows).sum()),
            "kecamatan": int(np.isin(regs.kecamatan_kabkota, rows).sum()),
            "kabkota": len(rows)}
