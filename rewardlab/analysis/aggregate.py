"""Aggregate finished run directories into per-method tables and cross-task comparisons.

::

    loaded = load_runs(Path("runs/demo"))          # records, problems, skipped
    rows = summarize(loaded.records)               # one JSON-ready row per (task, reward, agent)
    comparison = cross_task(loaded.records)        # normalised scores and probabilities of improvement

A run is aggregated only when its ``status.json`` says ``done`` and its ``config.json``, ``summary.json`` and
``metrics.jsonl`` are present, parse, and agree with each other. Runs in another state are listed in
``skipped``; damaged runs are listed in ``problems`` with the reason, never averaged in.

Every number in the output is a plain float or ``None`` (for nan or "never"), so the output is strict JSON.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from rewardlab.analysis.stats import (
    BootstrapCI,
    auc,
    iqm,
    normalized_score,
    probability_of_improvement_ci,
    steps_to_level,
    steps_to_level_rule,
    stratified_bootstrap_ci,
)
from rewardlab.experiment.store import RunDir, RunStoreError

Curve = Literal["train", "eval"]
GroupKey = tuple[str, str, str]
"""``(task, reward, agent)``."""

# files whose presence marks a directory as a run directory (its subfolders are not searched further)
_RUN_MARKERS = ("status.json", "config.json", "summary.json", "metrics.jsonl")


@dataclass(frozen=True, eq=False)
class RunRecord:
    """One finished, validated run.

    Curves hold the rows of ``metrics.jsonl`` of one kind that carry a finite fitness, sorted by step.
    """

    path: Path
    task: str
    reward: str
    agent: str
    seed: int
    final_fitness: float
    """``summary.json`` ``fitness_mean``: mean fitness over the final deterministic evaluation episodes."""
    success_rate: float
    """Fraction of those evaluation episodes whose fitness reached ``success_threshold``."""
    success_threshold: float
    fitness_unit: str
    steps: int | None
    """Environment steps trained."""
    wall_time_s: float | None
    train_steps: NDArray[np.float64] = field(repr=False)
    """``(n_train,)`` step of each training logging window."""
    train_fitness: NDArray[np.float64] = field(repr=False)
    """``(n_train,)`` mean fitness of the training episodes finished in that window."""
    eval_steps: NDArray[np.float64] = field(repr=False)
    """``(n_eval,)`` step of each periodic evaluation (the final one included)."""
    eval_fitness: NDArray[np.float64] = field(repr=False)
    """``(n_eval,)`` mean evaluation fitness."""
    train_episodes: NDArray[np.float64] = field(repr=False)
    """``(n_train,)`` training episodes finished in each window (0 where the row does not say)."""
    eval_episodes: NDArray[np.float64] = field(repr=False)
    """``(n_eval,)`` episodes of each evaluation (0 where the row does not say)."""

    @property
    def key(self) -> GroupKey:
        return (self.task, self.reward, self.agent)

    def curve(self, kind: Curve = "train") -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(steps, fitness)``, each ``(n,)``, of the training or evaluation curve."""
        if kind == "train":
            return self.train_steps, self.train_fitness
        if kind == "eval":
            return self.eval_steps, self.eval_fitness
        raise ValueError(f"curve must be 'train' or 'eval', got {kind!r}")

    def episodes(self, kind: Curve = "train") -> NDArray[np.float64]:
        """``(n,)`` episodes behind each point of :meth:`curve`."""
        if kind == "train":
            return self.train_episodes
        if kind == "eval":
            return self.eval_episodes
        raise ValueError(f"curve must be 'train' or 'eval', got {kind!r}")

    def steps_to_threshold(self, kind: Curve = "train") -> float | None:
        """First step at which the fitness of the last episodes reached ``success_threshold``
        (:func:`~rewardlab.analysis.stats.steps_to_level`); ``None``: never."""
        steps, fitness = self.curve(kind)
        return steps_to_level(steps, fitness, self.episodes(kind), self.success_threshold)


