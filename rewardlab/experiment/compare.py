"""``rewardlab compare SPEC``: expand a grid, skip finished runs, execute the rest in parallel."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardlab.experiment.executors import JobResult, make_executor
from rewardlab.experiment.grid import GridSpec, bind_experiment, expand, load_spec, run_state


@dataclass
class CompareResult:
    experiment_dir: Path
    spec: GridSpec
    planned: int
    already_done: int
    results: list[JobResult] = field(default_factory=list)
    skipped_incompatible: list[tuple[str, str, str, str]] = field(default_factory=list)
    left: dict[str, list[str]] = field(default_factory=dict)  # failed / interrupted / busy not re-run
    wall_time: float = 0.0

    @property
    def failed(self) -> list[JobResult]:
        return [r for r in self.results if r.status != "done"]


def compare(
    spec: str | Path | GridSpec,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    runs_dir: str | Path | None = None,
    retry: bool = False,
    fresh: bool = False,
    progress: bool = True,
    dry_run: bool = False,
) -> CompareResult:
    """Run every run of an experiment spec that is not finished yet.

    :param retry: also re-run failed runs and resume interrupted ones (default: report them).
    :param fresh: delete an experiment folder made from a different spec instead of refusing.
    :param dry_run: plan only: validate the spec and report what would run.
    """
    gs = spec if isinstance(spec, GridSpec) else load_spec(spec)
    plan = expand(gs)
    rd = None if runs_dir is None else str(runs_dir)
    if dry_run:
        from rewardlab.experiment.store import runs_root

        exp_dir = runs_root(runs_dir) / gs.name
        states = (
            [run_state(c, rd) for c in plan.runs]
            if (exp_dir / "experiment.json").exists()
            else ["todo"] * len(plan.runs)
        )
        res = CompareResult(exp_dir, gs, len(plan.runs), states.count("done"), skipped_incompatible=plan.skipped)
        res.left = {
            s: [c.run_id or "" for c, st in zip(plan.runs, states, strict=True) if st == s]
            for s in ("todo", "failed", "interrupted", "busy")
        }
        return res
    exp_dir = bind_experiment(gs, runs_dir, fresh=fresh)
    todo = []
    left: dict[str, list[str]] = {"failed": [], "interrupted": [], "busy": []}
    done_before = 0
    for c in plan.runs:
        st = run_state(c, rd)
        if st == "done":
            done_before += 1
        elif st == "todo" or (retry and st in ("failed", "interrupted")):
            todo.append(c)
        else:
            left[st].append(c.run_id or c.default_run_id())
    ex = make_executor(executor, workers, address)
    display = (
        _Display(len(plan.runs), done_before, ex.workers if hasattr(ex, "workers") else None, gs.name)
        if progress
        else None
    )
    t0 = time.time()
    try:
        if display:
            display.start()
        results = ex.map(todo, rd, display.event if display else (lambda *a: None))
    finally:
        if display:
            display.stop()
    return CompareResult(exp_dir, gs, len(plan.runs), done_before, results, plan.skipped, left, time.time() - t0)


class _Display:
    """One progress line for the whole grid: done / running / failed, and an ETA."""

    def __init__(self, total: int, done: int, workers: Any, name: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("running {task.fields[running]}  failed {task.fields[failed]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        self.tid = self.progress.add_task(name, total=total, completed=done, running=0, failed=0)
        self.running = 0
        self.failed = 0

    def start(self) -> None:
        self.progress.start()

    def stop(self) -> None:
        self.progress.stop()

    def event(self, kind: str, run_id: str, result: JobResult | None) -> None:
        if kind == "start":
            self.running += 1
        else:
            self.running -= 1
            if result is not None and result.status != "done":
                self.failed += 1
                self.progress.console.print(
                    f"[red]{run_id}: {result.status}[/red] {(result.error or '').splitlines()[0] if result.error else ''}"
                )
            self.progress.advance(self.tid)
        self.progress.update(self.tid, running=self.running, failed=self.failed)
