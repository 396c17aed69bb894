"""S-OUT: `--out` never deletes what the tool did not write, and replacing a results folder is
atomic (a crash mid-write leaves the old folder intact); impossible targets are one line, exit 2.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kks_emulator.cli.main import main
from kks_emulator.errors import InputError
from sim.model.run import run
from sim.outputs import folder
from sim.outputs import results as outputs
from sim.scenario.loader import load
from tests.sim.model.conftest import ROOT

BASELINE = ROOT / "scenarios" / "baseline.toml"
TINY = ('territory.scope="kabkota"', 'territory.codes=["33.71"]', "territory.fraction=0.002",
        "scenario.months=1")
_TINY_ARGS = [a for s in TINY for a in ("--set", s)]


def _tree(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_result():
    return run(load(BASELINE, TINY))


def _one_line(capsys, *args: str) -> str:
    code = main(list(args))
    err = capsys.readouterr().err.strip("\n").split("\n")
    assert code == 2 and len(err) == 1 and err[0].startswith("kks: error: "), (code, err)
    return err[0]


def test_a_user_folder_is_refused_and_survives(tmp_path, capsys) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("field notes, not from the tool\n")
    line = _one_line(capsys, "sim", "run", str(BASELINE), "--out", str(target), *_TINY_ARGS)
    assert "holds files this tool did not write" in line and "--force" in line
    assert (target / "notes.txt").read_text() == "field notes, not from the tool\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    line = _one_line(capsys, "sim", "run", str(BASELINE), "--out", str(target),
                     "--replications", "2", *_TINY_ARGS)
    assert "holds files this tool did not write" in line
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]


def test_force_replaces_a_user_folder(tmp_path, capsys) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("x")
    assert main(["sim", "run", str(BASELINE), "--out", str(target), "--force",
                 *_TINY_ARGS]) == 0
    assert folder.manifest_kind(target) == folder.RUN_KIND
    assert not (target / "notes.txt").exists()


@pytest.mark.parametrize("name", [".", "..", "/", "file", "file/sub", "\x00bad"])
def test_impossible_targets_are_one_line(tmp_path, capsys, monkeypatch, name) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "file").write_text("a file")
    monkeypatch.chdir(work)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    line = _one_line(capsys, "sim", "run", str(BASELINE), "--out", name, *_TINY_ARGS)
    assert "--out" in line
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "something was written"


def test_empty_folder_and_results_folder_are_writable(tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert folder.check_target(empty) == empty
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "manifest.json").write_text('{"kind": "kks-sim-results"}')
    (tmp_path / "r" / "kpi.csv").write_text("kpi,value\n")
    assert folder.check_target(tmp_path / "r") == tmp_path / "r"
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "manifest.json").write_text('{"kind": "something else"}')
    with pytest.raises(InputError, match="did not write"):
        folder.check_target(tmp_path / "fake")


def test_replacing_a_results_folder_leaves_no_trace(tmp_path, tiny_result) -> None:
    out = tmp_path / "res"
    outputs.write(tiny_result, out)
    first = _tree(out)
    (out / "kpi.csv").write_text("tampered\n")  # so the replacement is visible
    outputs.write(tiny_result, out)
    assert _tree(out) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]


def test_exception_mid_write_keeps_the_old_folder(tmp_path, tiny_result, monkeypatch) -> None:
    out = tmp_path / "res"
    outputs.write(tiny_result, out)
    before = _tree(out)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full while writing the report")

    monkeypatch.setattr("sim.outputs.report.write", boom)
    with pytest.raises(RuntimeError):
        outputs.write(tiny_result, out)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]


CRASH = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from sim.model.run import run
    from sim.outputs import report, results
    from sim.scenario.loader import load

    res = run(load(sys.argv[1], sys.argv[3:]))
    real = report.write

    def crash(*args, **kw):
        real(*args, **kw)                       # half the folder is written ...
        os._exit(9)                             # ... and the process dies (no cleanup at all)

    report.write = crash
    results.write(res, Path(sys.argv[2]))
""")


def test_a_killed_writer_leaves_the_old_folder_intact(tmp_path, tiny_result) -> None:
    out = tmp_path / "res"
    outputs.write(tiny_result, out)
    before = _tree(out)
    r = subprocess.run([sys.executable, "-c", CRASH, str(BASELINE), str(out), *TINY],
                       capture_output=True, text=True, cwd=ROOT, timeout=600,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 9, r.stderr
    assert _tree(out) == before
    partial = [p.name for p in tmp_path.iterdir() if p.name != "res"]
    assert len(partial) == 1 and partial[0].startswith(".res.partial-"), partial
    outputs.write(tiny_result, out)  # the next write clears the crashed one's leftovers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]


def test_swap_is_one_exchange_on_linux(tmp_path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    (old / "a").write_text("old")
    new.mkdir()
    (new / "a").write_text("new")
    if sys.platform.startswith("linux"):
        assert folder._exchange(new, old)  # renameat2(RENAME_EXCHANGE) works here
        assert (old / "a").read_text() == "new" and (new / "a").read_text() == "old"
        folder._exchange(new, old)
    folder.replace_atomically(new, old)
    assert (old / "a").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


def test_a_live_writers_staging_folder_is_left_alone(tmp_path) -> None:
    import fcntl

    live = tmp_path / ".res.partial-live"
    dead = tmp_path / ".res.partial-dead"
    live.mkdir()
    dead.mkdir()
    fd = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as another writer of the same --out would hold it
        with folder.staging(tmp_path / "res") as tmp:
            (tmp / "x").write_text("x")
            folder.replace_atomically(tmp, tmp_path / "res")
    finally:
        os.close(fd)
    assert live.is_dir() and not dead.exists()
    assert (tmp_path / "res" / "x").read_text() == "x"
