"""``rewardlab bench train``: how fast each agent trains on a task, side by side on one machine.

For each agent and seed the bench trains with the agent's preset through the lab's reward wrapper and
hooks (the same path as ``rewardlab run``), and judges "reached the target" by one rule for every agent:
every ``eval_every`` env steps the clock is paused and ``eval_episodes`` deterministic evaluation
episodes run on the evaluation seeds; the first evaluation whose mean fitness is >= ``target`` stops the
clock. The figure is training wall time only (evaluation excluded), so an agent is not charged for how
often it is judged. Training env-steps/s is measured over the same clock. With ``stop_at_target=False``
training runs the whole budget and the final evaluation's fitness is reported (equal-steps comparisons).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Any

import numpy as np

from envs.registry import get_task
from rewardlab.experiment.agents import check_device, get_backend, resolve_agent
from rewardlab.experiment.evaluate import evaluate
from rewardlab.experiment.hooks import TrainHooks
from rewardlab.experiment.runner import check_vec
from rewardlab.rewards.registry import resolve_reward


class _Reached(Exception):
    pass


class _Clock:
    """Wall time with pauses (evaluation is not training)."""

    def __init__(self) -> None:
        self.total, self._t = 0.0, time.perf_counter()

    def pause(self) -> None:
        self.total += time.perf_counter() - self._t

    def resume(self) -> None:
        self._t = time.perf_counter()

    def elapsed(self) -> float:
        return self.total + time.perf_counter() - self._t


def hardware(device: str = "cpu") -> dict[str, Any]:
    """The machine the figures were measured on."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    out = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "python": platform.python_version(),
    }
    if device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return out


