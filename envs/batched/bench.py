"""Step-rate measurements for the batched envs (and EnvPool, when it is installed).

Run ``python -m envs.batched.bench`` for a small table. Only ``step`` is timed: actions are drawn
beforehand (on the env's device for torch), and on an accelerator the clock stops after the
device has finished.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from envs.batched import make_batched


def _random_actions(env: Any, steps: int, seed: int) -> Any:
    """``(steps, n)`` (discrete) or ``(steps, n, 1)`` (continuous) random actions in the env's backend."""
    n, space = env.num_envs, env.single_action_space
    rng = np.random.default_rng(seed)
    if isinstance(space, gym.spaces.Discrete):
        a = rng.integers(0, space.n, size=(steps, n))
    else:
        a = rng.uniform(space.low, space.high, size=(steps, n, 1)).astype(np.float32)
    if env.backend == "numpy":
        return a
    import torch

    return torch.as_tensor(a, device=env.device)


def _timed_steps(
    env: Any, actions: Any, warmup: int, steps: int, num_envs: int, sync: Callable[[], None] = lambda: None
) -> float:
    """Env-steps per second of ``env.step`` over ``actions[warmup:warmup + steps]``, after
    ``warmup`` untimed steps; ``sync()`` waits for the device before the clock starts and stops."""
    for t in range(warmup):
        env.step(actions[t])
    sync()
    start = time.perf_counter()
    for t in range(warmup, warmup + steps):
        env.step(actions[t])
    sync()
    return num_envs * steps / (time.perf_counter() - start)


def step_rate(
    task_id: str,
    num_envs: int,
    backend: str = "numpy",
    device: str | None = None,
    steps: int = 1000,
    warmup: int = 20,
    seed: int = 0,
    **kwargs: Any,
) -> float:
    """Env-steps per second (``num_envs * steps / seconds``) of ``make_batched(...).step``.

    :param steps: timed ``step`` calls (each advances all ``num_envs`` copies).
    :param warmup: untimed calls first (allocator, caches, CUDA kernels).
    """
    env = make_batched(task_id, num_envs, backend, device=device, **kwargs)
    env.reset(seed=seed)
    actions = _random_actions(env, steps + warmup, seed)
    return _timed_steps(env, actions, warmup, steps, num_envs, _synchronizer(env))


def _synchronizer(env: Any) -> Any:
    if env.backend == "torch" and env.device.type == "cuda":
        import torch

        return lambda: torch.cuda.synchronize(env.device)
    return lambda: None


def envpool_step_rate(
    task_id: str = "CartPole-v1", num_envs: int = 8, steps: int = 20_000, num_threads: int = 1, seed: int = 0
) -> float:
    """Env-steps per second of EnvPool's C++ env (synchronous ``step``, gymnasium API).

    :raises ImportError: when ``envpool`` is not installed.
    """
    import envpool

    env = envpool.make(task_id, env_type="gymnasium", num_envs=num_envs, num_threads=num_threads, seed=seed)
    env.reset()
    rng = np.random.default_rng(seed)
    space = env.action_space
    warmup = 100
    if hasattr(space, "n"):
        actions = rng.integers(0, space.n, size=(steps + warmup, num_envs)).astype(np.int32)
    else:
        shape = (steps + warmup, num_envs, *space.shape)
        actions = rng.uniform(space.low, space.high, size=shape).astype(np.float32)
    rate = _timed_steps(env, actions, warmup, steps, num_envs)
    env.close()
    return rate


