"""Training a reward on several seeds and reading back what it reached, written once for the search (candidates,
re-training, baselines) and for ``rewardlab replay`` (a finished search's best reward re-trained, no LLM).

:func:`train` runs every job not already finished, in parallel through an executor; :func:`finished` reads the
summaries of those that finished and gives their fitness per seed and the means. :func:`replay_best` is the replay
command: the search's best reward, with the search's own agent, budget and overrides unless told otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llm_reward.search.config import EXECUTORS
from llm_reward.search.errors import SearchError
from llm_reward.textsafe import one_line
from rewardlab.cli.options import option
from rewardlab.experiment.executors import LocalExecutor, make_executor
from rewardlab.experiment.grid import run_state
from rewardlab.experiment.runner import RunConfig, prepare
from rewardlab.experiment.store import RunDir, runs_root

Log = Callable[[str], None]


def train(executor: Any, jobs: Sequence[RunConfig], root: Path, log: Log, what: str = "run") -> None:
    """Train every job not finished under ``root``; one log line (``what``, run id, status, error) per run that
    did not finish. A finished run is read back, never trained again."""
    todo = [rc for rc in jobs if run_state(rc, str(root)) != "done"]
    for r in executor.map(todo, str(root), lambda *a: None):
        if r.status != "done":
            log(f"{what} {r.run_id} {r.status}: {error_line(r.error)}")


def close_executor(executor: Any) -> None:
    """Stop a local pool's workers (kept warm across the batches of runs one search or replay maps)."""
    if isinstance(executor, LocalExecutor):
        executor.close()


@dataclass(frozen=True)
class Finished:
    """The runs of one reward over seeds that finished: seed, final fitness (mean over the final evaluation
    episodes) and success rate of each, in the order of the jobs."""

    seeds: list[int]
    fitness: list[float]
    success: list[float]

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.fitness)) if self.fitness else None

    @property
    def success_mean(self) -> float | None:
        return float(np.mean(self.success)) if self.success else None


def finished(root: Path, jobs: Sequence[RunConfig]) -> Finished:
    """What the finished runs among ``jobs`` reached (read from their summaries)."""
    seeds, fitness, success = [], [], []
    for rc in jobs:
        summary = RunDir(root / rc.experiment / (rc.run_id or "")).summary()
        if summary:
            seeds.append(rc.seed)
            fitness.append(summary["fitness_mean"])
            success.append(summary.get("success_rate", 0))
    return Finished(seeds, fitness, success)


def error_line(error: str | None) -> str:
    """A failed run's error on one log line: its first line, cleaned, cut at a word."""
    lines = (error or "").strip().splitlines()
    return one_line(lines[0], 200) if lines else ""


@dataclass
class ReplayConfig:
    """``rewardlab replay``: re-train a finished search's best reward (``best_reward.py``) with no LLM."""

    search_dir: str = option(positional=True)
    seeds: int = option(3)
    first_seed: int = option(
        0, help="seeds first-seed .. first-seed+seeds-1 (the search trained on 0.., re-trained on 1000..)"
    )
    steps: int | None = option(None, help="default: the search's budget per run")
    agent: str | None = option(None, help="default: the search's agent")
    hp: tuple[str, ...] = option(
        (), repeat=True, metavar="KEY=VALUE", help="override on top of the search's own overrides (repeatable)"
    )
    experiment: str = option("replay")
    executor: str = option("local", choices=EXECUTORS)
    workers: int | None = option(None)
    runs_dir: str | None = option(None)
    progress: bool = option(True, flag="--no-progress")  # replays train through an executor, which shows no bar


@dataclass(frozen=True)
class Replay:
    """A replay: the reward file, the seeds asked for, and what the runs that finished reached."""

    reward_file: Path
    seeds: list[int]
    result: Finished


def replay_best(cfg: ReplayConfig, log: Log) -> Replay:
    """Re-train ``cfg.search_dir``'s best reward on ``cfg.seeds`` seeds; raises :class:`SearchError` for a folder
    that holds no finished search or settings that cannot run (before anything runs)."""
    sdir = Path(cfg.search_dir)
    best = sdir / "best_reward.py"
    if not best.is_file():
        raise SearchError(f"{sdir} has no best_reward.py (is it a finished search directory?)")
    meta = json.loads((sdir / "best.json").read_text())
    state = sdir / "search.json"
    searched = (json.loads(state.read_text()).get("config") or {}) if state.is_file() else {}
    # the search's own agent, budget and overrides unless told otherwise
    agent = cfg.agent or searched.get("agent") or "ppo"
    steps = cfg.steps if cfg.steps is not None else searched.get("steps")
    hp = [*searched.get("hp", []), *cfg.hp] if agent == searched.get("agent", "ppo") else list(cfg.hp)
    seeds = list(range(cfg.first_seed, cfg.first_seed + cfg.seeds))
    jobs = [
        RunConfig(
            task=meta["task"],
            reward=f"llm:{best.resolve()}",
            agent=agent,
            steps=steps,
            seed=seed,
            hp=hp,
            experiment=cfg.experiment,
            run_id=f"replay__{sdir.name}__s{seed}",
        )
        for seed in seeds
    ]
    try:
        prepare(jobs[0])  # bad agent, overrides or budget: one message before anything runs
    except ValueError as e:
        raise SearchError(str(e)) from None
    root = runs_root(cfg.runs_dir)
    executor = make_executor(cfg.executor, cfg.workers)
    try:
        train(executor, jobs, root, log, what="replay run")
    finally:
        close_executor(executor)
    return Replay(best, seeds, finished(root, jobs))
