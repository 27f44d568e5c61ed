"""``simulator`` (``rewardlab run --simulator``, ``RunConfig.simulator``): the physics of a batched MuJoCo env,
chosen per run, validated before anything is written, saved in config.json and part of a run's resume identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rewardlab
from rewardlab.cli import main
from rewardlab.experiment.config import config_differences
from rewardlab.wrappers import check_simulator, make_vector_env


def test_check_simulator_accepts_what_fits_and_names_what_does_not() -> None:
    check_simulator("auto", "CartPole-v1", "gym")  # the default fits every run
    check_simulator("data", "Hopper-v5", "batched")
    check_simulator("batch", "rewardlab/HopperJump-v0", "torch")
    with pytest.raises(ValueError, match="unknown simulator 'warpx'"):
        check_simulator("warpx", "Hopper-v5", "batched")
    with pytest.raises(ValueError, match="got task CartPole-v1 with vec='batched'"):
        check_simulator("data", "CartPole-v1", "batched")
    with pytest.raises(ValueError, match="with vec='gym'"):
        check_simulator("data", "Hopper-v5", "gym")
    with pytest.raises(ValueError, match="is for the batched MuJoCo envs"):
        make_vector_env(rewardlab.get_task("MiniGrid-Empty-8x8-v0"), 2, vec="batched", simulator="data")


def test_a_run_with_a_simulator_records_it_and_resumes_only_with_the_same(tmp_path: Path) -> None:
    res = rewardlab.run("Hopper-v5", reward="env", agent="ppo-native", steps=512, seed=0, runs_dir=tmp_path,
                        vec="batched", simulator="data", hp=["n_envs=4", "n_steps=16"], eval_every=-1,
                        n_eval_episodes=1)  # fmt: skip
    cfg = json.loads((res.path / "config.json").read_text())
    assert cfg["run"]["simulator"] == "data" and res.status == "done"
    other = {**cfg, "run": {**cfg["run"], "simulator": "batch"}}
    assert config_differences(cfg, other) == ["simulator: 'data' there, 'batch' asked"]
    old = {**cfg, "run": {k: v for k, v in cfg["run"].items() if k != "simulator"}}  # config.json before the field
    assert config_differences(old, {**cfg, "run": {**cfg["run"], "simulator": "auto"}}) == []


def test_the_cli_refuses_a_bad_simulator_before_writing_anything(tmp_path: Path) -> None:
    code = main(["run", "--task", "CartPole-v1", "--vec", "batched", "--simulator", "data", "--steps", "64",
                 "--runs-dir", str(tmp_path)])  # fmt: skip
    assert code == 2 and not any(tmp_path.iterdir())
