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

The modules: :mod:`~rewardlab.report.data` (the numbers, computed once, and ``report.json``),
:mod:`~rewardlab.report.learning_curves`, :mod:`~rewardlab.report.aggregate_plot`,
:mod:`~rewardlab.report.reward_vs_fitness` (one PNG each; :mod:`~rewardlab.report.figures` holds what they
share), :mod:`~rewardlab.report.tables` (one table model) rendered by :mod:`~rewardlab.report.html` and
:mod:`~rewardlab.report.markdown`, and :mod:`~rewardlab.report.format` (numbers and labels).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rewardlab.analysis.hacking import HackingConfig
from rewardlab.report.aggregate_plot import plot_aggregate
from rewardlab.report.data import collect, report_json
from rewardlab.report.figures import PNG_NAMES, save_figure
from rewardlab.report.format import fmt, fmt_ci, fmt_steps
from rewardlab.report.html import render_html
from rewardlab.report.learning_curves import plot_learning_curves
from rewardlab.report.markdown import render_markdown
from rewardlab.report.reward_vs_fitness import plot_reward_vs_fitness


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
    rep = collect(root, reps=reps, seed=seed, baseline=baseline, reference=reference, cfg=hacking_config)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / file for name, file in PNG_NAMES.items()}
    save_figure(plot_learning_curves(rep), paths["learning_curves"])
    save_figure(plot_aggregate(rep), paths["aggregate"])
    save_figure(plot_reward_vs_fitness(rep), paths["reward_vs_fitness"])
    paths["html"] = out / "report.html"
    paths["markdown"] = out / "summary.md"
    paths["json"] = out / "report.json"
    paths["html"].write_text(render_html(rep, {k: paths[k] for k in PNG_NAMES}))
    paths["markdown"].write_text(render_markdown(rep))
    paths["json"].write_text(json.dumps(report_json(rep), indent=2, allow_nan=False) + "\n")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rewardlab.report EXPERIMENT_DIR [OUT_DIR]``: write the report and print where it went."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not 1 <= len(args) <= 2:
        print("usage: python -m rewardlab.report EXPERIMENT_DIR [OUT_DIR]", file=sys.stderr)
        return 2
    paths = write_report(Path(args[0]), Path(args[1]) if len(args) == 2 else None)
    print(paths["html"])
    return 0


__all__ = ["PNG_NAMES", "fmt", "fmt_ci", "fmt_steps", "main", "write_report"]
