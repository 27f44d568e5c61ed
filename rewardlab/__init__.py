"""rewardlab: a lab for designing reward functions for reinforcement learning.

Importing ``rewardlab`` registers every task with gymnasium (``gymnasium.make("rewardlab/...")``).

Quick tour::

    import rewardlab
    result = rewardlab.run("MountainCar-v0", reward="hand", agent="ppo", steps=100_000, seed=0)
    print(result.summary["fitness_mean"], result.path)

    @rewardlab.reward("my_reward", tasks="MountainCar-v0")
    def my_reward(s):                      # s: the task's state view (batched arrays)
        return {"speed": 10 * abs(s.v), "goal": 10.0 * (s.x >= 0.5)}
"""

from __future__ import annotations

from typing import Any

import envs  # noqa: F401  (registers the lab's tasks)
from envs import StateView, Task, get_task, list_tasks
from rewardlab import rewards
from rewardlab.rewards import *  # noqa: F403  (the reward contract: every name in rewardlab.rewards.__all__)

__version__ = "0.1.0"


def run(
    task: str, reward: str = "env", agent: str = "ppo", steps: int | None = None, seed: int = 0, **kwargs: Any
) -> Any:
    """Train and evaluate one run; see :func:`rewardlab.experiment.runner.run`."""
    from rewardlab.experiment.runner import run as _run

    return _run(task, reward, agent, steps, seed, **kwargs)


__all__ = ["StateView", "Task", "get_task", "list_tasks", "run"]
__all__ += rewards.__all__  # the reward contract, as rewardlab.rewards exports it
