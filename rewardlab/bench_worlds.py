"""``rewardlab bench worlds``: the batched worlds against their references, and native PPO training on them.

One run measures, on this machine and written down with its hardware:

- the batched gridworld (``envs.batched.grid``) at ``grid_envs`` copies, numpy and torch, against minigrid's
  own env in gymnasium's ``SyncVectorEnv`` (bare, and with the lab's wrappers), interleaved rounds, best of
  each (:func:`envs.batched.bench.grid_vs_minigrid`);
- the batched MuJoCo envs against gymnasium's ``SyncVectorEnv`` and EnvPool's C++ envs at the same sizes,
  taking turns in each round, median (:func:`envs.batched.bench.mujoco_step_rates`);
- native PPO (``ppo-native``) training env-steps/s on each batched world, evaluation excluded
  (:func:`rewardlab.bench_train.train_trial`), as a fraction of the raw step rate of the same batched env
  at the same number of copies (what is left for the agent's forward, backward and the lab's reward hooks).

Every figure is a measurement of this call; nothing is read from earlier runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: native PPO on the batched gridworld: the minigrid-exploration suite's settings
GRID_PPO_HP = ("n_envs=256", "n_steps=32", "n_minibatches=4", "learning_rate=1e-3", "anneal_lr=true", "ent_coef=0.01")


def _train_rate(task_id: str, steps: int, hp: tuple[str, ...], device: str) -> dict[str, Any]:
    from rewardlab.bench_train import train_trial

    t = train_trial(task_id, "ppo-native", 0, reward="env", budget=steps, eval_every=steps, eval_episodes=1,
                    vec="batched" if device == "cpu" else "torch", device=device, hp=list(hp),
                    stop_at_target=False)  # fmt: skip
    return {"task": task_id, "n_envs": t["n_envs"], "trained_steps": t["trained_steps"],
            "train_time_s": t["train_time_s"], "train_steps_per_s": t["train_steps_per_s"]}  # fmt: skip


def worlds_bench(
    grid_task: str = "MiniGrid-DoorKey-8x8-v0",
    grid_envs: int = 4096,
    mujoco_tasks: tuple[str, ...] = ("HalfCheetah-v5", "Hopper-v5"),
    mujoco_envs: tuple[int, ...] = (16, 64, 256),
    grid_train_steps: int = 500_000,
    mujoco_train_steps: int = 50_000,
    rounds: int = 3,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Step rates and training rates of the batched worlds; see the module docstring.

    :param device: ``cpu`` (numpy batched envs) or a torch device (the gridworld's torch backend is then
        measured and trained there too; MuJoCo's physics stays on the CPU).
    :returns: ``{"hardware", "grid": {rates and ratios}, "mujoco": [rows], "mujoco_ratios": [...],
        "training": [{task, n_envs, train_steps_per_s, raw_env_steps_per_s, fraction_of_raw}]}``.
    """
    import torch

    from envs.batched.bench import grid_vs_minigrid, mujoco_step_rates, step_rate
    from rewardlab.bench_train import hardware
    from rewardlab.experiment.agents import resolve_agent

    torch.set_num_threads(1)
    out: dict[str, Any] = {"hardware": hardware(device)}
    log(f"gridworld: {grid_task}, {grid_envs} copies vs minigrid's SyncVectorEnv of 16 ({rounds} rounds)")
    out["grid"] = grid_vs_minigrid(grid_task, grid_envs, rounds=rounds, torch_threads=1, device=device)
    log(f"MuJoCo: {', '.join(mujoco_tasks)} at {mujoco_envs} copies vs SyncVectorEnv(16) and EnvPool ({rounds} rounds)")
    rows = mujoco_step_rates(mujoco_tasks, mujoco_envs, repeats=rounds)
    out["mujoco"] = rows
    out["mujoco_ratios"] = _mujoco_ratios(rows)

    import envs

    training = []
    backend = "numpy" if device == "cpu" else "torch"
    log(f"native PPO on the batched gridworld: {grid_train_steps:,} steps")
    g = _train_rate(grid_task, grid_train_steps, GRID_PPO_HP, device)
    g["raw_env_steps_per_s"] = step_rate(grid_task, g["n_envs"], backend, device=None if device == "cpu" else device)
    training.append(g)
    for task_id in mujoco_tasks:
        n = resolve_agent("ppo-native", envs.get_task(task_id), []).n_envs
        log(f"native PPO on batched {task_id} ({n} envs): {mujoco_train_steps:,} steps")
        t = _train_rate(task_id, mujoco_train_steps, (), "cpu")
        raw = mujoco_step_rates((task_id,), (n,), envpool=False, repeats=rounds)
        t["raw_env_steps_per_s"] = next(r["steps_per_s"] for r in raw if r["impl"] == "batched")
        training.append(t)
    for t in training:
        t["fraction_of_raw"] = t["train_steps_per_s"] / t["raw_env_steps_per_s"]
    out["training"] = training
    return out


def _mujoco_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per task and size: batched / EnvPool at the same size, batched / SyncVectorEnv(16)."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        mine = [r for r in rows if r["task"] == task]
        sync = next((r["steps_per_s"] for r in mine if r["impl"] == "gym-sync"), None)
        pool = {r["num_envs"]: r["steps_per_s"] for r in mine if r["impl"] == "envpool"}
        for r in mine:
            if r["impl"] != "batched":
                continue
            n, rate = r["num_envs"], r["steps_per_s"]
            out.append(
                {"task": task, "num_envs": n, "batched": rate, "gym_sync_16": sync, "envpool": pool.get(n),
                 "vs_gym_sync": rate / sync if sync else None,
                 "vs_envpool": rate / pool[n] if n in pool else None}
            )  # fmt: skip
    return out


__all__ = ["GRID_PPO_HP", "worlds_bench"]
