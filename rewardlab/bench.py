"""Throughput benchmarks the docs quote: reward-wrapper overhead over raw vector-env stepping."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from envs.registry import get_task
from rewardlab.rewards.registry import resolve_reward
from rewardlab.wrappers import RewardVectorWrapper


@dataclass
class OverheadResult:
    task: str
    reward: str
    n_envs: int
    raw_steps_per_s: float
    wrapped_steps_per_s: float
    ratio: float
    ratio_iqr: tuple[float, float]
    repeats: int
    seconds_per_measure: float
    machine: str


def _measure(venv: Any, actions: np.ndarray, seconds: float) -> float:
    venv.reset(seed=0)
    n, i, steps = len(actions), 0, 0
    t0 = time.perf_counter()
    while True:
        for _ in range(200):
            venv.step(actions[i % n])
            i += 1
        steps += 200
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return steps * venv.num_envs / dt


def wrapper_overhead(
    task_id: str = "CartPole-v1", reward: str = "hand", n_envs: int = 16, seconds: float = 2.0, repeats: int = 5
) -> OverheadResult:
    """Env-steps/s of a SyncVectorEnv with and without the reward wrapper.

    Raw and wrapped measurements alternate; each adjacent pair gives one ratio raw / wrapped
    (1.0 = no overhead), so slow drifts in machine load cancel. Reported: the median ratio over
    ``repeats`` pairs with its interquartile range, and the best throughput of each.
    """
    task = get_task(task_id)
    source = resolve_reward(reward, task)

    def make(wrapped: bool) -> Any:
        v = SyncVectorEnv([task.make_env for _ in range(n_envs)], autoreset_mode=AutoresetMode.SAME_STEP)
        return RewardVectorWrapper(v, source, task) if wrapped else v

    raw_env, wrapped_env = make(False), make(True)
    raw_env.action_space.seed(0)
    actions = np.stack([raw_env.action_space.sample() for _ in range(512)])
    raw, wrapped = [], []
    for _ in range(repeats):
        raw.append(_measure(raw_env, actions, seconds))
        wrapped.append(_measure(wrapped_env, actions, seconds))
    raw_env.close()
    wrapped_env.close()
    r, w = max(raw), max(wrapped)
    ratios = np.array(raw) / np.array(wrapped)
    q1, med, q3 = np.percentile(ratios, [25, 50, 75])
    return OverheadResult(
        task.id,
        reward,
        n_envs,
        round(r),
        round(w),
        round(float(med), 3),
        (round(float(q1), 3), round(float(q3), 3)),
        repeats,
        seconds,
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    )


def as_dict(res: OverheadResult) -> dict[str, Any]:
    return asdict(res)


@dataclass
class PoolResult:
    runs: int
    steps_per_run: int
    workers: int
    serial_s: float
    pool_s: float
    ratio: float
    same_results: bool
    machine: str


def pool_speedup(n_runs: int = 4, steps: int = 20_000, workers: int = 2, task: str = "CartPole-v1") -> PoolResult:
    """Wall time of ``n_runs`` independent runs serially vs in a ``workers``-process pool.

    Both write to fresh temporary run roots; the ratio is pool / serial (lower is better), and
    ``same_results`` says whether every run's evaluation fitness matched across the two.
    """
    import tempfile

    from rewardlab.experiment.compare import compare
    from rewardlab.experiment.grid import parse_spec

    spec = parse_spec(
        {
            "name": "pool-bench",
            "tasks": [task],
            "rewards": ["hand"],
            "seeds": n_runs,
            "steps": steps,
            "eval": {"every": -1, "final_episodes": 5},
        }
    )
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        t0 = time.perf_counter()
        serial = compare(spec, executor="serial", runs_dir=a, progress=False)
        t_serial = time.perf_counter() - t0
        t0 = time.perf_counter()
        pool = compare(spec, executor="local", workers=workers, runs_dir=b, progress=False)
        t_pool = time.perf_counter() - t0
    fit = lambda res: {r.run_id: r.summary.get("eval_fitness") for r in res.results}  # noqa: E731
    return PoolResult(
        n_runs,
        steps,
        workers,
        round(t_serial, 2),
        round(t_pool, 2),
        round(t_pool / t_serial, 3),
        fit(serial) == fit(pool),
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    )
