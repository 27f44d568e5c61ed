"""Per-step reward computation and per-episode bookkeeping shared by every wrapper.

:class:`RewardAccountant` takes one vector step's arrays, builds the transition batch and
the task's state view, calls the reward source once for all envs, accumulates the env
return, shaped return, every component and the task's fitness per env, and records each
finished episode. It never loops over environments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from envs.registry import Task
from rewardlab.rewards.base import RewardError, RewardSource, TransitionBatch, check_terms, is_torch


@dataclass
class EpisodeRecord:
    """Finished episodes from one vector step; arrays over the envs that finished."""

    env_index: np.ndarray
    fitness: np.ndarray
    success: np.ndarray
    env_return: np.ndarray
    shaped_return: np.ndarray
    length: np.ndarray
    components: dict[str, np.ndarray] = field(default_factory=dict)


def _np(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if is_torch(x) else np.asarray(x)


class RewardAccountant:
    """Computes rewards for a vector of ``n`` envs and keeps per-episode statistics.

    :param source: the reward the agent trains on.
    :param task: the task (state view and fitness); ``None`` for sources that read raw arrays
        only, in which case no fitness is tracked.
    :param n: number of envs.
    """

    def __init__(self, source: RewardSource, task: Task | None, n: int) -> None:
        self.source, self.task, self.n = source, task, n
        self.info_keys = tuple(task.info_keys) if task is not None else ()
        self.reduce = task.fitness.reduce if task is not None else "sum"
        self.threshold = task.fitness.threshold if task is not None else np.inf
        self.step_count = np.zeros(n, dtype=np.int64)
        self.env_ret = np.zeros(n)
        self.shaped_ret = np.zeros(n)
        self.fit = np.zeros(n)
        self.comp_sums: dict[str, np.ndarray] = {}
        self._reset_fit(np.ones(n, dtype=bool))
        self.episodes: list[EpisodeRecord] = []
        self.total_steps = 0
        self.last_components: dict[str, Any] = {}
        self.last_fitness_step: np.ndarray | None = None

    def _reset_fit(self, mask: np.ndarray) -> None:
        init = {"max": -np.inf, "min": np.inf}.get(self.reduce, 0.0)
        self.fit[mask] = init

    def pick_info(self, info: Mapping[str, Any]) -> dict[str, Any]:
        """The declared info fields of a vector info dict (arrays of shape ``(n,)``)."""
        if not self.info_keys:
            return {}
        try:
            return {k: info[k] for k in self.info_keys}
        except KeyError as e:
            raise RewardError(
                f"task {self.task.id if self.task else '?'} declares info field {e.args[0]!r}, "
                f"but the env's info has only {sorted(k for k in info if not k.startswith('_'))}"
            ) from None

    def process(
        self,
        obs: Any,
        action: Any,
        next_obs: Any,
        env_reward: Any,
        terminated: np.ndarray,
        truncated: np.ndarray,
        next_info: Mapping[str, Any],
        prev_info: Mapping[str, Any],
        valid: np.ndarray | None = None,
    ) -> np.ndarray:
        """One vector step; returns the shaped reward ``(n,)`` (0 on invalid pseudo-steps)."""
        task = self.task
        if valid is None:
            self.step_count += 1
        else:
            self.step_count += valid
        state = None
        if task is not None:
            state = task.transition_view(
                obs, action, next_obs, env_reward, terminated, truncated, next_info, prev_info, self.step_count
            )
        batch = TransitionBatch(obs, action, next_obs, env_reward, terminated, truncated, next_info, state, valid)
        terms = self.source.compute(batch)
        total = terms.total
        if type(total) is not np.ndarray:
            total = _np(total)
        if total.shape != (self.n,) or not np.isfinite(total).all():
            check_terms(terms, self.n, self.source.name)  # raises with the culprit named
            raise RewardError(f"reward {self.source.name!r} produced NaN or inf")
        if valid is not None:
            total = np.where(valid, total, 0.0)
        self.last_components = terms.components

        # episode accumulation
        if valid is None:
            self.env_ret += env_reward
        else:
            self.env_ret += env_reward * valid
        self.shaped_ret += total
        comps = terms.components
        if not self.comp_sums:
            self.comp_sums = {k: np.zeros(self.n) for k in comps}
        elif comps.keys() != self.comp_sums.keys():
            raise RewardError(
                f"reward {self.source.name!r} changed its components from {list(self.comp_sums)} to {list(comps)}"
            )
        sums = self.comp_sums
        for k, v in comps.items():
            if type(v) is not np.ndarray:
                v = _np(v)
            if valid is None:
                sums[k] += v
            else:
                sums[k] += v * valid
        if task is not None:
            f = task.fitness.step(state)
            if type(f) is not np.ndarray or f.shape != (self.n,):
                f = np.broadcast_to(np.asarray(f, dtype=np.float64), (self.n,))
            self.last_fitness_step = f
            self._accumulate_fitness(f, valid)

        done = terminated | truncated
        ended = done if valid is None else done & valid
        if ended.any():
            self._finish(np.flatnonzero(ended))
        self.total_steps += self.n if valid is None else int(valid.sum())
        return total

    def _accumulate_fitness(self, f: np.ndarray, valid: np.ndarray | None) -> None:
        r = self.reduce
        if r in ("sum", "mean"):
            self.fit += f if valid is None else f * valid
        elif r == "max":
            np.maximum(self.fit, f if valid is None else np.where(valid, f, -np.inf), out=self.fit)
        elif r == "min":
            np.minimum(self.fit, f if valid is None else np.where(valid, f, np.inf), out=self.fit)
        else:  # last
            self.fit = f.copy() if valid is None else np.where(valid, f, self.fit)

    def _finish(self, idx: np.ndarray) -> None:
        length = self.step_count[idx].copy()
        fit = self.fit[idx].copy()
        if self.reduce == "mean":
            fit = fit / np.maximum(length, 1)
        self.episodes.append(
            EpisodeRecord(
                env_index=idx,
                fitness=fit,
                success=fit >= self.threshold,
                env_return=self.env_ret[idx].copy(),
                shaped_return=self.shaped_ret[idx].copy(),
                length=length,
                components={k: v[idx].copy() for k, v in self.comp_sums.items()},
            )
        )
        self.reset_envs(idx)

    def reset_envs(self, idx: np.ndarray) -> None:
        self.step_count[idx] = 0
        self.env_ret[idx] = 0.0
        self.shaped_ret[idx] = 0.0
        for v in self.comp_sums.values():
            v[idx] = 0.0
        mask = np.zeros(self.n, dtype=bool)
        mask[idx] = True
        self._reset_fit(mask)

    def pop_episodes(self) -> list[EpisodeRecord]:
        eps, self.episodes = self.episodes, []
        return eps
