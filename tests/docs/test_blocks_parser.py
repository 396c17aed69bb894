"""The block parser enforces the convention (so the docs test cannot pass by accident)."""

from __future__ import annotations

import pytest

from tests.docs.blocks import ConventionError, parse
from tests.docs.runner import prepare_workdir, run_blocks


@pytest.fixture
def doc(tmp_path):
    """Write a markdown file with the given text and return its path."""
    counter = iter(range(100))

    def make(text):
        path = tmp_path / f"doc{next(counter)}.md"
        path.write_text(text)
        return path

    return make


def test_fence_without_language_is_refused(doc):
    with pytest.raises(ConventionError, match="without a language"):
        parse(doc("intro\n\n```\nkks demo\n```\n"))


def test_skip_needs_a_reason(doc):
    with pytest.raises(ConventionError, match="needs a reason"):
        parse(doc("<!-- docs-test: skip -->\n```sh\nkks demo\n```\n"))
    with pytest.raises(ConventionError, match="malformed"):
        parse(doc("<!-- docs-test: maybe (x) -->\n```sh\nkks demo\n```\n"))


def test_annotations_and_console_prompts(doc):
    blocks = parse(doc("<!-- docs-test: long (a national run) -->\n\n```sh\nmake run\n```\n"
                       "```console\n$ kks readers \\\n  --json\n[]\n$ kks demo\nok\n```\n"
                       "```text\nkks issuer --db FILE\n```\n"))
    assert [(b.mode, b.reason, b.language) for b in blocks] == [
        ("long", "a national run", "sh"), ("run", "", "console"), ("run", "", "text")]
    assert blocks[1].script == "kks readers \\\n  --json\nkks demo\n"
    assert blocks[1].needs_pcscd and not blocks[0].needs_pcscd
    assert [b.is_shell for b in blocks] == [True, True, False]


def test_a_failing_command_fails_its_block(doc, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    env = prepare_workdir(work)
    blocks = parse(doc("```sh\ntrue\nkks card apdu missing.kks 00A40400  # no such card\n"
                       "echo never\n```\n"))
    failures = run_blocks(blocks, work, env)
    assert len(failures) == 1 and failures[0].code == 2
    assert "never" not in failures[0].output
    assert run_blocks(parse(doc("```sh\nkks --help >/dev/null\n```\n")), work, env) == []
