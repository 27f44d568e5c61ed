"""The run's callbacks, called by every agent through ``TrainHooks.step(num_steps)`` after each
vector step: episode metrics to the run's table and TensorBoard, periodic fitness evaluation and
checkpoints, and a live progress bar. Nothing here knows which library trains."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from rewardlab.experiment.store import RunDir
from rewardlab.wrappers.accounting import RewardAccountant


class MetricsCallback:
    """Drains finished episodes from the reward wrapper every step and writes one metrics
    row (and TensorBoard scalars) per ``log_every`` env steps.

    TensorBoard keys: ``fitness/train``, ``fitness/success_rate``, ``return/env``,
    ``return/shaped``, ``reward/<component>`` (per-episode sums), ``episode/length``,
    ``time/sps``.
    """

    def __init__(
        self,
        run: RunDir,
        accountant: RewardAccountant,
        log_every: int,
        writer: Any = None,
        wall_offset: float = 0.0,
        progress: Any = None,
    ) -> None:
        self.run, self.acc, self.log_every = run, accountant, max(1, log_every)
        self.writer, self.progress = writer, progress
        self.wall_offset = wall_offset
        self._eps: list[Any] = []
        self._t0 = time.time()
        self._last_step = 0
        self._last_t = time.time()
        self._next_log = 0
        self.num_timesteps = 0
        self.last_fitness: float | None = None
        self.last_success: float | None = None

    def start(self, num_steps: int) -> None:
        """Training (re)starts at ``num_steps``."""
        self.num_timesteps = int(num_steps)
        self._t0 = self._last_t = time.time()
        self._last_step = self.num_timesteps
        self._next_log = self.num_timesteps + self.log_every

    def wall_time(self) -> float:
        return self.wall_offset + time.time() - self._t0

    def __call__(self, num_steps: int) -> None:
        self.num_timesteps = int(num_steps)
        eps = self.acc.pop_episodes()
        if eps:
            self._eps.extend(eps)
        if self.num_timesteps >= self._next_log:
            self.flush()
            self._next_log = self.num_timesteps + self.log_every
        if self.progress is not None:
            self.progress(self.num_timesteps, self.last_fitness, self.last_success)

    def end(self) -> None:
        """Training stopped (budget reached or interrupted): write what is pending, including episodes a
        device-resident accountant still holds in its queue."""
        try:
            self._eps.extend(self.acc.pop_episodes(force=True))
        except TypeError:  # an accountant without a device queue
            self._eps.extend(self.acc.pop_episodes())
        self.flush()
        if self.progress is not None:
            self.progress(self.num_timesteps, self.last_fitness, self.last_success, force=True)

    def flush(self) -> None:
        now = time.time()
        step = self.num_timesteps
        sps = (step - self._last_step) / max(now - self._last_t, 1e-9)
        self._last_step, self._last_t = step, now
        if self.writer is not None:
            self.writer.add_scalar("time/sps", sps, step)
        if not self._eps:
            return
        eps, self._eps = self._eps, []
        fit = np.concatenate([e.fitness for e in eps])
        succ = np.concatenate([e.success for e in eps])
        row: dict[str, Any] = {
            "kind": "train",
            "step": int(step),
            "wall_time": round(self.wall_time(), 3),
            "episodes": int(fit.size),
            "fitness": float(fit.mean()),
            "success_rate": float(succ.mean()),
            "env_return": float(np.concatenate([e.env_return for e in eps]).mean()),
            "shaped_return": float(np.concatenate([e.shaped_return for e in eps]).mean()),
            "length": float(np.concatenate([e.length for e in eps]).mean()),
            "sps": round(sps, 1),
        }
        for k in eps[0].components:
            row[f"reward/{k}"] = float(np.concatenate([e.components[k] for e in eps]).mean())
        self.run.append_metrics([row])
        self.last_fitness, self.last_success = row["fitness"], row["success_rate"]
        if self.writer is not None:
            w = self.writer
            w.add_scalar("fitness/train", row["fitness"], step)
            w.add_scalar("fitness/success_rate", row["success_rate"], step)
            w.add_scalar("return/env", row["env_return"], step)
            w.add_scalar("return/shaped", row["shaped_return"], step)
            w.add_scalar("episode/length", row["length"], step)
            for k in eps[0].components:
                w.add_scalar(f"reward/{k}", row[f"reward/{k}"], step)


class PeriodicCallback:
    """Calls ``fn(num_steps)`` every ``every`` env steps (evaluation, checkpoints)."""

    def __init__(self, every: int, fn: Callable[[int], None], start: int = 0) -> None:
        self.every, self.fn = max(1, every), fn
        self._next = (int(start) // self.every + 1) * self.every

    def __call__(self, num_steps: int) -> None:
        if num_steps >= self._next:
            self.fn(num_steps)
            self._next = (num_steps // self.every + 1) * self.every
