"""Finished run directories, loaded and validated into :class:`RunRecord` values.

::

    records, problems, skipped = load_runs(Path("runs/demo"))

A run is loaded only when its ``status.json`` says ``done`` and its ``config.json``, ``summary.json`` and
``metrics.jsonl`` are present, parse, and agree with each other. Runs in another state are listed in
``skipped``; damaged runs are listed in ``problems`` with the reason, never averaged in.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from rewardlab.analysis.stats import steps_to_level
from rewardlab.experiment.store import RunDir, RunStoreError

Curve = Literal["train", "eval"]
GroupKey = tuple[str, str, str]
"""``(task, reward, agent)``."""

# files whose presence marks a directory as a run directory (its subfolders are not searched further)
_RUN_MARKERS = ("status.json", "config.json", "summary.json", "metrics.jsonl")


@dataclass(frozen=True, eq=False)
class RunRecord:
    """One finished, validated run.

    Curves hold the rows of ``metrics.jsonl`` of one kind that carry a finite fitness, sorted by step.
    """

    path: Path
    task: str
    reward: str
    agent: str
    seed: int
    final_fitness: float
    """``summary.json`` ``fitness_mean``: mean fitness over the final deterministic evaluation episodes."""
    success_rate: float
    """Fraction of those evaluation episodes whose fitness reached ``success_threshold``."""
    success_threshold: float
    fitness_unit: str
    steps: int | None
    """Environment steps trained."""
    wall_time_s: float | None
    train_steps: NDArray[np.float64] = field(repr=False)
    """``(n_train,)`` step of each training logging window."""
    train_fitness: NDArray[np.float64] = field(repr=False)
    """``(n_train,)`` mean fitness of the training episodes finished in that window."""
    eval_steps: NDArray[np.float64] = field(repr=False)
    """``(n_eval,)`` step of each periodic evaluation (the final one included)."""
    eval_fitness: NDArray[np.float64] = field(repr=False)
    """``(n_eval,)`` mean evaluation fitness."""
    train_episodes: NDArray[np.float64] = field(repr=False)
    """``(n_train,)`` training episodes finished in each window (0 where the row does not say)."""
    eval_episodes: NDArray[np.float64] = field(repr=False)
    """``(n_eval,)`` episodes of each evaluation (0 where the row does not say)."""

    @property
    def key(self) -> GroupKey:
        return (self.task, self.reward, self.agent)

    def curve(self, kind: Curve = "train") -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(steps, fitness)``, each ``(n,)``, of the training or evaluation curve."""
        if kind == "train":
            return self.train_steps, self.train_fitness
        if kind == "eval":
            return self.eval_steps, self.eval_fitness
        raise ValueError(f"curve must be 'train' or 'eval', got {kind!r}")

    def episodes(self, kind: Curve = "train") -> NDArray[np.float64]:
        """``(n,)`` episodes behind each point of :meth:`curve`."""
        if kind == "train":
            return self.train_episodes
        if kind == "eval":
            return self.eval_episodes
        raise ValueError(f"curve must be 'train' or 'eval', got {kind!r}")

    def steps_to_threshold(self, kind: Curve = "train") -> float | None:
        """First step at which the fitness of the last episodes reached ``success_threshold``
        (:func:`~rewardlab.analysis.stats.steps_to_level`); ``None``: never."""
        steps, fitness = self.curve(kind)
        return steps_to_level(steps, fitness, self.episodes(kind), self.success_threshold)


