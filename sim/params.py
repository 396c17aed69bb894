"""Every amount, decile rule, quota and cadence of the monthly penetapan and disbursement.

Defaults come from docs/calibration.md (row ids in brackets in the comments); the semantics that
use them are in docs/monthly.md. `Params` is immutable; build variants with
`dataclasses.replace`. Quotas are explicit arrays (programme x kab/kota) so that the engine, the
reference and the SQL peer all see exactly the same numbers; `default_quotas` derives them from a
registry.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field

import numpy as np

from kks_emulator.errors import ConfigError

#: programme index order used in every (3, ...) array
BPNT, PKH, PBI = 0, 1, 2
PROGRAMMES = ("bpnt", "pkh", "pbi")
#: bit of each programme index in the registry's `programmes` column
PROG_BITS = (1, 2, 4)
N_KABKOTA = 514
MAX_PERIOD = 32766

#: national recipient targets, each in its source's unit, and the national household count they
#: refer to: BPNT Q4 2025 18,277,083 KPM (families) [BPNT-Q4-2025]; PKH Q4 2025 9,407,384 KPM
#: (families) [PKH-Q4-2025]; PBI-JK 96.7 M persons [PROG-2022]; households: 94.2 M families in
#: DTSEN, 31 Jul 2025 [DTSEN-2025-07]. Each quota stays in its source's unit: the engine fills
#: the PBI-JK quota in persons (a household weighs its PBI-JK persons, docs/monthly.md §2.9).
NATIONAL_TARGETS = (18_277_083, 9_407_384, 96_700_000)
NATIONAL_TARGET_UNITS = ("families", "families", "persons")
NATIONAL_HOUSEHOLDS = 94_200_000


def _desil_mask(lo: int, hi: int) -> tuple[bool, ...]:
    """Index 0..10 -> eligible; deciles lo..hi inclusive (index 0 = not ranked, never)."""
    return tuple(lo <= d <= hi for d in range(11))


@dataclass(frozen=True)
class Params:
    """Parameters of one monthly cycle (see docs/monthly.md for how each is used)."""

    #: months between decrees: 1 = monthly DTKS penetapan (Apr 2021-2024), 3 = quarterly DTSEN
    #: (2025-) [DTKS-MONTHLY] [DTSEN-QUARTERLY]
    cadence_months: int = 1
    #: eligible deciles per programme, indexed by desil 0..10: BPNT 1-5 (1-4 is also cited,
    #: uncertain), PKH 1-4, PBI-JK 1-5 [DESIL-RULES]
    eligible_desil: tuple[tuple[bool, ...], ...] = (
        _desil_mask(1, 5), _desil_mask(1, 4), _desil_mask(1, 5))
    #: programmes lost by a household with a member earning >= the regional minimum wage (bits)
    umr_excludes: int = 7
    #: recipient quota per programme and kab/kota, shape (3, 514) int64, in households (KPM) for
    #: BPNT and PKH and in persons for PBI-JK; None = no quota set (the engines refuse to run);
    #: see `default_quotas`
    quota: np.ndarray | None = field(default=None, compare=False, repr=False)
    #: weight of a household in the national deciles per kab/kota, shape (514,) int64 >= 1:
    #: a registry sampled at different fractions per kab/kota ranks each household as the real
    #: households it stands for (docs/monthly.md §2.7); None = every household weighs 1
    desil_weight: np.ndarray | None = field(default=None, compare=False, repr=False)
    #: BPNT / Program Sembako: Rp 200,000 per month since 2021 [BPNT-AMOUNT], every `bpnt_every`
    #: months as one lump (1 = monthly e-voucher era; 3 = the 2023-25 quarterly tahap)
    bpnt_monthly: int = 200_000
    bpnt_every: int = 1
    #: PKH annual component amounts 2021-2025 [PKH-AMOUNT], rupiah per person per year
    pkh_pregnant: int = 3_000_000
    pkh_early_child: int = 3_000_000
    pkh_sd: int = 900_000
    pkh_smp: int = 1_500_000
    pkh_sma: int = 2_000_000
    pkh_disabled: int = 2_400_000
    pkh_elderly: int = 2_400_000
    #: PKH caps [PKH-CAPS] (grade C): 4 components per family, 3 children, 2 early-childhood, 4
    #: elderly or disabled, pregnancy up to the 2nd (read as: at most 2 pregnancy components)
    pkh_max_components: int = 4
    pkh_max_children: int = 3
    pkh_max_early_child: int = 2
    pkh_max_disabled_elderly: int = 4
    pkh_max_pregnant: int = 2
    #: PKH paid in 4 tahap a year (Jan, Apr, Jul, Oct) [PKH-SCHEDULE]: every 3 months, a quarter
    pkh_every: int = 3
    #: PBI-JK premium Rp 42,000 per person per month from Aug 2019 [PBI-PREMIUM]
    pbi_premium: int = 42_000
    pbi_every: int = 1
    #: redemption: EST, not found; 85-95% of credited value redeemed within the month [REDEEM-EST]
    redeem_bp: int = 9_000
    full_spend_bp: int = 7_000
    partial_min_bp: int = 3_000
    redeem_days: int = 28
    #: months with an unspent balance after which it is returned (0 = never). EST: the KKS
    #: dormancy rule "unused for 3 months -> blocked" [KKS-DORMANCY] (grade C)
    return_after_months: int = 3
    #: rapel: a BPNT/PKH tranche withheld from a household (its KKS not yet active, or the
    #: programme's tranche paused) is owed; its next paid tranche carries up to this many owed
    #: tranches in arrears (0 = withheld tranches are forfeited). docs/monthly.md §4.1
    arrears_tranches: int = 0
    #: programme bits (BPNT 1, PKH 2) whose due tranche is withheld from everybody this period
    #: (a tranche paid late: budget or data not ready); PBI premiums are never paused
    paused: int = 0
    #: programme bits (BPNT 1, PKH 2, PBI 4) whose recipient list stands at this decree (the
    #: programme has its own decree schedule and this is not one of its decrees): its holders
    #: keep it while they are in the register, nobody enters, nobody leaves for eligibility or
    #: quota (docs/monthly.md §2.8)
    standing: int = 0
    #: the register ranks the population (DTSEN: every family ranked [DTSEN-2025-07]
    #: [DESIL-METHOD]; the scenario's ``register.ranking = "population"``): a family removed by a
    #: request other than death stays in the national deciles, barred from every programme until
    #: an accepted proposal (`STATUS_BARRED`, docs/monthly.md §2.5). False: the DTKS era, whose
    #: register ranks only its own members, so every removal leaves the ranking
    ranks_population: bool = False

    def __post_init__(self) -> None:
        ints = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.type == "int"}
        for name, value in ints.items():
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise ConfigError("params", name, "a non-negative integer")
        for name in ("cadence_months", "bpnt_every", "pkh_every", "pbi_every", "redeem_days"):
            if getattr(self, name) < 1:
                raise ConfigError("params", name, "an integer >= 1")
        for name in ("redeem_bp", "full_spend_bp", "partial_min_bp"):
            if getattr(self, name) > 10_000:
                raise ConfigError("params", name, "basis points 0..10000")
        if self.paused > 3:
            raise ConfigError("params", "paused", "a bit mask of BPNT (1) and PKH (2): 0..3")
        if self.arrears_tranches > 255:
            raise ConfigError("params", "arrears_tranches", "an integer 0..255")
        if not isinstance(self.ranks_population, bool):
            raise ConfigError("params", "ranks_population", "true or false")
        if self.standing > 7:
            raise ConfigError("params", "standing", "a programme bit mask 0..7")
        if self.umr_excludes > 7:
            raise ConfigError("params", "umr_excludes", "a programme bit mask 0..7")
        if len(self.eligible_desil) != 3 or any(len(m) != 11 or m[0] for m in self.eligible_desil):
            raise ConfigError("params", "eligible_desil",
                              "three masks of 11 booleans (desil 0..10), desil 0 never eligible")
        if self.quota is not None:
            q = np.asarray(self.quota)
            if q.shape != (3, N_KABKOTA) or q.dtype.kind not in "iu" or (q < 0).any():
                raise ConfigError("params", "quota",
                                  f"a non-negative integer array of shape (3, {N_KABKOTA})")
            object.__setattr__(self, "quota", np.ascontiguousarray(q, dtype=np.int64))
        if self.desil_weight is not None:
            w = np.asarray(self.desil_weight)
            if w.shape != (N_KABKOTA,) or w.dtype.kind not in "iu" or (w < 1).any() \
                    or int(w.max()) > 1 << 30:
                raise ConfigError("params", "desil_weight",
                                  f"an integer array of shape ({N_KABKOTA},) in [1, 2^30]")
            object.__setattr__(self, "desil_weight", np.ascontiguousarray(w, dtype=np.int64))

    def require_quota(self) -> np.ndarray:
        """The quota array; a `ConfigError` if none was set."""
        if self.quota is None:
            raise ConfigError("params", "quota", "an array of shape (3, 514); see default_quotas")
        return self.quota

    def every(self) -> tuple[int, int, int]:
        """Payment interval in months per programme."""
        return (self.bpnt_every, self.pkh_every, self.pbi_every)

    def pkh_amounts(self) -> tuple[int, ...]:
        """Annual PKH amounts by priority: early, SD, SMP, SMA, disabled, elderly, pregnant."""
        return (self.pkh_early_child, self.pkh_sd, self.pkh_smp, self.pkh_sma,
                self.pkh_disabled, self.pkh_elderly, self.pkh_pregnant)

    def fingerprint(self) -> str:
        """A hash of every field (including the quota array): equal params, equal fingerprint."""
        h = hashlib.sha256()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("quota", "desil_weight"):
                h.update(b"none" if value is None else value.tobytes())
            else:
                h.update(repr(value).encode())
        return h.hexdigest()


def default_quotas(kabkota: np.ndarray, in_dtks: np.ndarray,
                   households: int | None = None) -> np.ndarray:
    """Quotas (3, 514): each national target, scaled to this registry, split over kab/kota.

    The national target of each programme (`NATIONAL_TARGETS`) is scaled by
    `households / NATIONAL_HOUSEHOLDS` and split in proportion to each kab/kota's DTKS households
    (floor), the way programme quotas follow the DTKS of a district.
    """
    n = len(kabkota) if households is None else households
    dtks_k = np.bincount(kabkota[in_dtks], minlength=N_KABKOTA).astype(np.int64)
    total = max(int(dtks_k.sum()), 1)
    out = np.zeros((3, N_KABKOTA), dtype=np.int64)
    for p, target in enumerate(NATIONAL_TARGETS):
        national = target * n // NATIONAL_HOUSEHOLDS
        out[p] = dtks_k * national // total
    return out


def params_for(registry, **overrides) -> Params:
    """Default `Params` with quotas from `registry` (`default_quotas` on its current DTKS)."""
    from sim.registry.table import STATUS_IN_DTKS

    quota = default_quotas(registry["kabkota"], registry["status"] == STATUS_IN_DTKS)
    return Params(quota=quota, **overrides)
