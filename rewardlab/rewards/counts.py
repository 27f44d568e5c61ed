"""An episodic count bonus over the agent's grid state, read from the task's state view.

``beta / sqrt(N)``, where ``N`` counts how often this env has entered the ``(x, y, heading)`` of the step's next
state since its episode began (the step itself included, so a first visit scores ``beta``). The counts reset
when an episode ends and when the vector env is reset, so procedurally generated layouts (a new map every
episode) never share counts; this is the episodic count of RIDE/NovelD-style MiniGrid exploration, without their
learned embeddings.

Cells must lie inside a ``MAX_SIDE`` x ``MAX_SIDE`` table. The numpy path checks every step; the torch path checks
when its table is made (a check is a host sync) and clamps later out-of-range cells to the table's edge.

One table ``(n_envs, cells)`` per source, updated with one fancy-indexed add per vector step (numpy, or torch on
the batch's device): no loop over envs. Any task whose state view has ``agent_x``, ``agent_y`` and ``agent_dir``
(the MiniGrid tasks, on minigrid's envs and on the batched gridworld) can use it: ``env + count``,
``sparse + 0.1*count``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rewardlab.rewards.base import RewardError, RewardSource, RewardTerms, TransitionBatch, is_torch

#: the state-view fields the bonus reads
FIELDS = ("agent_x", "agent_y", "agent_dir")
#: grid cells per side the table covers (minigrid's largest shipped layouts are 25x25)
MAX_SIDE = 32


class EpisodicCountBonus(RewardSource):
    """``beta / sqrt(N(x, y, heading))`` per env within the episode; see the module docstring.

    :param beta: the bonus of a first visit.
    :param name: the component's name.
    """

    needs_state = True

    def __init__(self, beta: float = 1.0, name: str = "count") -> None:
        if not beta > 0:
            raise ValueError(f"count bonus beta must be positive, got {beta}")
        self.beta, self.name = float(beta), name
        self._counts: Any = None

    def describe(self) -> str:
        return f"{self.name}: episodic count bonus {self.beta:g}/sqrt(N) over the agent's (cell, heading)"

    def reset_envs(self, idx: Any) -> None:
        if self._counts is not None:
            self._counts[idx] = 0

    def compute(self, batch: TransitionBatch) -> RewardTerms:
        s = batch.state
        if s is None:
            raise RewardError(f"reward {self.name!r} reads the state view, but the batch has no task view")
        try:
            x, y, d = (getattr(s, f) for f in FIELDS)
        except (AttributeError, KeyError):
            raise RewardError(f"reward {self.name!r} needs state fields {', '.join(FIELDS)}") from None
        n = batch.n
        if is_torch(x):
            return self._torch(x, y, d, batch.done, n)
        idx = _cell(np.asarray(x), np.asarray(y), np.asarray(d))
        if self._counts is None or is_torch(self._counts) or self._counts.shape[0] != n:
            self._counts = np.zeros((n, MAX_SIDE * MAX_SIDE * 4), dtype=np.int32)
        rows = np.arange(n)
        self._counts[rows, idx] += 1
        bonus = self.beta / np.sqrt(self._counts[rows, idx])
        done = np.asarray(batch.done, dtype=bool)
        if done.any():
            self._counts[done] = 0  # the next step belongs to a new episode
        return RewardTerms(bonus, {self.name: bonus})

    def _torch(self, x: Any, y: Any, d: Any, done: Any, n: int) -> RewardTerms:
        import torch

        c = self._counts
        fresh = c is None or not is_torch(c) or c.shape[0] != n or c.device != x.device
        # the bounds check syncs with the host, so it runs when the table is made, not on every step
        idx = _cell(x.long(), y.long(), d.long(), check=fresh)
        if fresh:
            c = self._counts = torch.zeros((n, MAX_SIDE * MAX_SIDE * 4), dtype=torch.int32, device=x.device)
        rows = torch.arange(n, device=idx.device)
        c[rows, idx] += 1
        bonus = self.beta / c[rows, idx].double().sqrt()
        c.mul_((~done.bool()).to(c.dtype).unsqueeze(1))  # zero the rows of finished episodes, without a host sync
        return RewardTerms(bonus, {self.name: bonus})


def _cell(x: Any, y: Any, d: Any, check: bool = True) -> Any:
    if is_torch(x):
        if check and bool(((x < 0) | (x >= MAX_SIDE) | (y < 0) | (y >= MAX_SIDE)).any()):
            raise RewardError(f"count bonus: agent cell outside the {MAX_SIDE}x{MAX_SIDE} table")
        return (x.clamp(0, MAX_SIDE - 1) * MAX_SIDE + y.clamp(0, MAX_SIDE - 1)) * 4 + (d % 4)
    xi, yi, di = x.astype(np.int64), y.astype(np.int64), d.astype(np.int64)
    if xi.min() < 0 or yi.min() < 0 or xi.max() >= MAX_SIDE or yi.max() >= MAX_SIDE:
        raise RewardError(f"count bonus: agent cell outside the {MAX_SIDE}x{MAX_SIDE} table")
    return (xi * MAX_SIDE + yi) * 4 + (di % 4)
