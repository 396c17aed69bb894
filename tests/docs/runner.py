"""Run the shell command blocks of one doc file, in order, as a reader would paste them.

All blocks of a file share one fresh working directory (copies of `scenarios/` and
`scripts/apdu/`, `.venv` linked
to this environment) so a later block can use what an earlier one made; each block is one
`bash -euo pipefail` script, so any failing command fails the block. Commands a block leaves in
the background (`kks card serve CARD &`) live until the file's last block has run, then their
process groups are terminated. `sudo` is a pass-through when the tests run as root or the machine
has no sudo.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.docs.blocks import REPO, Block

#: Seconds one block may take (the `long` ones run national scenarios).
TIMEOUT_S = {"run": 240, "long": 1800}


@dataclass
class Failure:
    """A block that did not exit 0."""

    block: Block
    code: int | str
    output: str

    def __str__(self) -> str:
        tail = "\n".join(self.output.splitlines()[-40:])
        return (f"{self.block.where}: the ```{self.block.language} block exited {self.code}\n"
                f"--- script ---\n{self.block.script}--- output (last 40 lines) ---\n{tail}")


def prepare_workdir(workdir: Path) -> dict[str, str]:
    """Fill `workdir` like a fresh checkout's root and return the environment to run blocks in."""
    shutil.copytree(REPO / "scenarios", workdir / "scenarios")
    shutil.copytree(REPO / "scripts" / "apdu", workdir / "scripts" / "apdu")
    venv_bin = Path(sys.executable).parent
    (workdir / ".venv").symlink_to(venv_bin.parent)
    shims = workdir / ".shims"
    shims.mkdir()
    if shutil.which("sudo") is None or os.geteuid() == 0:
        sudo = shims / "sudo"
        sudo.write_text('#!/bin/sh\nexec "$@"\n')
        sudo.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(shims), str(venv_bin), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(venv_bin.parent)
    env.pop("PYTHONPATH", None)
    return env


def run_blocks(blocks: list[Block], workdir: Path, env: dict[str, str]) -> list[Failure]:
    """Run `blocks` in order in `workdir`; stop at the first failure and return it (or [])."""
    groups: list[int] = []
    try:
        for index, block in enumerate(blocks):
            script = workdir / f".block{index:02d}.sh"
            script.write_text("set -euo pipefail\n" + block.script)
            log = workdir / f".block{index:02d}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(["bash", str(script)], cwd=workdir, env=env,
                                        stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
                groups.append(proc.pid)
                try:
                    code: int | str = proc.wait(TIMEOUT_S[block.mode])
                except subprocess.TimeoutExpired:
                    code = f"nothing (timed out after {TIMEOUT_S[block.mode]} s)"
            if code != 0:
                return [Failure(block, code, log.read_text(errors="replace"))]
        return []
    finally:
        stop_groups(groups)


def stop_groups(groups: list[int], grace_s: float = 5.0) -> None:
    """SIGTERM every process group the blocks left behind, SIGKILL what survives `grace_s`."""
    alive = [g for g in groups if _signal_group(g, signal.SIGTERM)]
    deadline = time.monotonic() + grace_s
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [g for g in alive if _signal_group(g, 0)]
    for group in alive:
        _signal_group(group, signal.SIGKILL)


def _signal_group(group: int, sig: int) -> bool:
    """Send `sig` to process group `group`; False if the group is gone."""
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # the group's leader is gone and its id reused: not ours
        return False
    return True