def mujoco_step_rates(
    tasks: tuple[str, ...] = ("HalfCheetah-v5", "Hopper-v5"),
    num_envs: tuple[int, ...] = (16, 64, 256),
    env_steps: int = 16_384,
    sync_envs: int = 16,
    num_threads: int | None = None,
    envpool: bool = True,
    repeats: int = 3,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Env-steps per second of the batched MuJoCo envs, gymnasium's ``SyncVectorEnv`` and EnvPool, side by side.

    Each measurement times ``step`` over about ``env_steps`` env-steps (``env_steps // n`` vector
    steps of random actions drawn beforehand, autoresets included) after a few untimed steps. The
    implementations take turns within each of ``repeats`` rounds, so that a load change on a shared
    machine hits them alike; a row reports the median round and the spread.

    :param num_envs: sizes ``n`` for the batched env and EnvPool.
    :param sync_envs: copies in the ``SyncVectorEnv`` of ``gymnasium.make(task)`` (one thread).
    :param num_threads: physics threads of the batched env and of EnvPool (default: the CPUs this
        process may use).
    :param envpool: also EnvPool (``envpool.make_gymnasium``), skipped when it is not installed.
    :returns: one row per measurement: ``task``, ``impl`` (``batched``, ``gym-sync``, ``envpool``),
        ``num_envs``, ``threads``, ``steps_per_s`` (median), ``min``, ``max``.
    """
    from functools import partial

    import gymnasium
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    from envs.batched.mujoco_sim import default_threads

    threads = default_threads() if num_threads is None else num_threads
    ep: Any = None
    if envpool:
        try:
            ep = importlib.import_module("envpool")
        except ImportError:
            pass

    def timed(env: Any, n: int, space: Any) -> float:
        """The step rate of ``env`` (reset already), which it then closes; ``space``: the single-env action Box."""
        steps, warmup = max(10, env_steps // n), 5
        rng = np.random.default_rng(seed)
        actions = rng.uniform(space.low, space.high, size=(steps + warmup, n, *space.shape)).astype(np.float32)
        try:
            return _timed_steps(env, actions, warmup, steps, n)
        finally:
            env.close()

    def batched(task: str, n: int) -> float:
        env = make_batched(task, n, num_threads=threads)
        env.reset(seed=seed)
        return timed(env, n, env.single_action_space)

    def sync(task: str, n: int) -> float:
        env = SyncVectorEnv([partial(gymnasium.make, task)] * n, autoreset_mode=AutoresetMode.SAME_STEP)
        env.reset(seed=seed)
        return timed(env, n, env.single_action_space)

    def pool(task: str, n: int) -> float:
        env = ep.make_gymnasium(task, num_envs=n, num_threads=threads, seed=seed)
        env.reset()
        return timed(env, n, env.action_space)

    cases = [("batched", n, threads, batched) for n in num_envs] + [("gym-sync", sync_envs, 1, sync)]
    if ep is not None:
        cases += [("envpool", n, threads, pool) for n in num_envs]
    rows: list[dict[str, Any]] = []
    for task in tasks:
        rates: dict[int, list[float]] = {i: [] for i in range(len(cases))}
        for _ in range(repeats):
            for i, (_, n, _, measure) in enumerate(cases):
                rates[i].append(measure(task, n))
        for i, (impl, n, k, _) in enumerate(cases):
            r = rates[i]
            rows.append(
                {"task": task, "impl": impl, "num_envs": n, "threads": k, "steps_per_s": float(np.median(r)),
                 "min": min(r), "max": max(r)}
            )  # fmt: skip
    return rows


def format_step_rates(rows: list[dict[str, Any]]) -> str:
    """:func:`mujoco_step_rates`'s rows as a table, one line each."""
    return "\n".join(
        f"{r['task']:16s} {r['impl']:9s} n={r['num_envs']:<5d} threads={r['threads']:<3d}"
        f" {r['steps_per_s']:9.0f} env-steps/s (min {r['min']:.0f}, max {r['max']:.0f})"
        for r in rows
    )


def minigrid_step_rate(
    task_id: str = "MiniGrid-DoorKey-8x8-v0", num_envs: int = 16, steps: int = 300, lab: bool = True, seed: int = 0
) -> float:
    """Env-steps per second of minigrid's own env in gymnasium's ``SyncVectorEnv`` (``SAME_STEP``).

    :param lab: wrap each env as the lab's task does (``FlatMiniGridObs`` + ``MiniGridInfo``, what
        ``--vec gym`` trains on); ``False``: minigrid's bare Dict-observation env.
    """
    import gymnasium as gym
    import minigrid  # noqa: F401  (registers the MiniGrid ids)
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    if lab:
        import envs  # noqa: F401  (registers the lab's tasks)
        from envs.registry import get_task

        make = get_task(task_id).make_env
    else:

        def make() -> Any:
            return gym.make(task_id)

    env = SyncVectorEnv([make for _ in range(num_envs)], autoreset_mode=AutoresetMode.SAME_STEP)
    env.reset(seed=seed)
    warmup = 20
    actions = np.random.default_rng(seed).integers(0, 7, size=(steps + warmup, num_envs))
    rate = _timed_steps(env, actions, warmup, steps, num_envs)
    env.close()
    return rate


def grid_vs_minigrid(
    task_id: str = "MiniGrid-DoorKey-8x8-v0",
    num_envs: int = 4096,
    ref_envs: int = 16,
    steps: int = 200,
    rounds: int = 3,
    torch_threads: int | None = None,
    device: str | None = None,
) -> dict[str, float]:
    """The batched gridworld's step rate against minigrid's ``SyncVectorEnv``, printed as a table.

    Each round measures every contender once, interleaved, so a shared or throttled CPU slows them
    alike; the best round of each is kept. Returns env-steps/s under ``minigrid``, ``minigrid_lab``
    (the lab's wrappers), ``numpy``, ``torch-cpu`` (and ``torch-<device>`` for an accelerator), and the
    ratios ``<backend>/minigrid``.

    :param torch_threads: ``torch.set_num_threads`` for the run (torch's intra-op threads stall on a
        CPU that other jobs share; 1 is often faster there).
    """
    import torch

    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    runs: dict[str, Any] = {
        "minigrid": lambda: minigrid_step_rate(task_id, ref_envs, steps, lab=False),
        "minigrid_lab": lambda: minigrid_step_rate(task_id, ref_envs, steps, lab=True),
        "numpy": lambda: step_rate(task_id, num_envs, "numpy", steps=steps, warmup=10),
        "torch-cpu": lambda: step_rate(task_id, num_envs, "torch", device="cpu", steps=steps, warmup=10),
    }
    if device not in (None, "cpu"):
        runs[f"torch-{device}"] = lambda: step_rate(task_id, num_envs, "torch", device=device, steps=steps, warmup=10)
    best = dict.fromkeys(runs, 0.0)
    for _ in range(rounds):
        for name, run in runs.items():
            best[name] = max(best[name], run())
    out = dict(best)
    print(
        f"{task_id}: batched n={num_envs} vs minigrid SyncVectorEnv n={ref_envs} (torch threads {torch.get_num_threads()})"
    )
    for name, rate in best.items():
        line = f"  {name:14s} {rate:12,.0f} env-steps/s"
        if not name.startswith("minigrid"):
            out[f"{name}/minigrid"] = rate / best["minigrid"]
            out[f"{name}/minigrid_lab"] = rate / best["minigrid_lab"]
            line += (
                f"  {rate / best['minigrid']:7.1f}x minigrid, {rate / best['minigrid_lab']:7.1f}x minigrid+lab wrappers"
            )
        print(line)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="step rates of the batched classic-control envs")
    p.add_argument("--tasks", nargs="*", default=["CartPole-v1"])
    p.add_argument("--num-envs", type=int, nargs="*", default=[4096])
    p.add_argument("--backends", nargs="*", default=["numpy", "torch"])
    p.add_argument("--device", default=None)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--envpool", action="store_true", help="also EnvPool, single thread, num_envs 1..16")
    args = p.parse_args(argv)
    for task in args.tasks:
        for backend in args.backends:
            for n in args.num_envs:
                rate = step_rate(task, n, backend, device=args.device if backend == "torch" else None, steps=args.steps)
                print(f"{task:26s} {backend:6s} n={n:<7d} {rate / 1e6:8.2f} M env-steps/s")
        if args.envpool:
            for n in (1, 2, 4, 8, 16):
                rate = envpool_step_rate(task, n)
                print(f"{task:26s} envpool n={n:<6d} {rate / 1e6:8.2f} M env-steps/s (1 thread)")


if __name__ == "__main__":
    main()
