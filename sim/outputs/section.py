"""An extra section of a report: a heading, an HTML fragment, and the files it brings along."""

from __future__ import annotations

import html
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    """A report section added by a feature outside the core run (e.g. card fidelity).

    `body` is trusted HTML built by our own code (escape any user text before putting it in);
    `files` maps a path relative to the results folder to its bytes.
    """

    anchor: str
    title: str
    body: str
    files: dict[str, bytes] = field(default_factory=dict)

    def html(self) -> str:
        """The section as HTML: a heading with an id, then the body."""
        return (f'<section id="{html.escape(self.anchor)}">\n'
                f"<h2>{html.escape(self.title)}</h2>\n{self.body}\n</section>\n")
