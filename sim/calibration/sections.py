"""HTML sections of the run report that come from calibration: the estimates a run depends on."""

from __future__ import annotations

from typing import Any


def estimates_html(estimates: list[dict[str, Any]]) -> str:
    """The report section listing the estimates (EST) of a run, with value, range and reason."""
    from sim.outputs.html import section, table

    rows = [(e["key"], str(e["value"]), f"{e['lo']:g} – {e['hi']:g}", e["reason"],
             e["tuned_to"] or "–") for e in estimates]
    return section("estimates", f"Estimates this run depends on ({len(estimates)})", (
        "<p>Values with no published source (EST in docs/calibration.md §10). "
        "<code>kks sim sensitivity</code> ranks them by influence.</p>\n"
        + table("Estimates (EST): value, plausible range, reason",
                ("key", "value", "plausible range", "reason", "tuned to"), rows)))
