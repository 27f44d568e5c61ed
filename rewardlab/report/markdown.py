"""``summary.md``: the report's tables in Markdown, plots referenced by file name."""

from __future__ import annotations

from rewardlab.report.data import ReportData
from rewardlab.report.figures import FIGURES, PNG_NAMES
from rewardlab.report.tables import Table, build_tables, is_num, overview_lines


def _md_cell(c: str) -> str:
    return c.replace("|", "\\|").replace("\n", " ")


def _md_table(t: Table) -> str:
    parts = [f"## {t.title}", ""]
    if t.note:
        parts += [t.note, ""]
    if not t.rows:
        parts += [f"*{t.empty}*", ""]
        return "\n".join(parts)
    parts.append("| " + " | ".join(_md_cell(h) for h in t.header) + " |")
    parts.append("|" + "|".join("---:" if is_num(c) else "---" for c in t.rows[0]) + "|")
    parts += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
    parts.append("")
    return "\n".join(parts)


def render_markdown(rep: ReportData) -> str:
    name = rep.root.resolve().name
    out = [f"# rewardlab report: {name}", ""]
    out += [f"- {s}" for s in overview_lines(rep)]
    out.append("")
    for key, title in FIGURES:
        out += [f"## {title}", "", f"![{title}]({PNG_NAMES[key]})", ""]
    out += [_md_table(t) for t in build_tables(rep)]
    return "\n".join(out).rstrip() + "\n"
