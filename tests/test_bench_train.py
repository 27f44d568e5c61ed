"""`rewardlab bench train`: one judging rule for every agent, evaluation time kept off the clock."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rewardlab.bench_train import train_bench, train_trial
from rewardlab.cli import main


def test_trial_stops_at_the_first_evaluation_that_reaches_the_target():
    t0 = time.perf_counter()
    t = train_trial("CartPole-v1", "ppo", 0, reward="env", target=5.0, budget=4096, eval_every=512, eval_episodes=3)
    wall = time.perf_counter() - t0
    assert t["reached_step"] == 512 and t["trained_steps"] == 512  # any policy balances 5 steps
    assert t["evals"][0][0] == 512 and t["evals"][0][2] >= 5.0
    assert 0 < t["time_to_target_s"] <= t["train_time_s"] < wall


def test_unreached_target_counts_as_a_miss_and_full_budget_trains_it_all():
    t = train_trial("CartPole-v1", "ppo", 0, reward="env", target=1e9, budget=1024, eval_every=512, eval_episodes=2)
    assert t["reached_step"] is None and t["time_to_target_s"] is None and t["trained_steps"] == 1024
    res = train_bench("CartPole-v1", ["ppo"], 2, reward="env", target=1e9, budget=512, eval_every=512,
                      eval_episodes=2, env_rates=False)  # fmt: skip
    s = res["agents"]["ppo"]["summary"]
    assert s["reached"] == "0/2" and s["median_time_to_target_s"] == float("inf")


@pytest.mark.slow
def test_cli_writes_json_and_rejects_bad_agents(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "bt.json"
    code = main(["bench", "train", "--tasks", "CartPole-v1", "--agents", "ppo", "--seeds", "1", "--reward", "env",
                 "--target", "5", "--budget", "1024", "--eval-every", "512", "--eval-episodes", "2", "--out", str(out)])  # fmt: skip
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["agents"]["ppo"]["summary"]["reached"] == "1/1" and doc["hardware"]["cores"]
    assert main(["bench", "train", "--tasks", "CartPole-v1", "--agents", "nope", "--seeds", "1"]) == 2
    assert "unknown agent 'nope'" in capsys.readouterr().err
