"""Aggregate finished run directories into per-method tables and cross-task comparisons.

::

    loaded = load_runs(Path("runs/demo"))          # records, problems, skipped
    rows = summarize(loaded.records)               # one JSON-ready row per (task, reward, agent)
    comparison = cross_task(loaded.records)        # normalised scores and probabilities of improvement

A run is aggregated only when its ``status.json`` says ``done`` and its ``config.json``, ``summary.json`` and
``metrics.jsonl`` are present, parse, and agree with each other. Runs in another state are listed in
``skipped``; damaged runs are listed in ``problems`` with the reason, never averaged in.

Every number in the output is a plain float or ``None`` (for nan or "never"), so the output is strict JSON.
Loading lives in :mod:`rewardlab.analysis.records`; its names are re-exported here.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rewardlab.analysis import records as _records
from rewardlab.analysis.records import *  # noqa: F403  (re-exported: every name in records.__all__)
from rewardlab.analysis.records import Curve, RunRecord, group_records, load_runs
from rewardlab.analysis.stats import (
    BootstrapCI,
    auc,
    iqm,
    normalized_score,
    probability_of_improvement_ci,
    steps_to_level_rule,
    stratified_bootstrap_ci,
)

# --------------------------------------------------------------------------------------------------
# per-group summary


def _f(x: float | None) -> float | None:
    """JSON-safe number: nan and inf become ``None``."""
    return None if x is None or not math.isfinite(x) else float(x)


def _step(x: float | None) -> int | float | None:
    """A step count as an int when it is one (steps are logged as integers)."""
    return None if x is None else int(x) if float(x).is_integer() else float(x)


def _ci(ci: BootstrapCI) -> list[float | None]:
    return [_f(ci.low), _f(ci.high)]


def _common(runs: Sequence[RunRecord], attr: str) -> Any:
    values = {getattr(r, attr) for r in runs}
    if len(values) != 1:
        t, rw, ag = runs[0].key
        raise ValueError(f"runs of ({t}, {rw}, {ag}) disagree on {attr}: {sorted(map(str, values))}")
    return values.pop()


def summarize(
    records: Iterable[RunRecord],
    reps: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
    curve: Curve = "train",
) -> list[dict[str, Any]]:
    """One row per ``(task, reward, agent)``, sorted, every value JSON-serialisable.

    Row fields (``*_ci`` are ``[low, high]`` stratified-bootstrap percentile intervals at ``ci_level``, over
    seeds):

    * ``task``, ``reward``, ``agent``, ``n_seeds``, ``seeds``, ``fitness_unit``, ``success_threshold``,
      ``ci_level``, ``curve``;
    * ``final_fitness_per_seed``, ``final_fitness_mean`` (+ ``_ci``), ``final_fitness_iqm`` (+ ``_ci``): final
      evaluation fitness;
    * ``success_rate_mean`` (+ ``_ci``): fraction of final evaluation episodes that succeeded;
    * ``auc_mean`` (+ ``_ci``), ``auc_n``: mean height of the ``curve`` fitness curve over its step range
      (sample efficiency, in fitness units) and how many seeds had a curve;
    * ``steps_to_threshold_per_seed`` (``None``: never), ``steps_to_threshold_median``,
      ``steps_to_threshold_n_reached``, ``steps_to_threshold_rule``: first step at which the fitness of the
      curve's last episodes, at least :data:`~rewardlab.analysis.stats.MIN_EPISODES` of them, reached
      ``success_threshold`` (:func:`~rewardlab.analysis.stats.steps_to_level`); the median counts a seed that
      never reached it as infinitely late, so it is ``None`` unless more than half of the seeds reached it;
    * ``steps_mean``, ``wall_time_s_mean``, ``wall_time_s_total``.

    :param records: runs from :func:`load_runs`.
    :param reps: bootstrap replicates per interval.
    :param alpha: 1 - confidence level.
    :param seed: bootstrap seed (the same for every group, so every row is reproducible on its own).
    :param curve: ``"train"`` (windowed training-episode fitness) or ``"eval"`` (periodic evaluations).
    :raises ValueError: when runs of one group disagree on the fitness unit or success threshold.
    """
    rows: list[dict[str, Any]] = []
    for (task, reward, agent), runs in group_records(records).items():
        unit = _common(runs, "fitness_unit")
        threshold = _common(runs, "success_threshold")
        final = np.array([r.final_fitness for r in runs])
        success = np.array([r.success_rate for r in runs])
        curves = [r.curve(curve) for r in runs]
        aucs = np.array([auc(s, v) for s, v in curves if s.size])
        reached = [r.steps_to_threshold(curve) for r in runs]
        lateness = np.array([math.inf if x is None else x for x in reached])
        median = float(np.median(lateness))  # inf when half or more never reached it
        walls = [r.wall_time_s for r in runs if r.wall_time_s is not None]
        steps = [r.steps for r in runs if r.steps is not None]
        mean_ci = stratified_bootstrap_ci(final, np.mean, reps, alpha, seed)
        iqm_ci = stratified_bootstrap_ci(final, iqm, reps, alpha, seed)
        succ_ci = stratified_bootstrap_ci(success, np.mean, reps, alpha, seed)
        auc_ci = stratified_bootstrap_ci(aucs, np.mean, reps, alpha, seed) if aucs.size else None
        rows.append(
            {
                "task": task,
                "reward": reward,
                "agent": agent,
                "n_seeds": len(runs),
                "seeds": [r.seed for r in runs],
                "fitness_unit": unit,
                "success_threshold": _f(threshold),
                "ci_level": 1.0 - alpha,
                "curve": curve,
                "final_fitness_per_seed": [_f(x) for x in final],
                "final_fitness_mean": _f(mean_ci.estimate),
                "final_fitness_mean_ci": _ci(mean_ci),
                "final_fitness_iqm": _f(iqm_ci.estimate),
                "final_fitness_iqm_ci": _ci(iqm_ci),
                "success_rate_mean": _f(succ_ci.estimate),
                "success_rate_mean_ci": _ci(succ_ci),
                "auc_mean": None if auc_ci is None else _f(auc_ci.estimate),
                "auc_mean_ci": [None, None] if auc_ci is None else _ci(auc_ci),
                "auc_n": int(aucs.size),
                "steps_to_threshold_per_seed": [_step(x) for x in reached],
                "steps_to_threshold_median": _step(_f(median)),
                "steps_to_threshold_n_reached": sum(x is not None for x in reached),
                "steps_to_threshold_rule": steps_to_level_rule("the success threshold"),
                "steps_mean": _f(float(np.mean(steps))) if steps else None,
                "wall_time_s_mean": _f(float(np.mean(walls))) if walls else None,
                "wall_time_s_total": _f(float(np.sum(walls))) if walls else None,
            }
        )
    return rows


# --------------------------------------------------------------------------------------------------
# across tasks


def cross_task(
    records: Iterable[RunRecord],
    baseline: str = "sparse",
    reference: str = "hand",
    reps: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, Any]:
    """Normalised scores and probabilities of improvement across tasks, per agent, on final fitness.

    **Normalised score.** On each (task, agent) where both the ``baseline`` and the ``reference`` reward ran,
    each run of every reward is scored ``(fitness - mean baseline) / |mean reference - mean baseline|``
    (:func:`~rewardlab.analysis.stats.normalized_score`), so the baseline sits near 0 and the reference near
    +1 (or -1 if it is worse). Tasks without both, or where the two means are equal, are listed in
    ``excluded`` with the reason. Per (agent, reward), the IQM and the mean over all normalised runs of all its
    tasks come with stratified-bootstrap intervals (runs resampled within each task). The intervals treat
    the baseline and reference means as fixed.

    **Probability of improvement.** For every pair of rewards ``x < y`` (by name) run with the same agent, on
    the tasks both ran: P(a run of x beats a run of y), averaged over tasks, with a stratified-bootstrap
    interval. P(y beats x) is ``1 - value``.

    :returns: ``{"baseline", "reference", "ci_level", "normalized_score": [row, ...],
        "excluded": [{"task", "agent", "reason"}, ...], "probability_of_improvement": [row, ...]}``; every value
        JSON-serialisable. Normalised-score rows: ``agent, reward, n_tasks, tasks, n_runs, per_task`` (mean
        normalised score per task), ``iqm, iqm_ci, mean, mean_ci``. Improvement rows: ``agent, x, y, n_tasks,
        tasks, value, ci``.
    """
    # agent -> reward -> task -> (n_runs,) final fitness
    fit: dict[str, dict[str, dict[str, NDArray[np.float64]]]] = defaultdict(lambda: defaultdict(dict))
    for (task, reward, agent), runs in group_records(records).items():
        fit[agent][reward][task] = np.array([r.final_fitness for r in runs])

    excluded: list[dict[str, Any]] = []
    norm_rows: list[dict[str, Any]] = []
    poi_rows: list[dict[str, Any]] = []
    for agent in sorted(fit):
        by_reward = fit[agent]
        tasks = sorted({t for per_task in by_reward.values() for t in per_task})
        normalised: dict[str, dict[str, NDArray[np.float64]]] = defaultdict(dict)
        for task in tasks:
            missing = [r for r in (baseline, reference) if task not in by_reward.get(r, {})]
            if missing:
                excluded.append({"task": task, "agent": agent, "reason": f"no {' or '.join(missing)} runs"})
                continue
            b = float(by_reward[baseline][task].mean())
            h = float(by_reward[reference][task].mean())
            if h == b:
                excluded.append(
                    {
                        "task": task,
                        "agent": agent,
                        "reason": f"{reference} and {baseline} have the same mean fitness ({b:g}); "
                        "the normalised score is undefined",
                    }
                )
                continue
            for reward, per_task in by_reward.items():
                if task in per_task:
                    normalised[reward][task] = np.asarray(normalized_score(per_task[task], b, h))
        for reward in sorted(normalised):
            scores = normalised[reward]
            iqm_ci = stratified_bootstrap_ci(scores, iqm, reps, alpha, seed)
            mean_ci = stratified_bootstrap_ci(scores, np.mean, reps, alpha, seed)
            norm_rows.append(
                {
                    "agent": agent,
                    "reward": reward,
                    "n_tasks": len(scores),
                    "tasks": sorted(scores),
                    "n_runs": int(sum(v.size for v in scores.values())),
                    "per_task": {t: _f(float(scores[t].mean())) for t in sorted(scores)},
                    "iqm": _f(iqm_ci.estimate),
                    "iqm_ci": _ci(iqm_ci),
                    "mean": _f(mean_ci.estimate),
                    "mean_ci": _ci(mean_ci),
                }
            )
        for x, y in combinations(sorted(by_reward), 2):
            common = sorted(by_reward[x].keys() & by_reward[y].keys())
            if not common:
                continue
            ci = probability_of_improvement_ci(
                {t: by_reward[x][t] for t in common}, {t: by_reward[y][t] for t in common}, reps, alpha, seed
            )
            poi_rows.append(
                {
                    "agent": agent,
                    "x": x,
                    "y": y,
                    "n_tasks": len(common),
                    "tasks": common,
                    "value": _f(ci.estimate),
                    "ci": _ci(ci),
                }
            )
    return {
        "baseline": baseline,
        "reference": reference,
        "ci_level": 1.0 - alpha,
        "normalized_score": norm_rows,
        "excluded": excluded,
        "probability_of_improvement": poi_rows,
    }


def aggregate(
    root: str | os.PathLike[str],
    reps: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
    curve: Curve = "train",
    baseline: str = "sparse",
    reference: str = "hand",
) -> dict[str, Any]:
    """Everything for a report in one JSON-serialisable dict: load, summarise, compare.

    :returns: ``{"root", "groups": summarize(...), "cross_task": cross_task(...), "problems": [{"path",
        "reason"}], "skipped": [{"path", "state"}]}``.
    """
    loaded = load_runs(root)
    return {
        "root": str(root),
        "groups": summarize(loaded.records, reps=reps, alpha=alpha, seed=seed, curve=curve),
        "cross_task": cross_task(
            loaded.records, baseline=baseline, reference=reference, reps=reps, alpha=alpha, seed=seed
        ),
        "problems": [{"path": str(p.path), "reason": p.reason} for p in loaded.problems],
        "skipped": [{"path": str(s.path), "state": s.state} for s in loaded.skipped],
    }


__all__ = ["aggregate", "cross_task", "summarize"]
__all__ += _records.__all__  # the loading, from rewardlab.analysis.records