@dataclass(frozen=True)
class RunProblem:
    """A run directory that could not be aggregated, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class SkippedRun:
    """A run directory left out because it has not finished (``running``, ``interrupted`` or ``failed``)."""

    path: Path
    state: str


class LoadedRuns(NamedTuple):
    """What :func:`load_runs` found: unpack as ``records, problems, skipped = load_runs(root)``."""

    records: list[RunRecord]
    problems: list[RunProblem]
    skipped: list[SkippedRun]


class _Bad(Exception):
    """Internal: the run directory is unusable for the stated reason."""


# --------------------------------------------------------------------------------------------------
# loading


def find_run_dirs(root: str | os.PathLike[str]) -> list[Path]:
    """Run directories at or below ``root`` (an experiment directory or a whole runs root), sorted.

    A directory holding any of ``status.json``, ``config.json``, ``summary.json`` or ``metrics.jsonl`` is a run
    directory; its subfolders (``tb/``, ``checkpoint/``) are not searched. Hidden folders are ignored.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if any(m in filenames for m in _RUN_MARKERS):
            found.append(Path(dirpath))
            dirnames.clear()
        else:
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    return sorted(found)


def load_runs(root: str | os.PathLike[str]) -> LoadedRuns:
    """Load every run directory under ``root``.

    :returns: ``records`` (finished, valid runs), ``problems`` (missing, corrupted or inconsistent files, and
        duplicates of an already loaded (task, reward, agent, seed), each with its reason) and ``skipped``
        (runs whose status is not ``done``).
    """
    records: list[RunRecord] = []
    problems: list[RunProblem] = []
    skipped: list[SkippedRun] = []
    seen: dict[tuple[str, str, str, int], Path] = {}
    for path in find_run_dirs(root):
        try:
            rec = _load_one(path)
        except _Bad as e:
            problems.append(RunProblem(path, str(e)))
            continue
        if isinstance(rec, SkippedRun):
            skipped.append(rec)
            continue
        ident = (*rec.key, rec.seed)
        if ident in seen:
            problems.append(
                RunProblem(path, f"duplicate of {seen[ident]} (same task, reward, agent and seed); left out")
            )
            continue
        seen[ident] = path
        records.append(rec)
    return LoadedRuns(records, problems, skipped)


def _read(rd: RunDir, name: str) -> Any:
    try:
        return rd.read(name)
    except FileNotFoundError:
        raise _Bad(f"{name} is missing") from None
    except RunStoreError as e:
        raise _Bad(f"{name} is corrupted: {e}") from None
    except OSError as e:
        raise _Bad(f"{name} cannot be read: {e}") from None


