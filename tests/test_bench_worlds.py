"""``rewardlab bench worlds`` at a tiny size: every figure is measured (positive, finite), the ratios are the
quotients of the rates they name, and training is a fraction of the raw rate of the same batched env."""

from __future__ import annotations

import math

import pytest

from rewardlab.bench_worlds import worlds_bench


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_worlds_bench_measures_every_world_and_training_at_a_tiny_size() -> None:
    res = worlds_bench(grid_envs=64, mujoco_tasks=("HalfCheetah-v5",), mujoco_envs=(8,), grid_train_steps=8192,
                       mujoco_train_steps=1024, rounds=1, log=lambda _: None)  # fmt: skip
    g = res["grid"]
    for k in ("minigrid", "minigrid_lab", "numpy", "torch-cpu"):
        assert g[k] > 0 and math.isfinite(g[k])
    assert g["numpy/minigrid"] == pytest.approx(g["numpy"] / g["minigrid"])
    impls = {r["impl"] for r in res["mujoco"]}
    assert {"batched", "gym-sync"} <= impls
    (ratio,) = res["mujoco_ratios"]
    assert ratio["num_envs"] == 8 and ratio["vs_gym_sync"] == pytest.approx(ratio["batched"] / ratio["gym_sync_16"])
    tasks = [t["task"] for t in res["training"]]
    assert tasks == ["MiniGrid-DoorKey-8x8-v0", "HalfCheetah-v5"]
    for t in res["training"]:
        assert t["trained_steps"] >= 1024 and t["train_steps_per_s"] > 0
        assert t["fraction_of_raw"] == pytest.approx(t["train_steps_per_s"] / t["raw_env_steps_per_s"])
        assert 0 < t["fraction_of_raw"] < 1.5  # training cannot step much faster than the env alone
    assert res["training"][0]["n_envs"] == 256 and res["hardware"]["cores"] >= 1
