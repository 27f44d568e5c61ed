"""Reward reflection (llm_reward.reflection): what a run's metrics say about each reward component.

The synthetic runs are MountainCar-like: a -1-per-step penalty, and successful episodes are shorter, so
per-episode totals confound episode length with success.
"""

from __future__ import annotations

import json
from pathlib import Path

from llm_reward.reflection import reflect
from rewardlab.analysis.hacking import spearman


def _mountaincar_like(run: Path, n: int = 10) -> None:
    """Training windows whose success rate rises from 0 to 1 while the mean episode shortens from 200
    to 80 steps; ``step_penalty`` is -1 every step, ``progress`` pays more per step as the policy improves."""
    rows = []
    for i in range(n):
        success = i / (n - 1)
        length = 200.0 - 120.0 * success
        rows.append(
            {
                "kind": "train",
                "step": 1000 * (i + 1),
                "fitness": success,
                "success_rate": success,
                "shaped_return": 0.0,
                "length": length,
                "reward/step_penalty": -1.0 * length,
                "reward/progress": (0.01 + 0.05 * success) * length,
            }
        )
    run.mkdir(parents=True, exist_ok=True)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = {"fitness_mean": 1.0, "success_rate": 0.9, "eval_episodes": 10, "eval_fitness": [1.0] * 9 + [0.0]}
    (run / "summary.json").write_text(json.dumps(summary))


def test_a_step_penalty_does_not_look_helpful_because_successful_episodes_are_shorter(tmp_path: Path) -> None:
    _mountaincar_like(tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    totals = [r["reward/step_penalty"] for r in rows]
    assert spearman(totals, [r["fitness"] for r in rows]) == 1.0  # the trap: per-episode totals say "helps"

    refl = reflect(tmp_path)
    penalty, progress = refl.components["step_penalty"], refl.components["progress"]
    assert penalty.corr_fitness is None or penalty.corr_fitness <= 0.0
    assert penalty.constant_per_step and not penalty.dead and penalty.per_step_mean == -1.0
    assert progress.corr_fitness is not None and progress.corr_fitness > 0.9  # the component that drives fitness
    assert not progress.constant_per_step
    assert refl.length_corr_fitness is not None and refl.length_corr_fitness < -0.9

    text = refl.to_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("step_penalty:"))
    assert "the same -1 every step" in line and "only measures episode length" in line
    assert "+" not in line.split("share of reward magnitude")[1]  # no positive correlation is reported for it
    progress_line = next(ln for ln in text.splitlines() if ln.startswith("progress:"))
    assert "rank correlation with fitness +1.00" in progress_line
    assert "episode length: " in text and "fitness is higher when episodes are shorter" in text
    stats = refl.stats_json()["components"]
    assert stats["step_penalty"]["corr_fitness"] is None and stats["step_penalty"]["constant_per_step"]
    assert stats["progress"]["corr_fitness"] > 0.9


def test_a_component_that_hurts_per_step_is_reported_negative(tmp_path: Path) -> None:
    """A penalty whose per-step rate grows as fitness rises (an action cost the better policy pays more of)
    correlates negatively, even though its total shrinks with the shorter episodes."""
    rows = []
    for i in range(10):
        success = i / 9
        length = 200.0 - 150.0 * success
        rows.append(
            {
                "kind": "train",
                "step": 100 * (i + 1),
                "fitness": success,
                "shaped_return": 0.0,
                "length": length,
                "reward/action_cost": -(0.1 + 0.05 * success) * length,
            }
        )
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    totals = [r["reward/action_cost"] for r in rows]
    assert spearman(totals, [r["fitness"] for r in rows]) == 1.0  # per-episode totals would say "helps"
    cost = reflect(tmp_path).components["action_cost"]
    assert cost.corr_fitness is not None and cost.corr_fitness < -0.9 and not cost.constant_per_step
