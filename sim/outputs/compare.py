"""Comparing two results folders: which inputs differ, which KPIs changed, beyond noise or not.

A results folder is one run (``kpi.csv``) or a set of replications (``replications.csv``, one row
per replication). When both sides are replications with the same seeds, replication ``i`` of A
and of B share their random numbers (common random numbers: the streams are spawned per source
of randomness from the seed, `sim.scenario.streams`), so the change is estimated from the
paired differences with a 95% confidence interval. Replications with different seeds give
Welch's interval for independent samples. Single runs give a difference whose noise is unknown;
`noise_advice` says how to get it.

Pure logic: reading folders is in `open_results`; printing is the CLI's job.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kks_emulator.errors import InputError
from sim.outputs import folder, labels, stats

#: scenario values that name or describe a run rather than change it
_NOT_INPUTS = ("scenario.name", "scenario.question")


@dataclass
class Results:
    """A results folder as compare sees it."""

    path: Path
    manifest: dict[str, Any]
    #: one run's KPIs, or the mean over replications
    kpis: dict[str, float | None]
    #: per-replication KPIs and seeds (empty for a single run)
    reps: list[dict[str, float | None]] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The folder's name (what tables and plots call it)."""
        return self.path.name or str(self.path)

    @property
    def values(self) -> dict[str, Any]:
        """Resolved scenario values, flattened to ``table.key``."""
        vals = self.manifest.get("scenario", {}).get("values", {})
        out: dict[str, Any] = {}
        for table, keys in vals.items():
            if isinstance(keys, dict):
                for k, v in keys.items():
                    out[f"{table}.{k}"] = v
            else:
                out[table] = keys
        return out


def _number(text: str | None) -> float | None:
    if text in ("", None):
        return None
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def read_kpi_csv(path: Path) -> dict[str, float | None]:
    """KPIs from a ``kpi.csv`` (columns kpi, value)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["kpi"]: _number(row.get("value")) for row in csv.DictReader(fh)}


def _read_replications(path: Path) -> tuple[list[int], list[dict[str, float | None]]]:
    seeds, reps = [], []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            seeds.append(int(row.pop("seed")))
            row.pop("replication", None)
            reps.append({k: _number(v) for k, v in row.items()})
    return seeds, reps


def open_results(path: Path | str) -> Results:
    """Read results folder *path* (one run or replications); one-line `InputError` otherwise."""
    path = Path(path)
    kind = folder.manifest_kind(path)
    if kind is None:
        if (path / "kpi.csv").is_file() or (path / "replications.csv").is_file():
            kind = folder.RUN_KIND if (path / "kpi.csv").is_file() else folder.REPLICATIONS_KIND
        else:
            raise InputError(f"{path}: not a results folder (no manifest.json or kpi.csv)")
    try:
        manifest = json.loads((path / folder.MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    try:
        if kind == folder.REPLICATIONS_KIND:
            seeds, reps = _read_replications(path / "replications.csv")
            if not reps:
                raise InputError(f"{path}: replications.csv holds no replication")
            names = list(reps[0])
            mean: dict[str, float | None] = {}
            for n in names:
                vals = [r[n] for r in reps if r[n] is not None]
                mean[n] = sum(vals) / len(vals) if vals else None
            return Results(path, manifest, mean, reps, seeds)
        return Results(path, manifest, read_kpi_csv(path / "kpi.csv"))
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{path}: unreadable results ({exc})") from None


def input_diff(a: Results, b: Results) -> list[tuple[str, Any, Any]]:
    """Scenario values (after extends, --set and seed) that differ: ``(key, in A, in B)``."""
    va, vb = a.values, b.values
    rows = [(k, va.get(k), vb.get(k)) for k in sorted(set(va) | set(vb))
            if k not in _NOT_INPUTS and va.get(k) != vb.get(k)]
    ra, rb = len(a.reps) or 1, len(b.reps) or 1
    if ra != rb:
        rows.append(("replications", ra, rb))
    return rows


def territory_of(r: Results) -> str:
    """The territory a run covers, as text: ``national``, ``kabkota 33.71``."""
    v = r.values
    codes = v.get("territory.codes") or []
    return " ".join([str(v.get("territory.scope", "?")), *map(str, codes)]).strip()


def territory_mismatch(a: Results, b: Results) -> str | None:
    """Why A and B cannot be compared (different territories), or None."""
    ta, tb = territory_of(a), territory_of(b)
    if ta != tb:
        return (f"{a.name} and {b.name} cover different territories ({ta} vs {tb}); compare "
                "runs of the same territory")
    return None


def scale_warning(a: Results, b: Results) -> str | None:
    """A warning when A and B were sampled at different fractions, or None."""
    fa = a.values.get("territory.fraction")
    fb = b.values.get("territory.fraction")
    if fa != fb:
        return (f"WARNING: different sampling fractions ({fa} vs {fb}): totals are both "
                "weighted to the whole territory, but differences mix the policy change with "
                "sampling noise of different sizes")
    return None


@dataclass(frozen=True)
class Change:
    """One KPI's change from A to B and whether it stands out from the noise."""

    name: str
    a: float | None
    b: float | None
    diff: float | None
    pct: float | None
    #: 95% half-width of the difference (None when noise is unknown)
    half: float | None
    #: "beyond", "within", "none" (no difference at all) or "unknown"
    noise: str

    def as_dict(self) -> dict[str, Any]:
        """The change for JSON/CSV, with the KPI's label, unit and group."""
        k = labels.kpi(self.name)
        return {"kpi": self.name, "label": k.label, "unit": k.unit, "group": k.group,
                "a": self.a, "b": self.b, "diff": self.diff, "pct_change": self.pct,
                "ci95_half_width": self.half, "noise": self.noise}


