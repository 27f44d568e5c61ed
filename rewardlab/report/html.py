"""``report.html``: one self-contained page, plots embedded as base64 PNGs."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from pathlib import Path

from rewardlab.report.data import ReportData
from rewardlab.report.figures import FIGURES
from rewardlab.report.tables import Table, build_tables, is_num, overview_lines

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1250px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.86em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.flag td { background: #fde8e8; }
p.note { color: #555; font-size: 0.88em; max-width: 70em; }
img { max-width: 100%; border: 1px solid #eee; }
ul.overview li { margin: 0.15em 0; }
"""


def _html_table(t: Table) -> str:
    parts = [f"<h2>{html.escape(t.title)}</h2>"]
    if t.note:
        parts.append(f'<p class="note">{html.escape(t.note)}</p>')
    if not t.rows:
        parts.append(f"<p><em>{html.escape(t.empty)}</em></p>")
        return "\n".join(parts)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.header)
    body = []
    for i, row in enumerate(t.rows):
        flag = ' class="flag"' if i in t.highlight else ""
        cells = "".join(
            f'<td class="num">{html.escape(c)}</td>' if is_num(c) else f"<td>{html.escape(c)}</td>" for c in row
        )
        body.append(f"<tr{flag}>{cells}</tr>")
    parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
    return "\n".join(parts)


def render_html(rep: ReportData, pngs: Mapping[str, Path]) -> str:
    name = rep.root.resolve().name
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>rewardlab report: {html.escape(name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>rewardlab report: {html.escape(name)}</h1>",
        '<ul class="overview">' + "".join(f"<li>{html.escape(s)}</li>" for s in overview_lines(rep)) + "</ul>",
    ]
    if rep.problems or rep.group_errors or rep.skipped:  # they change what the numbers mean: say so up front
        out.append(
            '<p class="note"><strong>Some run directories were not aggregated</strong>: see the problem '
            "runs at the end of this page.</p>"
        )
    for key, title in FIGURES:
        data = base64.b64encode(pngs[key].read_bytes()).decode("ascii")
        out.append(f"<h2>{html.escape(title)}</h2>")
        out.append(f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">')
    out.extend(_html_table(t) for t in build_tables(rep))
    out.append("</body></html>")
    return "\n".join(out) + "\n"