def _number(d: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> float | None:
    v = d.get(key)
    if v is None and not required:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _Bad(f"{where}: {key} must be a finite number, got {v!r}")
    return float(v)


def _load_one(path: Path) -> RunRecord | SkippedRun:
    rd = RunDir(path)
    status = _read(rd, "status.json")
    if not isinstance(status, dict) or not isinstance(status.get("state"), str):
        raise _Bad("status.json has no state")
    if status["state"] != "done":
        return SkippedRun(path, status["state"])

    config = _read(rd, "config.json")
    run = config.get("run") if isinstance(config, dict) else None
    if not isinstance(run, dict):
        raise _Bad("config.json has no 'run' section")
    ident: dict[str, Any] = {}
    for k in ("task", "reward", "agent"):
        if not isinstance(run.get(k), str) or not run[k]:
            raise _Bad(f"config.json: run.{k} must be a non-empty string, got {run.get(k)!r}")
        ident[k] = run[k]
    if isinstance(run.get("seed"), bool) or not isinstance(run.get("seed"), int):
        raise _Bad(f"config.json: run.seed must be an integer, got {run.get('seed')!r}")
    ident["seed"] = run["seed"]

    summary = _read(rd, "summary.json")
    if not isinstance(summary, dict):
        raise _Bad("summary.json is not a JSON object")
    for k, v in ident.items():
        if k in summary and summary[k] != v:
            raise _Bad(f"summary.json {k}={summary[k]!r} disagrees with config.json run.{k}={v!r}")
    final = _number(summary, "fitness_mean", "summary.json")
    success = _number(summary, "success_rate", "summary.json")
    threshold = _number(summary, "success_threshold", "summary.json")
    wall = _number(summary, "wall_time_s", "summary.json", required=False)
    steps = _number(summary, "steps", "summary.json", required=False)
    unit = summary.get("fitness_unit")
    if not isinstance(unit, str):
        raise _Bad(f"summary.json: fitness_unit must be a string, got {unit!r}")
    assert final is not None and success is not None and threshold is not None
    if not 0.0 <= success <= 1.0:
        raise _Bad(f"summary.json: success_rate {success} is outside [0, 1]")

    if not rd.metrics_path.is_file():
        raise _Bad("metrics.jsonl is missing")
    try:
        rows = rd.metrics()
    except RunStoreError as e:
        raise _Bad(f"metrics.jsonl is corrupted: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise _Bad(f"metrics.jsonl cannot be read: {e}") from None
    if not rows:
        raise _Bad("metrics.jsonl is empty")
    if not all(isinstance(r, dict) for r in rows):
        raise _Bad("metrics.jsonl holds a line that is not a JSON object")
    train = _curve(rows, "train")
    ev = _curve(rows, "eval")
    if wall is None:
        walls = [r["wall_time"] for r in rows if isinstance(r.get("wall_time"), int | float)]
        wall = float(max(walls)) if walls else None

    return RunRecord(
        path=path,
        task=ident["task"],
        reward=ident["reward"],
        agent=ident["agent"],
        seed=ident["seed"],
        final_fitness=final,
        success_rate=success,
        success_threshold=threshold,
        fitness_unit=unit,
        steps=None if steps is None else int(steps),
        wall_time_s=wall,
        train_steps=train[0],
        train_fitness=train[1],
        eval_steps=ev[0],
        eval_fitness=ev[1],
        train_episodes=train[2],
        eval_episodes=ev[2],
    )


def _curve(
    rows: Sequence[Mapping[str, Any]], kind: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """``(steps, fitness, episodes)`` of the rows of ``kind`` with a numeric step and a finite fitness, sorted by
    step; ``episodes`` is 0 where a row does not say how many it holds."""
    pts = [
        (float(r["step"]), float(r["fitness"]), _episodes(r))
        for r in rows
        if r.get("kind") == kind
        and isinstance(r.get("step"), int | float)
        and isinstance(r.get("fitness"), int | float)
        and math.isfinite(r["fitness"])
    ]
    pts.sort(key=lambda p: p[0])
    a = np.asarray(pts, dtype=np.float64).reshape(-1, 3)
    return a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy()


def _episodes(row: Mapping[str, Any]) -> float:
    n = row.get("episodes")
    return float(n) if isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n) and n > 0 else 0.0


def steps_to_success(run_dir: str | os.PathLike[str], level: float = 0.9, kind: Curve = "train") -> int | None:
    """First logged step at which the success rate of a run's last episodes reached ``level``
    (:func:`~rewardlab.analysis.stats.steps_to_level` over the ``kind`` rows of its ``metrics.jsonl``).

    :returns: the step, or ``None`` when the rolling success rate never reached ``level``.
    """
    pts = sorted(
        (float(r["step"]), float(r["success_rate"]), _episodes(r))
        for r in RunDir(Path(run_dir)).metrics()
        if r.get("kind") == kind
        and isinstance(r.get("step"), int | float)
        and isinstance(r.get("success_rate"), int | float)
        and math.isfinite(r["success_rate"])
    )
    if not pts:
        return None
    steps, rate, episodes = np.asarray(pts, dtype=np.float64).T
    hit = steps_to_level(steps, rate, episodes, level)
    return None if hit is None else int(hit)


def group_records(records: Iterable[RunRecord]) -> dict[GroupKey, list[RunRecord]]:
    """Records by ``(task, reward, agent)``, groups and their seeds sorted."""
    groups: dict[GroupKey, list[RunRecord]] = defaultdict(list)
    for r in records:
        groups[r.key].append(r)
    return {k: sorted(groups[k], key=lambda r: r.seed) for k in sorted(groups)}


__all__ = [
    "Curve",
    "GroupKey",
    "LoadedRuns",
    "RunProblem",
    "RunRecord",
    "SkippedRun",
    "find_run_dirs",
    "group_records",
    "load_runs",
    "steps_to_success",
]
