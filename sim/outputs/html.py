"""Small HTML builders for the report: escaped text, tables with header cells, sections, figures.

Every table has a ``<caption>`` and ``<th scope="col">`` header cells (and a row header when the
first column names the row), so screen readers and people can read it; numbers are right-aligned
through the ``num`` class.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence

#: the report's stylesheet: readable on screen, printable (no cut tables or images)
CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;
color:#1a1a1a;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #3b6ea5;padding-bottom:.15em;
margin-top:1.8em}h3{margin-top:1.3em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.92em}
caption{text-align:left;font-weight:bold;padding:.3em 0}
th,td{border:1px solid #c8c8c8;padding:3px 9px;vertical-align:top}
thead th{background:#eef3f9;text-align:left}tbody th{text-align:left;font-weight:normal}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code{font-size:.85em;color:#555}
.banner{border:2px solid #b3261e;background:#fdecea;padding:.6em .9em;margin:1em 0}
.note{border-left:4px solid #3b6ea5;background:#f4f7fb;padding:.5em .9em;margin:1em 0}
.beyond{font-weight:bold}.within{color:#666}
figure{margin:1em 0 2em}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:.9em;color:#444}
nav ol{columns:2}
@media print{body{max-width:none;margin:0;font-size:10pt}nav{display:none}
h2,h3{break-after:avoid}table,figure,tr,.banner,.note{break-inside:avoid}
figure img{max-height:90vh;border:none}a{color:inherit;text-decoration:none}}
"""


def esc(text: object) -> str:
    """*text* escaped for HTML (quotes included)."""
    return html.escape(str(text), quote=True)


def table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[str]],
          numeric: Sequence[bool] = (), row_header: bool = True, raw: bool = False) -> str:
    """A ``<table>`` with *caption*, header cells and *rows* (cells escaped unless *raw*).

    ``numeric[i]`` right-aligns column *i*; *row_header* makes the first cell of each row a
    ``<th scope="row">``.
    """
    num = list(numeric) + [False] * (len(headers) - len(numeric))
    cls = [' class="num"' if n else "" for n in num]
    head = "".join(f'<th scope="col"{c}>{esc(h)}</th>' for h, c in zip(headers, cls,
                                                                          strict=True))
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            text = cell if raw else esc(cell)
            if i == 0 and row_header:
                cells.append(f'<th scope="row">{text}</th>')
            else:
                cells.append(f"<td{cls[i]}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<table><caption>{esc(caption)}</caption><thead><tr>{head}</tr></thead>"
            "<tbody>\n" + "\n".join(body) + "\n</tbody></table>")


def section(ident: str, title: str, body: str) -> str:
    """A ``<section>`` with an ``<h2>`` heading and an anchor *ident*."""
    return f'<section id="{esc(ident)}">\n<h2>{esc(title)}</h2>\n{body}\n</section>'


def figure(png: bytes, alt: str, caption: str) -> str:
    """An embedded PNG with *alt* text and a visible *caption*."""
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def page(title: str, body: str) -> str:
    """The complete standalone document."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{CSS}</style></head><body>\n{body}\n"
            "</body></html>\n")
