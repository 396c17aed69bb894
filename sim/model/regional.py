"""Regional settings inside a run: ``[regions."PP"]`` and ``[regions."PP.KK"]`` overrides.

A scenario may give one province or kab/kota its own capacities, e-warong ratio, PT Pos staff
and a quota factor, inside a national (or any) run::

    [regions."53"]                       # Nusa Tenggara Timur
    capacity.ewarong_kpm_ratio = 780
    [regions."53.71"]                    # Kota Kupang
    capacity.verval_per_desa = 2
    programmes.quota_factor = 1.2

The keys allowed are `sim.scenario.schema.REGION_SCHEMA`. A kab/kota's own value wins over its
province's, which wins over the scenario's ``[capacity]`` value; ``quota_factor`` multiplies
the kab/kota's quotas on top of ``programmes.province_quota``. Everything else in the run is
unchanged, so with common random numbers the rest of the country sees the same draws.

Values are resolved per kab/kota (`kab_values`). Units of the flow model take the value of the
kab/kota of their first household: at fraction >= 0.5 units are real, and below it virtual
units never cross a province (`sim.model.frame`), so a province's settings are exact; a
kab/kota's are exact at fraction >= 0.5 and apply to the virtual units whose first household
is in it below that.
"""

from __future__ import annotations

import numpy as np

from sim.params import N_KABKOTA

#: flow-model stage -> (capacity key, unit level)
STAGE_KEYS = {"verval": "verval_per_desa", "siks": "siks_per_desa",
              "dinsos": "dinsos_per_kabkota"}


def kab_values(p: dict, table: str, key: str) -> np.ndarray:
    """The value of ``[table] key`` per kab/kota row (514), with regional overrides applied."""
    from sim.registry import regions

    regs = regions.load()
    default = 1.0 if (table, key) == ("programmes", "quota_factor") else p[table][key]
    out = np.full(N_KABKOTA, default, dtype=np.float64)
    overrides = p.get("regions", {})
    for code in sorted(overrides, key=lambda c: (len(c), c)):  # provinces, then kab/kota
        value = overrides[code].get(table, {}).get(key)
        if value is None:
            continue
        if "." in code:
            pp, kk = code.split(".")
            row = int(regs.kabkota_lookup[int(pp) * 100 + int(kk)])
            out[row] = value
        else:
            prow = int(regs.province_lookup[int(code)])
            out[regs.kabkota_province == prow] = value
    return out


class Regional:
    """Regional values looked up by the flow model's (virtual) units."""

    def __init__(self, p: dict, frame, registry) -> None:
        self.p = p
        kab = registry["kabkota"].astype(np.int64)
        self.kab_of = {}
        for level, units, n in (("desa", frame.vdesa, frame.n_vdesa),
                                ("kec", frame.vkec, frame.n_vkec),
                                ("kab", frame.vkab, frame.n_vkab)):
            first = np.zeros(n, dtype=np.int64)
            u = units.astype(np.int64)[::-1]
            first[u] = kab[::-1]  # the kab/kota of each unit's first household
            self.kab_of[level] = first
        self._cache: dict[tuple[str, str], np.ndarray] = {}
        self.active = bool(p.get("regions"))

    def values(self, table: str, key: str, level: str) -> np.ndarray:
        """Per unit of *level* (desa, kec, kab): the value of ``[table] key``."""
        ck = (table, key)
        if ck not in self._cache:
            self._cache[ck] = kab_values(self.p, table, key)
        return self._cache[ck][self.kab_of[level]]

    def servers(self, stage: str, level: str, unit: int, default: int) -> int:
        """Servers of the pool *stage* of *unit* (its region's capacity, else *default*)."""
        key = STAGE_KEYS.get(stage)
        if not self.active or key is None:
            return default
        ck = ("capacity", key)
        if ck not in self._cache:
            self._cache[ck] = kab_values(self.p, "capacity", key)
        return int(self._cache[ck][self.kab_of[level][unit]])

    def kab_value(self, table: str, key: str, unit_level: str, unit: int) -> float:
        """The value of ``[table] key`` for one unit."""
        ck = (table, key)
        if ck not in self._cache:
            self._cache[ck] = kab_values(self.p, table, key)
        return float(self._cache[ck][self.kab_of[unit_level][unit]])
