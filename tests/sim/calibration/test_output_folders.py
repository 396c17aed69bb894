"""`kks sim backtest` and `kks sim sensitivity` never replace a folder they did not write (S-OUT):
the target is checked before any run, and their folders are marked by a manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from kks_emulator.cli.main import main
from sim.outputs import folder

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("argv", [
    ["sim", "backtest", "--replications", "1"],
    ["sim", "sensitivity", str(ROOT / "scenarios" / "baseline.toml")],
])
def test_a_user_folder_is_refused_before_anything_runs(tmp_path: Path, capsys, argv) -> None:
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep me")
    assert main([*argv, "--out", str(user)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "did not write" in err[0] and "--force" in err[0], err
    assert (user / "notes.txt").read_text() == "keep me"


def test_their_manifests_mark_results_folders(tmp_path: Path) -> None:
    for kind in (folder.BACKTEST_KIND, folder.SENSITIVITY_KIND):
        d = tmp_path / kind
        d.mkdir()
        (d / "manifest.json").write_text(f'{{"kind": "{kind}"}}')
        (d / "report.html").write_text("old")
        assert folder.is_results_folder(d)
        assert folder.check_target(d) == d.resolve()
