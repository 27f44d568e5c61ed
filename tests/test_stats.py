"""Statistics against hand-computed values, and aggregation over a tree of fake run directories."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from rewardlab.analysis.aggregate import aggregate, cross_task, load_runs, steps_to_success, summarize
from rewardlab.analysis.stats import (
    auc,
    iqm,
    mean_ci,
    normalized_score,
    probability_of_improvement,
    probability_of_improvement_ci,
    rolling_episode_mean,
    steps_to_level,
    steps_to_level_rule,
    steps_to_threshold,
    stratified_bootstrap_ci,
    t975,
)
from rewardlab.experiment.store import RunDir

# --------------------------------------------------------------------------------------------------
# iqm


def test_iqm_of_one_to_eight_is_the_mean_of_the_middle_four() -> None:
    assert iqm(np.arange(1, 9)) == pytest.approx(np.mean([3, 4, 5, 6]))


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        # n = 5: floor(5 / 4) = 1 whole score cut from each end (no fractional weights), mean of the middle 3
        ([100.0, 1.0, 2.0, 3.0, -7.0], (1 + 2 + 3) / 3),
        # n = 6: floor(1.5) = 1 cut each side, middle 4
        ([10.0, 1.0, 2.0, 3.0, 4.0, -50.0], (1 + 2 + 3 + 4) / 4),
        # n = 7: floor(1.75) = 1, middle 5
        ([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 99.0], 3.0),
        # n = 9: floor(2.25) = 2, middle 5
        ([-9.0, -8.0, 1.0, 2.0, 3.0, 4.0, 5.0, 98.0, 99.0], 3.0),
        # n < 4: nothing cut
        ([1.0, 2.0, 30.0], 11.0),
        ([7.0], 7.0),
    ],
)
def test_iqm_trims_whole_scores_like_scipy_trim_mean(x: list[float], expected: float) -> None:
    assert iqm(x) == pytest.approx(expected)


def test_iqm_pools_runs_and_tasks_and_is_nan_when_empty() -> None:
    assert iqm([[1, 5], [2, 6], [3, 7], [4, 8]]) == pytest.approx(4.5)
    assert math.isnan(iqm([]))


# --------------------------------------------------------------------------------------------------
# curves


def test_auc_of_a_piecewise_linear_curve() -> None:
    # area = 0.5 * 10 * 1 + 20 * 1 = 25 over a range of 30
    assert auc([0, 10, 30], [0, 1, 1]) == pytest.approx(25 / 30)
    assert auc([30, 0, 10], [1, 0, 1]) == pytest.approx(25 / 30)  # order of points does not matter
    # up then down: 0.5*10*2 + 0.5*10*(2+1) = 25 over 20
    assert auc([100, 110, 120], [0, 2, 1]) == pytest.approx(1.25)
    assert auc([5, 7, 9], [0.3, 0.3, 0.3]) == pytest.approx(0.3)
    assert auc([42], [0.7]) == pytest.approx(0.7)
    assert math.isnan(auc([], []))
    with pytest.raises(ValueError):
        auc([0, 1], [0.0])


def test_steps_to_threshold() -> None:
    steps, values = [0, 100, 200, 300], [0.0, 0.4, 0.9, 1.0]
    assert steps_to_threshold(steps, values, 0.9) == 200  # reaching counts (>=)
    assert steps_to_threshold(steps, values, 0.5) == 200
    assert steps_to_threshold(steps, values, -1.0) == 0
    assert steps_to_threshold(steps, values, 1.1) is None
    assert steps_to_threshold([300, 0, 200], [1.0, 0.0, 1.0], 1.0) == 200  # sorted by step
    assert steps_to_threshold([0, 1], [math.nan, 2.0], 1.0) == 1
    assert steps_to_threshold([], [], 1.0) is None


# the README's MountainCar `env` seed 0: one 7-episode window at 100% at 6,048 steps, 33-61% over the next 4k
LUCKY = {
    "steps": [2048, 4096, 6048, 7168, 8192, 9216, 10240],
    "episodes": [8, 9, 7, 9, 8, 9, 9],
    "success": [0.0, 0.111, 1.0, 0.333, 0.5, 0.444, 0.611],
}


def test_rolling_episode_mean_pools_whole_windows_back_to_enough_episodes() -> None:
    out = rolling_episode_mean([0.0, 0.0, 1.0, 0.5], [10, 10, 7, 20], min_episodes=20)
    # window 0 alone holds 10 < 20; 0+1 hold 20; 2+1 hold 17, so 2+1+0 (27 episodes, 7 successes); 3 alone holds 20
    np.testing.assert_allclose(out, [math.nan, 0.0, 7 / 27, 0.5])
    # empty windows hold nothing; min_episodes=1 gives each window its own value
    np.testing.assert_allclose(rolling_episode_mean([1.0, math.nan, 0.0], [20, 0, 20], 20), [1.0, 1.0, 0.0])
    np.testing.assert_allclose(rolling_episode_mean([0.2, 0.7], [3, 4], 1), [0.2, 0.7])
    with pytest.raises(ValueError, match="same length"):
        rolling_episode_mean([1.0], [1, 2])


def test_a_short_lucky_window_does_not_count_as_reaching_the_level() -> None:
    s, n, v = LUCKY["steps"], LUCKY["episodes"], LUCKY["success"]
    assert steps_to_threshold(s, v, 0.9) == 6048  # the rule that flattered: first window at the level
    assert steps_to_level(s, v, n, 0.9) is None  # the last >= 20 episodes never average 90%
    assert steps_to_level(s, v, n, 0.9, min_episodes=1) == 6048


def test_a_run_that_stays_at_the_level_reaches_it_once_enough_episodes_are_in() -> None:
    steps = [1000 * (i + 1) for i in range(10)]
    # 5 episodes per window; at the level from the 4th window on (one failure in 20 is still 95%)
    success = [0.0, 0.0, 0.2, 1.0, 1.0, 0.8, 1.0, 1.0, 1.0, 1.0]
    assert steps_to_level(steps, success, [5] * 10, 0.9) == 7000  # windows 4-7: 19 / 20 successes
    # the same curve with 20 episodes per window: each window alone is trusted
    assert steps_to_level(steps, success, [20] * 10, 0.9) == 4000
    # the lucky curve, then staying at 100%: reached once the last 20 episodes are all successes
    s = [*LUCKY["steps"], 11264, 12288, 13312]
    v = [*LUCKY["success"], 1.0, 1.0, 1.0]
    n = [*LUCKY["episodes"], 9, 9, 9]
    assert steps_to_level(s, v, n, 0.9) == 13312
    assert steps_to_level(list(reversed(s)), list(reversed(v)), list(reversed(n)), 0.9) == 13312  # any order


def _metrics_run(root: Path, seed: int, windows: list[tuple[int, int, float]]) -> Path:
    """A finished run whose training windows are ``(step, episodes, success)``; fitness = success (0/1)."""
    rd = RunDir(root / f"MC__env__ppo__s{seed}")
    rd.write_json("config.json", {"run": {"task": "MC", "reward": "env", "agent": "ppo", "seed": seed}})
    rows = [
        {"kind": "train", "step": st, "wall_time": 0.0, "episodes": n, "fitness": v, "success_rate": v}
        for st, n, v in windows
    ]
    rd.append_metrics([*rows, {"kind": "eval", "step": windows[-1][0], "episodes": 10, "fitness": 0.5}])
    rd.write_json(
        "summary.json",
        {"fitness_mean": 0.5, "fitness_unit": "reached (0/1)", "success_threshold": 1.0, "success_rate": 0.5},
    )
    rd.set_status("done")
    return rd.path


def test_demo_and_summaries_use_the_rolling_rule(tmp_path: Path) -> None:
    lucky = _metrics_run(tmp_path, 0, list(zip(LUCKY["steps"], LUCKY["episodes"], LUCKY["success"], strict=True)))
    steady = _metrics_run(tmp_path, 1, [(1000 * (i + 1), 10, 1.0 if i >= 2 else 0.0) for i in range(6)])
    assert steps_to_success(lucky, 0.9) is None  # what `rewardlab demo` reports per seed
    assert steps_to_success(steady, 0.9) == 4000  # windows 3 and 4: 20 episodes, all successes
    (row,) = summarize(load_runs(tmp_path).records, reps=50)
    assert row["steps_to_threshold_per_seed"] == [None, 4000]  # what compare, aggregate and the reports show
    assert row["steps_to_threshold_n_reached"] == 1
    assert row["steps_to_threshold_rule"] == steps_to_level_rule("the success threshold")
    assert "at least 20" in row["steps_to_threshold_rule"]


# --------------------------------------------------------------------------------------------------
# normalised score


def test_normalized_score() -> None:
    assert normalized_score(3.0, 1.0, 5.0) == pytest.approx(0.5)
    assert normalized_score(1.0, 1.0, 5.0) == 0.0
    assert normalized_score(5.0, 1.0, 5.0) == 1.0
    # hand below sparse: the gap is |hand - sparse|, so hand scores -1 and doing worse than sparse is negative
    assert normalized_score(1.0, 2.0, 1.0) == pytest.approx(-1.0)
    assert normalized_score(4.0, 2.0, 1.0) == pytest.approx(2.0)
    np.testing.assert_allclose(normalized_score(np.array([0.0, 2.0, 4.0]), 0.0, 2.0), [0.0, 1.0, 2.0])


def test_normalized_score_is_nan_without_warning_when_hand_equals_sparse() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(normalized_score(3.0, 2.0, 2.0))
        out = normalized_score(np.array([1.0, 2.0]), np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    assert out[0] == 1.0 and math.isnan(out[1])


# --------------------------------------------------------------------------------------------------
# probability of improvement


def test_probability_of_improvement_hand_enumerated_with_ties() -> None:
    # x=3: beats 1 (1), ties 3 (0.5), loses to 5 (0); x=4: 1, 1, 0 -> 3.5 of 6 pairs
    assert probability_of_improvement({"a": [3, 4]}, {"a": [1, 3, 5]}) == pytest.approx(3.5 / 6)
    # 1 vs 2,2: 0,0; 2 vs 2,2: ties; 3 vs 2,2: wins -> 3 of 6
    assert probability_of_improvement({"a": [1, 2, 3]}, {"a": [2, 2]}) == pytest.approx(0.5)
    # averaged over tasks, each task weighted equally whatever its run counts
    two = probability_of_improvement({"a": [3, 4], "b": [1.0]}, {"a": [1, 3, 5], "b": [0.0]})
    assert two == pytest.approx((3.5 / 6 + 1.0) / 2)
    assert probability_of_improvement({"a": [1, 2]}, {"a": [1, 2]}) == 0.5
    assert probability_of_improvement({"a": [5.0]}, {"a": [5.0]}) == 0.5


def test_probability_of_improvement_is_complementary_and_accepts_arrays() -> None:
    rng = np.random.default_rng(3)
    x = {"a": rng.integers(0, 4, 5), "b": rng.integers(0, 4, 3)}
    y = {"a": rng.integers(0, 4, 4), "b": rng.integers(0, 4, 6)}
    assert probability_of_improvement(x, y) + probability_of_improvement(y, x) == pytest.approx(1.0)
    xa, ya = np.array([[1.0, 0.0], [2.0, 0.0]]), np.array([[0.0, 1.0], [3.0, 1.0]])  # (n_runs, n_tasks)
    assert probability_of_improvement(xa, ya) == pytest.approx((0.5 + 0.0) / 2)


def test_probability_of_improvement_needs_the_same_tasks() -> None:
    with pytest.raises(ValueError, match="same tasks"):
        probability_of_improvement({"a": [1.0], "b": [1.0]}, {"a": [0.0]})


def test_probability_of_improvement_ci() -> None:
    x, y = {"a": [3.0, 4.0, 5.0, 1.0], "b": [2.0, 2.0, 0.5]}, {"a": [1.0, 3.0, 2.0], "b": [1.0, 2.0, 2.5]}
    ci = probability_of_improvement_ci(x, y, reps=500, seed=1)
    assert ci.estimate == pytest.approx(probability_of_improvement(x, y))
    assert 0.0 <= ci.low <= ci.estimate <= ci.high <= 1.0
    assert ci == probability_of_improvement_ci(x, y, reps=500, seed=1)
    assert ci != probability_of_improvement_ci(x, y, reps=500, seed=2)


# --------------------------------------------------------------------------------------------------
# stratified bootstrap


def test_bootstrap_is_reproducible_under_a_seed() -> None:
    scores = np.random.default_rng(0).normal(size=(6, 3))
    a = stratified_bootstrap_ci(scores, iqm, reps=300, seed=7)
    assert a == stratified_bootstrap_ci(scores, iqm, reps=300, seed=7)
    assert a != stratified_bootstrap_ci(scores, iqm, reps=300, seed=8)
    assert a.estimate == pytest.approx(iqm(scores))


def test_bootstrap_ci_contains_the_estimate_and_shrinks_with_more_runs() -> None:
    rng = np.random.default_rng(1)
    few, many = rng.normal(1.0, 1.0, size=(5, 2)), rng.normal(1.0, 1.0, size=(200, 2))
    for stat in (iqm, np.mean):
        small = stratified_bootstrap_ci(few, stat, reps=1000)
        large = stratified_bootstrap_ci(many, stat, reps=1000)
        for ci in (small, large):
            assert ci.low <= ci.estimate <= ci.high
        assert large.high - large.low < 0.5 * (small.high - small.low)


def test_bootstrap_is_stratified_by_task() -> None:
    # runs never move between tasks: each task keeps 3 runs, so the pooled mean cannot leave 5
    ci = stratified_bootstrap_ci({"low": [0.0, 0.0, 0.0], "high": [10.0, 10.0, 10.0]}, np.mean, reps=200)
    assert ci == (5.0, 5.0, 5.0)


def test_bootstrap_hands_the_statistic_runs_by_tasks_or_a_pooled_ragged_sample() -> None:
    shapes: list[tuple[int, ...]] = []

    def spy(a: np.ndarray) -> float:
        shapes.append(a.shape)
        return float(np.mean(a))

    stratified_bootstrap_ci({"a": [1.0, 2.0], "b": [3.0, 4.0]}, spy, reps=3)
    assert set(shapes) == {(2, 2)}
    shapes.clear()
    ci = stratified_bootstrap_ci({"a": [1.0, 2.0, 3.0], "b": [4.0]}, spy, reps=3)
    assert set(shapes) == {(4,)}
    assert ci.estimate == pytest.approx(2.5)


def test_bootstrap_of_one_run_has_zero_width_and_bad_input_raises() -> None:
    assert stratified_bootstrap_ci([0.25], np.mean, reps=10) == (0.25, 0.25, 0.25)
    with pytest.raises(ValueError, match="no runs"):
        stratified_bootstrap_ci({"a": []}, np.mean)
    with pytest.raises(ValueError, match="alpha"):
        stratified_bootstrap_ci([1.0, 2.0], np.mean, alpha=1.5)


def test_mean_ci_and_t975_still_work() -> None:
    lo, hi = mean_ci([1.0, 2.0, 3.0])
    assert (lo + hi) / 2 == pytest.approx(2.0)
    assert hi - 2.0 == pytest.approx(t975(2) * 1.0 / math.sqrt(3))
    assert mean_ci([4.0]) == (4.0, 4.0)


# --------------------------------------------------------------------------------------------------
# aggregation over run directories


def write_run(
    root: Path,
    task: str,
    reward: str,
    seed: int,
    final: float,
    curve: list[float] | None = None,
    *,
    agent: str = "ppo",
    state: str = "done",
    wall: float = 10.0,
) -> Path:
    """A fake finished run; ``curve`` is the train fitness at steps 100, 200, 300, ..., 20 episodes per window."""
    rd = RunDir(root / f"{task}__{reward}__{agent}__s{seed}")
    rd.write_json("config.json", {"run": {"task": task, "reward": reward, "agent": agent, "seed": seed}, "steps": 300})
    curve = curve if curve is not None else [final, final]
    rows = [{"kind": "eval", "step": 50, "wall_time": 0.1, "fitness": 1.0, "success_rate": 1.0}]
    rows += [
        {"kind": "train", "step": 100 * (i + 1), "wall_time": float(i), "episodes": 20, "fitness": f, "success_rate": f}
        for i, f in enumerate(curve)
    ]
    rows.append({"kind": "train", "step": 150, "wall_time": 0.5, "episodes": 0, "fitness": None})  # empty window
    rd.append_metrics(rows)
    rd.write_json(
        "summary.json",
        {
            "task": task,
            "reward": reward,
            "agent": agent,
            "seed": seed,
            "steps": 300,
            "fitness_mean": final,
            "fitness_unit": "reached (0/1)",
            "success_threshold": 1.0,
            "success_rate": 1.0 if final >= 1.0 else 0.0,
            "wall_time_s": wall,
        },
    )
    rd.set_status(state)
    return rd.path


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    root = tmp_path / "exp"
    # T1: sparse 0, hand 1, shaped [0.2, 0.4, 0.9] with hand-checkable curves
    for s in range(3):
        write_run(root, "T1", "sparse", s, 0.0)
        write_run(root, "T1", "hand", s, 1.0, wall=20.0 + s)
    write_run(root, "T1", "shaped", 0, 0.2, [0.0, 1.0, 1.0])  # auc 0.75, reached at 200
    write_run(root, "T1", "shaped", 1, 0.4, [0.0, 0.0, 1.0])  # auc 0.25, reached at 300
    write_run(root, "T1", "shaped", 2, 0.9, [0.0, 0.0, 0.0])  # auc 0, never
    # T2 has no hand run: no normalised score there
    write_run(root, "T2", "sparse", 0, 0.0)
    write_run(root, "T2", "shaped", 0, 1.0)
    # T3: hand below sparse (mean 3 vs 1, gap 2); shaped [5, 5] -> normalised [1, 1]; hand -> -1
    write_run(root, "T3", "sparse", 0, 2.0)
    write_run(root, "T3", "sparse", 1, 4.0)
    write_run(root, "T3", "hand", 0, 1.0)
    write_run(root, "T3", "hand", 1, 1.0)
    write_run(root, "T3", "shaped", 0, 5.0)
    write_run(root, "T3", "shaped", 1, 5.0)
    # T4: hand == sparse, normalised score undefined
    write_run(root, "T4", "sparse", 0, 0.5)
    write_run(root, "T4", "hand", 0, 0.5)
    write_run(root, "T4", "shaped", 0, 0.7)
    # damaged and unfinished runs
    bad = write_run(root, "T1", "shaped", 3, 100.0)
    (bad / "summary.json").write_text('{"fitness_mean": 100.0, "succ')
    gone = write_run(root, "T1", "shaped", 4, 100.0)
    (gone / "metrics.jsonl").unlink()
    liar = write_run(root, "T1", "shaped", 5, 100.0)
    summary = json.loads((liar / "summary.json").read_text())
    (liar / "summary.json").write_text(json.dumps({**summary, "seed": 99}))
    write_run(root, "T1", "shaped", 6, 100.0, state="running")
    write_run(root, "T1", "shaped", 7, 100.0, state="failed")
    # the same run again under another experiment folder of the same root
    write_run(tmp_path / "exp" / "zz_copy", "T1", "shaped", 0, 100.0)
    return root


def test_load_runs_reports_damaged_runs_and_skips_unfinished_ones(experiment: Path) -> None:
    records, problems, skipped = load_runs(experiment)
    reasons = {p.path.name: p.reason for p in problems}
    assert set(reasons) == {"T1__shaped__ppo__s3", "T1__shaped__ppo__s4", "T1__shaped__ppo__s5", "T1__shaped__ppo__s0"}
    assert "summary.json is corrupted" in reasons["T1__shaped__ppo__s3"]
    assert "metrics.jsonl is missing" in reasons["T1__shaped__ppo__s4"]
    assert "disagrees" in reasons["T1__shaped__ppo__s5"]
    assert "duplicate" in reasons["T1__shaped__ppo__s0"]
    assert {(s.path.name, s.state) for s in skipped} == {
        ("T1__shaped__ppo__s6", "running"),
        ("T1__shaped__ppo__s7", "failed"),
    }
    assert len(records) == 20
    assert all(r.final_fitness < 100.0 for r in records)
    shaped0 = next(r for r in records if r.key == ("T1", "shaped", "ppo") and r.seed == 0)
    np.testing.assert_array_equal(shaped0.train_steps, [100, 200, 300])  # the empty window and eval rows left out
    np.testing.assert_array_equal(shaped0.eval_steps, [50])


def test_summarize_per_group(experiment: Path) -> None:
    records = load_runs(experiment).records
    rows = summarize(records, reps=400)
    assert json.loads(json.dumps(rows, allow_nan=False)) == rows
    by = {(r["task"], r["reward"], r["agent"]): r for r in rows}
    assert len(rows) == 11
    row = by["T1", "shaped", "ppo"]
    assert row["n_seeds"] == 3 and row["seeds"] == [0, 1, 2]  # the corrupted run is not in here
    assert row["final_fitness_per_seed"] == [0.2, 0.4, 0.9]
    assert row["final_fitness_mean"] == pytest.approx(0.5)
    assert row["final_fitness_iqm"] == pytest.approx(0.5)  # n = 3: nothing trimmed
    lo, hi = row["final_fitness_mean_ci"]
    assert 0.2 <= lo <= 0.5 <= hi <= 0.9
    assert row["success_rate_mean"] == 0.0
    assert row["auc_mean"] == pytest.approx((0.75 + 0.25 + 0.0) / 3)
    assert row["auc_n"] == 3
    assert row["steps_to_threshold_per_seed"] == [200, 300, None]
    assert row["steps_to_threshold_median"] == 300
    assert row["steps_to_threshold_n_reached"] == 2
    assert row["fitness_unit"] == "reached (0/1)" and row["success_threshold"] == 1.0
    hand = by["T1", "hand", "ppo"]
    assert hand["final_fitness_mean_ci"] == [1.0, 1.0]
    assert hand["success_rate_mean"] == 1.0
    assert hand["wall_time_s_mean"] == pytest.approx(21.0) and hand["wall_time_s_total"] == pytest.approx(63.0)
    assert hand["steps_to_threshold_median"] == 100
    assert by["T1", "sparse", "ppo"]["steps_to_threshold_median"] is None  # never reached by any seed


def test_summarize_refuses_to_mix_fitness_units(experiment: Path) -> None:
    records = load_runs(experiment).records
    records[0] = dataclasses.replace(records[0], fitness_unit="metres")
    with pytest.raises(ValueError, match="fitness_unit"):
        summarize(records, reps=10)


def test_cross_task_normalised_score_and_probability_of_improvement(experiment: Path) -> None:
    out = cross_task(load_runs(experiment).records, reps=400)
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    excluded = {e["task"]: e["reason"] for e in out["excluded"]}
    assert set(excluded) == {"T2", "T4"}
    assert "no hand" in excluded["T2"] and "same mean" in excluded["T4"]
    norm = {r["reward"]: r for r in out["normalized_score"]}
    shaped = norm["shaped"]
    assert shaped["tasks"] == ["T1", "T3"] and shaped["n_runs"] == 5
    assert shaped["per_task"] == {"T1": pytest.approx(0.5), "T3": pytest.approx(1.0)}
    # pooled normalised runs [0.2, 0.4, 0.9, 1, 1]: mean 0.7, IQM (n = 5, one cut per side) = mean(0.4, 0.9, 1)
    assert shaped["mean"] == pytest.approx(0.7)
    assert shaped["iqm"] == pytest.approx((0.4 + 0.9 + 1.0) / 3)
    assert shaped["iqm_ci"][0] <= shaped["iqm"] <= shaped["iqm_ci"][1]
    assert norm["hand"]["per_task"] == {"T1": pytest.approx(1.0), "T3": pytest.approx(-1.0)}
    assert norm["sparse"]["per_task"]["T1"] == 0.0
    poi = {(r["x"], r["y"]): r for r in out["probability_of_improvement"]}
    assert set(poi) == {("hand", "shaped"), ("hand", "sparse"), ("shaped", "sparse")}
    hs = poi["hand", "shaped"]
    # T1: hand 1 beats every shaped run; T3: hand 1 loses to 5, 5; T4: hand 0.5 loses to 0.7
    assert hs["tasks"] == ["T1", "T3", "T4"]
    assert hs["value"] == pytest.approx(1 / 3)
    assert hs["ci"][0] <= hs["value"] <= hs["ci"][1]
    assert poi["shaped", "sparse"]["tasks"] == ["T1", "T2", "T3", "T4"]


def test_aggregate_is_reproducible_json(experiment: Path) -> None:
    a = aggregate(experiment, reps=200)
    assert a == aggregate(experiment, reps=200)
    assert len(a["problems"]) == 4 and len(a["skipped"]) == 2
    json.dumps(a, allow_nan=False)
