"""The dependency rules of docs/architecture.md: no layer imports against the arrow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: package -> prefixes its modules must not import (docs/architecture.md, "Dependency rules")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "sim.registry": ("sim.hotpath", "sim.model", "sim.scenario", "sim.outputs", "sim.fidelity",
                     "sim.bench", "sim.cli"),
    "sim.hotpath": ("sim.model", "sim.scenario", "sim.outputs", "sim.fidelity", "sim.bench",
                    "sim.cli"),
    "sim.scenario": ("sim.model", "sim.outputs", "sim.hotpath", "sim.fidelity", "sim.bench",
                     "sim.cli"),
    "sim.model": ("sim.cli", "sim.bench", "sim.fidelity"),
    "sim.outputs": ("sim.cli", "sim.bench", "sim.fidelity"),
    "sim.fidelity": ("sim.cli", "sim.bench"),
    "sim.outputs.folder": ("sim.model", "sim.fidelity"),
    "sim.calibration": ("sim.cli", "sim.bench"),
    "sim.bench": ("sim.model", "sim.outputs", "sim.cli"),
    "kks_emulator": ("sim",),
    "kks_emulator.card": ("kks_emulator.terminal", "kks_emulator.issuer",
                          "kks_emulator.transport", "kks_emulator.cli"),
    "kks_emulator.terminal": ("kks_emulator.card", "kks_emulator.cli"),
    "kks_emulator.issuer": ("kks_emulator.card", "kks_emulator.terminal",
                            "kks_emulator.transport", "kks_emulator.cli"),
    "kks_emulator.certification": ("kks_emulator.cli",),
}
#: the one documented exception: replications write each run's results folder
ALLOWED = {("sim.model.replicate", "sim.outputs")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every absolute module a file imports (top level or inside functions)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


FILES = sorted(p for top in ("sim", "kks_emulator") for p in (ROOT / top).rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_against_the_arrow(path: Path) -> None:
    module = _module_name(path)
    for package, forbidden in FORBIDDEN.items():
        if not _under(module, package):
            continue
        for imported in _imports(path):
            for bad in forbidden:
                if _under(imported, bad) and not any(
                        _under(module, m) and _under(imported, b) for m, b in ALLOWED):
                    pytest.fail(f"{module} imports {imported}: {package} must not import {bad} "
                                "(docs/architecture.md)")


def test_the_rules_see_every_layer() -> None:
    packages = {p.parent.relative_to(ROOT).as_posix().replace("/", ".")
                for p in (ROOT / "sim").glob("*/__init__.py")}
    ruled = {p for p in FORBIDDEN if p.startswith("sim.")}
    assert packages - {"sim.cli", "sim.data"} <= ruled, packages - ruled
