"""``learning_curves.png``: fitness against environment steps, one panel per task, one line per reward x agent
(mean over seeds, shaded 95% Student-t band)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from numpy.typing import NDArray

from rewardlab.analysis.records import Curve, RunRecord, group_records
from rewardlab.analysis.stats import t975
from rewardlab.report.data import ReportData, tasks_of
from rewardlab.report.figures import MARKERS, agent_styles, grid_shape, method_label, no_data, reward_colors
from rewardlab.report.format import seeds_text, steps_tick, wrap_label

_MIN_EVAL_POINTS = 3

_MAX_GRID = 200  # most points of an interpolated mean curve

_FEW_POINTS = 30  # curves with at most this many points get markers


@dataclass(frozen=True)
class MeanCurve:
    source: Curve
    steps: NDArray[np.float64]
    mean: NDArray[np.float64]
    low: NDArray[np.float64] | None
    high: NDArray[np.float64] | None
    n_seeds: int


def mean_curve(runs: Sequence[RunRecord]) -> MeanCurve | None:
    """Mean fitness curve over seeds with a 95% Student-t band, on the steps every seed covers.

    The band is clipped to the lowest and highest value any of the seeds' curves reached: with 3 seeds the
    t interval is wide and would otherwise leave the range the fitness can take (a negative episode length,
    a success rate above 1).
    """
    source: Curve = "eval" if all(r.eval_steps.size >= _MIN_EVAL_POINTS for r in runs) else "train"
    curves = [c for c in (r.curve(source) for r in runs) if c[0].size]
    if not curves:
        return None
    lo = max(float(s[0]) for s, _ in curves)
    hi = min(float(s[-1]) for s, _ in curves)
    if hi < lo:  # seeds cover disjoint step ranges: show the union, held flat beyond each seed's ends
        lo, hi = min(float(s[0]) for s, _ in curves), max(float(s[-1]) for s, _ in curves)
    grid = np.unique(np.concatenate([s for s, _ in curves]))
    grid = grid[(grid >= lo) & (grid <= hi)]
    if grid.size > _MAX_GRID:
        grid = np.linspace(lo, hi, _MAX_GRID)
    vals = np.stack([np.interp(grid, s, v) for s, v in curves])  # (n_seeds, n_grid)
    n = vals.shape[0]
    mean = vals.mean(axis=0)
    if n < 2:
        return MeanCurve(source, grid, mean, None, None, n)
    half = t975(n - 1) * vals.std(axis=0, ddof=1) / math.sqrt(n)
    floor = min(float(v.min()) for _, v in curves)
    ceil = max(float(v.max()) for _, v in curves)
    return MeanCurve(source, grid, mean, np.maximum(mean - half, floor), np.minimum(mean + half, ceil), n)


def plot_learning_curves(rep: ReportData) -> Figure:
    tasks = tasks_of(rep)
    nrows, ncols = grid_shape(len(tasks))
    fig = Figure(figsize=(5.4 * ncols, 3.9 * nrows + 0.9), layout="constrained")
    if not tasks:
        return no_data(fig, "no finished runs to plot")
    groups = group_records(rep.records)
    colors = reward_colors(r.reward for r in rep.records)
    agents = sorted({r.agent for r in rep.records})
    styles = agent_styles(agents)
    several = len(agents) > 1
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    markers = {r: MARKERS[i % len(MARKERS)] for i, r in enumerate(sorted(colors))}
    handles: dict[str, Any] = {}
    for ax, task in zip(axes, tasks, strict=False):
        sources, seeds = set(), set()
        mine = [(k, runs) for k, runs in groups.items() if k[0] == task]
        for i, ((_, reward, agent), runs) in enumerate(mine):
            c = mean_curve(runs)
            if c is None:
                continue
            sources.add(c.source)
            seeds.add(c.n_seeds)
            label = wrap_label(method_label(reward, agent, several), 40)
            # lines drawn first are wider and markers larger, so identical curves still show each other
            lw = 1.6 + 1.6 * (len(mine) - 1 - i) / max(len(mine) - 1, 1)
            few = c.steps.size <= _FEW_POINTS
            (line,) = ax.plot(
                c.steps,
                c.mean,
                color=colors[reward],
                ls=styles[agent],
                lw=lw,
                marker=markers[reward] if few else None,
                ms=4 + 2.5 * (len(mine) - 1 - i) / max(len(mine) - 1, 1),
                label=label,
            )
            if c.low is not None and c.high is not None:
                ax.fill_between(c.steps, c.low, c.high, color=colors[reward], alpha=0.18, lw=0)
            handles.setdefault(label, line)
        runs0 = next(r for r in rep.records if r.task == task)
        thr = ax.axhline(runs0.success_threshold, color="0.2", ls="--", lw=1.0, zorder=5)
        handles.setdefault("success threshold", thr)
        what = {"eval": "evaluation", "train": "training episodes"}
        src = " / ".join(what[s] for s in sorted(sources))
        ax.set_title(f"{task}\n{src} fitness, {seeds_text(seeds)}", fontsize=11)
        ax.set_xlabel("environment steps")
        ax.set_ylabel(f"fitness [{runs0.fitness_unit}]")
        ax.xaxis.set_major_formatter(FuncFormatter(steps_tick))
        ax.grid(alpha=0.3)
        ax.margins(x=0.02)
    for ax in axes[len(tasks) :]:
        ax.set_visible(False)
    labels = [k for k in handles if k != "success threshold"] + ["success threshold"]
    fig.legend(
        [handles[k] for k in labels],
        labels,
        loc="outside lower center",
        ncol=min(len(labels), 6),
        frameon=False,
        fontsize=10,
        title="mean over seeds, shaded: 95% confidence interval (Student t)",
        title_fontsize=9,
    )
    return fig