def train_trial(
    task_id: str,
    agent: str,
    seed: int,
    *,
    reward: str = "env",
    target: float | None = None,
    budget: int | None = None,
    eval_every: int | None = None,
    eval_episodes: int = 10,
    vec: str = "gym",
    device: str = "cpu",
    hp: list[str] | None = None,
    stop_at_target: bool = True,
) -> dict[str, Any]:
    """One seed of one agent: time to ``target`` (None if not reached), training steps/s, evaluations."""
    import torch

    from rewardlab.wrappers import make_vector_env

    torch.set_num_threads(1)
    task = get_task(task_id)
    check_vec(vec, task.id)
    device = check_device(device)
    target = task.fitness.threshold if target is None else float(target)
    source = resolve_reward(reward, task)
    spec = resolve_agent(agent, task, list(hp or []))
    steps = int(budget or spec.n_timesteps or task.budget(agent))
    every = int(eval_every or max(steps // 50, spec.n_envs))
    kw: dict[str, Any] = {} if vec == "gym" else {"vec": vec, "device": device}
    venv = make_vector_env(task, spec.n_envs, source, **kw)
    learner = get_backend(agent).build(spec, venv.single_observation_space, venv.single_action_space, seed, device)
    clock = _Clock()
    evals: list[tuple[int, float, float]] = []  # (step, train seconds, fitness)
    reached: list[tuple[int, float]] = []
    nxt = [every]

    def judge(num_steps: int) -> None:
        if num_steps < nxt[0]:
            return
        nxt[0] = (num_steps // every + 1) * every
        clock.pause()
        t = clock.total
        fit = float(evaluate(learner, task, eval_episodes, seed, vec=vec)["fitness"].mean())
        evals.append((num_steps, round(t, 3), fit))
        clock.resume()
        if fit >= target and not reached:
            reached.append((num_steps, t))
            if stop_at_target:
                raise _Reached

    hooks = TrainHooks(source, [judge], seed=seed, state_view=task.transition_view)
    clock.resume()
    try:
        learner.learn(venv, steps, hooks)
    except _Reached:
        pass
    clock.pause()
    trained = int(learner.num_steps)
    final = evals[-1][2] if evals and evals[-1][0] == trained else None
    if final is None:
        final = float(evaluate(learner, task, eval_episodes, seed, vec=vec)["fitness"].mean())
    venv.close()
    source.close()
    return {
        "agent": agent,
        "seed": seed,
        "preset": spec.source,
        "n_envs": spec.n_envs,
        "vec": vec,
        "budget": steps,
        "target": target,
        "reached_step": reached[0][0] if reached else None,
        "time_to_target_s": round(reached[0][1], 3) if reached else None,
        "trained_steps": trained,
        "train_time_s": round(clock.total, 3),
        "train_steps_per_s": round(trained / max(clock.total, 1e-9), 1),
        "final_fitness": final,
        "evals": evals,
    }


def _summary(trials: list[dict[str, Any]]) -> dict[str, Any]:
    times = [t["time_to_target_s"] for t in trials]
    hit = [x for x in times if x is not None]
    # a seed that never reached the target counts as +inf: the median is then honest about failures
    med = statistics.median([x if x is not None else float("inf") for x in times]) if times else None
    return {
        "seeds": len(trials),
        "reached": f"{len(hit)}/{len(trials)}",
        "median_time_to_target_s": med,
        "median_train_steps_per_s": statistics.median(t["train_steps_per_s"] for t in trials),
        "median_final_fitness": statistics.median(t["final_fitness"] for t in trials),
        "median_reached_step": statistics.median(
            [t["reached_step"] if t["reached_step"] is not None else float("inf") for t in trials]
        ),
    }


def train_bench(
    task_id: str,
    agents: list[str],
    seeds: int = 5,
    *,
    reward: str = "env",
    target: float | None = None,
    budget: int | None = None,
    eval_every: int | None = None,
    eval_episodes: int = 10,
    vec: dict[str, str] | None = None,
    device: str = "cpu",
    stop_at_target: bool = True,
    env_rates: bool = True,
    progress: Any = None,
) -> dict[str, Any]:
    """Every agent on ``task_id`` for ``seeds`` seeds, and their ratios (first agent over each other).

    :param vec: per-agent vector backend (``{"ppo-native": "batched"}``); ``gym`` otherwise.
    """
    vec = dict(vec or {})
    out: dict[str, Any] = {
        "task": task_id,
        "reward": reward,
        "rule": (
            f"deterministic evaluation ({eval_episodes} episodes, evaluation seeds) every "
            f"{eval_every or 'budget/50'} env steps; time = training wall time to the first evaluation with "
            "mean fitness >= target (evaluation time excluded); median over seeds, a miss counts as infinity"
        ),
        "hardware": hardware(check_device(device)),
        "agents": {},
    }
    for name in agents:
        trials = []
        for s in range(seeds):
            t = train_trial(
                task_id, name, s, reward=reward, target=target, budget=budget, eval_every=eval_every,
                eval_episodes=eval_episodes, vec=vec.get(name, "gym"), device=device, stop_at_target=stop_at_target,
            )  # fmt: skip
            trials.append(t)
            if progress is not None:
                progress(t)
        out["agents"][name] = {"summary": _summary(trials), "trials": trials}
    if env_rates:
        out["env_rates"] = _env_rates(task_id, out, reward, device)
    out["ratios"] = _ratios(out)
    return out


def _env_rates(task_id: str, out: dict[str, Any], reward: str, device: str) -> dict[str, Any]:
    """Raw env stepping (and with the reward wrapper) at each agent's env count, for the fraction-of-raw figure."""
    try:
        from rewardlab.bench_envs import env_rates
    except ImportError as e:  # pragma: no cover
        return {"error": str(e)}
    res: dict[str, Any] = {}
    for a in out["agents"].values():
        t = a["trials"][0]
        backends = ("gym",) if t["vec"] == "gym" else ("gym", t["vec"])
        key = f"{t['n_envs']}envs"
        if key not in res:
            res[key] = env_rates(task_id, t["n_envs"], backends=backends, reward=reward, seconds=1.0)
    return res


def _ratios(out: dict[str, Any]) -> dict[str, Any]:
    names = list(out["agents"])
    r: dict[str, Any] = {}
    for a in names:
        for b in names:
            if a == b:
                continue
            sa, sb = out["agents"][a]["summary"], out["agents"][b]["summary"]
            ta, tb = sa["median_time_to_target_s"], sb["median_time_to_target_s"]
            if ta not in (None, float("inf")) and tb not in (None, 0):
                r[f"time_to_target {b} / {a}"] = round(tb / ta, 2) if tb != float("inf") else float("inf")
            r[f"train_steps_per_s {a} / {b}"] = round(
                sa["median_train_steps_per_s"] / sb["median_train_steps_per_s"], 2
            )
    return r


def to_jsonable(x: Any) -> Any:
    if isinstance(x, float) and not np.isfinite(x):
        return "inf" if x > 0 else "-inf"
    if isinstance(x, dict):
        return {k: to_jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [to_jsonable(v) for v in x]
    return x
