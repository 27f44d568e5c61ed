"""Deterministic fitness evaluation on separate evaluation seeds."""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.registry import Task
from rewardlab.rewards.base import EnvReward, RewardSource
from rewardlab.wrappers import make_vector_env

EVAL_SEED_OFFSET = 1_000_003  # eval seeds never overlap training seeds (seed + i for i < n_envs)


def eval_seed(seed: int) -> int:
    return EVAL_SEED_OFFSET + 1000 * seed


def evaluate(
    agent: Any,
    task: Task,
    n_episodes: int,
    seed: int,
    deterministic: bool = True,
    max_envs: int = 8,
    source: RewardSource | None = None,
) -> dict[str, np.ndarray]:
    """Run ``n_episodes`` evaluation episodes and return per-episode arrays.

    :param agent: anything with ``act(obs, deterministic) -> actions`` over a batch of raw observations
        (an :class:`~rewardlab.experiment.agents.Agent`, which applies its own observation normalisation).

    Env ``i`` is reset with seed ``eval_seed(seed) + i`` and runs episodes ``i, i+k, ...``
    (its later episodes follow from its own RNG), so results depend only on ``seed``.

    :returns: ``fitness``, ``success``, ``env_return``, ``shaped_return``, ``length``; each ``(n_episodes,)``.
    """
    if n_episodes <= 0:
        raise ValueError("n_episodes must be positive")
    k = min(n_episodes, max_envs)
    quota = np.array([len(range(i, n_episodes, k)) for i in range(k)])
    venv = make_vector_env(task, k, source or EnvReward())
    acc = venv.accountant
    obs, _ = venv.reset(seed=[eval_seed(seed) + i for i in range(k)])
    got = np.zeros(k, dtype=int)
    out: dict[str, list[np.ndarray]] = {
        k_: [] for k_ in ("fitness", "success", "env_return", "shaped_return", "length")
    }
    limit = (task.max_episode_steps or 10_000) * (int(quota.max()) + 1) + 10
    for _ in range(limit):
        obs, _, _, _, _ = venv.step(agent.act(obs, deterministic=deterministic))
        for ep in acc.pop_episodes():
            keep = got[ep.env_index] < quota[ep.env_index]
            got[ep.env_index[keep]] += 1
            for name in out:
                out[name].append(np.asarray(getattr(ep, name))[keep])
        if (got >= quota).all():
            break
    venv.close()
    return {name: np.concatenate(v) if v else np.zeros(0) for name, v in out.items()}


class RandomPolicy:
    """Uniform random actions with the agent protocol's ``act``: the floor every agent must beat."""

    def __init__(self, action_space: Any, seed: int = 0) -> None:
        self.space = action_space
        self.space.seed(seed)

    def act(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        return np.stack([self.space.sample() for _ in range(len(obs))])


def random_baseline(task: Task, n_episodes: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """Fitness of a uniform random policy on the same evaluation seeds as a trained run."""
    env = task.make_env()
    policy = RandomPolicy(env.action_space, seed)
    env.close()
    return evaluate(policy, task, n_episodes, seed)
