"""Small, tested statistics used by run summaries, tables and cross-method comparisons.

Follows rliable (Agarwal et al., 2021, "Deep RL at the Edge of the Statistical Precipice"): the interquartile
mean as the robust aggregate, stratified bootstrap confidence intervals (runs resampled within each task), and
the probability of improvement. Everything here is numpy only.

Score layouts accepted by the bootstrap and the probability of improvement:

* a mapping ``{task: array (n_runs_task,)}``; tasks may have different numbers of runs;
* a 2-D array ``(n_runs, n_tasks)`` as rliable uses it;
* a 1-D array ``(n_runs,)``, read as a single task.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, SupportsFloat, TypeAlias, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

# two-sided 97.5% Student-t quantiles for small samples; normal beyond 30 dof
# fmt: off
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
         10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
         18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042}
# fmt: on

Scores: TypeAlias = Mapping[str, ArrayLike] | ArrayLike
"""Per-task run scores: ``{task: (n_runs_task,)}``, ``(n_runs, n_tasks)`` or ``(n_runs,)``."""

Statistic: TypeAlias = Callable[[NDArray[np.float64]], SupportsFloat]
"""Maps resampled scores to one number; see :func:`stratified_bootstrap_ci` for the array it receives."""

# bootstrap work per chunk in the probability-of-improvement CI, in compared pairs (bounds memory)
_POI_CHUNK_PAIRS = 1 << 22


def t975(dof: int) -> float:
    """Two-sided 95% Student-t quantile for ``dof`` degrees of freedom (nan for ``dof <= 0``)."""
    if dof <= 0:
        return math.nan
    if dof in _T975:
        return _T975[dof]
    if dof > 30:
        return 1.960
    return _T975[min(k for k in _T975 if k >= dof)]


def mean_ci(x: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """95% Student-t confidence interval of the mean; ``(mean, mean)`` for one sample."""
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0:
        return (math.nan, math.nan)
    m = float(a.mean())
    if a.size == 1:
        return (m, m)
    half = t975(a.size - 1) * float(a.std(ddof=1)) / math.sqrt(a.size)
    return (m - half, m + half)


class BootstrapCI(NamedTuple):
    """A point estimate with a percentile bootstrap confidence interval ``[low, high]``."""

    estimate: float
    low: float
    high: float


# --------------------------------------------------------------------------------------------------
# point statistics


def iqm(x: ArrayLike) -> float:
    """Interquartile mean: the mean of the middle 50% of all scores, pooled over every axis.

    rliable's ``aggregate_iqm``, i.e. ``scipy.stats.trim_mean(x, 0.25, axis=None)``: with ``n`` scores,
    ``k = floor(n / 4)`` whole scores are cut from each end of the sorted sample and the rest are averaged.
    Nothing is cut fractionally, so for ``n = 5`` the mean of the middle 3 is returned, for ``n = 6`` the middle
    4, and for ``n < 4`` the plain mean.

    :param x: scores of any shape, e.g. ``(n_runs,)`` or ``(n_runs, n_tasks)``.
    :returns: the IQM; nan for an empty sample.
    """
    a = np.sort(np.asarray(x, dtype=np.float64).ravel())
    n = a.size
    if n == 0:
        return math.nan
    k = int(0.25 * n)
    return float(a[k : n - k].mean())


def auc(steps: ArrayLike, values: ArrayLike) -> float:
    """Area under a learning curve divided by its step range: the curve's mean height (sample efficiency).

    Trapezoidal rule over the points as given, sorted by step. The result is in the unit of ``values``
    (e.g. mean fitness over training); 1.0 for a 0/1 fitness reached from the first logged step on.

    :param steps: ``(n,)`` environment steps of the curve points.
    :param values: ``(n,)`` curve values (e.g. fitness) at those steps.
    :returns: the normalised area; the single value when ``n == 1`` or all steps are equal (zero range), nan
        when ``n == 0``.
    """
    s = np.asarray(steps, dtype=np.float64).ravel()
    v = np.asarray(values, dtype=np.float64).ravel()
    if s.shape != v.shape:
        raise ValueError(f"steps {s.shape} and values {v.shape} must have the same length")
    if s.size == 0:
        return math.nan
    order = np.argsort(s, kind="stable")
    s, v = s[order], v[order]
    span = s[-1] - s[0]
    if span == 0:
        return float(v.mean())
    return float(np.trapezoid(v, s) / span)


def steps_to_threshold(steps: ArrayLike, values: ArrayLike, threshold: float) -> float | None:
    """First step at which the curve reaches ``threshold`` (``values >= threshold``).

    Every point counts as it is: on a curve of training windows, use :func:`steps_to_level`, which asks for
    enough episodes behind a point first.

    :param steps: ``(n,)`` environment steps of the curve points (any order; they are sorted).
    :param values: ``(n,)`` curve values at those steps; nan never counts as reached.
    :param threshold: the success threshold, in the unit of ``values``.
    :returns: the step, or ``None`` if the curve never reaches the threshold.
    """
    s = np.asarray(steps, dtype=np.float64).ravel()
    v = np.asarray(values, dtype=np.float64).ravel()
    if s.shape != v.shape:
        raise ValueError(f"steps {s.shape} and values {v.shape} must have the same length")
    order = np.argsort(s, kind="stable")
    hit = np.flatnonzero(v[order] >= threshold)
    return float(s[order][hit[0]]) if hit.size else None


MIN_EPISODES = 20
"""Episodes a rolling window must hold before :func:`steps_to_level` trusts its mean."""


def steps_to_level_rule(level: str = "the level", min_episodes: int = MIN_EPISODES) -> str:
    """The rule of :func:`steps_to_level` in words, for table headers and footnotes."""
    return (
        f"first logged step at which the most recent episodes, at least {min_episodes} of them (whole logging "
        f"windows counted back from that step), averaged at or above {level}"
    )


def rolling_episode_mean(
    values: ArrayLike, episodes: ArrayLike, min_episodes: int = MIN_EPISODES
) -> NDArray[np.float64]:
    """Mean over the most recent episodes, at least ``min_episodes`` of them, at each point of a windowed curve.

    Point ``i`` pools windows ``i, i-1, ...`` (whole windows, newest first) until they hold ``min_episodes``
    episodes together, and gives their episode-weighted mean: the mean over those episodes, since each window's
    value is the mean of its own episodes.

    :param values: ``(n,)`` per-window means (e.g. success rate or fitness of the episodes finished in the window),
        in step order; a nan window holds no episodes.
    :param episodes: ``(n,)`` episodes each window holds.
    :param min_episodes: episodes the pooled windows must hold; ``1`` gives the windows' own values.
    :returns: ``(n,)``; nan where the windows so far hold fewer than ``min_episodes`` episodes.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    n = np.asarray(episodes, dtype=np.float64).ravel()
    if v.shape != n.shape:
        raise ValueError(f"values {v.shape} and episodes {n.shape} must have the same length")
    if min_episodes < 1:
        raise ValueError(f"min_episodes must be >= 1, got {min_episodes}")
    counted = np.isfinite(v) & np.isfinite(n) & (n > 0)
    n = np.where(counted, n, 0.0)
    cum_n = np.concatenate([[0.0], np.cumsum(n)])
    cum_s = np.concatenate([[0.0], np.cumsum(np.where(counted, v, 0.0) * n)])
    # the newest start k whose windows k..i hold min_episodes: the last k with cum_n[k] <= cum_n[i + 1] - min_episodes
    k = np.searchsorted(cum_n, cum_n[1:] - min_episodes, side="right") - 1
    enough = cum_n[1:] >= min_episodes
    k = np.clip(k, 0, None)
    held = cum_n[1:] - cum_n[k]
    return np.where(enough, (cum_s[1:] - cum_s[k]) / np.where(enough, held, 1.0), np.nan)


