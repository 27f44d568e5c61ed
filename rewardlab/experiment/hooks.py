"""The lab's hooks into any agent's training loop: where rewards enter training.

An :class:`~rewardlab.experiment.agents.Agent` calls

* ``hooks.step(num_steps)`` after every vector step (metrics, progress, periodic evaluation,
  checkpoints, stopping) -- the per-step reward itself is computed by the reward wrapper the env
  carries, over the whole batch;
* ``hooks.rollout(rollout)`` on every collected :class:`~rewardlab.data.Rollout` *before* it computes
  returns or advantages, when ``hooks.wants_rollout``: rollout-level sources add their terms to
  ``rollout.reward`` for all ``T*n`` steps in one batched call, learned sources ``update()`` on it, and
  episode-level sources relabel the episodes that finished in it. The returned :class:`~rewardlab.data.Relabel`
  s reach back before the rollout, for off-policy agents' replay buffers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from rewardlab.data.rollout import Episode, Relabel, Rollout
from rewardlab.rewards.base import Array, RewardError, RewardSource, is_torch


def _np(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if is_torch(x) else np.asarray(x)


class TrainHooks:
    """What a run hands its agent.

    :param source: the reward source the env's reward wrapper applies (its rollout/episode hooks run here).
    :param callbacks: ``fn(num_steps)`` called after every vector step, in order.
    :param seed: the training seed (env ``i`` is reset with ``seed + i``).
    :param state_view: ``task.transition_view``, for rollout-level sources that read the state view.
    :param log_dir: the run's TensorBoard directory; an agent may write its own training scalars
        there (losses, entropy, learning rate) beside the lab's keys.
    """

    def __init__(
        self,
        source: RewardSource | None = None,
        callbacks: list[Callable[[int], Any]] | None = None,
        seed: int | None = None,
        state_view: Callable[..., Any] | None = None,
        log_dir: Any = None,
    ) -> None:
        self.source = source
        self.callbacks = list(callbacks or [])
        self.seed = seed
        self.state_view = state_view
        self.log_dir = log_dir
        self.wants_rollout = bool(source is not None and (source.wants_rollout() or source.wants_episodes()))
        self.wants_episodes = bool(source is not None and source.wants_episodes())
        self.stats: dict[str, float] = {}
        self._history: list[Rollout] = []  # numpy copies since the oldest unfinished episode began
        self._ep_start: np.ndarray | None = None

    def step(self, num_steps: int) -> None:
        for fn in self.callbacks:
            fn(num_steps)

    # -- rollouts -----------------------------------------------------------------------------------

    def rollout(self, rollout: Rollout) -> list[Relabel]:
        """Apply the source's rollout and episode hooks to ``rollout`` in place; returns relabels of earlier steps."""
        if self.source is None or not self.wants_rollout:
            return []
        src = self.source
        if src.wants_rollout():
            terms = src.on_rollout(rollout)
            if terms is not None:
                T, n = rollout.T, rollout.n
                total = terms.total
                if tuple(total.shape) != (T, n):
                    raise RewardError(
                        f"reward {src.name!r}: on_rollout returned terms of shape {tuple(total.shape)}; expected ({T}, {n})"
                    )
                ok = bool(total.isfinite().all()) if is_torch(total) else bool(np.isfinite(total).all())
                if not ok:
                    raise RewardError(f"reward {src.name!r}: on_rollout produced NaN or inf")
                if rollout.valid is not None:
                    total = total * rollout.valid
                rollout.reward += _like(total, rollout.reward)
                for k, v in terms.components.items():
                    rollout.components[k] = v
            self.stats = src.rollout_stats()
        if self.wants_episodes:
            return self._episodes(rollout)
        return []

    def _episodes(self, rollout: Rollout) -> list[Relabel]:
        assert self.source is not None
        n, t0 = rollout.n, rollout.t0
        if self._ep_start is None:
            self._ep_start = np.full(n, t0, dtype=np.int64)
        part = _to_numpy(rollout)
        self._history.append(part)
        done = part.terminated | part.truncated
        if part.valid is not None:
            done = done & part.valid
        ts, envs = np.nonzero(done)
        episodes: list[Episode] = []
        for t, e in sorted(zip(ts.tolist(), envs.tolist(), strict=True)):  # one entry per finished episode
            start, stop = int(self._ep_start[e]), t0 + t + 1
            episodes.append(self._gather(e, start, stop))
            self._ep_start[e] = stop
        keep_from = int(self._ep_start.min())
        self._history = [h for h in self._history if h.t0 + h.T > keep_from]
        if not episodes:
            return []
        new = self.source.relabel(episodes)
        if new is None:
            return []
        if len(new) != len(episodes):
            raise RewardError(
                f"reward {self.source.name!r}: relabel returned {len(new)} arrays for {len(episodes)} episodes"
            )
        out: list[Relabel] = []
        for ep, r in zip(episodes, new, strict=True):
            r = _np(r).astype(np.float64, copy=False).reshape(-1)
            if r.shape != (ep.length,) or not np.isfinite(r).all():
                raise RewardError(
                    f"reward {self.source.name!r}: relabel gave {r.shape} (or non-finite) for an episode of {ep.length} steps"
                )
            lo = max(ep.start, t0)
            rows = np.arange(lo - t0, ep.start + ep.length - t0)
            if rows.size:
                rollout.reward[rows, ep.env] = _like(
                    r[lo - ep.start :].astype(_np(rollout.reward[:1]).dtype), rollout.reward
                )
            out.append(Relabel(ep.env, ep.start, r))
        return out

    def _gather(self, env: int, start: int, stop: int) -> Episode:
        pieces = [h for h in self._history if h.t0 < stop and h.t0 + h.T > start]

        def rows(a: Array, h: Rollout) -> np.ndarray:
            return _np(a[max(start - h.t0, 0) : min(stop - h.t0, h.T), env])  # history is numpy: no copy

        def cat(get: Callable[[Rollout], Array]) -> np.ndarray:
            return np.concatenate([rows(get(h), h) for h in pieces])

        def each(get: Callable[[Rollout], dict[str, Array]]) -> dict[str, np.ndarray]:
            return {k: np.concatenate([rows(get(h)[k], h) for h in pieces]) for k in get(pieces[0])}

        return Episode(
            env=env,
            start=start,
            obs=cat(lambda h: h.obs),
            action=cat(lambda h: h.action),
            next_obs=cat(lambda h: h.next_obs),
            env_reward=cat(lambda h: h.env_reward),
            terminated=cat(lambda h: h.terminated),
            truncated=cat(lambda h: h.truncated),
            reward=cat(lambda h: h.reward),
            components=each(lambda h: h.components),
            info=each(lambda h: h.info),
        )

    def rescore(self, batch: Any) -> np.ndarray | None:
        """After a learned source changed (``source.changed()``), its reward for stored transitions
        (a :class:`~rewardlab.rewards.base.TransitionBatch`), in one batched call; ``None`` if unchanged."""
        if self.source is None or not self.source.changed():
            return None
        return _np(self.source.compute(batch).total)


def _like(v: Any, dst: Any) -> Any:
    if is_torch(dst):
        import torch

        return torch.as_tensor(v, dtype=dst.dtype, device=dst.device)
    return _np(v)


def _to_numpy(r: Rollout) -> Rollout:
    """A numpy copy of ``r`` without its extras, state-before info and step counts (the episode history keeps
    only what :class:`~rewardlab.data.Episode` holds)."""
    return replace(r, extras={}, prev_info={}, step=None).map(lambda a: _np(a).copy())
