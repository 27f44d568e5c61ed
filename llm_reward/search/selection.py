"""Selection: what a candidate's training runs score, and which candidates lead.

A run's selection score follows ``SearchConfig.selection``: ``max`` (the best fitness logged during training or
evaluation, Eureka's rule), ``final`` (the mean of the last ``final_k`` evaluations) or ``iqm`` (the IQM of the
final evaluation episodes). A candidate trained on several seeds scores the mean over them, so one lucky seed
cannot win; candidates are ranked by score, ties going to the better final fitness.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llm_reward.search.candidates import Candidate
from rewardlab.experiment.store import RunDir


@dataclass(frozen=True)
class RunScore:
    """What one finished training run reached: its selection score, final fitness and success rate."""

    score: float
    fitness: float
    success: float


def score_run(run_dir: Path, selection: str, final_k: int) -> RunScore | None:
    """The run's score under ``selection``; None when it has no summary (it failed or never finished)."""
    rd = RunDir(run_dir)
    summary = rd.summary()
    if summary is None:
        return None
    rows = rd.metrics()
    train = [r["fitness"] for r in rows if r.get("kind") == "train"]
    evals = [r["fitness"] for r in rows if r.get("kind") == "eval"]
    if selection == "max":
        score = max(train + evals) if train or evals else summary["fitness_mean"]
    elif selection == "final":
        score = float(np.mean(evals[-final_k:])) if evals else summary["fitness_mean"]
    else:
        from rewardlab.analysis.stats import iqm

        score = iqm(np.asarray(summary.get("eval_fitness") or [summary["fitness_mean"]]))
    return RunScore(float(score), summary["fitness_mean"], summary["success_rate"])


def score_over_seeds(run_dirs: Sequence[Path], selection: str, final_k: int) -> tuple[RunScore, list[float]] | None:
    """The mean score over a candidate's seeds, and each seed's score; None when a run failed on any seed."""
    per_seed = [score_run(d, selection, final_k) for d in run_dirs]
    if any(s is None for s in per_seed):
        return None
    done = [s for s in per_seed if s is not None]
    mean = RunScore(*(float(np.mean([getattr(s, k) for s in done])) for k in ("score", "fitness", "success")))
    return mean, [s.score for s in done]


def rank_key(c: Candidate) -> tuple[float, float]:
    """Selection score first; ties (a saturated ``max`` score is common) go to the better final fitness."""
    fit = c.final_fitness
    return (c.score if c.score is not None else -np.inf, fit if fit is not None else -np.inf)


def best_of(candidates: Iterable[Candidate]) -> Candidate | None:
    """The leading candidate (the first of equals); None for none."""
    best = None
    for c in candidates:
        if best is None or rank_key(c) > rank_key(best):
            best = c
    return best


def top(candidates: Iterable[Candidate], k: int) -> list[Candidate]:
    """The ``k`` leading scored candidates, best first (equals keep their order)."""
    return sorted((c for c in candidates if c.scored), key=rank_key, reverse=True)[:k]
