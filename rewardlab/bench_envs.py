"""Env-stepping throughput per vector backend, raw and under the reward wrapper.

:func:`env_rates` measures, for one task and ``n_envs`` copies, the env-steps/s of ``env.step``
alone and of the same env under :class:`~rewardlab.wrappers.RewardVectorWrapper` with a reward,
for each vector backend ``make_vector_env`` builds (``gym``: gymnasium's SyncVectorEnv;
``batched``: the lab's numpy batched env; ``torch``: the torch batched env on ``device``), and,
when the ``envpool`` package imports, EnvPool's own CartPole-v1 beside them. ``rewardlab bench
train`` and the docs quote it.

Raw and wrapped measurements alternate (``repeats`` pairs) so slow drifts in machine load cancel;
each pair gives one ratio raw / wrapped (1.0 = the wrapper costs nothing). Reported: the median
ratio with its interquartile range and the best throughput of each. Actions are drawn once,
up front, in the env's own array type (numpy, or tensors on the env's device), and a torch
device is synchronised at the end of each measurement, so queued work is counted.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from rewardlab.wrappers import VEC_KINDS as VEC_BACKENDS


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: Any = None) -> dict[str, Any]:
    """CPU model and count, Python, numpy and torch versions, and the torch device's name."""
    out: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    try:
        import torch

        out["torch"] = torch.__version__
        out["torch_threads"] = torch.get_num_threads()
        dev = torch.device(device) if device is not None else torch.device("cpu")
        out["device"] = str(dev)
        out["device_name"] = torch.cuda.get_device_name(dev) if dev.type == "cuda" else out["cpu"]
    except ImportError:
        out["torch"] = None
    return out


def _sync(device: Any) -> None:
    if device is not None and getattr(device, "type", "cpu") == "cuda":
        import torch

        torch.cuda.synchronize(device)


def _measure(env: Any, actions: list[Any], seconds: float, device: Any, chunk: int = 100) -> float:
    """Env-steps/s of ``env.step`` over at least ``seconds`` (after a reset and a short warm-up)."""
    env.reset(seed=0)
    k = len(actions)
    for i in range(10):
        env.step(actions[i % k])
    _sync(device)
    i = steps = 0
    t0 = time.perf_counter()
    while True:
        for _ in range(chunk):
            env.step(actions[i % k])
            i += 1
        steps += chunk
        _sync(device)
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return steps * env.num_envs / dt


def _paired(make_raw: Any, make_wrapped: Any, actions: list[Any], seconds: float, repeats: int, device: Any) -> dict:
    raw_env, wrapped_env = make_raw(), make_wrapped()
    raw, wrapped = [], []
    try:
        for _ in range(repeats):
            raw.append(_measure(raw_env, actions, seconds, device))
            wrapped.append(_measure(wrapped_env, actions, seconds, device))
    finally:
        raw_env.close()
        wrapped_env.close()
    ratios = np.array(raw) / np.array(wrapped)
    q1, med, q3 = np.percentile(ratios, [25, 50, 75])
    return {
        "raw_env_steps_per_s": round(max(raw)),
        "wrapped_env_steps_per_s": round(max(wrapped)),
        "ratio": round(float(med), 3),
        "ratio_iqr": [round(float(q1), 3), round(float(q3), 3)],
    }


def _actions(space: Any, n: int, k: int, backend: str, device: Any) -> list[Any]:
    space.seed(0)
    acts = [space.sample() for _ in range(k)]
    if backend != "torch":
        return acts
    import torch

    return [torch.as_tensor(np.asarray(a), device=device) for a in acts]


