"""Every shell command block of README.md and docs/*.md runs and exits 0 (R-DOCS).

One test per doc file: its blocks run in order in a fresh directory (tests/docs/runner.py).
Blocks marked `<!-- docs-test: long (reason) -->` run only in `test_command_blocks_long`
(`pytest -m long`); `<!-- docs-test: skip (reason) -->` never runs. The convention is in
docs/README.md; tests/docs/blocks.py parses it.
"""

from __future__ import annotations

import pytest

from kks_emulator.transport.testing import virtual_reader, wait_for_reader
from tests.docs.blocks import (
    REPO,
    ConventionError,
    documented_files,
    parse,
    shell_blocks,
)
from tests.docs.runner import prepare_workdir, run_blocks

FILES = documented_files()


def _ids(path):
    return str(path.relative_to(REPO))


def _run(path, modes, tmp_path, request) -> None:
    blocks = [b for b in shell_blocks(path) if b.mode in modes]
    if not blocks:
        return
    if any(b.needs_pcscd for b in blocks):
        request.getfixturevalue("docs_pcscd")
        for slot in (0, 1):  # no card left in a reader by an earlier test
            wait_for_reader(virtual_reader(slot), present=False, timeout_s=15)
    env = prepare_workdir(tmp_path)
    failures = run_blocks(blocks, tmp_path, env)
    assert not failures, str(failures[0])
    if any(b.needs_pcscd for b in blocks):
        for slot in (0, 1):  # the served cards the blocks started are gone again
            wait_for_reader(virtual_reader(slot), present=False, timeout_s=15)


def test_every_doc_follows_the_convention():
    """Every fence names a language, every annotation is well formed with a reason."""
    problems = []
    for path in FILES:
        try:
            parse(path)
        except ConventionError as exc:
            problems.append(str(exc))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", FILES, ids=_ids)
def test_command_blocks(path, tmp_path, request):
    """The file's shell blocks not marked long or skip run in order and exit 0."""
    _run(path, {"run"}, tmp_path, request)


@pytest.mark.long
@pytest.mark.parametrize("path", FILES, ids=_ids)
def test_command_blocks_long(path, tmp_path, request):
    """The same with the blocks marked long included."""
    _run(path, {"run", "long"}, tmp_path, request)
