"""Array-batched envs: thousands of env copies per ``step`` call, numpy or torch.

>>> from envs.batched import make_batched
>>> env = make_batched("CartPole-v1", 4096)                       # numpy, float64 physics
>>> env = make_batched("Pendulum-v1", 4096, "torch", device="cuda")  # tensors stay on the GPU
>>> env = make_batched("MiniGrid-DoorKey-8x8-v0", 4096)           # the gridworld (envs.batched.grid)

Every env is a ``gymnasium.vector.VectorEnv`` with ``AutoresetMode.SAME_STEP`` and the task's
time limit built in; ``info["final_obs"]`` is a full ``(n, obs_dim)`` array (see
:mod:`envs.batched.core`). Trajectories match gymnasium's own envs step by step
(``tests/test_batched_envs.py``; the MiniGrid tasks: ``tests/test_batched_grid.py``).
"""

from __future__ import annotations

from typing import Any

from envs.batched.classic import (
    BATCHED_CLASSES,
    BatchedAcrobot,
    BatchedCartPole,
    BatchedMountainCar,
    BatchedMountainCarContinuous,
    BatchedPendulum,
)
from envs.batched.core import BACKENDS, ArrayNamespace, BatchedEnv, resolve_device
from envs.batched.grid import GRID_CLASSES, BatchedGrid
from envs.batched.mujoco_behaviours import BEHAVIOUR_CLASSES
from envs.batched.mujoco_core import BatchedMujocoEnv
from envs.batched.mujoco_envs import MUJOCO_CLASSES

CLASSIC_TASKS: tuple[str, ...] = tuple(BATCHED_CLASSES)
"""Classic-control task ids with a batched implementation (:mod:`envs.batched.classic`)."""
GRID_TASKS: tuple[str, ...] = tuple(GRID_CLASSES)
"""MiniGrid task ids with a batched implementation (:mod:`envs.batched.grid`)."""
MUJOCO_TASKS: tuple[str, ...] = (*MUJOCO_CLASSES, *BEHAVIOUR_CLASSES)
"""MuJoCo task ids with a batched implementation (:mod:`envs.batched.mujoco_envs`, the new-behaviour tasks:
:mod:`envs.batched.mujoco_behaviours`; numpy physics, the torch backend hands out tensors)."""
_CLASSES: dict[str, type[BatchedEnv]] = {**BATCHED_CLASSES, **GRID_CLASSES, **MUJOCO_CLASSES, **BEHAVIOUR_CLASSES}
BATCHED_TASKS: tuple[str, ...] = tuple(_CLASSES)
"""Task ids with a batched implementation (in both backends)."""


def batched_class(task_id: str) -> type[BatchedEnv] | None:
    """The batched env class of ``task_id``, or None when it has none."""
    return _CLASSES.get(task_id)


def has_batched(task_id: str, backend: str = "numpy") -> bool:
    """Whether ``task_id`` has a batched env in ``backend`` (``"numpy"`` or ``"torch"``)."""
    if backend == "torch":
        try:
            import torch  # noqa: F401
        except ImportError:
            return False
    return task_id in _CLASSES and backend in BACKENDS


def make_batched(
    task_id: str, num_envs: int, backend: str = "numpy", device: str | None = None, **kwargs: Any
) -> BatchedEnv:
    """Build the batched env for ``task_id`` with ``num_envs`` copies.

    :param task_id: one of :data:`BATCHED_TASKS` (gymnasium ids, e.g. ``"CartPole-v1"``).
    :param num_envs: number of copies ``n``.
    :param backend: ``"numpy"`` (CPU arrays) or ``"torch"`` (tensors on ``device``).
    :param device: torch device (``"cpu"``, ``"cuda"``, ``"cuda:0"``, ``"auto"``; default ``"auto"``).
    :param kwargs: ``max_episode_steps=`` (time limit), ``dtype=`` (torch physics dtype);
        gridworlds also ``pool_size=`` (:class:`envs.batched.grid.BatchedGrid`).
    :raises ValueError: unknown task, unknown backend, or a torch device this machine lacks.
    """
    if task_id not in _CLASSES:
        raise ValueError(f"no batched env for task {task_id!r}; batched tasks: {', '.join(BATCHED_TASKS)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    return _CLASSES[task_id](num_envs, backend=backend, device=device, **kwargs)


__all__ = [
    "BACKENDS",
    "BATCHED_TASKS",
    "CLASSIC_TASKS",
    "GRID_TASKS",
    "MUJOCO_TASKS",
    "ArrayNamespace",
    "BatchedAcrobot",
    "BatchedCartPole",
    "BatchedEnv",
    "BatchedGrid",
    "BatchedMountainCar",
    "BatchedMountainCarContinuous",
    "BatchedMujocoEnv",
    "BatchedPendulum",
    "batched_class",
    "has_batched",
    "make_batched",
    "resolve_device",
]
