"""Find the fenced code blocks of README.md and docs/*.md, and the shell scripts they hold.

The convention (documented in docs/README.md, "Command blocks are tested"):

- every fenced block names its language; ```sh (also bash, shell, console) blocks are commands and
  are run; ```text, ```toml, ```python ... are not;
- in a ```console block only the `$ ` lines (and their `\\` continuations) are commands, the other
  lines are output;
- an HTML comment on the line before the fence changes how a block is run:
  `<!-- docs-test: skip (reason) -->` never runs it, `<!-- docs-test: long (reason) -->` runs it
  only in the `long` variant (`pytest -m long`); the reason is required;
- a block that uses the PC/SC stack (see `PCSC_WORDS`) runs with pcscd up.

Pure functions only: the test module does the running.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Languages whose blocks are shell commands to run.
SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console"})

#: A block mentioning any of these needs pcscd (and the vpcd readers) up.
PCSC_WORDS = re.compile(r"--reader\b|\bkks readers\b|\bkks card serve\b|\bkks card script\b"
                        r"|\bpcsc_scan\b|\bopensc-tool\b|\bscriptor\b|\bpcscd\b")

FENCE = re.compile(r"^ {0,3}(```+|~~~+)\s*(\S*)")
ANNOTATION = re.compile(r"^<!--\s*docs-test:\s*(\w+)\s*(?:\((.*)\))?\s*-->\s*$")
MODES = frozenset({"skip", "long"})


class ConventionError(ValueError):
    """A doc breaks the command-block convention (message names file:line and the fix)."""


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text and how the test treats it."""

    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    mode: str = "run"  # "run", "skip" or "long"
    reason: str = ""

    @property
    def where(self) -> str:
        """`docs/pcsc.md:80`, relative to the repository."""
        return f"{_relative(self.path)}:{self.line}"

    @property
    def is_shell(self) -> bool:
        """True for a block of shell commands."""
        return self.language in SHELL_LANGUAGES

    @property
    def needs_pcscd(self) -> bool:
        """True if the commands use the PC/SC stack."""
        return bool(PCSC_WORDS.search(self.script))

    @property
    def script(self) -> str:
        """The shell script the block stands for (prompts stripped, output lines dropped)."""
        if self.language != "console":
            return self.text
        lines, continuing = [], False
        for raw in self.text.splitlines():
            if raw.startswith("$ "):
                lines.append(raw[2:])
            elif continuing:
                lines.append(raw)
            else:
                continue
            continuing = raw.rstrip().endswith("\\")
        return "\n".join(lines) + "\n"


def _relative(path: Path) -> Path:
    """`path` relative to the repository when inside it, else as given."""
    try:
        return path.resolve().relative_to(REPO)
    except ValueError:
        return path


def documented_files() -> list[Path]:
    """README.md and every docs/*.md, in a stable order."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def parse(path: Path) -> list[Block]:
    """Every fenced block of `path`; raise `ConventionError` on a convention breach."""
    lines = path.read_text(encoding="utf-8").splitlines()
    where = _relative(path)
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, language = match.group(1), match.group(2).lower()
        start = i
        if not language:
            raise ConventionError(
                f"{where}:{start + 1}: fenced block without a language; write ```sh for "
                "commands (they are run), ```text for diagrams, synopses and output")
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].lstrip().startswith(fence[:3]):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise ConventionError(f"{where}:{start + 1}: fenced block never closed")
        mode, reason = _annotation(lines, start, where)
        blocks.append(Block(path, start + 1, language, "\n".join(body) + "\n", mode, reason))
        i += 1
    return blocks


def _annotation(lines: list[str], fence_index: int, where: object) -> tuple[str, str]:
    """The docs-test annotation on the last non-blank line before the fence, if any."""
    j = fence_index - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j < 0 or "docs-test" not in lines[j]:
        return "run", ""
    match = ANNOTATION.match(lines[j].strip())
    if not match or match.group(1) not in MODES:
        raise ConventionError(f"{where}:{j + 1}: malformed annotation {lines[j].strip()!r}; "
                              "write <!-- docs-test: skip (reason) --> or "
                              "<!-- docs-test: long (reason) -->")
    reason = (match.group(2) or "").strip()
    if not reason:
        raise ConventionError(f"{where}:{j + 1}: docs-test {match.group(1)} needs a reason in "
                              "parentheses")
    return match.group(1), reason


def shell_blocks(path: Path) -> list[Block]:
    """The shell command blocks of `path`, in document order."""
    return [b for b in parse(path) if b.is_shell]
