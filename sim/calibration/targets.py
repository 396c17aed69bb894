"""Target groups of published targeting errors: which households a Kemensos error share counts.

Kemensos' shares (docs/calibration.md §6) are *recipients outside the target group* (inclusion)
and *the target group not reached* (exclusion), and the ministry publishes no definition of the
group (KEMENSOS-ERR-2026). A backtest row therefore names the group it is compared against
(`TargetGroup`, the ``target`` table of a row of `backtest_rows.toml`), and the model computes
that row's shares against that group, at the end of the run:

* ``ranking = "dtsen"``: the population-wide DTSEN ranking [DESIL-METHOD] as it stands when the
  errors are measured: every household's current welfare (``log_c``, after shocks and
  graduations) seen through its PMT error (the registry generator's, [ALATAS-T3]) without the
  DTKS-era staleness (``register.stale_score_sd``): the ranking Kemensos holds the recipients of
  either era against. ``ranking = "consumption"``: true consumption per capita.
* ``deciles = [lo, hi]``: deciles of that ranking, of **households** (each decile a tenth of the
  families) or of **persons** (``unit = "persons"``: each decile a tenth of the population,
  poorer families being larger, so desil 1 holds fewer than a tenth of the families).
* ``members = "pkh"``: only households with a PKH-qualifying member (a pregnancy, a child of
  0-18 in the PKH bands, severe disability, an elderly member; PKH-AMOUNT), the programme's own
  eligibility condition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kks_emulator.errors import ConfigError
from sim.hotpath.members import PRIORITY
from sim.model.targeting import deciles
from sim.registry.table import PROG_BPNT, PROG_PBI, PROG_PKH

RANKINGS = ("dtsen", "consumption")
UNITS = ("households", "persons")
MEMBERS = ("all", "pkh")
PROGRAMMES = {"bpnt": PROG_BPNT, "pkh": PROG_PKH, "pbi": PROG_PBI}


@dataclass(frozen=True)
class TargetGroup:
    """Deciles *lo*..*hi* of a ranking, counted in *unit*, optionally PKH-qualifying only."""

    ranking: str = "dtsen"
    lo: int = 1
    hi: int = 4
    unit: str = "households"
    members: str = "all"

    def label(self) -> str:
        """A short stable name, e.g. ``dtsen desil 1-2 (persons)`` or ``... , PKH members``."""
        name = "desil" if self.ranking == "dtsen" else "consumption decile"
        text = f"{self.ranking} {name} {self.lo}-{self.hi}"
        if self.unit == "persons":
            text += " (persons)"
        if self.members == "pkh":
            text += ", PKH-qualifying"
        return text


def parse(where: str, key: str, table: Any) -> TargetGroup:
    """A `TargetGroup` from a rows-file table; `ConfigError` naming *key* when malformed."""
    expected = ("a table {ranking = 'dtsen'|'consumption', deciles = [lo, hi] (1..10), "
                "unit = 'households'|'persons', members = 'all'|'pkh'}")
    if not isinstance(table, dict) or set(table) - {"ranking", "deciles", "unit", "members"}:
        raise ConfigError(where, key, expected)
    ranking = table.get("ranking", "dtsen")
    unit = table.get("unit", "households")
    members = table.get("members", "all")
    deciles = table.get("deciles")
    ok = (ranking in RANKINGS and unit in UNITS and members in MEMBERS
          and isinstance(deciles, list) and len(deciles) == 2
          and all(isinstance(d, int) and not isinstance(d, bool) for d in deciles)
          and 1 <= deciles[0] <= deciles[1] <= 10)
    if not ok:
        raise ConfigError(where, key, expected)
    return TargetGroup(ranking, deciles[0], deciles[1], unit, members)


def dtsen_score(log_c: np.ndarray, pmt_error: np.ndarray) -> np.ndarray:
    """The DTSEN ranking score: current log welfare seen through each household's PMT error."""
    return np.asarray(log_c, dtype=np.float64) + np.asarray(pmt_error, dtype=np.float64)


def pkh_qualifying(columns: Any) -> np.ndarray:
    """True for households with a PKH-qualifying member (any PKH component count > 0)."""
    out = np.zeros(len(columns["size"]), dtype=bool)
    for name in PRIORITY:
        out |= columns[name] > 0
    return out


def mask(group: TargetGroup, columns: Any, log_c: np.ndarray,
         pmt_error: np.ndarray) -> np.ndarray:
    """Households of *group*, from registry *columns* (size, member counts), true log welfare
    *log_c* and PMT errors *pmt_error*."""
    score = dtsen_score(log_c, pmt_error) if group.ranking == "dtsen" else np.asarray(log_c)
    weight = columns["size"] if group.unit == "persons" else None
    d = deciles(score, weight)
    out = (d >= group.lo) & (d <= group.hi)
    if group.members == "pkh":
        out &= pkh_qualifying(columns)
    return out


def shares(programmes: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Kemensos shares per programme against *target*: ``kemensos_inclusion_share_<prog>``
    (recipients outside the group / recipients) and ``kemensos_exclusion_share_<prog>`` (group
    not receiving / group); NaN when there are no recipients or no group."""
    from sim.model.targeting import error_families

    out = {}
    for name, bit in PROGRAMMES.items():
        rec = (programmes & bit) != 0
        e = error_families(rec, target, target)
        out[f"kemensos_inclusion_share_{name}"] = (e["kemensos_inclusion_share"]
                                                   if rec.any() else float("nan"))
        out[f"kemensos_exclusion_share_{name}"] = (e["kemensos_exclusion_share"]
                                                   if target.any() else float("nan"))
    return out
