"""The sandbox worker loads only what candidate code can use: numpy (torch when asked) and the state view.

It once imported the whole ``envs`` package (gymnasium, minigrid, mujoco, pygame) to reach ``StateView``:
0.3 s of every worker's start-up, paid by every validation and every training run of an LLM reward, and native
libraries mapped into the one process that runs untrusted code.
"""

from __future__ import annotations

import numpy as np

import envs
from llm_reward.sandbox import SandboxedReward, SandboxLimits
from rewardlab.rewards.base import TransitionBatch

CODE = '''
import numpy as np


def compute_reward(s):
    """Distance to the goal, with a component."""
    d = np.abs(0.5 - s.x)
    return -d, {"distance": d}
'''


def _maps(pid: int) -> str:
    with open(f"/proc/{pid}/maps") as f:
        return f.read()


def test_the_worker_maps_no_task_library_and_still_reads_the_state_view() -> None:
    task = envs.get_task("MountainCar-v0")
    env = task.make_env()
    obs, _ = env.reset(seed=0)
    env.close()
    obs = np.stack([obs, obs + 0.1])
    no = np.zeros(2, dtype=bool)
    view = task.transition_view(obs, np.zeros(2, dtype=np.int64), obs + 0.01, -np.ones(2), no, no, {})
    r = SandboxedReward(CODE, name="dist", limits=SandboxLimits(require_kernel=False))
    try:
        terms = r.compute(TransitionBatch(obs, view.action, obs + 0.01, view.env_reward, no, no, state=view))
        np.testing.assert_allclose(terms.total, -np.abs(0.5 - view.x))
        assert set(terms.components) == {"distance"}
        maps = _maps(r.pid)
        for lib in ("mujoco", "pygame", "SDL", "glfw", "minigrid", "gymnasium"):
            assert lib not in maps, f"the sandbox worker maps {lib}"
        assert "numpy" in maps
    finally:
        r.close()
