"""Wrappers that apply a RewardSource to gymnasium and stable-baselines3 environments."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from envs.registry import Task
from rewardlab.rewards.base import RewardSource
from rewardlab.wrappers.accounting import EpisodeRecord, RewardAccountant
from rewardlab.wrappers.vector import RewardEnvWrapper, RewardVectorWrapper


def make_vector_env(
    task: Task,
    n_envs: int,
    source: RewardSource | None = None,
    autoreset_mode: AutoresetMode = AutoresetMode.SAME_STEP,
    **env_kwargs: Any,
) -> gym.vector.VectorEnv:
    """``n_envs`` copies of ``task`` in a SyncVectorEnv, with ``source`` applied when given.

    Sync, not async: on small machines IPC costs more than a classic-control or MuJoCo step.
    """
    venv: gym.vector.VectorEnv = SyncVectorEnv(
        [lambda: task.make_env(**env_kwargs) for _ in range(n_envs)], autoreset_mode=autoreset_mode
    )
    if source is not None:
        venv = RewardVectorWrapper(venv, source, task)
    return venv


__all__ = [
    "EpisodeRecord",
    "RewardAccountant",
    "RewardEnvWrapper",
    "RewardVectorWrapper",
    "make_vector_env",
]