def noise_method(a: Results, b: Results) -> str:
    """How noise is estimated: ``paired`` (CRN), ``independent`` (Welch) or ``unknown``."""
    if a.reps and b.reps:
        return "paired" if a.seeds == b.seeds and len(a.seeds) >= 2 else "independent"
    return "unknown"


def noise_advice(a: Results, b: Results) -> str:
    """One sentence on the noise of this comparison and, when unknown, how to measure it."""
    method = noise_method(a, b)
    if method == "paired":
        return (f"Noise: {len(a.reps)} paired replications with common random numbers; a change "
                "is beyond noise when its 95% confidence interval excludes zero.")
    if method == "independent":
        return (f"Noise: {len(a.reps)} and {len(b.reps)} replications with different seeds "
                "(Welch 95% interval); rerun both with the same --seed for paired, tighter "
                "intervals.")
    return ("Noise: UNKNOWN. These are single runs, and KPIs move between seeds of the same "
            "scenario (lead times by days, money by billions). To know which changes are "
            "real, rerun both with the same seed and --replications 10 (kks sim run SCENARIO "
            "--replications 10 --out DIR) and compare those folders: each change then gets a "
            "paired 95% confidence interval.")


def changes(a: Results, b: Results, names: list[str]) -> list[Change]:
    """The change of every KPI in *names* present in both A and B."""
    method = noise_method(a, b)
    out = []
    for name in names:
        va, vb = a.kpis.get(name), b.kpis.get(name)
        if va is None or vb is None:
            continue
        diff = vb - va
        pct = diff / abs(va) * 100 if va else None
        half: float | None = None
        if method != "unknown":
            xa = [r.get(name) for r in a.reps]
            xb = [r.get(name) for r in b.reps]
            if method == "paired":
                pairs = [(x, y) for x, y in zip(xa, xb, strict=True)
                         if x is not None and y is not None]
                iv = stats.paired_ci([p[0] for p in pairs], [p[1] for p in pairs]) \
                    if len(pairs) >= 2 else None
            else:
                fa = [x for x in xa if x is not None]
                fb = [y for y in xb if y is not None]
                iv = stats.welch_ci(fa, fb) if len(fa) >= 2 and len(fb) >= 2 else None
            if iv is not None and math.isfinite(iv.half):
                half = iv.half
        if diff == 0 and (half is None or half == 0):
            noise = "none"
        elif half is None:
            noise = "unknown"
        else:
            noise = "beyond" if abs(diff) > half else "within"
        out.append(Change(name, va, vb, diff, pct, half, noise))
    return out


def kpi_names(a: Results, b: Results, every: bool) -> list[str]:
    """The KPIs to compare: the headline ones, or *every* KPI both sides have."""
    if not every:
        return [n for n in labels.headline() if n in a.kpis and n in b.kpis]
    order = {g: i for i, g in enumerate(labels.GROUPS)}
    common = [n for n in a.kpis if n in b.kpis]
    return sorted(common, key=lambda n: (order.get(labels.kpi(n).group, len(order)),
                                         common.index(n)))
