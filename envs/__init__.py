"""rewardlab worlds: the task registry and its benchmark suites.

Importing ``envs`` registers every task (and the lab's own gymnasium ids, ``rewardlab/...``).
"""

from envs import behaviours, classic, minigrid_tasks, mujoco_tasks  # noqa: F401  (registers tasks)
from envs.registry import (
    Fitness,
    HandReward,
    ObsField,
    Task,
    UnknownTaskError,
    get_task,
    list_tasks,
    register_task,
)
from envs.state_view import StateView

__all__ = [
    "Fitness",
    "HandReward",
    "ObsField",
    "StateView",
    "Task",
    "UnknownTaskError",
    "get_task",
    "list_tasks",
    "register_task",
]
