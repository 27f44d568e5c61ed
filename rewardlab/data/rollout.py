"""The one container of collected experience, and the one collector that fills it.

A :class:`Rollout` holds ``T`` vector steps of ``n`` envs as ``(T, n, ...)`` arrays -- numpy on
the CPU, torch tensors on the batch's device. Every part of the lab that steps a vector env and
keeps transitions (agents, the reward-distance probes, the LLM context and transition samples)
goes through :class:`Collector`, so the true final observation of an episode is patched in one
place (:func:`true_next_obs`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from rewardlab.rewards.base import Array, TransitionBatch, is_torch


def _xp_zeros(like: Any, shape: tuple[int, ...], dtype: Any = None) -> Any:
    if is_torch(like):
        import torch

        return torch.zeros(shape, dtype=dtype or like.dtype, device=like.device)
    return np.zeros(shape, dtype=dtype or np.asarray(like).dtype)


def true_next_obs(obs: Any, info: Mapping[str, Any], done: Any, mode: AutoresetMode) -> Any:
    """The observation each env actually reached on this step.

    In ``SAME_STEP`` autoreset mode a done env's returned ``obs`` is already the next episode's first
    observation; the state it reached is in ``info["final_obs"]`` -- an object array of rows (gymnasium's
    SyncVectorEnv) or a full ``(n, ...)`` array (the lab's batched envs). In other modes ``obs`` is it.
    """
    if mode != AutoresetMode.SAME_STEP or "final_obs" not in info:
        return obs
    final = info["final_obs"]
    if is_torch(done):
        import torch

        # no ``bool(done.any())`` shortcut: on an accelerator it would wait for the device every step
        return torch.where(done.reshape(done.shape + (1,) * (obs.dim() - 1)), final, obs)
    if not done.any():
        return obs
    idx = np.flatnonzero(done)
    out = np.array(obs, copy=True)
    if isinstance(final, np.ndarray) and final.dtype != object:
        out[idx] = final[idx]
    else:
        out[idx] = np.stack([np.asarray(final[i]) for i in idx])
    return out


def true_next_info(info: Mapping[str, Any], keys: tuple[str, ...], done: Any, mode: AutoresetMode) -> dict[str, Any]:
    """The declared info fields (``keys`` present in ``info``) of the state each env actually reached.

    In ``SAME_STEP`` mode a done env's ``info`` already describes the next episode's first state; the
    fields of the state it reached are in ``info["final_info"]`` (gymnasium's ``(n,)`` arrays, valid at
    the done rows). Fields ``final_info`` lacks are kept as they are.
    """
    kept = {k: info[k] for k in keys if k in info}
    if mode != AutoresetMode.SAME_STEP or not kept or "final_info" not in info:
        return kept
    final = info["final_info"]
    merge: Callable[[Any, Any], Any]
    if is_torch(done):
        import torch

        if not bool(done.any()):
            return kept

        def merge(v: Any, f: Any) -> Any:
            v = torch.as_tensor(v, device=done.device)
            f = torch.as_tensor(f, dtype=v.dtype, device=done.device)
            return torch.where(done.reshape(done.shape + (1,) * (v.dim() - 1)), f, v)

    else:
        if not done.any():
            return kept
        idx = np.flatnonzero(done)

        def merge(v: Any, f: Any) -> Any:
            v = np.array(v, copy=True)
            v[idx] = np.asarray(f)[idx]
            return v

    return {k: v if (f := final.get(k)) is None else merge(v, f) for k, v in kept.items()}


@dataclass
class Rollout:
    """``T`` vector steps over ``n`` envs: every array is ``(T, n, ...)``.

    :param obs: observations before the action.
    :param action: actions taken.
    :param next_obs: the true next observation (the terminal one on done steps).
    :param env_reward: the env's own reward.
    :param terminated: true MDP termination.
    :param truncated: time limit or other cut.
    :param reward: what the agent learns from: the step source's total, then whatever the
        rollout and episode hooks add or relabel (changed in place by :class:`TrainHooks`).
    :param components: the step source's named components.
    :param info: declared info fields of the next state.
    :param valid: ``None`` or bool; False marks autoreset pseudo-steps (``NEXT_STEP`` mode).
    :param extras: what an agent stores beside the transition (values, log-probs...).
    :param t0: global vector-step index of row 0 (so relabels can reach a replay buffer).
    :param prev_info: declared info fields of the state before the action (``obs``'s).
    :param step: ``None`` or int: steps taken in the episode, counting this one (1 on an episode's
        first step; 0 on ``NEXT_STEP`` reset pseudo-steps).
    """

    obs: Array
    action: Array
    next_obs: Array
    env_reward: Array
    terminated: Array
    truncated: Array
    reward: Array
    components: dict[str, Array] = field(default_factory=dict)
    info: dict[str, Array] = field(default_factory=dict)
    valid: Array | None = None
    extras: dict[str, Array] = field(default_factory=dict)
    t0: int = 0
    prev_info: dict[str, Array] = field(default_factory=dict)
    step: Array | None = None

    @property
    def T(self) -> int:
        return int(self.reward.shape[0])

    @property
    def n(self) -> int:
        return int(self.reward.shape[1])

    @property
    def done(self) -> Array:
        return self.terminated | self.truncated

    def flat_batch(self, state_view: Callable[..., Any] | None = None) -> TransitionBatch:
        """All ``T*n`` transitions as one :class:`TransitionBatch` (one batched reward call).

        :param state_view: ``task.transition_view`` to attach the state view; ``None`` for raw arrays.
        """

        def flat(a: Any) -> Any:
            return None if a is None else a.reshape((-1, *a.shape[2:]))

        info = {k: flat(v) for k, v in self.info.items()}
        obs, act, nxt = flat(self.obs), flat(self.action), flat(self.next_obs)
        env_r, term, trunc = flat(self.env_reward), flat(self.terminated), flat(self.truncated)
        state = None
        if state_view is not None:
            prev_info = {k: flat(v) for k, v in self.prev_info.items()}
            state = state_view(obs, act, nxt, env_r, term, trunc, info, prev_info, flat(self.step))
        return TransitionBatch(obs, act, nxt, env_r, term, trunc, info, state, flat(self.valid))

    def map(self, fn: Callable[[Any], Any], t0: int | None = None) -> Rollout:
        """A rollout of ``fn(a)`` for every array ``a`` here (``None`` fields stay ``None``), starting at
        global vector step ``t0`` (this rollout's when ``None``)."""

        def f(a: Any) -> Any:
            return None if a is None else fn(a)

        def each(arrays: dict[str, Array]) -> dict[str, Array]:
            return {k: fn(v) for k, v in arrays.items()}

        return Rollout(
            f(self.obs),
            f(self.action),
            f(self.next_obs),
            f(self.env_reward),
            f(self.terminated),
            f(self.truncated),
            f(self.reward),
            each(self.components),
            each(self.info),
            f(self.valid),
            each(self.extras),
            self.t0 if t0 is None else t0,
            each(self.prev_info),
            f(self.step),
        )

    def slice(self, start: int, stop: int) -> Rollout:
        """Rows ``start:stop`` (views, not copies)."""
        sl = slice(start, stop)
        return self.map(lambda a: a[sl], self.t0 + start)

    @staticmethod
    def concat(parts: list[Rollout]) -> Rollout:
        """Rollouts of the same envs one after the other (numpy)."""
        if not parts:
            raise ValueError("nothing to concatenate")

        def cat(vals: list[Any]) -> Any:
            if vals[0] is None:
                return None
            if is_torch(vals[0]):
                import torch

                return torch.cat(vals)
            return np.concatenate(vals)

        def each(get: Callable[[Rollout], dict[str, Array]]) -> dict[str, Array]:
            return {k: cat([get(p)[k] for p in parts]) for k in get(parts[0])}

        first = parts[0]
        return Rollout(
            cat([p.obs for p in parts]),
            cat([p.action for p in parts]),
            cat([p.next_obs for p in parts]),
            cat([p.env_reward for p in parts]),
            cat([p.terminated for p in parts]),
            cat([p.truncated for p in parts]),
            cat([p.reward for p in parts]),
            each(lambda p: p.components),
            each(lambda p: p.info),
            cat([p.valid for p in parts]) if first.valid is not None else None,
            each(lambda p: p.extras),
            first.t0,
            each(lambda p: p.prev_info),
            cat([p.step for p in parts]) if first.step is not None else None,
        )


Policy = Callable[[Any], Any]
"""obs ``(n, ...)`` -> actions ``(n, ...)``, or ``(actions, extras)`` with ``extras`` a dict of ``(n, ...)`` arrays."""


class Collector:
    """Steps a gymnasium vector env with a policy and fills :class:`Rollout` s.

    Works on any vector env (gymnasium's, the lab's batched ones, with or without the lab's reward
    wrapper): ``reward`` is what the env returned (the reward source's total under
    :class:`~rewardlab.wrappers.RewardVectorWrapper`), ``env_reward`` and ``components`` come from the
    wrapper's ``info`` when present. Each row also carries the declared info fields of the state
    reached (``info``, patched like ``next_obs``) and of the state left (``prev_info``), and the episode
    step count (``step``), as the reward wrapper gives them to the state view. Storage is preallocated
    on first use and reused, so a rollout returned by :meth:`collect` is overwritten by the next call
    unless ``copy=True``.

    :param venv: the vector env.
    :param info_keys: info fields to keep per step (the task's declared ones).
    """

    def __init__(self, venv: Any, info_keys: tuple[str, ...] = ()) -> None:
        self.venv = venv
        self.n = int(venv.num_envs)
        self.mode = AutoresetMode(venv.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP))
        self.info_keys = tuple(info_keys)
        self.obs: Any = None
        self.info: dict[str, Any] = {}  # declared info fields of ``obs``
        self.steps = 0  # vector steps taken
        self._buf: Rollout | None = None
        self._pending: Any = None  # NEXT_STEP mode: envs whose next step is a reset pseudo-step
        self._ep_step: Any = None  # (n,) steps taken in each env's current episode

    def reset(self, seed: int | list[int] | None = None) -> Any:
        """Reset every env (``seed``: an int seeds env ``i`` with ``seed + i``; a list, one per env)."""
        self.obs, info = self.venv.reset(seed=seed)
        self.info = {k: info[k] for k in self.info_keys if k in info}
        self._pending = None
        self._ep_step = None
        return self.obs

    def _alloc(self, T: int, row: Rollout) -> Rollout:
        def buf(a: Any) -> Any:
            if is_torch(a):
                import torch

                return torch.empty((T, *a.shape), dtype=a.dtype, device=a.device)
            a = np.asarray(a)
            return np.empty((T, *a.shape), dtype=a.dtype)

        return row.map(buf, 0)

    def step(self, policy: Policy) -> Rollout:
        """One vector step as a row (arrays ``(n, ...)``, no time axis), and advance."""
        if self.obs is None:
            self.reset()
        obs, prev_info = self.obs, self.info
        out = policy(obs)
        action, extras = out if isinstance(out, tuple) else (out, {})
        nobs, reward, term, trunc, info = self.venv.step(action)
        done = term | trunc
        nxt = true_next_obs(nobs, info, done, self.mode)
        kept = true_next_info(info, self.info_keys, done, self.mode)
        env_r = info.get("env_reward", reward)
        comps = info.get("reward_components") or {}
        valid = None
        if self.mode == AutoresetMode.NEXT_STEP:  # a row per step; reset pseudo-steps are marked invalid
            valid = ~self._pending if self._pending is not None else done | ~done
            self._pending = done
        step = self._count(done, valid)
        self.obs = nobs
        self.info = {k: info[k] for k in self.info_keys if k in info}  # the reset state's on done envs
        self.steps += 1
        return Rollout(
            obs, action, nxt, env_r, term, trunc, reward, dict(comps), kept, valid, dict(extras), 0, prev_info, step
        )

    def _count(self, done: Any, valid: Any) -> Any:
        """This step's episode step counts ``(n,)``; restarts the counters of ended episodes."""
        if is_torch(done):
            import torch

            prev = self._ep_step if self._ep_step is not None else torch.zeros_like(done, dtype=torch.int64)
            step = prev + (1 if valid is None else valid.to(torch.int64))
            ended = done if valid is None else done | ~valid
            self._ep_step = torch.where(ended, torch.zeros_like(step), step)
            return step
        done = np.asarray(done)
        prev = self._ep_step if self._ep_step is not None else np.zeros(done.shape, dtype=np.int64)
        step = prev + (1 if valid is None else np.asarray(valid, dtype=np.int64))
        ended = done if valid is None else done | ~np.asarray(valid)
        self._ep_step = np.where(ended, 0, step)
        return step

    def collect(
        self, policy: Policy, T: int, on_step: Callable[[Rollout], Any] | None = None, copy: bool = False
    ) -> Rollout:
        """``T`` vector steps into one rollout. ``on_step(row)`` runs after each step (metrics, stopping)."""
        t0 = self.steps
        buf = self._buf
        for t in range(T):
            row = self.step(policy)
            if buf is None or buf.T != T or (t == 0 and not _same_layout(buf, row)):
                buf = self._buf = self._alloc(T, row)
            _put(buf, t, row)
            if on_step is not None:
                on_step(row)
        assert buf is not None
        buf.t0 = t0
        return _copy(buf) if copy else buf


def random_policy(space: Any, seed: int | None = None) -> Policy:
    """A uniformly random policy over a vector env's batched ``action_space`` (seeded here when ``seed``
    is given): one ``space.sample()`` per vector step."""
    if seed is not None:
        space.seed(seed)
    return lambda obs: space.sample()


def _same_layout(buf: Rollout, row: Rollout) -> bool:
    return (
        buf.components.keys() == row.components.keys()
        and buf.extras.keys() == row.extras.keys()
        and buf.info.keys() == row.info.keys()
        and buf.prev_info.keys() == row.prev_info.keys()
        and (buf.valid is None) == (row.valid is None)
        and (buf.step is None) == (row.step is None)
    )


def _put(buf: Rollout, t: int, row: Rollout) -> None:
    for name in ("obs", "action", "next_obs", "env_reward", "terminated", "truncated", "reward"):
        getattr(buf, name)[t] = _like(getattr(row, name), getattr(buf, name))
    for group in ("components", "info", "extras", "prev_info"):
        dst, src = getattr(buf, group), getattr(row, group)
        for k, v in src.items():
            dst[k][t] = _like(v, dst[k])
    if buf.valid is not None:
        buf.valid[t] = True if row.valid is None else _like(row.valid, buf.valid)
    if buf.step is not None and row.step is not None:
        buf.step[t] = _like(row.step, buf.step)


def _like(v: Any, dst: Any) -> Any:
    if is_torch(dst) and not is_torch(v):
        import torch

        return torch.as_tensor(np.asarray(v), device=dst.device)
    if not is_torch(dst) and is_torch(v):
        return v.detach().cpu().numpy()
    return v


def _copy(r: Rollout) -> Rollout:
    return r.map(lambda a: a.clone() if is_torch(a) else a.copy())


@dataclass
class Episode:
    """One finished episode of one env, every array ``(L, ...)`` (numpy).

    :param env: the env index in its vector.
    :param start: global vector-step index of the episode's first step.
    """

    env: int
    start: int
    obs: np.ndarray
    action: np.ndarray
    next_obs: np.ndarray
    env_reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    reward: np.ndarray
    components: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return int(self.reward.shape[0])


@dataclass
class Relabel:
    """New per-step rewards for steps ``start .. start+len(reward)-1`` (global vector-step indices) of env ``env``.

    On-policy agents have already applied the part inside the current rollout (the hooks write it there);
    off-policy agents apply the whole of it to the rows still in their replay buffer.
    """

    env: int
    start: int
    reward: np.ndarray