def envpool_rate(task_id: str, n_envs: int, seconds: float = 2.0, repeats: int = 3) -> dict[str, Any]:
    """EnvPool's env-steps/s for ``task_id`` (its synchronous ``step``, all envs per call, one thread
    per CPU it sees), or ``{"available": False, "reason": ...}``."""
    try:
        import envpool
    except ImportError as e:
        return {"available": False, "reason": f"import envpool failed: {e}"}
    try:
        env = envpool.make(task_id, env_type="gymnasium", num_envs=n_envs, seed=0)
    except Exception as e:  # an id EnvPool lacks, or a broken install
        return {"available": False, "reason": f"envpool.make({task_id!r}) failed: {e}"}
    env.action_space.seed(0)
    space = env.action_space
    acts = [np.asarray([space.sample() for _ in range(n_envs)]) for _ in range(16)]
    rates = []
    try:
        for _ in range(repeats):
            env.reset()
            for a in acts[:4]:
                env.step(a)
            steps, i = 0, 0
            t0 = time.perf_counter()
            while True:
                for _ in range(100):
                    env.step(acts[i % len(acts)])
                    i += 1
                steps += 100
                dt = time.perf_counter() - t0
                if dt >= seconds:
                    break
            rates.append(steps * n_envs / dt)
    finally:
        env.close()
    return {
        "available": True,
        "version": getattr(envpool, "__version__", "?"),
        "env_steps_per_s": round(max(rates)),
        "num_threads": "envpool default",
    }


def env_rates(
    task_id: str = "CartPole-v1",
    n_envs: int = 4096,
    backends: tuple[str, ...] = VEC_BACKENDS,
    reward: str = "hand",
    seconds: float = 2.0,
    repeats: int = 3,
    device: str = "auto",
    envpool: bool = True,
) -> dict[str, Any]:
    """Raw and wrapped env-steps/s of ``task_id`` with ``n_envs`` copies for each backend.

    :param backends: any of ``gym``, ``batched``, ``torch`` (the ``vec=`` of ``make_vector_env``).
    :param reward: the reward spec applied by the wrapper (``rewardlab.rewards.registry.resolve_reward``).
    :param seconds: seconds per single measurement; ``repeats`` raw/wrapped pairs per backend.
    :param device: torch device of the ``torch`` backend (``auto``: CUDA when present).
    :param envpool: also measure EnvPool's env for ``task_id`` when ``import envpool`` works.
    :returns: ``{"task", "n_envs", "reward", "seconds", "repeats", "hardware", "backends": {name:
        {raw_env_steps_per_s, wrapped_env_steps_per_s, ratio, ratio_iqr}}, "envpool": {...}}``.
    :raises ValueError: an unknown backend, or a batched backend for a task without one.
    """
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    from envs.batched import make_batched, resolve_device
    from envs.registry import get_task
    from rewardlab.rewards.registry import resolve_reward
    from rewardlab.wrappers import RewardVectorWrapper, check_vec

    task = get_task(task_id)
    for b in backends:
        check_vec(b, task)
    dev = resolve_device(device) if "torch" in backends else None
    out: dict[str, Any] = {
        "task": task.id,
        "n_envs": n_envs,
        "reward": reward,
        "seconds": seconds,
        "repeats": repeats,
        "hardware": hardware(dev),
        "backends": {},
    }
    for b in backends:
        source = resolve_reward(reward, task)
        make_raw: Callable[[], Any]
        if b == "gym":
            make_raw = partial(SyncVectorEnv, [task.make_env] * n_envs, autoreset_mode=AutoresetMode.SAME_STEP)
            bdev = None
        else:
            backend = "numpy" if b == "batched" else "torch"
            bdev = dev if b == "torch" else None
            make_raw = partial(make_batched, task.id, n_envs, backend, device=bdev)

        probe = make_raw()
        actions = _actions(probe.action_space, n_envs, 64, "torch" if b == "torch" else "numpy", bdev)
        probe.close()
        res = _paired(
            make_raw, lambda mr=make_raw, s=source: RewardVectorWrapper(mr(), s, task), actions, seconds, repeats, bdev
        )
        out["backends"][b] = res
    if envpool:
        out["envpool"] = envpool_rate(task.id, n_envs, seconds, repeats)
    return out


__all__ = ["VEC_BACKENDS", "env_rates", "envpool_rate", "hardware"]
