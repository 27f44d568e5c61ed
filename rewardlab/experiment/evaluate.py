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


FIELDS = ("fitness", "success", "env_return", "shaped_return", "length")


def evaluate(
    agent: Any,
    task: Task,
    n_episodes: int,
    seed: int,
    deterministic: bool = True,
    max_envs: int = 8,
    source: RewardSource | None = None,
    vec: str = "gym",
) -> dict[str, np.ndarray]:
    """Run ``n_episodes`` evaluation episodes and return per-episode arrays, in episode order.

    :param agent: anything with ``act(obs, deterministic) -> actions`` over a batch of raw observations
        (an :class:`~rewardlab.experiment.agents.Agent`, which applies its own observation normalisation).
    :param vec: the run's vector backend. The episodes are gymnasium's whatever it is. With ``"batched"`` or
        ``"torch"``, a task whose numpy batched env runs gymnasium's episodes bit for bit
        (``BatchedEnv.same_episodes``: CartPole, MountainCar, MountainCarContinuous, Pendulum and the MiniGrid
        tasks) runs them all at once there (:func:`_evaluate_batched`); every other task is evaluated on gymnasium's envs.

    The episodes: env ``i < k = min(n_episodes, max_envs)`` of a gymnasium vector env is reset with seed
    ``eval_seed(seed) + i`` and runs episodes ``i, i+k, ...`` (its later episodes follow from its own RNG), so
    results depend only on ``seed``.

    :returns: ``fitness``, ``success``, ``env_return``, ``shaped_return``, ``length``; each ``(n_episodes,)``.
    """
    if n_episodes <= 0:
        raise ValueError("n_episodes must be positive")
    k = min(n_episodes, max_envs)
    if vec != "gym" and _same_episodes(task.id) is not None:
        return _evaluate_batched(agent, task, n_episodes, seed, k, deterministic, source)
    quota = np.array([len(range(i, n_episodes, k)) for i in range(k)])
    venv = make_vector_env(task, k, source or EnvReward())
    acc = venv.accountant
    obs, _ = venv.reset(seed=[eval_seed(seed) + i for i in range(k)])
    got = np.zeros(k, dtype=int)
    out = {name: np.zeros(n_episodes) for name in FIELDS}
    limit = (task.max_episode_steps or 10_000) * (int(quota.max()) + 1) + 10
    for _ in range(limit):
        obs, _, _, _, _ = venv.step(agent.act(obs, deterministic=deterministic))
        for ep in acc.pop_episodes():
            env = np.asarray(ep.env_index)
            keep = got[env] < quota[env]
            episode = env[keep] + k * got[env[keep]]  # env i's r-th episode is episode i + r*k
            got[env[keep]] += 1
            for name in FIELDS:
                out[name][episode] = np.asarray(getattr(ep, name))[keep]
        if (got >= quota).all():
            break
    venv.close()
    finished = np.zeros(n_episodes, dtype=bool)
    for i in range(k):
        finished[i : i + k * int(got[i]) : k] = True
    return _typed(out, finished)


def _evaluate_batched(
    agent: Any,
    task: Task,
    n_episodes: int,
    seed: int,
    k: int,
    deterministic: bool,
    source: RewardSource | None,
) -> dict[str, np.ndarray]:
    """The same episodes as the gymnasium path, all ``n_episodes`` at once on the numpy batched env.

    Each episode's starting state (``starting_state``: the physical state; a MiniGrid level) is read off a
    gymnasium env reset exactly as the gymnasium path resets it (seed ``eval_seed(seed) + i``, then plain resets
    for its later episodes); these tasks' dynamics draw nothing after a reset, so from those states the batched
    env runs the same episodes (``tests/test_evaluate_batched.py`` checks them against the gymnasium path). The numpy env also for a
    ``torch`` run: torch's float32 rewards and its own sin/cos would not be bit for bit. Each env's first
    episode is its episode; what its autoreset starts afterwards is not counted.
    """
    cls = _same_episodes(task.id)
    env = task.make_env()
    states: list[Any] = [None] * n_episodes
    for i in range(k):
        env.reset(seed=eval_seed(seed) + i)
        for r, j in enumerate(range(i, n_episodes, k)):
            if r:
                env.reset()
            states[j] = cls.starting_state(env)
    env.close()
    venv = make_vector_env(task, n_episodes, source or EnvReward(), vec="batched")
    acc = venv.accountant
    obs, _ = venv.reset(seed=eval_seed(seed), options=cls.start_options(states))
    seen = np.zeros(n_episodes, dtype=bool)
    out = {name: np.zeros(n_episodes) for name in FIELDS}
    for _ in range((task.max_episode_steps or 10_000) + 10):
        obs, _, _, _, _ = venv.step(agent.act(obs, deterministic=deterministic))
        for ep in acc.pop_episodes():
            env_idx = np.asarray(ep.env_index)
            first = ~seen[env_idx]
            seen[env_idx[first]] = True
            for name in FIELDS:
                out[name][env_idx[first]] = np.asarray(getattr(ep, name))[first]
        if seen.all():
            break
    venv.close()
    return _typed(out, seen)


def _typed(out: dict[str, np.ndarray], finished: np.ndarray) -> dict[str, np.ndarray]:
    """The finished episodes (all of them, unless one outlasted the step limit), ``success`` bool and ``length`` int."""
    out = {name: v[finished] for name, v in out.items()}
    out["success"] = out["success"].astype(bool)
    out["length"] = out["length"].astype(np.int64)
    return out


def _same_episodes(task_id: str) -> Any:
    """The batched env class of ``task_id`` when it plays gymnasium's episodes bit for bit, else None."""
    from envs.batched import batched_class

    cls = batched_class(task_id)
    return cls if cls is not None and cls.same_episodes else None


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
