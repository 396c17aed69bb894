"""The root `kks` group: help, version, and the one-line error policy."""

from __future__ import annotations

import subprocess
import sys

from kks_emulator.cli.main import main


def test_help_lists_every_installed_group(capsys):
    from kks_emulator.cli.main import SUBCOMMANDS, cli

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.list_commands(None):
        assert name in SUBCOMMANDS
        assert f"  {name} " in out


def test_unknown_command_is_one_line_exit_2(capsys):
    assert main(["no-such-command"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert any("no-such-command" in line for line in err)


def test_console_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "kks_emulator.cli.main", "--version"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert "kks" in proc.stdout
