"""E-money limits as data: balance cap, monthly limit and its basis (Bank Indonesia presets).

Month boundary: calendar month in WIB (UTC+7), 00:00 WIB on the 1st. Figures from
docs/reliability.md (E-money limits): 2018 (PBI 20/6/PBI/2018) and since 1 July 2022
(PBI 23/6/PBI/2021 + PADG 24/7/PADG/2022). Registered e-money has its own cap and limit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from kks_emulator.errors import InputError

WIB = dt.timezone(dt.timedelta(hours=7), "WIB")
BASES = ("incoming", "all")


@dataclass(frozen=True)
class EmoneyPolicy:
    """One e-money rule set for one registration status.

    cap: maximum stored balance (rupiah). monthly_limit: maximum sum of counted transactions in a
    WIB calendar month. limit_basis: "incoming" counts loads only, "all" counts loads and
    purchases. registered: whether the holder's identity is recorded (KYC).
    """

    name: str
    registered: bool
    cap: int
    monthly_limit: int
    limit_basis: str = "incoming"
    effective_from: dt.date = dt.date(2018, 5, 4)
    cap_registered: int = 0
    monthly_limit_registered: int = 0
    cap_unregistered: int = 0
    monthly_limit_unregistered: int = 0

    def __post_init__(self) -> None:
        if self.limit_basis not in BASES:
            raise InputError(f"limit_basis must be one of {BASES}, got {self.limit_basis!r}")
        if self.cap <= 0 or self.monthly_limit <= 0:
            raise InputError("cap and monthly_limit must be positive rupiah amounts")

    def with_registered(self, registered: bool) -> EmoneyPolicy:
        """The same rule set for the other registration status (cap and limit follow)."""
        if registered:
            return replace(self, registered=True, cap=self.cap_registered or self.cap,
                           monthly_limit=self.monthly_limit_registered or self.monthly_limit)
        return replace(self, registered=False, cap=self.cap_unregistered or self.cap,
                       monthly_limit=self.monthly_limit_unregistered or self.monthly_limit)

    def with_basis(self, basis: str) -> EmoneyPolicy:
        """The same policy with another monthly-limit basis."""
        return replace(self, limit_basis=basis)


def _preset(name: str, eff: dt.date, unreg: tuple[int, int], reg: tuple[int, int]
            ) -> EmoneyPolicy:
    return EmoneyPolicy(name=name, registered=False, cap=unreg[0], monthly_limit=unreg[1],
                        effective_from=eff, cap_unregistered=unreg[0],
                        monthly_limit_unregistered=unreg[1], cap_registered=reg[0],
                        monthly_limit_registered=reg[1])


#: PBI 20/6/PBI/2018: Rp 2 jt unregistered, Rp 10 jt registered, Rp 20 jt a month.
BI_2018 = _preset("BI_2018", dt.date(2018, 5, 4), (2_000_000, 20_000_000),
                  (10_000_000, 20_000_000))
#: Since 1 July 2022: Rp 2 jt / 20 jt a month unregistered; Rp 20 jt / 40 jt a month registered.
BI_2022_07 = _preset("BI_2022_07", dt.date(2022, 7, 1), (2_000_000, 20_000_000),
                     (20_000_000, 40_000_000))
PRESETS = {"BI_2018": BI_2018, "BI_2022_07": BI_2022_07}


def month_key(unix_time: int) -> int:
    """YYYYMM of the WIB calendar month containing `unix_time` (seconds since epoch, UTC)."""
    t = dt.datetime.fromtimestamp(unix_time, WIB)
    return t.year * 100 + t.month
