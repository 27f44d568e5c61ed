"""Baselines: the task's own rewards (``sparse``, ``hand``, ...) trained on the search's re-training seeds and budget,
so the report sets the searched reward beside what a person wrote. Searches that share settings train them once."""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from envs.registry import Task
from llm_reward.search.config import SearchConfig
from llm_reward.search.replay import Log, finished, train
from rewardlab.experiment.grid import run_state
from rewardlab.experiment.runner import RunConfig
from rewardlab.experiment.store import RunDir, atomic_write_text, read_json


def train_baselines(
    cfg: SearchConfig, task: Task, root: Path, seeds: list[int], executor: Any, log: Log
) -> dict[str, Any]:
    """``final.baselines`` of ``search.json``: per baseline, the fitness per seed, its mean and the mean success."""
    names = [b for b in cfg.baselines if b in task.rewards or b == "env"]
    for b in cfg.baselines:
        if b not in names:
            log(f"baseline {b!r} skipped: {task.id} has no such reward")
    jobs = {b: [baseline_run(cfg, task, b, s) for s in seeds] for b in names}
    every = [rc for rcs in jobs.values() for rc in rcs]
    for rc in every:
        if run_state(rc, str(root)) == "todo" and (src := finished_twin(rc, root)) is not None:
            dst = root / rc.experiment / (rc.run_id or "")
            shutil.copytree(src, dst, dirs_exist_ok=True)
            atomic_write_text(dst / "reused_from.txt", f"{src}\n")
            log(f"baseline {rc.run_id}: reusing the identical finished run {src}")
    train(executor, every, root, log, what="baseline run")
    out: dict[str, Any] = {}
    for b, rcs in jobs.items():
        done = finished(root, rcs)
        out[b] = {"fitness": done.fitness, "mean": done.mean, "success_mean": done.success_mean}
    return out


def baseline_run(cfg: SearchConfig, task: Task, reward: str, seed: int) -> RunConfig:
    return RunConfig(
        task=task.id,
        reward=reward,
        agent=cfg.agent,
        steps=cfg.steps,
        seed=seed,
        experiment=cfg.folder(),
        hp=list(cfg.hp),
        vec=cfg.vec,
        run_id=f"baseline_{reward}__s{seed}",
        n_eval_episodes=cfg.final_episodes,
    )


def finished_twin(rc: RunConfig, root: Path) -> Path | None:
    """A finished baseline run of another search under ``root`` with the same task, reward, agent, budget, seed,
    overrides and evaluation: searches that share settings train their baselines once."""
    want = {k: v for k, v in asdict(rc).items() if k not in ("experiment", "run_id")}
    for cfg_path in sorted(root.glob(f"*/{rc.run_id}/config.json")):
        run_dir = cfg_path.parent
        if run_dir.parent.name == rc.experiment or (RunDir(run_dir).status() or {}).get("state") != "done":
            continue
        try:
            got = {"vec": "gym", **read_json(cfg_path)["run"]}  # runs from before --vec trained on gym envs
        except (OSError, ValueError, KeyError):
            continue
        if {k: v for k, v in got.items() if k not in ("experiment", "run_id")} == want:
            return run_dir
    return None
