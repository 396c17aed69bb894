"""HTML sections of the run report that come from calibration: the estimates a run depends on."""

from __future__ import annotations

import html
from typing import Any


def estimates_html(estimates: list[dict[str, Any]]) -> str:
    """The report section listing the estimates (EST) of a run, with value, range and reason."""
    rows = "\n".join(
        f"<tr><td>{html.escape(e['key'])}</td><td>{html.escape(str(e['value']))}</td>"
        f"<td>{e['lo']:g} – {e['hi']:g}</td><td>{html.escape(e['reason'])}</td>"
        f"<td>{html.escape(e['tuned_to'] or '–')}</td></tr>" for e in estimates)
    return (f"<h2>Estimates this run depends on ({len(estimates)})</h2>\n"
            "<p>Values with no published source (EST in docs/calibration.md §10). "
            "<code>kks sim sensitivity</code> ranks them by influence.</p>\n"
            "<table><tr><td>key</td><td>value</td><td>plausible range</td><td>reason</td>"
            f"<td>tuned to</td></tr>\n{rows}</table>")
