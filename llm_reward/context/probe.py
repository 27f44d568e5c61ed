"""A real batch of a task: two envs after reset and one random step, cached per task."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from envs.registry import Task


@dataclass(frozen=True)
class Probe:
    """Two envs of a task after reset and one random step (arrays ``(2, ...)``): one
    :class:`~rewardlab.data.Collector` row, kept with the spaces."""

    obs: np.ndarray
    next_obs: np.ndarray
    action: np.ndarray
    env_reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    info: dict[str, np.ndarray]
    prev_info: dict[str, np.ndarray]
    observation_space: gym.Space
    action_space: gym.Space


_PROBES: dict[tuple[str, int], Probe] = {}


def probe(task: Task, n_envs: int = 2, seed: int = 0) -> Probe:
    """Reset ``n_envs`` real envs of ``task`` and take one random step (cached per task)."""
    key = (task.id, id(task.make_env))
    if key in _PROBES:
        return _PROBES[key]
    from rewardlab.data import Collector, random_policy
    from rewardlab.wrappers import make_vector_env

    venv = make_vector_env(task, n_envs)
    try:
        policy = random_policy(venv.action_space, seed)
        collector = Collector(venv, tuple(task.info_keys))
        collector.reset(seed=seed)
        row = collector.step(policy)  # next_obs and info are the state reached, even on a done step
        result = Probe(
            obs=np.asarray(row.obs),
            next_obs=np.array(row.next_obs, copy=True),
            action=np.asarray(row.action),
            env_reward=np.asarray(row.env_reward, dtype=np.float64),
            terminated=np.asarray(row.terminated, dtype=bool),
            truncated=np.asarray(row.truncated, dtype=bool),
            info={k: np.array(v, copy=True) for k, v in row.info.items()},
            prev_info={k: np.array(v, copy=True) for k, v in row.prev_info.items()},
            observation_space=venv.single_observation_space,
            action_space=venv.single_action_space,
        )
    finally:
        venv.close()
    _PROBES[key] = result
    return result
