"""Wrappers that apply a RewardSource to gymnasium and stable-baselines3 environments."""

from __future__ import annotations

from typing import Any, overload

import gymnasium as gym
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from envs.registry import Task
from rewardlab.rewards.base import RewardSource
from rewardlab.wrappers.accounting import EpisodeRecord, RewardAccountant, TorchRewardAccountant
from rewardlab.wrappers.vector import RewardEnvWrapper, RewardVectorWrapper

#: the vector backends :func:`make_vector_env` builds
VEC_KINDS = ("gym", "batched", "torch")
#: keyword arguments the batched envs take beside the task (gymnasium's ``make`` kwargs do not apply)
BATCHED_KWARGS = ("max_episode_steps", "dtype", "simulator")


def check_vec(vec: str, task: Task | str) -> None:
    """Raise :class:`ValueError` unless ``vec`` is a known backend that ``task`` has.

    Never a silent fallback: a task without a batched implementation and ``vec != "gym"`` is an
    error naming the tasks that have one (:data:`envs.batched.BATCHED_TASKS`).
    """
    if vec not in VEC_KINDS:
        raise ValueError(f"unknown vec {vec!r}; valid: {', '.join(VEC_KINDS)}")
    if vec == "gym":
        return
    from envs.batched import BATCHED_TASKS, has_batched

    task_id = task if isinstance(task, str) else task.id
    backend = "numpy" if vec == "batched" else "torch"
    if not has_batched(task_id, backend):
        if task_id in BATCHED_TASKS:  # only the torch backend can be missing: torch is not installed
            raise ValueError(f"vec={vec!r} needs torch, which is not installed; use vec='batched' or vec='gym'")
        raise ValueError(
            f"task {task_id} has no batched env (vec={vec!r}); tasks with one: {', '.join(BATCHED_TASKS)}. "
            "Use vec='gym' for this task."
        )


SIMULATORS = ("auto", "batch", "data", "warp", "warp:<device>")


def check_simulator(simulator: str, task: Task | str, vec: str) -> None:
    """Raise :class:`ValueError` unless ``simulator`` (a batched MuJoCo env's physics) fits ``task`` and ``vec``:
    ``auto`` fits everything; the others need ``vec`` batched or torch and a batched MuJoCo task, and ``warp``
    needs the optional ``mujoco_warp`` package."""
    if simulator == "auto":
        return
    if simulator not in SIMULATORS[:-1] and not simulator.startswith("warp:"):
        raise ValueError(f"unknown simulator {simulator!r}; valid: {', '.join(SIMULATORS)}")
    from envs.batched import MUJOCO_TASKS

    task_id = task if isinstance(task, str) else task.id
    if vec == "gym" or task_id not in MUJOCO_TASKS:
        raise ValueError(
            f"simulator={simulator!r} is for the batched MuJoCo envs (vec batched or torch; tasks "
            f"{', '.join(MUJOCO_TASKS)}); got task {task_id} with vec={vec!r}"
        )
    if simulator.startswith("warp"):
        import importlib.util

        if importlib.util.find_spec("mujoco_warp") is None:
            raise ValueError(f"simulator={simulator!r} needs MuJoCo Warp: pip install -e '.[warp]'")


@overload
def make_vector_env(
    task: Task,
    n_envs: int,
    source: RewardSource,
    autoreset_mode: AutoresetMode = ...,
    *,
    vec: str = ...,
    device: Any = ...,
    **env_kwargs: Any,
) -> RewardVectorWrapper: ...


@overload
def make_vector_env(
    task: Task,
    n_envs: int,
    source: None = None,
    autoreset_mode: AutoresetMode = ...,
    *,
    vec: str = ...,
    device: Any = ...,
    **env_kwargs: Any,
) -> gym.vector.VectorEnv: ...


def make_vector_env(
    task: Task,
    n_envs: int,
    source: RewardSource | None = None,
    autoreset_mode: AutoresetMode = AutoresetMode.SAME_STEP,
    *,
    vec: str = "gym",
    device: Any = "cpu",
    **env_kwargs: Any,
) -> gym.vector.VectorEnv:
    """``n_envs`` copies of ``task`` as one vector env, with ``source`` applied when given
    (then a :class:`RewardVectorWrapper`, whose ``accountant`` keeps the episode statistics).

    :param vec: ``"gym"``: gymnasium's SyncVectorEnv of ``task.make_env(**env_kwargs)`` (sync, not
        async: on small machines IPC costs more than a classic-control or MuJoCo step);
        ``"batched"``: the lab's numpy array-batched env (:func:`envs.batched.make_batched`);
        ``"torch"``: the torch batched env with its tensors on ``device``.
    :param device: torch device of the ``torch`` env; ignored by ``gym`` and ``batched`` (numpy on
        the CPU, whatever device the agent uses).
    :param env_kwargs: ``gym``: passed to ``task.make_env``; batched: only ``max_episode_steps``
        (default: the task's), for ``torch`` ``dtype``, and for the MuJoCo tasks ``simulator``
        (``envs.batched.mujoco_sim.make_simulator``'s kinds, e.g. ``"warp"``).
    :raises ValueError: an unknown ``vec``, a task without a batched env, an autoreset mode other
        than ``SAME_STEP`` for a batched env, or env kwargs a batched env does not take.
    """
    check_vec(vec, task)
    venv: gym.vector.VectorEnv
    if vec == "gym":
        venv = SyncVectorEnv(
            [lambda: task.make_env(**env_kwargs) for _ in range(n_envs)], autoreset_mode=autoreset_mode
        )
    else:
        from envs.batched import make_batched

        if AutoresetMode(autoreset_mode) != AutoresetMode.SAME_STEP:
            raise ValueError(f"batched envs autoreset in SAME_STEP mode only; got {AutoresetMode(autoreset_mode)}")
        bad = sorted(set(env_kwargs) - set(BATCHED_KWARGS))
        if bad:
            raise ValueError(
                f"vec={vec!r} does not take env kwargs {bad}; batched envs take {', '.join(BATCHED_KWARGS)}"
            )
        kw = dict(env_kwargs)
        check_simulator(kw.get("simulator", "auto"), task, vec)
        if kw.get("simulator", "auto") == "auto":
            kw.pop("simulator", None)
        if "max_episode_steps" not in kw and task.max_episode_steps is not None:
            kw["max_episode_steps"] = task.max_episode_steps
        if vec == "batched":
            if "dtype" in kw:
                raise ValueError("dtype= is for vec='torch'; the numpy batched env uses gymnasium's dtypes")
            venv = make_batched(task.id, n_envs, "numpy", **kw)
        else:
            venv = make_batched(task.id, n_envs, "torch", device=device, **kw)
    if source is not None:
        venv = RewardVectorWrapper(venv, source, task)
    return venv


__all__ = [
    "BATCHED_KWARGS",
    "SIMULATORS",
    "VEC_KINDS",
    "EpisodeRecord",
    "RewardAccountant",
    "RewardEnvWrapper",
    "RewardVectorWrapper",
    "TorchRewardAccountant",
    "check_simulator",
    "check_vec",
    "make_vector_env",
]
