"""Per-step reward computation and per-episode bookkeeping shared by every wrapper.

:class:`RewardAccountant` takes one vector step's arrays, builds the transition batch and
the task's state view, calls the reward source once for all envs, accumulates the env
return, shaped return, every component and the task's fitness per env, and records each
finished episode. It never loops over environments.

Two implementations share the interface (``process``, ``reset_envs``, ``pop_episodes``):

- :class:`RewardAccountant` keeps numpy arrays (any torch input is copied to the host), and
  queues one :class:`EpisodeRecord` per vector step on which episodes finished, at once.
- :class:`TorchRewardAccountant` keeps every running statistic as a tensor on the env's device
  and never waits for the device inside :meth:`~TorchRewardAccountant.process`: finished
  episodes are snapshot into a preallocated device queue and copied to the host in one transfer
  every ``drain_every`` steps (see its docstring), so ``pop_episodes()`` -- which callbacks call
  after every step -- is a host-side list swap that costs nothing while nothing is drained.

Running statistics are held as one ``(F, n)`` float64 matrix (rows: env return, shaped return,
fitness, then one row per component), so a finished episode is read out and restarted with one
gather and one scatter, whatever the number of components.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from envs.registry import Task
from envs.state_view import StateView
from rewardlab.rewards.base import (
    Array,
    RewardError,
    RewardSource,
    RewardTerms,
    TransitionBatch,
    check_terms,
    is_torch,
)

_ENV_RET, _SHAPED_RET, _FIT = 0, 1, 2
_BASE_ROWS = 3


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


def _fit_init(reduce: str) -> float:
    return {"max": -np.inf, "min": np.inf}.get(reduce, 0.0)


class RewardAccountant:
    """Computes rewards for a vector of ``n`` envs and keeps per-episode statistics (numpy).

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
        # the running statistics are numpy here and tensors on the env's device in TorchRewardAccountant
        self.step_count: Any = np.zeros(n, dtype=np.int64)
        self.stats: Any
        self.fit: Any
        self.comp_names: tuple[str, ...] | None = None
        self._alloc_stats(())
        self.episodes: list[EpisodeRecord] = []
        self.total_steps = 0
        self.last_components: dict[str, Any] = {}
        self.last_fitness_step: Any = None

    # -- running statistics: one (F, n) matrix, rows env_ret, shaped_ret, fit, components -----

    def _alloc_stats(self, names: tuple[str, ...]) -> None:
        old = getattr(self, "stats", None)
        stats = np.zeros((_BASE_ROWS + len(names), self.n))
        if old is None:
            stats[_FIT] = _fit_init(self.reduce)
        else:
            stats[:_BASE_ROWS] = old[:_BASE_ROWS]
        self.stats = stats
        self._init_col = np.zeros((len(stats), 1))
        self._init_col[_FIT] = _fit_init(self.reduce)
        self._init_zero = _fit_init(self.reduce) == 0.0
        self._bind_rows(names)

    def _bind_rows(self, names: tuple[str, ...]) -> None:
        s = self.stats
        self.env_ret, self.shaped_ret, self.fit = s[_ENV_RET], s[_SHAPED_RET], s[_FIT]
        self.comp_sums = {k: s[_BASE_ROWS + j] for j, k in enumerate(names)}

    def _set_components(self, comps: Mapping[str, Any]) -> None:
        """Fix the component names on the first step; any later change is an error."""
        names = tuple(comps)
        if self.comp_names is None:
            self.comp_names = names
            if names:
                self._alloc_stats(names)
        elif names != self.comp_names:
            raise RewardError(
                f"reward {self.source.name!r} changed its components from {list(self.comp_names)} to {list(names)}"
            )

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
        terminated: Array,
        truncated: Array,
        next_info: Mapping[str, Any],
        prev_info: Mapping[str, Any],
        valid: Array | None = None,
    ) -> Any:
        """One vector step; returns the shaped reward ``(n,)`` (0 on invalid pseudo-steps): a numpy array here,
        a tensor on the env's device in :class:`TorchRewardAccountant`."""
        if valid is None:
            self.step_count += 1
        else:
            self.step_count += valid
        state = None
        if self.task is not None:
            state = self.task.transition_view(
                obs, action, next_obs, env_reward, terminated, truncated, next_info, prev_info, self.step_count
            )
        batch = TransitionBatch(obs, action, next_obs, env_reward, terminated, truncated, next_info, state, valid)
        return self._account(self.source.compute(batch), state, env_reward, terminated | truncated, valid)

    def _account(
        self, terms: RewardTerms, state: StateView | None, env_reward: Any, done: Any, valid: Any
    ) -> np.ndarray:
        """Check the step's reward, add it, its components and the fitness to the running statistics, and record
        the episodes that ended; returns the shaped reward ``(n,)``."""
        task = self.task
        total = terms.total
        if type(total) is not np.ndarray:
            total = _np(total)
        # a finite sum means every value is finite; a non-finite one (or overflow) gets the full check
        if total.shape != (self.n,) or not np.isfinite(total.sum()):
            if total.shape != (self.n,) or not np.isfinite(total).all():
                check_terms(terms, self.n, self.source.name)  # raises with the culprit named
                raise RewardError(f"reward {self.source.name!r} produced NaN or inf")
        if valid is not None:
            total = np.where(valid, total, 0.0)
        comps = terms.components
        self.last_components = comps
        if comps.keys() != self.comp_sums.keys():
            self._set_components(comps)

        # episode accumulation
        if valid is None:
            self.env_ret += env_reward if type(env_reward) is np.ndarray else _np(env_reward)
        else:
            self.env_ret += _np(env_reward) * valid
        self.shaped_ret += total
        sums = self.comp_sums
        for k, v in comps.items():
            if type(v) is not np.ndarray:
                v = _np(v)
            if valid is None:
                sums[k] += v
            else:
                sums[k] += v * valid
        if task is not None and state is not None:
            f = task.fitness.step(state)
            if type(f) is not np.ndarray or f.shape != (self.n,):
                f = np.broadcast_to(np.asarray(_np(f), dtype=np.float64), (self.n,))
            self.last_fitness_step = f
            self._accumulate_fitness(f, valid)

        if type(done) is not np.ndarray:
            done = _np(done)
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
            self.fit[:] = f if valid is None else np.where(valid, f, self.fit)

    def _finish(self, idx: np.ndarray) -> None:
        length = self.step_count.take(idx)  # copies
        g = self.stats.take(idx, axis=1)
        fit = g[_FIT]
        if self.reduce == "mean":
            fit = fit / np.maximum(length, 1)
        self.episodes.append(
            EpisodeRecord(
                env_index=idx,
                fitness=fit,
                success=fit >= self.threshold,
                env_return=g[_ENV_RET],
                shaped_return=g[_SHAPED_RET],
                length=length,
                components={k: g[_BASE_ROWS + j] for j, k in enumerate(self.comp_sums)},
            )
        )
        self.step_count[idx] = 0
        if self._init_zero:
            self.stats[:, idx] = 0.0
        else:
            self.stats[:, idx] = self._init_col

    def reset_envs(self, idx: Any) -> None:
        """Restart the running statistics of envs ``idx`` (their episode was cut by a reset)."""
        idx = np.asarray(idx)
        self.step_count[idx] = 0
        self.stats[:, idx] = self._init_col
        self.source.reset_envs(idx)

    def pop_episodes(self, force: bool = False) -> list[EpisodeRecord]:
        """The finished episodes queued since the last call (``force`` is for interface parity
        with :class:`TorchRewardAccountant`: this accountant never holds episodes back)."""
        eps, self.episodes = self.episodes, []
        return eps

    def episodes_ready(self) -> int:
        """How many records :meth:`pop_episodes` would return now."""
        return len(self.episodes)


