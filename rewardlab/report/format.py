"""How numbers, step counts, paths and labels read in the report's tables and plots."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


def fmt(x: float | None) -> str:
    """3 significant digits, no exponent between 1e-3 and 1e6; ``–`` for a missing value.

    Magnitudes below 1e-12 print as ``0``: they are rounding residue (a normalised score of the baseline
    itself), not values.
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    x = float(x)
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if abs(x) < 1e-12:
        return "0"
    if not 1e-3 <= abs(x) < 1e6:
        return f"{x:.3g}"
    r = float(f"{x:.3g}")
    digits = 2 - math.floor(math.log10(abs(r)))
    return f"{r:.{max(digits, 0)}f}"


def fmt_ci(estimate: float | None, ci: Sequence[float | None] | None) -> str:
    """``estimate [low, high]``."""
    if ci is None or len(ci) != 2 or ci[0] is None or ci[1] is None:
        return fmt(estimate)
    return f"{fmt(estimate)} [{fmt(ci[0])}, {fmt(ci[1])}]"


def fmt_steps(x: float | None) -> str:
    """An environment step count with thousands separators."""
    return "–" if x is None else f"{round(float(x)):,}"


def steps_tick(x: float, _pos: Any = None) -> str:
    if abs(x) >= 1e6:
        return f"{x / 1e6:g}M"
    if abs(x) >= 1e3:
        return f"{x / 1e3:g}k"
    return f"{x:g}"


def rel_path(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def wrap_label(text: str, width: int) -> str:
    """Break a long label (a reward file path) over lines of about ``width`` characters, after ``/`` if it can."""
    if len(text) <= width:
        return text
    lines = [""]
    for part in text.replace("/", "/ ").split(" "):
        sep = "" if lines[-1].endswith("/") or not lines[-1] else " "
        if lines[-1] and len(lines[-1]) + len(sep) + len(part) > width:
            lines.append(part)
        else:
            lines[-1] += sep + part
    return "\n".join(textwrap.fill(line, width) for line in lines)


def seeds_text(counts: Iterable[int]) -> str:
    """``3 seeds``, ``1 seed``, ``2–3 seeds``."""
    c = sorted(set(counts)) or [0]
    n = str(c[0]) if c[0] == c[-1] else f"{c[0]}–{c[-1]}"
    return f"{n} seed{'' if c[-1] == 1 else 's'}"
