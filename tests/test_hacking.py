"""Reward–fitness correlation and the reward-hacking flag on synthetic training curves."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rewardlab.analysis.aggregate import load_runs
from rewardlab.analysis.hacking import (
    HackingConfig,
    analyze_runs,
    detect_hacking,
    rankdata,
    spearman,
    train_series,
    trend_test,
)
from rewardlab.experiment.store import RunDir

N = 60  # logging windows
STEPS = np.arange(1, N + 1) * 2048.0
X = np.linspace(0.0, 1.0, N)


@pytest.fixture(autouse=True)
def no_numpy_warnings() -> Iterator[None]:
    """Constant and short series must not divide by zero or average empty slices."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            yield


def noise(seed: int, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, scale, N)


# --------------------------------------------------------------------------------------------------
# statistics against hand-computed values


def test_rankdata_gives_ties_their_average_rank() -> None:
    np.testing.assert_array_equal(rankdata([10, 30, 20, 30, 5]), [2, 4.5, 3, 4.5, 1])


def test_spearman_matches_the_closed_form_without_ties() -> None:
    x, y = [1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 1.0, 4.0, 3.0, 5.0]
    d2 = sum((a - b) ** 2 for a, b in zip(rankdata(x), rankdata(y), strict=True))  # 4
    assert spearman(x, y) == pytest.approx(1 - 6 * d2 / (5 * (25 - 1)))  # 0.8
    assert spearman(x, [v**3 for v in x]) == pytest.approx(1.0)  # any monotone map
    assert spearman(x, [-v for v in x]) == pytest.approx(-1.0)


def test_spearman_with_ties_is_pearson_on_average_ranks() -> None:
    x, y = [1.0, 2.0, 2.0, 3.0], [1.0, 1.0, 2.0, 3.0]
    rx, ry = np.array([1, 2.5, 2.5, 4]), np.array([1.5, 1.5, 3, 4])
    assert spearman(x, y) == pytest.approx(np.corrcoef(rx, ry)[0, 1])


def test_spearman_is_none_when_undefined_and_drops_nan_pairs() -> None:
    assert spearman([0.0] * 10, np.arange(10.0)) is None  # constant (the sparse reward's fitness)
    assert spearman([1.0, 2.0], [1.0, 2.0]) is None  # too few pairs
    assert spearman([1.0, 2.0, math.nan, 4.0, 5.0], [1.0, 2.0, 9.0, 4.0, 5.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        spearman([1.0, 2.0, 3.0], [1.0, 2.0])


def test_trend_test_hand_computed() -> None:
    # thirds of 9: early [1, 2, 3], late [4, 5, 6]; each has MAD 1
    t = trend_test([1.0, 2.0, 3.0, 100.0, -100.0, 0.0, 4.0, 5.0, 6.0])
    assert t is not None
    assert (t.n_per_third, t.early_median, t.late_median, t.change) == (3, 2.0, 5.0, 3.0)
    assert (t.early_mean, t.late_mean) == (2.0, 5.0)
    assert t.robust_std == pytest.approx(1.4826)
    assert t.effect == pytest.approx(3.0 / 1.4826)
    # U = 9 of 9 pairs, mean 4.5, var = 3*3/12 * (6+1) = 5.25, continuity-corrected z = 4 / sqrt(5.25)
    z = 4.0 / math.sqrt(5.25)
    assert t.p_increase == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)))
    assert t.p_decrease == pytest.approx(0.5 * math.erfc(-5.0 / math.sqrt(5.25) / math.sqrt(2)))


def test_trend_test_of_constant_and_step_series() -> None:
    flat = trend_test([0.0] * 12)
    assert flat is not None
    assert (flat.change, flat.robust_std, flat.effect, flat.p_increase, flat.p_decrease) == (0, 0, 0, 1, 1)
    step = trend_test([0.0] * 6 + [1.0] * 6)
    assert step is not None and step.effect == math.inf and step.p_increase < 0.01
    assert step.as_dict()["effect"] == "inf"
    assert trend_test([1.0, 2.0, 3.0, 4.0, 5.0]) is None  # under two windows per third


# --------------------------------------------------------------------------------------------------
# the verdict on synthetic curves


