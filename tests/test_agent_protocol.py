"""The run path goes through the agent registry: bad agent input fails clearly (exit 2, nothing lost),
`rewardlab agents` lists every registered name, and the core never imports a learning library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rewardlab.cli import main
from rewardlab.experiment.store import RunDir

RUN = ["run", "--task", "CartPole-v1", "--reward", "env", "--steps", "256", "--eval-episodes", "2", "--no-progress"]


def test_the_core_does_not_import_stable_baselines3():
    code = (
        "import sys, rewardlab, rewardlab.experiment.runner, rewardlab.experiment.evaluate, "
        "rewardlab.experiment.video, rewardlab.experiment.grid, rewardlab.cli, rewardlab.experiment.callbacks; "
        "print(sorted(m for m in sys.modules if m.startswith(('stable_baselines3', 'agents'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--agent", "ppq"], "unknown agent 'ppq'. Did you mean ppo"),
        (["--agent", "sac"], "sac needs a Box action space, got Discrete(2)"),
        (["--vec", "batched", "--task", "rewardlab/CartPoleKeepLeft-v0"], "has no batched env"),
        (["--device", "cuda:7"], "device 'cuda:7'"),
        (["--device", "tpu"], "device 'tpu'"),
        (["--hp", "no_such_key=1"], "no_such_key"),
    ],
)
def test_bad_agent_input_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra, message):
    import torch

    if "cuda" in " ".join(extra) and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    code = main([*RUN, *extra, "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in " ".join(err.split()), err
    assert "Traceback" not in err
    assert not any(tmp_path.rglob("*.json"))  # nothing was written


def test_resuming_with_another_agent_is_refused_and_loses_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    base = [*RUN, "--run-id", "mine", "--runs-dir", str(tmp_path)]
    assert main(base) == 0
    rd = RunDir(tmp_path / "default" / "mine")
    rd.set_status("interrupted", steps_done=128)  # as if it had been stopped
    before = {p: p.read_bytes() for p in rd.path.rglob("*") if p.is_file()}
    capsys.readouterr()
    code = main([*base, "--agent", "a2c"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "agent: 'ppo' there, 'a2c' asked" in err, err
    after = {p: p.read_bytes() for p in rd.path.rglob("*") if p.is_file()}
    assert after == before


def test_agents_command_lists_every_registered_agent(capsys: pytest.CaptureFixture[str]):
    from rewardlab.experiment.agents import agent_names

    assert main(["agents", "--task", "CartPole-v1"]) == 0
    out = capsys.readouterr().out
    for name in agent_names():
        assert name in out
    assert "not for this task" in out  # sac/td3 on a Discrete task


def test_a_run_saves_the_agent_and_video_and_eval_reload_it(tmp_path: Path):
    from rewardlab.experiment.agents import load_agent
    from rewardlab.experiment.runner import run

    res = run("MountainCar-v0", "hand", "ppo", steps=512, runs_dir=tmp_path, n_eval_episodes=2, eval_every=-1)
    doc = json.loads((res.path / "agent.json").read_text())
    assert doc["name"] == "ppo" and doc["num_steps"] == 512
    assert (res.path / "policy.zip").exists() and (res.path / "vecnormalize.pkl").exists()  # zoo: normalize
    import gymnasium as gym

    env = gym.make("MountainCar-v0")
    agent = load_agent(res.path, "ppo", env.observation_space, env.action_space)
    assert agent.vecnorm is not None and agent.vecnorm.venv is None  # statistics only, no env
    obs = env.observation_space.sample()[None]
    assert agent.act(obs).shape == (1,)
