"""Every (task family, agent) pair trains through the lab's runner (1.5k steps; off-policy agents
take 500 gradient steps on small networks to keep the default suite fast)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import rewardlab
from rewardlab.experiment.store import RunDir

# (task, reward, agent, extra hyperparameter overrides so off-policy agents take gradient steps)
OFF = ["learning_starts=1000", "policy_kwargs=dict(net_arch=[64, 64])"]
PAIRS = [
    ("CartPole-v1", "hand", "ppo", []),
    ("CartPole-v1", "env", "a2c", []),
    ("CartPole-v1", "sparse", "dqn", OFF),
    ("Pendulum-v1", "hand", "sac", OFF),
    ("MountainCarContinuous-v0", "potential", "td3", OFF),
    ("Hopper-v5", "hand", "ppo", []),
    ("Hopper-v5", "env", "a2c", []),
    ("HalfCheetah-v5", "env", "sac", OFF),
    ("Walker2d-v5", "hand", "td3", OFF),
    ("MiniGrid-DoorKey-5x5-v0", "hand", "ppo", []),
    ("MiniGrid-Empty-8x8-v0", "env", "a2c", []),
    ("MiniGrid-LavaGapS5-v0", "potential", "dqn", OFF),
    ("rewardlab/HalfCheetahBackflip-v0", "hand", "ppo", []),
    ("rewardlab/HopperJump-v0", "hand", "sac", OFF),
    ("rewardlab/AntCircle-v0", "hand", "td3", OFF),
    ("rewardlab/CartPoleKeepLeft-v0", "hand", "dqn", OFF),
]


# the three slowest pairs (about 3 s each: off-policy on the largest MuJoCo bodies) are slow; the quick suite keeps
# SAC and TD3 on Pendulum, MountainCarContinuous and Walker2d
SLOW_PAIRS = {("HalfCheetah-v5", "sac"), ("rewardlab/HopperJump-v0", "sac"), ("rewardlab/AntCircle-v0", "td3")}


@pytest.mark.parametrize(
    ("task", "reward", "agent", "hp"),
    [pytest.param(*p, marks=pytest.mark.slow) if (p[0], p[2]) in SLOW_PAIRS else p for p in PAIRS],
    ids=[f"{t}-{a}" for t, _, a, _ in PAIRS],
)
def test_family_agent_pair_trains(tmp_path: Path, task: str, reward: str, agent: str, hp: list[str]) -> None:
    res = rewardlab.run(
        task,
        reward=reward,
        agent=agent,
        steps=1500,
        seed=0,
        runs_dir=tmp_path,
        hp=hp,
        n_eval_episodes=2,
        eval_every=-1,
    )
    assert res.status == "done"
    s = res.summary
    assert s["steps"] >= 1500 and np.isfinite(s["fitness_mean"])
    assert (res.path / "policy.zip").is_file()
    rows = RunDir(res.path).metrics()
    assert rows[-1]["kind"] == "eval" and rows[-1]["final"]
