"""The root `kks` group: help, version, and the one-line error policy."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kks_emulator.cli.main import SUBCOMMANDS, cli, main
from kks_emulator.errors import ConfigError, InputError, KksError


def test_help_lists_every_group(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    # every group imports here (CI installs every extra): the list is exactly SUBCOMMANDS
    assert cli.list_commands(None) == sorted(SUBCOMMANDS)
    assert {"card", "issuer", "terminal", "readers", "sim", "bench", "registry", "demo"} <= set(
        SUBCOMMANDS)
    for name in SUBCOMMANDS:
        assert f"  {name} " in out


@pytest.mark.parametrize("argv", [
    ["no-such-command"],
    ["sim", "no-such-command"],
    ["sim", "run"],  # missing argument
    ["sim", "run", "scenarios/baseline.toml", "--replications", "many"],  # bad value
    ["card", "info", "--no-such-option"],
])
def test_usage_errors_are_one_line_exit_2(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("kks: error: ") and "--help" in err[0]


def test_errors_carry_their_exit_code(capsys, monkeypatch):
    assert KksError.exit_code == InputError.exit_code == ConfigError.exit_code == 2

    class Finding(KksError):
        exit_code = 1

    def boom():
        raise Finding("the ledger does not reconcile")

    monkeypatch.setattr(cli, "main", lambda **kw: boom())
    assert main(["anything"]) == 1
    assert capsys.readouterr().err == "kks: error: the ledger does not reconcile\n"


def test_console_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "kks_emulator.cli.main", "--version"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert proc.stdout.startswith("kks, version ")
