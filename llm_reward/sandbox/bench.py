"""What the isolation costs (``rewardlab bench sandbox``): validation time per candidate, env-steps/s of the
reward wrapper and PPO training steps/s with the reward in the sandbox (``llm:``) beside the same code run in
the training process (``llm-inproc:``), measured side by side on one machine."""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

#: a representative reward: dense energy shaping, a goal bonus, a step cost (MountainCar-v0)
REWARD = '''
import numpy as np


def compute_reward(s):
    """Energy gained, a goal bonus and a small step cost."""
    gain = 100.0 * ((0.0025 * np.sin(3.0 * s.x) + 1.5 * s.v**2) - (0.0025 * np.sin(3.0 * s.prev.x) + 1.5 * s.prev.v**2))
    goal = np.where(s.x >= 0.5, 10.0, 0.0)
    cost = np.full(s.x.shape, -0.01)
    return gain + goal + cost, {"energy_gain": gain, "goal": goal, "step_cost": cost}
'''


def sandbox_cost(task_id: str = "MountainCar-v0", validations: int = 5, n_envs: int = 16, seconds: float = 1.0,
                 repeats: int = 5, train_steps: int = 20_000) -> dict[str, Any]:  # fmt: skip
    from envs.registry import get_task
    from llm_reward.sandbox import probe, validate_candidate
    from llm_reward.transitions import collect_transitions
    from rewardlab.bench import wrapper_overhead
    from rewardlab.experiment.runner import RunConfig, run_config

    task = get_task(task_id)
    data = collect_transitions(task, n_steps=256, seed=0)
    times, results = [], []
    for _ in range(validations):
        t0 = time.perf_counter()
        res = validate_candidate(REWARD, task, data)
        times.append(time.perf_counter() - t0)
        results.append(res)
    assert all(r.ok for r in results), results[0].message
    out: dict[str, Any] = {
        "task": task.id,
        "kernel": probe().to_dict(),
        "guarantees": results[0].isolation,
        "validation_s_median": round(statistics.median(times), 3),
        "validation_s_all": [round(t, 3) for t in times],
    }
    with tempfile.TemporaryDirectory(prefix="rewardlab-bench-") as d:
        path = Path(d) / "reward.py"
        path.write_text(REWARD)
        for mode in ("llm", "llm-inproc"):
            w = wrapper_overhead(task.id, f"{mode}:{path}", n_envs, seconds, repeats)
            out[f"wrapper_{mode}"] = {"raw_env_steps_per_s": w.raw_steps_per_s, "wrapped_env_steps_per_s":
                                      w.wrapped_steps_per_s, "overhead_ratio": w.ratio}  # fmt: skip
        for mode in ("llm", "llm-inproc"):
            cfg = RunConfig(task=task.id, reward=f"{mode}:{path}", agent="ppo", steps=train_steps, seed=0,
                            experiment="bench-sandbox", run_id=mode, eval_every=-1, n_eval_episodes=2)  # fmt: skip
            r = run_config(cfg, runs_dir=d, overwrite=True)
            out[f"train_{mode}"] = {"steps": train_steps, "steps_per_s": r.summary.get("steps_per_second")}
    out["training_ratio_inproc_over_sandbox"] = round(
        out["train_llm-inproc"]["steps_per_s"] / out["train_llm"]["steps_per_s"], 3
    )
    out["machine"] = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    return out