#: default ``drain_every`` on an accelerator: at most one host sync per this many vector steps
DEVICE_DRAIN_EVERY = 32
#: the device queue of finished-episode snapshots is capped at about this many bytes
QUEUE_BYTES = 64 << 20


class TorchRewardAccountant(RewardAccountant):
    """The same bookkeeping with every running statistic a tensor on ``device``.

    :meth:`process` reads the env's tensors and the reward's tensors as they are and does no
    host round trip: no ``.cpu()``, ``.item()``, ``bool(tensor)``, ``nonzero`` or boolean
    indexing. The per-env statistics live in one ``(F, n)`` float64 matrix on the device; on
    every step the finished-episode values of all envs (length, returns, fitness, components)
    and the done mask are copied into row ``k`` of a preallocated device queue of
    ``drain_every`` rows, and the finished envs are restarted with a masked fill.

    **Draining (the choice made here).** When the queue is full -- once every ``drain_every``
    steps -- it is drained: one ``nonzero`` over the queued done masks and one device-to-host
    copy of just the finished rows, which become the same per-step :class:`EpisodeRecord` s the
    numpy accountant gives, with numpy fields. ``pop_episodes()`` only hands over records
    already drained, so calling it after every step (as ``MetricsCallback`` and ``evaluate``
    do) costs a list swap and never syncs; episodes reach it up to ``drain_every - 1`` steps
    late. ``pop_episodes(force=True)`` (or :meth:`drain`) drains a partly filled queue, e.g.
    at the end of training. On a CPU device there is nothing to wait for, so the default is
    ``drain_every=1``: records arrive on the step their episodes finish, as with numpy.

    A non-finite reward total is flagged on the device and raised as :class:`RewardError` at
    the next drain (the numpy accountant raises on the step itself).

    :param device: the torch device of the env's tensors.
    :param drain_every: steps between drains (default 1 on CPU, :data:`DEVICE_DRAIN_EVERY`
        elsewhere); capped so the queue stays within :data:`QUEUE_BYTES`.
    """

    def __init__(
        self, source: RewardSource, task: Task | None, n: int, device: Any = "cpu", drain_every: int | None = None
    ) -> None:
        import torch

        self._torch = torch
        self.device = torch.device(device)
        if drain_every is None:
            drain_every = 1 if self.device.type == "cpu" else DEVICE_DRAIN_EVERY
        if int(drain_every) < 1:
            raise ValueError(f"drain_every must be >= 1, got {drain_every!r}")
        self.drain_every = int(drain_every)
        self._q: Any = None
        self._qn = 0  # queued steps (host counter)
        super().__init__(source, task, n)
        self.step_count = torch.zeros(n, dtype=torch.int64, device=self.device)
        self._bad = torch.zeros((), dtype=torch.bool, device=self.device)
        self._zeros = torch.zeros(n, dtype=torch.float64, device=self.device)
        self._valid_steps: Any = None  # device count of valid env-steps (NEXT_STEP mode only)

    def _alloc_stats(self, names: tuple[str, ...]) -> None:
        torch = self._torch
        if self._qn:  # queued snapshots have the old rows: hand them over first
            self.drain()
        old = getattr(self, "stats", None)
        stats = torch.zeros((_BASE_ROWS + len(names), self.n), dtype=torch.float64, device=self.device)
        if old is None:
            stats[_FIT] = _fit_init(self.reduce)
        else:
            stats[:_BASE_ROWS] = old[:_BASE_ROWS]
        self.stats = stats
        self._bind_rows(names)
        # queue: (k, 1 + F, n) values (row 0 the length) and (k, n) done masks
        per_step = (1 + stats.shape[0]) * self.n * 8 + self.n
        k = max(1, min(self.drain_every, QUEUE_BYTES // per_step))
        self._q = torch.empty((k, 1 + stats.shape[0], self.n), dtype=torch.float64, device=self.device)
        self._qmask = torch.empty((k, self.n), dtype=torch.bool, device=self.device)

    def _account(self, terms: RewardTerms, state: StateView | None, env_reward: Any, done: Any, valid: Any) -> Any:
        """As the numpy accountant's, on the device and without a host sync; returns the shaped reward there."""
        torch = self._torch
        task = self.task
        total = terms.total
        if not is_torch(total):
            total = torch.as_tensor(np.asarray(total), device=self.device)
        if tuple(total.shape) != (self.n,):
            check_terms(terms, self.n, self.source.name)  # raises: the shape is known on the host
        self._bad |= ~torch.isfinite(total).all()
        if valid is not None:
            total = torch.where(valid, total, torch.zeros((), dtype=total.dtype, device=total.device))
        comps = terms.components
        self.last_components = comps
        if comps.keys() != self.comp_sums.keys():
            self._set_components(comps)

        f = None
        if task is not None and state is not None:
            f = task.fitness.step(state)
            if not is_torch(f) or tuple(f.shape) != (self.n,):
                f = torch.as_tensor(f, dtype=torch.float64, device=self.device).expand(self.n)
            self.last_fitness_step = f
        # one stacked increment for every summed row (env return, shaped return, [fitness], components)
        sum_fit = f is not None and self.reduce in ("sum", "mean")
        rows = [env_reward, total, f if sum_fit else self._zeros]
        rows += [v if is_torch(v) else torch.as_tensor(np.asarray(v), device=self.device) for v in comps.values()]
        inc = torch.stack(rows)  # promotes to the widest dtype; added into float64 either way
        if valid is not None:
            inc = inc * valid
        self.stats += inc
        if f is not None and not sum_fit:
            self._accumulate_fitness(f, valid)

        ended = done if valid is None else done & valid
        self._enqueue(ended)
        if valid is None:
            self.total_steps += self.n
        else:
            v = valid.sum()
            self._valid_steps = v if self._valid_steps is None else self._valid_steps + v
        if self._qn == len(self._q):
            self.drain()
        return total

    def _accumulate_fitness(self, f: Any, valid: Any) -> None:
        torch = self._torch
        fit = self.fit
        f = f.to(torch.float64)
        r = self.reduce
        if r == "max":
            g = f if valid is None else torch.where(valid, f, -torch.inf)
            torch.maximum(fit, g, out=fit)
        elif r == "min":
            g = f if valid is None else torch.where(valid, f, torch.inf)
            torch.minimum(fit, g, out=fit)
        else:  # last
            fit.copy_(f if valid is None else torch.where(valid, f, fit))

    def _enqueue(self, ended: Any) -> None:
        """Snapshot every env's statistics and the done mask; restart the finished envs."""
        i = self._qn
        self._q[i, 0].copy_(self.step_count)
        self._q[i, 1:].copy_(self.stats)
        self._qmask[i].copy_(ended)
        self._qn = i + 1
        self.step_count.masked_fill_(ended, 0)
        self.stats.masked_fill_(ended, 0.0)
        init = _fit_init(self.reduce)
        if init != 0.0:
            self.fit.masked_fill_(ended, init)

    def drain(self) -> None:
        """Copy the queued finished episodes to the host (one ``nonzero``, one transfer)."""
        torch = self._torch
        k, self._qn = self._qn, 0
        bad = bool(self._bad)
        if bad:
            self._bad.zero_()
            raise RewardError(f"reward {self.source.name!r} produced NaN or inf")
        if k == 0:
            return
        nz = self._qmask[:k].nonzero()  # (E, 2): (queued step, env), in step order
        if nz.shape[0] == 0:
            return
        vals = self._q[nz[:, 0], :, nz[:, 1]]  # (E, 1 + F)
        host = torch.cat([nz.to(torch.float64), vals], dim=1).cpu().numpy()
        t = host[:, 0].astype(np.int64)
        env = host[:, 1].astype(np.int64)
        cuts = np.flatnonzero(np.diff(t)) + 1
        names = list(self.comp_sums)
        for rows in np.split(np.arange(len(t)), cuts):
            g = host[rows, 2:].T  # (1 + F, e)
            length = g[0].astype(np.int64)
            fit = g[1 + _FIT]
            if self.reduce == "mean":
                fit = fit / np.maximum(length, 1)
            self.episodes.append(
                EpisodeRecord(
                    env_index=env[rows],
                    fitness=np.ascontiguousarray(fit),
                    success=fit >= self.threshold,
                    env_return=np.ascontiguousarray(g[1 + _ENV_RET]),
                    shaped_return=np.ascontiguousarray(g[1 + _SHAPED_RET]),
                    length=length,
                    components={k_: np.ascontiguousarray(g[1 + _BASE_ROWS + j]) for j, k_ in enumerate(names)},
                )
            )

    def reset_envs(self, idx: Any) -> None:
        torch = self._torch
        if is_torch(idx):
            idx = idx.to(self.device)
        else:
            idx = torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self.device)
        mask = torch.zeros(self.n, dtype=torch.bool, device=self.device)
        mask[idx] = True
        self.source.reset_envs(idx)
        self.step_count.masked_fill_(mask, 0)
        self.stats.masked_fill_(mask, 0.0)
        init = _fit_init(self.reduce)
        if init != 0.0:
            self.fit.masked_fill_(mask, init)

    def pop_episodes(self, force: bool = False) -> list[EpisodeRecord]:
        """The drained finished episodes (no device sync); ``force``: drain the queue first."""
        if force:
            self.drain()
        eps, self.episodes = self.episodes, []
        return eps

    def episodes_ready(self) -> int:
        """Records already on the host (no sync); up to ``drain_every - 1`` steps may be queued on the device."""
        return len(self.episodes)

    @property
    def total_steps(self) -> int:
        extra = 0 if self._valid_steps is None else int(self._valid_steps)
        return self._total_steps + extra

    @total_steps.setter
    def total_steps(self, value: int) -> None:
        self._total_steps = int(value)
        self._valid_steps = None