@dataclass(frozen=True)
class RunProblem:
    """A run directory that could not be aggregated, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class SkippedRun:
    """A run directory left out because it has not finished (``running``, ``interrupted`` or ``failed``)."""

    path: Path
    state: str


class LoadedRuns(NamedTuple):
    """What :func:`load_runs` found: unpack as ``records, problems, skipped = load_runs(root)``."""

    records: list[RunRecord]
    problems: list[RunProblem]
    skipped: list[SkippedRun]


class _Bad(Exception):
    """Internal: the run directory is unusable for the stated reason."""


# --------------------------------------------------------------------------------------------------
# loading


def find_run_dirs(root: str | os.PathLike[str]) -> list[Path]:
    """Run directories at or below ``root`` (an experiment directory or a whole runs root), sorted.

    A directory holding any of ``status.json``, ``config.json``, ``summary.json`` or ``metrics.jsonl`` is a run
    directory; its subfolders (``tb/``, ``checkpoint/``) are not searched. Hidden folders are ignored.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if any(m in filenames for m in _RUN_MARKERS):
            found.append(Path(dirpath))
            dirnames.clear()
        else:
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    return sorted(found)


def load_runs(root: str | os.PathLike[str]) -> LoadedRuns:
    """Load every run directory under ``root``.

    :returns: ``records`` (finished, valid runs), ``problems`` (missing, corrupted or inconsistent files, and
        duplicates of an already loaded (task, reward, agent, seed), each with its reason) and ``skipped``
        (runs whose status is not ``done``).
    """
    records: list[RunRecord] = []
    problems: list[RunProblem] = []
    skipped: list[SkippedRun] = []
    seen: dict[tuple[str, str, str, int], Path] = {}
    for path in find_run_dirs(root):
        try:
            rec = _load_one(path)
        except _Bad as e:
            problems.append(RunProblem(path, str(e)))
            continue
        if isinstance(rec, SkippedRun):
            skipped.append(rec)
            continue
        ident = (*rec.key, rec.seed)
        if ident in seen:
            problems.append(
                RunProblem(path, f"duplicate of {seen[ident]} (same task, reward, agent and seed); left out")
            )
            continue
        seen[ident] = path
        records.append(rec)
    return LoadedRuns(records, problems, skipped)


def _read(rd: RunDir, name: str) -> Any:
    try:
        return rd.read(name)
    except FileNotFoundError:
        raise _Bad(f"{name} is missing") from None
    except RunStoreError as e:
        raise _Bad(f"{name} is corrupted: {e}") from None
    except OSError as e:
        raise _Bad(f"{name} cannot be read: {e}") from None


