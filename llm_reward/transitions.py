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
from typing import Any

import numpy as np

from envs.registry import Task
from envs.state_view import StateView

REQUIRED_KEYS = ("obs", "action", "next_obs", "env_reward", "terminated", "truncated", "step")


def collect_transitions(task: Task, n_steps: int = 256, seed: int = 0, n_envs: int = 8) -> dict[str, np.ndarray]:
    """``n_steps`` vector steps of a uniformly random policy on ``n_envs`` copies of ``task``.

    :returns: arrays of shape ``(n_steps, n_envs, ...)`` (see the module docstring).
    """
    from rewardlab.wrappers import make_vector_env  # SAME_STEP autoreset: final obs in info

    if n_steps < 1 or n_envs < 1:
        raise ValueError(f"n_steps and n_envs must be >= 1, got {n_steps} and {n_envs}")
    venv = make_vector_env(task, n_envs)
    try:
        venv.action_space.seed(seed)
        obs, info = venv.reset(seed=seed)
        keys = tuple(task.info_keys)
        prev_info = {k: np.asarray(info[k]) for k in keys}
        steps = np.zeros(n_envs, dtype=np.int64)
        rows: dict[str, list[np.ndarray]] = {}

        def put(name: str, value: Any) -> None:
            rows.setdefault(name, []).append(np.array(value, copy=True))

        for _ in range(n_steps):
            action = venv.action_space.sample()
            new_obs, reward, terminated, truncated, info = venv.step(action)
            done = np.asarray(terminated) | np.asarray(truncated)
            steps += 1
            next_obs = np.array(new_obs, copy=True)
            next_info = {k: np.array(info[k], copy=True) for k in keys}
            if done.any():
                idx = np.flatnonzero(done)
                next_obs[idx] = np.stack(info["final_obs"][idx])
                final = info.get("final_info", {})
                for k in keys:
                    if k in final:
                        next_info[k][idx] = np.asarray(final[k])[idx]
            put("obs", obs)
            put("action", action)
            put("next_obs", next_obs)
            put("env_reward", np.asarray(reward, dtype=np.float64))
            put("terminated", np.asarray(terminated, dtype=bool))
            put("truncated", np.asarray(truncated, dtype=bool))
            put("step", steps)
            for k in keys:
                put(f"info.{k}", next_info[k])
                put(f"prev_info.{k}", prev_info[k])
            obs = new_obs
            prev_info = {k: np.asarray(info[k]) for k in keys}  # the reset state's info on done envs
            steps[done] = 0
    finally:
        venv.close()
    return {k: np.stack(v) for k, v in rows.items()}


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