def test_rising_shaped_return_and_falling_fitness_is_flagged() -> None:
    shaped = 100 * X + noise(1, 5)
    fitness = 1.0 - 0.6 * X + noise(2, 0.05)
    r = detect_hacking(STEPS, shaped, fitness, success_threshold=0.9)
    assert r.verdict == "hacking" and r.flagged and r.kind == "fitness falling"
    assert r.spearman_shaped_fitness is not None and r.spearman_shaped_fitness < -0.5
    assert r.shaped is not None and r.shaped.p_increase < 1e-6 and r.shaped.effect > 3
    assert r.fitness is not None and r.fitness.p_decrease < 1e-6
    assert "rose" in r.explanation and "fell" in r.explanation and "\n" not in r.explanation


def test_both_rising_is_not_flagged() -> None:
    shaped = 100 * X + noise(3, 5)
    fitness = 0.9 * X + noise(4, 0.05)
    r = detect_hacking(STEPS, shaped, fitness, success_threshold=0.9)
    assert r.verdict == "ok" and r.kind is None and not r.flagged
    assert r.spearman_shaped_fitness is not None and r.spearman_shaped_fitness > 0.8
    assert "fitness rose" in r.explanation


def test_noise_is_not_flagged() -> None:
    r = detect_hacking(STEPS, 10 + noise(5), 0.5 + noise(6, 0.1), success_threshold=1.0)
    assert r.verdict == "ok"
    # and the false-positive rate over many seeds is small
    flagged = sum(
        detect_hacking(STEPS, 10 + noise(s), 0.5 + noise(10_000 + s, 0.1), success_threshold=1.0).flagged
        for s in range(300)
    )
    assert flagged / 300 <= 0.02


def test_constant_fitness_is_flat_hacking_only_when_the_shaped_return_really_rises() -> None:
    zero = np.zeros(N)  # a sparse MountainCar run: the flag was never reached
    rising = detect_hacking(STEPS, 50 * X + noise(7, 2), zero, success_threshold=1.0)
    assert rising.verdict == "hacking" and rising.kind == "fitness flat"
    assert rising.spearman_shaped_fitness is None  # undefined, not nan
    assert "flat" in rising.explanation

    wobbly = detect_hacking(STEPS, 5 + noise(8), zero, success_threshold=1.0)
    assert wobbly.verdict == "ok"
    constant = detect_hacking(STEPS, zero, zero, success_threshold=1.0)
    assert constant.verdict == "ok" and constant.spearman_shaped_fitness is None
    # a drift that is significant over many windows but small against the noise does not count
    drift = detect_hacking(np.arange(3000.0), 0.3 * np.linspace(0, 1, 3000) + noise_n(9, 3000), np.zeros(3000))
    assert drift.shaped is not None and drift.shaped.p_increase < 0.01 and drift.shaped.effect < 1
    assert drift.verdict == "ok"


def noise_n(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.0, n)


def test_flat_fitness_at_the_success_threshold_is_saturation_not_hacking() -> None:
    shaped = 30 * X + noise(10, 1)
    done = np.ones(N)  # solved from the first window on; the shaped return keeps climbing
    assert detect_hacking(STEPS, shaped, done, success_threshold=1.0).verdict == "ok"
    assert detect_hacking(STEPS, shaped, done).verdict == "hacking"  # no threshold known: flat is flat
    # falling fitness is hacking even above the threshold
    falling = detect_hacking(STEPS, shaped, 300 - 100 * X + noise(11, 5), success_threshold=150.0)
    assert falling.kind == "fitness falling"


def test_few_windows_give_insufficient_data() -> None:
    r = detect_hacking(STEPS[:10], 100 * X[:10], -X[:10])
    assert r.verdict == "insufficient data" and not r.flagged
    assert r.shaped is None and r.fitness is None and "10 logging windows" in r.explanation
    empty = detect_hacking([], [], [])
    assert empty.verdict == "insufficient data" and empty.n_windows == 0
    # nan windows (no episode finished) are dropped before counting
    fitness = np.where(np.arange(N) % 2 == 0, np.nan, 0.5)
    assert detect_hacking(STEPS, X, fitness, config=HackingConfig(min_windows=31)).n_windows == 30


