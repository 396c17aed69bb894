"""The comparison plot: relative change of each headline KPI, every bar labelled.

Bars beyond noise are solid, within noise pale with their 95% interval drawn, of unknown noise
hatched grey-blue; a bar longer than the axis limit is cut at the limit, drawn with an arrow-head
marker and labelled with its true value and "clipped". The PNG carries a ``Source`` text chunk
so that a later run can tell its own plot from a user's file.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from sim.outputs import labels
from sim.outputs.compare import Change

#: the axis limit in percent
CLIP = 300.0
SOURCE = "kks sim compare"
_RC = {"font.family": "DejaVu Sans", "font.size": 9, "figure.dpi": 100, "savefig.dpi": 100}
_COLOURS = {"beyond": ("#3b6ea5", "#c0504d"), "within": ("#b9cbe0", "#e8b9b8"),
            "unknown": ("#8fa9c9", "#d69a98"), "none": ("#999999", "#999999")}


def render(rows: list[Change], name_a: str, name_b: str, noise_note: str) -> bytes:
    """The plot as PNG bytes for the changes *rows* (those with a relative change)."""
    with plt.rc_context(_RC):
        fig = figure(rows, name_a, name_b, noise_note)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None, "Source": SOURCE})
        plt.close(fig)
    return buf.getvalue()


def figure(rows: list[Change], name_a: str, name_b: str, noise_note: str):
    """The matplotlib figure of `render` (open; the caller closes it)."""
    rows = [c for c in rows if c.pct is not None]
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(11, 0.38 * max(len(rows), 4) + 1.6))
        y = list(range(len(rows)))[::-1]
        biggest = max((min(abs(c.pct or 0.0), CLIP) for c in rows), default=0.0)
        lim = max(10.0, biggest * 1.45)
        for yy, c in zip(y, rows, strict=True):
            pct = c.pct if c.pct is not None else 0.0
            shown = max(min(pct, CLIP), -CLIP)
            clipped = shown != pct
            colour = _COLOURS[c.noise][0 if pct >= 0 else 1]
            ax.barh(yy, shown, color=colour, hatch="//" if c.noise == "unknown" else None,
                    edgecolor="white" if c.noise == "unknown" else colour)
            if c.half is not None and c.a:
                err = c.half / abs(c.a) * 100
                ax.errorbar(shown, yy, xerr=min(err, 2 * lim), color="black", capsize=3,
                            linewidth=0.8)
            text = labels.percent(pct) + (" (clipped)" if clipped else "")
            if c.noise in ("within", "beyond"):
                text += f", {c.noise} noise"
            elif c.noise == "none":
                text += ", no change"
            if clipped:
                ax.plot(shown, yy, marker=">" if pct > 0 else "<", color="black", markersize=8)
            # every bar's label in one column right of the axes: never over a bar or a CI
            ax.text(1.02, yy, text, transform=ax.get_yaxis_transform(), va="center", ha="left",
                    fontsize=8, fontweight="bold" if clipped or c.noise == "beyond"
                    else "normal")
        ax.set_yticks(y, [labels.kpi(c.name).label for c in rows])
        ax.set_xlim(-lim, lim)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel(f"% change, {name_b} vs {name_a} (axis cut at ±{CLIP:.0f}%: longer bars "
                      "are marked clipped)")
        ax.set_title(noise_note, fontsize=8, loc="left", wrap=True)
        fig.tight_layout()
        fig.subplots_adjust(right=0.78)
    return fig


def is_own_plot(data: bytes) -> bool:
    """True when PNG *data* carries this module's ``Source`` text chunk."""
    return data.startswith(b"\x89PNG\r\n\x1a\n") and b"tEXtSource\x00" + SOURCE.encode() in data