def _number(d: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> float | None:
    v = d.get(key)
    if v is None and not required:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _Bad(f"{where}: {key} must be a finite number, got {v!r}")
    return float(v)


def _load_one(path: Path) -> RunRecord | SkippedRun:
    rd = RunDir(path)
    status = _read(rd, "status.json")
    if not isinstance(status, dict) or not isinstance(status.get("state"), str):
        raise _Bad("status.json has no state")
    if status["state"] != "done":
        return SkippedRun(path, status["state"])

    config = _read(rd, "config.json")
    run = config.get("run") if isinstance(config, dict) else None
    if not isinstance(run, dict):
        raise _Bad("config.json has no 'run' section")
    ident: dict[str, Any] = {}
    for k in ("task", "reward", "agent"):
        if not isinstance(run.get(k), str) or not run[k]:
            raise _Bad(f"config.json: run.{k} must be a non-empty string, got {run.get(k)!r}")
        ident[k] = run[k]
    if isinstance(run.get("seed"), bool) or not isinstance(run.get("seed"), int):
        raise _Bad(f"config.json: run.seed must be an integer, got {run.get('seed')!r}")
    ident["seed"] = run["seed"]

    summary = _read(rd, "summary.json")
    if not isinstance(summary, dict):
        raise _Bad("summary.json is not a JSON object")
    for k, v in ident.items():
        if k in summary and summary[k] != v:
            raise _Bad(f"summary.json {k}={summary[k]!r} disagrees with config.json run.{k}={v!r}")
    final = _number(summary, "fitness_mean", "summary.json")
    success = _number(summary, "success_rate", "summary.json")
    threshold = _number(summary, "success_threshold", "summary.json")
    wall = _number(summary, "wall_time_s", "summary.json", required=False)
    steps = _number(summary, "steps", "summary.json", required=False)
    unit = summary.get("fitness_unit")
    if not isinstance(unit, str):
        raise _Bad(f"summary.json: fitness_unit must be a string, got {unit!r}")
    assert final is not None and success is not None and threshold is not None
    if not 0.0 <= success <= 1.0:
        raise _Bad(f"summary.json: success_rate {success} is outside [0, 1]")

    if not rd.metrics_path.is_file():
        raise _Bad("metrics.jsonl is missing")
    try:
        rows = rd.metrics()
    except RunStoreError as e:
        raise _Bad(f"metrics.jsonl is corrupted: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise _Bad(f"metrics.jsonl cannot be read: {e}") from None
    if not rows:
        raise _Bad("metrics.jsonl is empty")
    if not all(isinstance(r, dict) for r in rows):
        raise _Bad("metrics.jsonl holds a line that is not a JSON object")
    train = _curve(rows, "train")
    ev = _curve(rows, "eval")
    if wall is None:
        walls = [r["wall_time"] for r in rows if isinstance(r.get("wall_time"), int | float)]
        wall = float(max(walls)) if walls else None

    return RunRecord(
        path=path,
        task=ident["task"],
        reward=ident["reward"],
        agent=ident["agent"],
        seed=ident["seed"],
        final_fitness=final,
        success_rate=success,
        success_threshold=threshold,
        fitness_unit=unit,
        steps=None if steps is None else int(steps),
        wall_time_s=wall,
        train_steps=train[0],
        train_fitness=train[1],
        eval_steps=ev[0],
        eval_fitness=ev[1],
        train_episodes=train[2],
        eval_episodes=ev[2],
    )


def _curve(
    rows: Sequence[Mapping[str, Any]], kind: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """``(steps, fitness, episodes)`` of the rows of ``kind`` with a numeric step and a finite fitness, sorted by
    step; ``episodes`` is 0 where a row does not say how many it holds."""
    pts = [
        (float(r["step"]), float(r["fitness"]), _episodes(r))
        for r in rows
        if r.get("kind") == kind
        and isinstance(r.get("step"), int | float)
        and isinstance(r.get("fitness"), int | float)
        and math.isfinite(r["fitness"])
    ]
    pts.sort(key=lambda p: p[0])
    a = np.asarray(pts, dtype=np.float64).reshape(-1, 3)
    return a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy()


def _episodes(row: Mapping[str, Any]) -> float:
    n = row.get("episodes")
    return float(n) if isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n) and n > 0 else 0.0


def steps_to_success(run_dir: str | os.PathLike[str], level: float = 0.9, kind: Curve = "train") -> int | None:
    """First logged step at which the success rate of a run's last episodes reached ``level``
    (:func:`~rewardlab.analysis.stats.steps_to_level` over the ``kind`` rows of its ``metrics.jsonl``).

    :returns: the step, or ``None`` when the rolling success rate never reached ``level``.
    """
    pts = sorted(
        (float(r["step"]), float(r["success_rate"]), _episodes(r))
        for r in RunDir(Path(run_dir)).metrics()
        if r.get("kind") == kind
        and isinstance(r.get("step"), int | float)
        and isinstance(r.get("success_rate"), int | float)
        and math.isfinite(r["success_rate"])
    )
    if not pts:
        return None
    steps, rate, episodes = np.asarray(pts, dtype=np.float64).T
    hit = steps_to_level(steps, rate, episodes, level)
    return None if hit is None else int(hit)


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


def group_records(records: Iterable[RunRecord]) -> dict[GroupKey, list[RunRecord]]:
    """Records by ``(task, reward, agent)``, groups and their seeds sorted."""
    groups: dict[GroupKey, list[RunRecord]] = defaultdict(list)
    for r in records:
        groups[r.key].append(r)
    return {k: sorted(groups[k], key=lambda r: r.seed) for k in sorted(groups)}


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
