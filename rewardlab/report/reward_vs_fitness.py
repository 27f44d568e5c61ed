"""``reward_vs_fitness.png``: shaped return against fitness for every training logging window, per run, with
the Spearman correlation per seed; runs flagged for reward hacking drawn with red edges."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rewardlab.analysis.hacking import RunHacking
from rewardlab.report.data import ReportData
from rewardlab.report.figures import MARKERS, method_label, no_data, reward_colors
from rewardlab.report.format import wrap_label


def plot_reward_vs_fitness(rep: ReportData) -> Figure:
    colors = reward_colors(r.reward for r in rep.records)
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
        return no_data(fig, "no training windows to plot")
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
                marker = MARKERS[i % len(MARKERS)]
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
            ax.set_title(f"{task}\n{wrap_label(method_label(reward, agent, several) + ' reward', 44)}", fontsize=10)
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
