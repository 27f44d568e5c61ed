"""Real transitions ``(s, a, s')`` from rollouts, and the state sets the Monte-Carlo canonicalisation draws from."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from envs.registry import Task, get_task
from rewardlab.data import Collector, Rollout, random_policy
from rewardlab.wrappers import make_vector_env

Policy = Callable[[np.ndarray], Any]
"""Batched policy: observations ``(n_envs, *obs_shape)`` -> actions ``(n_envs, *act_shape)``."""


@dataclass(frozen=True)
class States:
    """A set of states as rewards see them: observation, declared info fields, episode step.

    :param obs: ``(m, *obs_shape)``.
    :param info: declared info fields, each ``(m,)``.
    :param step: ``(m,)`` steps taken in the episode to reach the state (0 after reset).
    """

    obs: np.ndarray
    info: Mapping[str, np.ndarray]
    step: np.ndarray

    def __len__(self) -> int:
        return len(self.obs)

    def take(self, idx: np.ndarray) -> States:
        return States(self.obs[idx], {k: v[idx] for k, v in self.info.items()}, self.step[idx])

    @staticmethod
    def concat(parts: Sequence[States]) -> States:
        keys = parts[0].info.keys()
        return States(
            np.concatenate([p.obs for p in parts]),
            {k: np.concatenate([p.info[k] for p in parts]) for k in keys},
            np.concatenate([p.step for p in parts]),
        )


@dataclass(frozen=True)
class Transitions:
    """Real transitions ``(s, a, s')`` from rollouts; arrays with leading dimension ``n``.

    :param obs: ``s``, ``(n, *obs_shape)``.
    :param action: ``(n, *act_shape)``.
    :param next_obs: the true ``s'`` (the terminal observation on done steps), ``(n, *obs_shape)``.
    :param env_reward: the env's reward, ``(n,)``.
    :param terminated: ``(n,)`` bool.
    :param truncated: ``(n,)`` bool.
    :param info: declared info fields at ``s'``, each ``(n,)``.
    :param prev_info: declared info fields at ``s``, each ``(n,)``.
    :param step: ``(n,)`` steps taken in the episode, counting this one.
    """

    obs: np.ndarray
    action: np.ndarray
    next_obs: np.ndarray
    env_reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    info: Mapping[str, np.ndarray]
    prev_info: Mapping[str, np.ndarray]
    step: np.ndarray

    def __len__(self) -> int:
        return len(self.obs)

    def take(self, idx: np.ndarray) -> Transitions:
        return Transitions(
            self.obs[idx],
            self.action[idx],
            self.next_obs[idx],
            self.env_reward[idx],
            self.terminated[idx],
            self.truncated[idx],
            {k: v[idx] for k, v in self.info.items()},
            {k: v[idx] for k, v in self.prev_info.items()},
            self.step[idx],
        )

    @property
    def prev_states(self) -> States:
        return States(self.obs, self.prev_info, self.step - 1)

    @property
    def next_states(self) -> States:
        return States(self.next_obs, self.info, self.step)

    def state_pool(self) -> States:
        """Every state the rollouts visited (each ``s`` and each ``s'``): the default ``D_S``."""
        return States.concat([self.prev_states, self.next_states])

    @classmethod
    def from_rollout(cls, rollout: Rollout) -> Transitions:
        """Every transition of a numpy :class:`~rewardlab.data.Rollout` from :class:`~rewardlab.data.Collector`,
        flattened step-major (step 0 of every env, then step 1, ...)."""
        if rollout.step is None:
            raise ValueError("the rollout has no episode step counts; collect it with rewardlab.data.Collector")
        b = rollout.flat_batch()
        m = len(b.obs)
        return cls(  # np.asarray: no copy of a numpy rollout's arrays
            obs=np.asarray(b.obs),
            action=np.asarray(b.action),
            next_obs=np.asarray(b.next_obs),
            env_reward=np.asarray(b.env_reward, dtype=np.float64),
            terminated=np.asarray(b.terminated, dtype=bool),
            truncated=np.asarray(b.truncated, dtype=bool),
            info={k: np.asarray(v) for k, v in b.info.items()},
            prev_info={k: np.asarray(v).reshape(m, *v.shape[2:]) for k, v in rollout.prev_info.items()},
            step=np.asarray(rollout.step).reshape(m),
        )


def sample_transitions(
    task: Task | str,
    n: int,
    policy: Policy | None = None,
    seed: int = 0,
    n_envs: int = 8,
    float64: bool = True,
) -> Transitions:
    """Roll ``policy`` out in ``task`` (through :class:`~rewardlab.data.Collector`) and keep ``n`` real transitions.

    :param task: the task (or its id).
    :param n: number of transitions.
    :param policy: batched policy ``obs (n_envs, ...) -> actions``; uniform random when ``None``.
    :param seed: seeds the envs and the random policy.
    :param n_envs: envs stepped together.
    :param float64: cast floating observations to float64, so that the shaping terms of rewards
        evaluated on them cancel to float64 rounding rather than float32 rounding.
    """
    task = get_task(task) if isinstance(task, str) else task
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    venv = make_vector_env(task, n_envs, autoreset_mode=AutoresetMode.SAME_STEP)
    try:
        collector = Collector(venv, tuple(task.info_keys))
        collector.reset(seed=seed)
        act = random_policy(venv.action_space, seed) if policy is None else (lambda obs: np.asarray(policy(obs)))
        rollout = collector.collect(act, -(-n // n_envs))
    finally:
        venv.close()
    tr = Transitions.from_rollout(rollout).take(np.arange(n))
    if float64 and tr.obs.dtype.kind == "f":
        tr = replace(tr, obs=tr.obs.astype(np.float64), next_obs=tr.next_obs.astype(np.float64))
    return tr