def test_windows_are_sorted_by_step() -> None:
    shaped, fitness = 100 * X + noise(12, 5), 1.0 - 0.6 * X + noise(13, 0.05)
    order = np.random.default_rng(0).permutation(N)
    a = detect_hacking(STEPS, shaped, fitness)
    b = detect_hacking(STEPS[order], shaped[order], fitness[order])
    assert a.as_dict() == b.as_dict()


def test_components_are_correlated_and_the_rising_one_is_named() -> None:
    fitness = 1.0 - 0.6 * X + noise(14, 0.05)
    comps = {"bonus": 100 * X + noise(15, 5), "progress": fitness * 10, "goal": np.zeros(N)}
    r = detect_hacking(STEPS, comps["bonus"] + comps["progress"], fitness, components=comps)
    assert r.flagged
    assert r.spearman_components["progress"] == pytest.approx(1.0)
    assert r.spearman_components["bonus"] is not None and r.spearman_components["bonus"] < 0
    assert r.spearman_components["goal"] is None
    assert "reward/bonus" in r.explanation
    json.dumps(r.as_dict(), allow_nan=False)


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        HackingConfig(min_windows=3)
    with pytest.raises(ValueError):
        HackingConfig(alpha=0.0)
    with pytest.raises(ValueError):
        detect_hacking([1, 2], [1, 2, 3], [1, 2])


# --------------------------------------------------------------------------------------------------
# run directories


def test_train_series_aligns_rows() -> None:
    rows = [
        {"kind": "train", "step": 200, "fitness": 1.0, "shaped_return": 5.0, "reward/a": 2.0},
        {"kind": "eval", "step": 150, "fitness": 0.0},
        {"kind": "train", "step": 100, "fitness": 0.5, "shaped_return": 3.0, "reward/b": 1.0},
        {"kind": "train", "step": 300, "episodes": 0, "fitness": None, "shaped_return": None},  # empty window
    ]
    s = train_series(rows)
    np.testing.assert_array_equal(s.steps, [100, 200])
    np.testing.assert_array_equal(s.fitness, [0.5, 1.0])
    np.testing.assert_array_equal(s.shaped, [3.0, 5.0])
    np.testing.assert_array_equal(s.components["a"], [np.nan, 2.0])
    np.testing.assert_array_equal(s.components["b"], [1.0, np.nan])


def _fake_run(root: Path, name: str, seed: int, shaped: np.ndarray, fitness: np.ndarray) -> None:
    rd = RunDir(root / name)
    rd.write_json("config.json", {"run": {"task": "T", "reward": name, "agent": "ppo", "seed": seed}})
    rows = [
        {"kind": "train", "step": int(s), "fitness": float(f), "shaped_return": float(r), "reward/bonus": float(r)}
        for s, r, f in zip(STEPS, shaped, fitness, strict=True)
    ]
    rd.append_metrics([*rows, {"kind": "eval", "step": int(STEPS[-1]), "fitness": 0.0, "final": True}])
    rd.write_json(
        "summary.json",
        {"fitness_mean": 0.0, "fitness_unit": "reached (0/1)", "success_threshold": 1.0, "success_rate": 0.0},
    )
    rd.set_status("done")


def test_analyze_runs_reads_the_run_directories(tmp_path: Path) -> None:
    _fake_run(tmp_path, "hacked", 0, 100 * X + noise(16, 5), np.zeros(N))
    _fake_run(tmp_path, "honest", 1, 5 + noise(17), np.zeros(N))
    records = load_runs(tmp_path).records
    results = {h.reward: h for h in analyze_runs(records)}
    assert results["hacked"].result.kind == "fitness flat" and results["hacked"].seed == 0
    assert results["honest"].result.verdict == "ok"
    assert results["hacked"].series.steps.size == N and "bonus" in results["hacked"].series.components

    (tmp_path / "honest" / "metrics.jsonl").write_text("garbage\n{}\n")  # damaged after loading
    late = {h.reward: h for h in analyze_runs(records)}
    assert late["honest"].result.verdict == "insufficient data"
    assert "unreadable" in late["honest"].result.explanation
