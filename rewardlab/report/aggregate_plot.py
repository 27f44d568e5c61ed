"""``aggregate.png``: rliable-style interval estimates of final fitness (IQM and mean over seeds) per task, and
the cross-task normalised score per agent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rewardlab.report.data import ReportData, tasks_of
from rewardlab.report.figures import method_label, no_data, reward_colors
from rewardlab.report.format import seeds_text, wrap_label


@dataclass(frozen=True)
class _Interval:
    label: str
    reward: str
    estimate: float | None
    low: float | None
    high: float | None


def _interval_panel(ax: Axes, items: Sequence[_Interval], colors: Mapping[str, Any], title: str, xlabel: str) -> None:
    ys = np.arange(len(items))[::-1]
    for y, it in zip(ys, items, strict=True):
        if it.low is not None and it.high is not None:
            ax.barh(y, it.high - it.low, left=it.low, height=0.6, color=colors[it.reward], alpha=0.55, lw=0)
        if it.estimate is not None:
            ax.plot(it.estimate, y, "o", ms=7, color=colors[it.reward], mec="black", mew=1.3, zorder=3)
    ax.set_yticks(ys, [wrap_label(it.label, 24) for it in items])
    ax.set_ylim(-0.6, len(items) - 0.4)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    lo = [v for it in items for v in (it.low, it.estimate) if v is not None]
    hi = [v for it in items for v in (it.high, it.estimate) if v is not None]
    if lo and hi:  # pad so markers at the ends are not cut; all equal: give the axis some width
        span = max(hi) - min(lo)
        pad = 0.06 * span if span > 0 else max(abs(min(lo)) * 0.1, 0.05)
        ax.set_xlim(min(lo) - pad, max(hi) + pad)


def _intervals(rows: Sequence[Mapping[str, Any]], stat: str, several: bool) -> list[_Interval]:
    """One interval per row (a method): its ``stat`` with the interval ``stat + "_ci"``."""
    return [
        _Interval(method_label(r["reward"], r["agent"], several), r["reward"], r[stat], *r[f"{stat}_ci"]) for r in rows
    ]


def plot_aggregate(rep: ReportData) -> Figure:
    several = len({r["agent"] for r in rep.rows}) > 1
    colors = reward_colors(r.reward for r in rep.records)
    panels: list[tuple[str, str, list[_Interval], list[_Interval]]] = []  # title, xlabel, IQM items, mean items
    for task in tasks_of(rep):
        rows = [r for r in rep.rows if r["task"] == task]
        if not rows:
            continue
        label = f"final fitness [{rows[0]['fitness_unit']}]"
        iq, mn = _intervals(rows, "final_fitness_iqm", several), _intervals(rows, "final_fitness_mean", several)
        panels.append((f"{task} ({seeds_text(r['n_seeds'] for r in rows)})", label, iq, mn))
    baseline, reference = rep.cross["baseline"], rep.cross["reference"]
    for agent in sorted({r["agent"] for r in rep.cross["normalized_score"]}):
        rows = [r for r in rep.cross["normalized_score"] if r["agent"] == agent]
        n_tasks = max(r["n_tasks"] for r in rows)
        iq, mn = _intervals(rows, "iqm", several), _intervals(rows, "mean", several)
        title = f"normalised score over {n_tasks} task{'s' if n_tasks > 1 else ''}" + (f", {agent}" if several else "")
        xlabel = f"(fitness − {baseline}) / |{reference} − {baseline}|;  dotted: {baseline} = 0, {reference} = 1"
        panels.append((title, xlabel, iq, mn))

    heights = [max(len(p[2]), 1) * 0.42 + 1.25 for p in panels]
    fig = Figure(figsize=(10.5, sum(heights) + 0.6 if panels else 3.0), layout="constrained")
    if not panels:
        return no_data(fig, "no finished runs to aggregate")
    axes = fig.subplots(len(panels), 2, squeeze=False, gridspec_kw={"height_ratios": heights})
    for (title, xlabel, iq, mn), (ax_iqm, ax_mean) in zip(panels, axes, strict=True):
        _interval_panel(ax_iqm, iq, colors, f"{title}: IQM", xlabel)
        _interval_panel(ax_mean, mn, colors, f"{title}: mean", xlabel)
        ax_mean.set_yticks(ax_iqm.get_yticks(), [""] * len(mn))
        if xlabel.startswith("(fitness"):
            for ax in (ax_iqm, ax_mean):
                for x in (0.0, 1.0):
                    ax.axvline(x, color="0.5", ls=":", lw=1, zorder=0)
        xs = [*ax_iqm.get_xlim(), *ax_mean.get_xlim()]
        for ax in (ax_iqm, ax_mean):
            ax.set_xlim(min(xs), max(xs))
    fig.suptitle(
        "Final fitness over seeds: point estimate (dot) and 95% stratified-bootstrap interval (bar)", fontsize=11
    )
    return fig
