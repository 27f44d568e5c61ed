"""A run's progress on the terminal: one rich progress bar with the live fitness and success rate."""

from __future__ import annotations

import time

from rewardlab.experiment.config import RunConfig


class ProgressBar:
    """A rich progress bar with live fitness, throttled to a few updates a second."""

    def __init__(self, cfg: RunConfig, total: int, start: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("fitness {task.fields[fitness]}"),
            TextColumn("success {task.fields[success]}"),
            TimeRemainingColumn(),
            transient=False,
        )
        self.tid = self.progress.add_task(
            f"{cfg.task} {cfg.reward} {cfg.agent} s{cfg.seed}", total=total, completed=start, fitness="-", success="-"
        )
        self.start_step = start
        self._last = 0.0

    def start(self) -> None:
        self.progress.start()

    def stop(self) -> None:
        self.progress.stop()

    def __call__(self, step: int, fitness: float | None, success: float | None, force: bool = False) -> None:
        now = time.time()
        if now - self._last < 0.25 and not force:
            return
        self._last = now
        self.progress.update(
            self.tid,
            completed=step,
            fitness="-" if fitness is None else f"{fitness:.3g}",
            success="-" if success is None else f"{success:.0%}",
        )
