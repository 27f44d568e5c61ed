"""Shared by the batched-MuJoCo parity tests: a gymnasium env's exact state, and the lab's gym and batched vector
envs of one task started from the same states, with their first recorded episode per env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from envs.registry import get_task
from rewardlab.rewards.registry import resolve_reward
from rewardlab.wrappers import make_vector_env


def state_of(env: gym.Env) -> tuple[np.ndarray, np.ndarray]:
    """``(qpos, qvel)`` copies of a gymnasium MuJoCo env."""
    u: Any = env.unwrapped
    return u.data.qpos.copy(), u.data.qvel.copy()


def paired_lab_envs(task_id: str, reward: str, n: int, limit: int, seed: int = 5) -> tuple[Any, Any]:
    """``make_vector_env(vec="gym")`` and ``(vec="batched")`` for ``task_id`` with ``reward``, the batched one
    loaded with the gym one's reset states (so the first episode of each env is the same trajectory)."""
    task = get_task(task_id)
    ref = make_vector_env(task, n, resolve_reward(reward, task), vec="gym", max_episode_steps=limit)
    bat = make_vector_env(task, n, resolve_reward(reward, task), vec="batched", max_episode_steps=limit)
    ref.reset(seed=seed)
    subs: Any = ref.unwrapped
    qpos, qvel = zip(*(state_of(g) for g in subs.envs), strict=True)
    bat.reset(options={"qpos": np.stack(qpos), "qvel": np.stack(qvel)})
    return ref, bat


def first_episodes(venv: Any) -> dict[int, tuple[Any, int]]:
    """env index -> (episode record, row) of the first episode the vector env's accountant recorded for it."""
    out: dict[int, tuple[Any, int]] = {}
    for rec in venv.accountant.episodes:
        for j, i in enumerate(rec.env_index):
            out.setdefault(int(i), (rec, j))
    return out
