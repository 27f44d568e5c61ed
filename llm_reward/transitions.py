"""Real stored transitions for smoke-testing reward code.

:func:`collect_transitions` runs a random policy in ``n_envs`` copies of a task for
``n_steps`` vector steps and keeps the raw arrays the lab's reward wrapper sees, so a
candidate reward can later be called on exactly what training will give it. Arrays have
shape ``(n_steps, n_envs, ...)``; keys:

``obs``, ``action``, ``next_obs`` (the true terminal observation on done steps),
``env_reward``, ``terminated``, ``truncated``, ``step`` (steps taken in the episode, counting
this one), ``info.<key>`` and ``prev_info.<key>`` for each of the task's declared info fields.

:func:`save_transitions` writes them as one ``.npz`` (atomically); :func:`load_transitions`
reads them back; :func:`transition_views` rebuilds the task's state views from them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from envs.registry import Task
from envs.state_view import StateView

if TYPE_CHECKING:
    from rewardlab.data import Rollout

REQUIRED_KEYS = ("obs", "action", "next_obs", "env_reward", "terminated", "truncated", "step")


def collect_transitions(task: Task, n_steps: int = 256, seed: int = 0, n_envs: int = 8) -> dict[str, np.ndarray]:
    """``n_steps`` vector steps of a uniformly random policy on ``n_envs`` copies of ``task``,
    collected by :class:`~rewardlab.data.Collector`.

    :returns: arrays of shape ``(n_steps, n_envs, ...)`` (see the module docstring).
    """
    from rewardlab.data import Collector, random_policy
    from rewardlab.wrappers import make_vector_env  # SAME_STEP autoreset: final obs in info

    if n_steps < 1 or n_envs < 1:
        raise ValueError(f"n_steps and n_envs must be >= 1, got {n_steps} and {n_envs}")
    venv = make_vector_env(task, n_envs)
    try:
        policy = random_policy(venv.action_space, seed)
        collector = Collector(venv, tuple(task.info_keys))
        collector.reset(seed=seed)
        rollout = collector.collect(policy, n_steps)
    finally:
        venv.close()
    return rollout_arrays(rollout)


def rollout_arrays(rollout: Rollout) -> dict[str, np.ndarray]:
    """A (numpy) :class:`~rewardlab.data.Rollout` as the stored arrays (keys as in the module docstring)."""
    if rollout.step is None:
        raise ValueError("the rollout has no episode step counts; collect it with rewardlab.data.Collector")
    data = {
        "obs": np.array(rollout.obs),
        "action": np.array(rollout.action),
        "next_obs": np.array(rollout.next_obs),
        "env_reward": np.asarray(rollout.env_reward, dtype=np.float64).copy(),
        "terminated": np.asarray(rollout.terminated, dtype=bool).copy(),
        "truncated": np.asarray(rollout.truncated, dtype=bool).copy(),
        "step": np.array(rollout.step),
    }
    for k, v in rollout.info.items():
        data[f"info.{k}"] = np.array(v)
        data[f"prev_info.{k}"] = np.array(rollout.prev_info[k])
    return data


def save_transitions(path: str | os.PathLike[str], data: Mapping[str, np.ndarray]) -> Path:
    """Write ``data`` to ``path`` (``.npz``), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{k: np.asarray(v) for k, v in data.items()})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_transitions(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read transitions written by :func:`save_transitions` (no pickles are loaded)."""
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    check_transitions(data)
    return data


def check_transitions(data: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming what is missing or inconsistent."""
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f"stored transitions lack {missing}; collect them with collect_transitions()")
    shape = np.shape(data["env_reward"])
    if len(shape) != 2:
        raise ValueError(f"stored env_reward has shape {shape}; expected (n_steps, n_envs)")
    bad = [k for k, v in data.items() if np.shape(v)[:2] != shape]
    if bad:
        raise ValueError(f"stored arrays {bad} do not have the leading shape {shape} of env_reward")


def transition_view(task: Task, data: Mapping[str, np.ndarray], index: Any = None) -> StateView:
    """The task's state view of stored transitions.

    :param index: a step index (a batch of ``n_envs``), a ``(steps, envs)`` pair of index
        arrays, or ``None`` for every stored transition flattened into one batch.
    """

    def pick(v: np.ndarray) -> np.ndarray:
        if index is None:
            return v.reshape(-1, *v.shape[2:])
        return v[index]

    info = {k.split(".", 1)[1]: pick(v) for k, v in data.items() if k.startswith("info.")}
    prev_info = {k.split(".", 1)[1]: pick(v) for k, v in data.items() if k.startswith("prev_info.")}
    return task.transition_view(
        pick(data["obs"]),
        pick(data["action"]),
        pick(data["next_obs"]),
        pick(data["env_reward"]),
        pick(data["terminated"]),
        pick(data["truncated"]),
        info,
        prev_info,
        pick(data["step"]),
    )
