"""Experiment reports: PNG plots, one self-contained HTML page and a Markdown summary.

::

    paths = write_report(Path("runs/demo"))      # -> runs/demo/report/{report.html, summary.md, *.png, report.json}

What goes in (everything is computed from the run directories by :mod:`rewardlab.analysis`):

* ``learning_curves.png``: fitness against environment steps, one panel per task, one line per reward x agent:
  the mean over seeds with a shaded 95% Student-t confidence band. A group's curves are its periodic
  evaluations when every seed has at least 3 of them, else its training-episode windows; seeds are
  interpolated onto the steps they all cover. The dashed line is the task's success threshold.
* ``aggregate.png``: rliable-style interval estimates of final fitness (IQM and mean over seeds, stratified
  bootstrap 95% intervals from :func:`~rewardlab.analysis.aggregate.summarize`), one row per task, plus one
  row per agent with the cross-task normalised score when :func:`~rewardlab.analysis.aggregate.cross_task`
  has one.
* ``reward_vs_fitness.png``: per run, shaped return against fitness for every training logging window,
  coloured by reward, with the Spearman correlation per seed; runs flagged by
  :mod:`rewardlab.analysis.hacking` are drawn with red-edged markers and a warning in the legend.
* ``report.html`` (plots embedded as base64, no external files), ``summary.md`` (the same tables, plots
  referenced by file name) and ``report.json`` (every number, JSON-safe) with the per-group summary,
  normalised scores, probabilities of improvement, hacking verdicts, and the runs that were *not*
  aggregated: damaged run directories (with the reason), groups whose runs disagree, and unfinished runs.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter
from numpy.typing import NDArray

from rewardlab.analysis.aggregate import (
    Curve,
    GroupKey,
    RunProblem,
    RunRecord,
    SkippedRun,
    cross_task,
    group_records,
    load_runs,
    summarize,
)
from rewardlab.analysis.hacking import HackingConfig, RunHacking, analyze_runs
from rewardlab.analysis.stats import t975

PNG_NAMES = {
    "learning_curves": "learning_curves.png",
    "aggregate": "aggregate.png",
    "reward_vs_fitness": "reward_vs_fitness.png",
}
_MIN_EVAL_POINTS = 3
_MAX_GRID = 200  # most points of an interpolated mean curve
_DPI = 130
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")  # per seed in scatters, per reward on curves
_AGENT_STYLES = ("-", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))
_FEW_POINTS = 30  # curves with at most this many points get markers


@dataclass
class _Report:
    """Everything the writers need, computed once."""

    root: Path
    records: list[RunRecord]
    problems: list[RunProblem]
    skipped: list[SkippedRun]
    group_errors: list[tuple[GroupKey, str]]
    rows: list[dict[str, Any]]
    cross: dict[str, Any]
    hacking: list[RunHacking]
    ci_level: float


def write_report(
    experiment_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    reps: int = 2000,
    seed: int = 0,
    baseline: str = "sparse",
    reference: str = "hand",
    hacking_config: HackingConfig | None = None,
) -> dict[str, Path]:
    """Write the plots, ``report.html``, ``summary.md`` and ``report.json`` of an experiment.

    :param experiment_dir: an experiment directory (or any folder above run directories).
    :param out_dir: where to write; ``<experiment_dir>/report/`` by default (created).
    :param reps: bootstrap replicates per confidence interval.
    :param seed: bootstrap seed; the same seed gives the same report.
    :param baseline: reward that scores 0 in the cross-task normalised score.
    :param reference: reward that scores 1 in the cross-task normalised score.
    :param hacking_config: thresholds of the reward-hacking flag.
    :returns: ``{"learning_curves", "aggregate", "reward_vs_fitness", "html", "markdown", "json"}`` -> path.
    :raises FileNotFoundError: when ``experiment_dir`` is not a directory.
    """
    root = Path(experiment_dir)
    out = Path(out_dir) if out_dir is not None else root / "report"
    rep = _collect(root, reps=reps, seed=seed, baseline=baseline, reference=reference, cfg=hacking_config)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / file for name, file in PNG_NAMES.items()}
    _save(_plot_learning_curves(rep), paths["learning_curves"])
    _save(_plot_aggregate(rep), paths["aggregate"])
    _save(_plot_reward_vs_fitness(rep), paths["reward_vs_fitness"])
    paths["html"] = out / "report.html"
    paths["markdown"] = out / "summary.md"
    paths["json"] = out / "report.json"
    paths["html"].write_text(_render_html(rep, {k: paths[k] for k in PNG_NAMES}))
    paths["markdown"].write_text(_render_markdown(rep))
    paths["json"].write_text(json.dumps(_report_json(rep), indent=2, allow_nan=False) + "\n")
    return paths


def _collect(root: Path, *, reps: int, seed: int, baseline: str, reference: str, cfg: HackingConfig | None) -> _Report:
    records, problems, skipped = load_runs(root)
    rows: list[dict[str, Any]] = []
    good: list[RunRecord] = []
    errors: list[tuple[GroupKey, str]] = []
    # one group at a time, so a group whose runs disagree (fitness unit, threshold) is reported, not fatal
    for key, runs in group_records(records).items():
        try:
            rows.extend(summarize(runs, reps=reps, seed=seed))
        except ValueError as e:
            errors.append((key, str(e)))
        else:
            good.extend(runs)
    cross = cross_task(good, baseline=baseline, reference=reference, reps=reps, seed=seed)
    hacking = analyze_runs(good, cfg)
    return _Report(root, good, problems, skipped, errors, rows, cross, hacking, 0.95)


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=_DPI, facecolor="white")


# --------------------------------------------------------------------------------------------------
# number formatting


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


def _steps_tick(x: float, _pos: Any = None) -> str:
    if abs(x) >= 1e6:
        return f"{x / 1e6:g}M"
    if abs(x) >= 1e3:
        return f"{x / 1e3:g}k"
    return f"{x:g}"


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------------------
# colours and labels


def _reward_colors(rewards: Iterable[str]) -> dict[str, Any]:
    """One colour per reward, the same in every plot."""
    names = sorted(set(rewards))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {r: cmap(i % cmap.N) for i, r in enumerate(names)}


def _agent_styles(agents: Iterable[str]) -> dict[str, Any]:
    return {a: _AGENT_STYLES[i % len(_AGENT_STYLES)] for i, a in enumerate(sorted(set(agents)))}


def _method_label(reward: str, agent: str, several_agents: bool) -> str:
    return f"{reward} · {agent}" if several_agents else reward


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _wrap(text: str, width: int) -> str:
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


def _tasks(rep: _Report) -> list[str]:
    return sorted({r.task for r in rep.records})


def _no_data(fig: Figure, text: str) -> Figure:
    fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, color="0.4")
    return fig


def _seeds_text(counts: Iterable[int]) -> str:
    """``3 seeds``, ``1 seed``, ``2–3 seeds``."""
    c = sorted(set(counts)) or [0]
    n = str(c[0]) if c[0] == c[-1] else f"{c[0]}–{c[-1]}"
    return f"{n} seed{'' if c[-1] == 1 else 's'}"


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(max_cols, max(n, 1))
    return math.ceil(max(n, 1) / cols), cols


# --------------------------------------------------------------------------------------------------
# learning curves


@dataclass(frozen=True)
class _MeanCurve:
    source: Curve
    steps: NDArray[np.float64]
    mean: NDArray[np.float64]
    low: NDArray[np.float64] | None
    high: NDArray[np.float64] | None
    n_seeds: int


def _mean_curve(runs: Sequence[RunRecord]) -> _MeanCurve | None:
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
        return _MeanCurve(source, grid, mean, None, None, n)
    half = t975(n - 1) * vals.std(axis=0, ddof=1) / math.sqrt(n)
    floor = min(float(v.min()) for _, v in curves)
    ceil = max(float(v.max()) for _, v in curves)
    return _MeanCurve(source, grid, mean, np.maximum(mean - half, floor), np.minimum(mean + half, ceil), n)


def _plot_learning_curves(rep: _Report) -> Figure:
    tasks = _tasks(rep)
    nrows, ncols = _grid(len(tasks))
    fig = Figure(figsize=(5.4 * ncols, 3.9 * nrows + 0.9), layout="constrained")
    if not tasks:
        return _no_data(fig, "no finished runs to plot")
    groups = group_records(rep.records)
    colors = _reward_colors(r.reward for r in rep.records)
    agents = sorted({r.agent for r in rep.records})
    styles = _agent_styles(agents)
    several = len(agents) > 1
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    markers = {r: _MARKERS[i % len(_MARKERS)] for i, r in enumerate(sorted(colors))}
    handles: dict[str, Any] = {}
    for ax, task in zip(axes, tasks, strict=False):
        sources, seeds = set(), set()
        mine = [(k, runs) for k, runs in groups.items() if k[0] == task]
        for i, ((_, reward, agent), runs) in enumerate(mine):
            c = _mean_curve(runs)
            if c is None:
                continue
            sources.add(c.source)
            seeds.add(c.n_seeds)
            label = _wrap(_method_label(reward, agent, several), 40)
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
        ax.set_title(f"{task}\n{src} fitness, {_seeds_text(seeds)}", fontsize=11)
        ax.set_xlabel("environment steps")
        ax.set_ylabel(f"fitness [{runs0.fitness_unit}]")
        ax.xaxis.set_major_formatter(FuncFormatter(_steps_tick))
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


# --------------------------------------------------------------------------------------------------
# aggregate interval estimates


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
    ax.set_yticks(ys, [_wrap(it.label, 24) for it in items])
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


def _plot_aggregate(rep: _Report) -> Figure:
    several = len({r["agent"] for r in rep.rows}) > 1
    colors = _reward_colors(r.reward for r in rep.records)
    panels: list[tuple[str, str, list[_Interval], list[_Interval]]] = []  # title, xlabel, IQM items, mean items
    for task in _tasks(rep):
        rows = [r for r in rep.rows if r["task"] == task]
        if not rows:
            continue
        label = f"final fitness [{rows[0]['fitness_unit']}]"
        iq = [
            _Interval(
                _method_label(r["reward"], r["agent"], several),
                r["reward"],
                r["final_fitness_iqm"],
                *r["final_fitness_iqm_ci"],
            )
            for r in rows
        ]
        mn = [
            _Interval(
                _method_label(r["reward"], r["agent"], several),
                r["reward"],
                r["final_fitness_mean"],
                *r["final_fitness_mean_ci"],
            )
            for r in rows
        ]
        panels.append((f"{task} ({_seeds_text(r['n_seeds'] for r in rows)})", label, iq, mn))
    baseline, reference = rep.cross["baseline"], rep.cross["reference"]
    for agent in sorted({r["agent"] for r in rep.cross["normalized_score"]}):
        rows = [r for r in rep.cross["normalized_score"] if r["agent"] == agent]
        n_tasks = max(r["n_tasks"] for r in rows)
        iq = [_Interval(_method_label(r["reward"], agent, several), r["reward"], r["iqm"], *r["iqm_ci"]) for r in rows]
        mn = [
            _Interval(_method_label(r["reward"], agent, several), r["reward"], r["mean"], *r["mean_ci"]) for r in rows
        ]
        title = f"normalised score over {n_tasks} task{'s' if n_tasks > 1 else ''}" + (f", {agent}" if several else "")
        xlabel = f"(fitness − {baseline}) / |{reference} − {baseline}|;  dotted: {baseline} = 0, {reference} = 1"
        panels.append((title, xlabel, iq, mn))

    heights = [max(len(p[2]), 1) * 0.42 + 1.25 for p in panels]
    fig = Figure(figsize=(10.5, sum(heights) + 0.6 if panels else 3.0), layout="constrained")
    if not panels:
        return _no_data(fig, "no finished runs to aggregate")
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


# --------------------------------------------------------------------------------------------------
# reward vs fitness


def _plot_reward_vs_fitness(rep: _Report) -> Figure:
    colors = _reward_colors(r.reward for r in rep.records)
    several = len({h.agent for h in rep.hacking}) > 1
    by_task: dict[str, dict[tuple[str, str], list[RunHacking]]] = {}
    for h in sorted(rep.hacking, key=lambda h: (h.task, h.reward, h.agent, h.seed)):
        by_task.setdefault(h.task, {}).setdefault((h.reward, h.agent), []).append(h)
    units = {r.task: r.fitness_unit for r in rep.records}
    cells = [(task, key, runs) for task, methods in by_task.items() for key, runs in methods.items()]
    rows: list[list[tuple[str, tuple[str, str], list[RunHacking]]]] = []
    most = max((len(v) for v in by_task.values()), default=1)
    if most == 1:  # one method per task: flow the tasks across the grid
        ncols = max(1, min(3, len(cells)))
        rows.extend(cells[i : i + ncols] for i in range(0, len(cells), ncols))
    else:  # each task starts a new row; a task with more methods than columns wraps
        ncols = min(most, 4)
        for task in by_task:
            mine = [c for c in cells if c[0] == task]
            rows.extend(mine[i : i + ncols] for i in range(0, len(mine), ncols))
    fig = Figure(figsize=(max(4.6 * ncols, 8.0), 4.3 * max(len(rows), 1)), layout="constrained")
    if not rows:
        return _no_data(fig, "no training windows to plot")
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    for r_i, row in enumerate(rows):
        for c_i in range(ncols):
            ax = axes[r_i, c_i]
            if c_i >= len(row):
                ax.set_visible(False)
                continue
            task, (reward, agent), runs = row[c_i]
            handles = []
            for i, h in enumerate(runs):
                marker = _MARKERS[i % len(_MARKERS)]
                flagged = h.result.flagged
                rho = h.result.spearman_shaped_fitness
                label = f"s{h.seed}: ρ = {'n/a' if rho is None else f'{rho:.2f}'}"
                if flagged:
                    label += f"  ⚠ hacking ({h.result.kind})"
                elif h.result.verdict == "insufficient data":
                    label += "  (too few windows)"
                ax.scatter(
                    h.series.shaped,
                    h.series.fitness,
                    s=30 if flagged else 16,
                    marker=marker,
                    color=colors[reward],
                    alpha=0.55,
                    edgecolors="red" if flagged else "none",
                    linewidths=1.2 if flagged else 0,
                )
                handles.append(
                    Line2D(
                        [],
                        [],
                        ls="",
                        marker=marker,
                        color=colors[reward],
                        markeredgecolor="red" if flagged else colors[reward],
                        markeredgewidth=1.5 if flagged else 0.5,
                        label=label,
                    )
                )
            ax.set_title(f"{task}\n{_wrap(_method_label(reward, agent, several) + ' reward', 44)}", fontsize=10)
            ax.set_xlabel("shaped return per episode [reward units]")
            ax.set_ylabel(f"fitness [{units.get(task, '?')}]")
            ax.grid(alpha=0.3)
            ax.legend(
                handles=handles,
                loc="upper center",
                bbox_to_anchor=(0.5, -0.2),
                fontsize=8,
                frameon=False,
                ncol=1 if any(h.result.flagged for h in runs) else min(len(runs), 3),
                handletextpad=0.2,
                columnspacing=0.8,
            )
    fig.suptitle(
        "Shaped return vs fitness, one point per training logging window\n"
        "ρ: Spearman rank correlation per seed; red edge: run flagged for reward hacking",
        fontsize=11,
    )
    return fig


# --------------------------------------------------------------------------------------------------
# tables (one model, rendered to HTML and Markdown)


@dataclass(frozen=True)
class _Table:
    title: str
    note: str
    header: list[str]
    rows: list[list[str]]
    empty: str = "none"
    highlight: frozenset[int] = frozenset()
    """Indices of rows to highlight (flagged runs)."""


def _tables(rep: _Report) -> list[_Table]:
    level = f"{rep.ci_level:.0%}"
    summary = _Table(
        "Per-method summary",
        f"Final fitness: the final deterministic evaluation of each seed; [{level} stratified-bootstrap interval "
        "over seeds]. Success: fraction of final evaluation episodes at or above the threshold. AUC: mean height "
        "of the training-episode fitness curve (sample efficiency, fitness units). Steps to threshold: median "
        "first step the training curve reached the threshold (seeds reaching it / seeds).",
        [
            "task",
            "reward",
            "agent",
            "seeds",
            "unit",
            "threshold",
            "final fitness mean",
            "final fitness IQM",
            "success rate",
            "AUC",
            "steps to threshold",
            "wall time / run [s]",
        ],
        [
            [
                r["task"],
                r["reward"],
                r["agent"],
                str(r["n_seeds"]),
                r["fitness_unit"],
                fmt(r["success_threshold"]),
                fmt_ci(r["final_fitness_mean"], r["final_fitness_mean_ci"]),
                fmt_ci(r["final_fitness_iqm"], r["final_fitness_iqm_ci"]),
                fmt_ci(r["success_rate_mean"], r["success_rate_mean_ci"]),
                fmt_ci(r["auc_mean"], r["auc_mean_ci"]),
                f"{fmt_steps(r['steps_to_threshold_median'])} ({r['steps_to_threshold_n_reached']}/{r['n_seeds']})",
                fmt(r["wall_time_s_mean"]),
            ]
            for r in rep.rows
        ],
        "no finished runs",
    )
    cross = rep.cross
    b, h = cross["baseline"], cross["reference"]
    norm = _Table(
        "Cross-task normalised score",
        f"(fitness − mean {b}) / |mean {h} − mean {b}| per task, so {b} ≈ 0 and {h} ≈ 1; IQM and mean over all "
        f"runs of all tasks with [{level} stratified-bootstrap interval].",
        ["agent", "reward", "tasks", "runs", "IQM", "mean", "mean per task"],
        [
            [
                r["agent"],
                r["reward"],
                str(r["n_tasks"]),
                str(r["n_runs"]),
                fmt_ci(r["iqm"], r["iqm_ci"]),
                fmt_ci(r["mean"], r["mean_ci"]),
                ", ".join(f"{t}: {fmt(v)}" for t, v in r["per_task"].items()),
            ]
            for r in cross["normalized_score"]
        ],
        f"no task has both {b} and {h} runs with different mean fitness",
    )
    excluded = _Table(
        "Tasks left out of the normalised score",
        "",
        ["task", "agent", "reason"],
        [[e["task"], e["agent"], e["reason"]] for e in cross["excluded"]],
    )
    poi = _Table(
        "Probability of improvement",
        f"P(a run of X beats a run of Y on final fitness), averaged over the tasks both ran; [{level} "
        "stratified-bootstrap interval]. 0.5: no difference.",
        ["agent", "X", "Y", "tasks", "P(X > Y)"],
        [
            [r["agent"], r["x"], r["y"], ", ".join(r["tasks"]), fmt_ci(r["value"], r["ci"])]
            for r in cross["probability_of_improvement"]
        ],
        "fewer than two rewards ran on a common task",
    )
    cfg = rep.hacking[0].result.config if rep.hacking else HackingConfig()
    verdicts = sorted(rep.hacking, key=lambda x: (not x.result.flagged, x.task, x.reward, x.agent, x.seed))
    n_flag = sum(x.result.flagged for x in verdicts)
    hack = _Table(
        "Reward hacking",
        f"{n_flag} of {len(rep.hacking)} runs flagged. Training windows split into thirds; early vs late third "
        f"by a one-sided Mann–Whitney test. Flagged when the shaped return rises (p < {cfg.alpha:g} and ≥ "
        f"{cfg.min_effect:g} robust sd) while fitness does not rise (p ≥ {cfg.fitness_alpha:g}): it falls, or "
        "stays flat below the success threshold. ρ: Spearman correlation across windows.",
        [
            "task",
            "reward",
            "agent",
            "seed",
            "verdict",
            "windows",
            "ρ(shaped, fitness)",
            "ρ(component, fitness)",
            "explanation",
        ],
        [
            [
                x.task,
                x.reward,
                x.agent,
                str(x.seed),
                x.result.verdict + (f" ({x.result.kind})" if x.result.kind else ""),
                str(x.result.n_windows),
                fmt(x.result.spearman_shaped_fitness),
                ", ".join(f"{k}: {fmt(v)}" for k, v in x.result.spearman_components.items()) or "–",
                x.result.explanation,
            ]
            for x in verdicts
        ],
        "no finished runs",
        frozenset(i for i, x in enumerate(verdicts) if x.result.flagged),
    )
    problems = _Table(
        "Problem runs (not aggregated)",
        "Run directories with missing, corrupted or inconsistent files, duplicates, and groups whose runs disagree.",
        ["run", "reason"],
        [[_rel(p.path, rep.root), p.reason] for p in rep.problems]
        + [[" / ".join(k), f"group left out: {e}"] for k, e in rep.group_errors],
    )
    skipped = _Table(
        "Unfinished runs (not aggregated)",
        "",
        ["run", "state"],
        [[_rel(s.path, rep.root), s.state] for s in rep.skipped],
    )
    return [summary, norm, excluded, poi, hack, problems, skipped]


_FIGURES = (
    ("learning_curves", "Learning curves"),
    ("aggregate", "Final fitness: interval estimates"),
    ("reward_vs_fitness", "Shaped return vs fitness"),
)


def _overview(rep: _Report) -> list[str]:
    return [
        f"Experiment: {rep.root}",
        f"Runs aggregated: {len(rep.records)} in {_count(len(rep.rows), 'group')} "
        f"over {_count(len(_tasks(rep)), 'task')}",
        f"Problem runs: {len(rep.problems)}; groups left out: {len(rep.group_errors)}; unfinished runs: {len(rep.skipped)}",
        f"Runs flagged for reward hacking: {sum(h.result.flagged for h in rep.hacking)}",
    ]


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


def _is_num(cell: str) -> bool:
    head = cell.split(" ", 1)[0].replace(",", "").replace("−", "-")
    try:
        float(head)
    except ValueError:
        return head in ("–", "∞", "-∞")
    return True


def _html_table(t: _Table) -> str:
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
            f'<td class="num">{html.escape(c)}</td>' if _is_num(c) else f"<td>{html.escape(c)}</td>" for c in row
        )
        body.append(f"<tr{flag}>{cells}</tr>")
    parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
    return "\n".join(parts)


def _render_html(rep: _Report, pngs: Mapping[str, Path]) -> str:
    name = rep.root.resolve().name
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>rewardlab report: {html.escape(name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>rewardlab report: {html.escape(name)}</h1>",
        '<ul class="overview">' + "".join(f"<li>{html.escape(s)}</li>" for s in _overview(rep)) + "</ul>",
    ]
    if rep.problems or rep.group_errors or rep.skipped:  # they change what the numbers mean: say so up front
        out.append(
            '<p class="note"><strong>Some run directories were not aggregated</strong>: see the problem '
            "runs at the end of this page.</p>"
        )
    for key, title in _FIGURES:
        data = base64.b64encode(pngs[key].read_bytes()).decode("ascii")
        out.append(f"<h2>{html.escape(title)}</h2>")
        out.append(f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">')
    out.extend(_html_table(t) for t in _tables(rep))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _md_cell(c: str) -> str:
    return c.replace("|", "\\|").replace("\n", " ")


def _md_table(t: _Table) -> str:
    parts = [f"## {t.title}", ""]
    if t.note:
        parts += [t.note, ""]
    if not t.rows:
        parts += [f"*{t.empty}*", ""]
        return "\n".join(parts)
    parts.append("| " + " | ".join(_md_cell(h) for h in t.header) + " |")
    parts.append("|" + "|".join("---:" if _is_num(c) else "---" for c in t.rows[0]) + "|")
    parts += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
    parts.append("")
    return "\n".join(parts)


def _render_markdown(rep: _Report) -> str:
    name = rep.root.resolve().name
    out = [f"# rewardlab report: {name}", ""]
    out += [f"- {s}" for s in _overview(rep)]
    out.append("")
    for key, title in _FIGURES:
        out += [f"## {title}", "", f"![{title}]({PNG_NAMES[key]})", ""]
    out += [_md_table(t) for t in _tables(rep)]
    return "\n".join(out).rstrip() + "\n"


def _report_json(rep: _Report) -> dict[str, Any]:
    return {
        "root": str(rep.root),
        "groups": rep.rows,
        "cross_task": rep.cross,
        "hacking": [
            {
                "path": str(h.path),
                "task": h.task,
                "reward": h.reward,
                "agent": h.agent,
                "seed": h.seed,
                **h.result.as_dict(),
            }
            for h in rep.hacking
        ],
        "problems": [{"path": str(p.path), "reason": p.reason} for p in rep.problems],
        "group_errors": [{"task": k[0], "reward": k[1], "agent": k[2], "reason": e} for k, e in rep.group_errors],
        "skipped": [{"path": str(s.path), "state": s.state} for s in rep.skipped],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rewardlab.report EXPERIMENT_DIR [OUT_DIR]``: write the report and print where it went."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if not 1 <= len(args) <= 2:
        print("usage: python -m rewardlab.report EXPERIMENT_DIR [OUT_DIR]", file=sys.stderr)
        return 2
    paths = write_report(Path(args[0]), Path(args[1]) if len(args) == 2 else None)
    print(paths["html"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