def steps_to_level(
    steps: ArrayLike, values: ArrayLike, episodes: ArrayLike, level: float, min_episodes: int = MIN_EPISODES
) -> float | None:
    """The lab's one rule for "steps to a level" (:func:`steps_to_level_rule`): the first step at which the
    rolling mean over at least ``min_episodes`` episodes (:func:`rolling_episode_mean`) is ``>= level``.

    A single short window that happens to reach the level does not count unless the episodes before it, pooled
    up to ``min_episodes``, keep the mean there. Every table of the lab that reports steps (or time) to a
    threshold uses this function: ``rewardlab demo``, ``compare``/``aggregate`` and the reports.

    :param steps: ``(n,)`` environment step of each logging window (any order; sorted here).
    :param values: ``(n,)`` per-window mean of the quantity (success rate, fitness).
    :param episodes: ``(n,)`` episodes each window holds.
    :param level: the level, in the unit of ``values``.
    :returns: the step, or ``None`` if the rolling mean never reaches the level.
    """
    s = np.asarray(steps, dtype=np.float64).ravel()
    v = np.asarray(values, dtype=np.float64).ravel()
    n = np.asarray(episodes, dtype=np.float64).ravel()
    if not s.shape == v.shape == n.shape:
        raise ValueError(f"steps {s.shape}, values {v.shape} and episodes {n.shape} must have the same length")
    order = np.argsort(s, kind="stable")
    return steps_to_threshold(s[order], rolling_episode_mean(v[order], n[order], min_episodes), level)


