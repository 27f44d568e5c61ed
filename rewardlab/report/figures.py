"""What every plot shares: the figure files and their titles, one colour per reward, one line style per
agent, markers, the panel grid and the "no data" figure."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.figure import Figure

PNG_NAMES = {
    "learning_curves": "learning_curves.png",
    "aggregate": "aggregate.png",
    "reward_vs_fitness": "reward_vs_fitness.png",
}

FIGURES = (
    ("learning_curves", "Learning curves"),
    ("aggregate", "Final fitness: interval estimates"),
    ("reward_vs_fitness", "Shaped return vs fitness"),
)

DPI = 130

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")  # per seed in scatters, per reward on curves

AGENT_STYLES = ("-", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))


def save_figure(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=DPI, facecolor="white")


def reward_colors(rewards: Iterable[str]) -> dict[str, Any]:
    """One colour per reward, the same in every plot."""
    names = sorted(set(rewards))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {r: cmap(i % cmap.N) for i, r in enumerate(names)}


def agent_styles(agents: Iterable[str]) -> dict[str, Any]:
    return {a: AGENT_STYLES[i % len(AGENT_STYLES)] for i, a in enumerate(sorted(set(agents)))}


def method_label(reward: str, agent: str, several_agents: bool) -> str:
    return f"{reward} · {agent}" if several_agents else reward


def no_data(fig: Figure, text: str) -> Figure:
    fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, color="0.4")
    return fig


def grid_shape(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(max_cols, max(n, 1))
    return math.ceil(max(n, 1) / cols), cols