@overload
def normalized_score(method: float, sparse: float, hand: float) -> float: ...
@overload
def normalized_score(method: ArrayLike, sparse: ArrayLike, hand: ArrayLike) -> float | NDArray[np.float64]: ...
def normalized_score(method: ArrayLike, sparse: ArrayLike, hand: ArrayLike) -> float | NDArray[np.float64]:
    """``(method - sparse) / |hand - sparse|``: 0 at the sparse reward, +1 one hand-shaping gap above it.

    Broadcasts like numpy. Where ``hand == sparse`` the gap gives no scale and the score is **nan** (no
    division warning); callers should report such tasks rather than average them.

    :param method: fitness of the method, scalar or array (e.g. ``(n_runs,)``).
    :param sparse: fitness of the sparse-reward baseline (usually the mean over its seeds).
    :param hand: fitness of the hand-shaped reference (usually the mean over its seeds).
    :returns: a float for scalar inputs, else an array of the broadcast shape.
    """
    m = np.asarray(method, dtype=np.float64)
    s = np.asarray(sparse, dtype=np.float64)
    gap = np.abs(np.asarray(hand, dtype=np.float64) - s)
    ok = gap > 0
    out = np.where(ok, (m - s) / np.where(ok, gap, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------------------------------
# stratified bootstrap


def _task_columns(scores: Scores) -> dict[str, NDArray[np.float64]]:
    """Normalise any accepted score layout to ``{task: (n_runs_task,)}`` (array columns named by index)."""
    if isinstance(scores, Mapping):
        cols = {str(k): np.asarray(v, dtype=np.float64) for k, v in scores.items()}
    else:
        a = np.asarray(scores, dtype=np.float64)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise ValueError(f"scores must be (n_runs,) or (n_runs, n_tasks), got shape {a.shape}")
        cols = {str(j): a[:, j] for j in range(a.shape[1])}
    if not cols:
        raise ValueError("scores hold no task")
    for task, c in cols.items():
        if c.ndim != 1:
            raise ValueError(f"task {task!r}: scores must be 1-D (n_runs,), got shape {c.shape}")
        if c.size == 0:
            raise ValueError(f"task {task!r} has no runs")
    return cols


def _pack(cols: Sequence[NDArray[np.float64]]) -> NDArray[np.float64]:
    """``(n_runs, n_tasks)`` when every task has the same number of runs, else the pooled ``(n_total,)``."""
    if len({c.shape[-1] for c in cols}) == 1:
        return np.stack(cols, axis=-1)
    return np.concatenate(cols, axis=-1)


def _percentile_ci(estimate: float, boots: NDArray[np.float64], alpha: float) -> BootstrapCI:
    lo, hi = np.percentile(boots, [50.0 * alpha, 100.0 - 50.0 * alpha])
    return BootstrapCI(float(estimate), float(lo), float(hi))


def _check_bootstrap_args(reps: int, alpha: float) -> None:
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def stratified_bootstrap_ci(
    scores: Scores,
    statistic: Statistic,
    reps: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
) -> BootstrapCI:
    """Percentile confidence interval of ``statistic`` under rliable's stratified bootstrap.

    Each replicate resamples, with replacement, the runs of every task independently (a task keeps its run
    count), so task membership is fixed and only run-to-run variability is measured. ``statistic`` receives the
    scores (original and each replicate) as a ``(n_runs, n_tasks)`` array when every task has the same number of
    runs, otherwise as the pooled ``(n_total_runs,)`` array; :func:`iqm`, ``np.mean`` and ``np.median`` give
    the same value either way.

    :param scores: ``{task: (n_runs_task,)}``, ``(n_runs, n_tasks)`` or ``(n_runs,)``.
    :param statistic: e.g. :func:`iqm` or ``np.mean``.
    :param reps: number of bootstrap replicates.
    :param alpha: 1 - confidence level (0.05 for a 95% interval).
    :param seed: seed of the resampling; the same seed gives the same interval.
    :returns: the statistic on the original scores and the ``alpha/2``, ``1 - alpha/2`` replicate percentiles.
        With one run per task every replicate equals the data and the interval has zero width.
    """
    _check_bootstrap_args(reps, alpha)
    cols = list(_task_columns(scores).values())
    rng = np.random.default_rng(seed)
    estimate = float(statistic(_pack(cols)))
    # (reps, n_runs_task) per task: every replicate resamples each task's runs on its own
    resampled = [c[rng.integers(0, c.size, size=(reps, c.size))] for c in cols]
    packed = _pack(resampled)  # (reps, n_runs, n_tasks) or (reps, n_total)
    boots = np.fromiter((float(statistic(packed[r])) for r in range(reps)), dtype=np.float64, count=reps)
    return _percentile_ci(estimate, boots, alpha)


# --------------------------------------------------------------------------------------------------
# probability of improvement


def _paired_tasks(x: Scores, y: Scores) -> list[tuple[str, NDArray[np.float64], NDArray[np.float64]]]:
    if isinstance(x, Mapping) != isinstance(y, Mapping):
        raise ValueError("x and y must both be mappings {task: scores} or both arrays")
    cx, cy = _task_columns(x), _task_columns(y)
    if cx.keys() != cy.keys():
        raise ValueError(
            f"x and y must cover the same tasks: only in x {sorted(cx.keys() - cy.keys())}, "
            f"only in y {sorted(cy.keys() - cx.keys())}"
        )
    return [(t, cx[t], cy[t]) for t in cx]


def _poi_one_task(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """P(X > Y) + 0.5 P(X = Y) over all pairs; ``x (..., n)``, ``y (..., m)`` -> ``(...)``."""
    xa, ya = x[..., :, None], y[..., None, :]
    return np.mean((xa > ya) + 0.5 * (xa == ya), axis=(-2, -1))


def probability_of_improvement(x: Scores, y: Scores) -> float:
    """Probability that a run of X beats a run of Y on a task, averaged over tasks (rliable's definition).

    Per task, ``P(X > Y) + 0.5 P(X = Y)`` over all ``n * m`` pairs of runs: the Mann-Whitney U statistic
    divided by ``n m``. 0.5 means no difference, 1 that every run of X beats every run of Y.

    :param x: scores of X, ``{task: (n_runs_task,)}`` or an array (see the module docstring).
    :param y: scores of Y in the same layout and on the same tasks; run counts may differ from X.
    :returns: the average over tasks, in [0, 1].
    """
    return float(np.mean([_poi_one_task(a, b) for _, a, b in _paired_tasks(x, y)]))


def probability_of_improvement_ci(
    x: Scores,
    y: Scores,
    reps: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
) -> BootstrapCI:
    """:func:`probability_of_improvement` with a stratified-bootstrap percentile confidence interval.

    Every replicate resamples, with replacement, X's runs and Y's runs independently within each task (rliable's
    independent stratified bootstrap for pairs of algorithms).

    :param x: scores of X, ``{task: (n_runs_task,)}`` or an array.
    :param y: scores of Y on the same tasks.
    :param reps: number of bootstrap replicates.
    :param alpha: 1 - confidence level.
    :param seed: seed of the resampling.
    :returns: the estimate and its ``[alpha/2, 1 - alpha/2]`` percentile interval.
    """
    _check_bootstrap_args(reps, alpha)
    tasks = _paired_tasks(x, y)
    rng = np.random.default_rng(seed)
    per_task = np.empty((len(tasks), reps))
    for i, (_, a, b) in enumerate(tasks):
        xa = a[rng.integers(0, a.size, size=(reps, a.size))]  # (reps, n)
        yb = b[rng.integers(0, b.size, size=(reps, b.size))]  # (reps, m)
        chunk = max(1, _POI_CHUNK_PAIRS // (a.size * b.size))
        for r0 in range(0, reps, chunk):
            per_task[i, r0 : r0 + chunk] = _poi_one_task(xa[r0 : r0 + chunk], yb[r0 : r0 + chunk])
    estimate = float(np.mean([_poi_one_task(a, b) for _, a, b in tasks]))
    return _percentile_ci(estimate, per_task.mean(axis=0), alpha)
