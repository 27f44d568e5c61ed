"""Composition of reward sources: weighted sums, scaling, clipping, running
normalisation and potential-based shaping. Every combinator is itself a RewardSource.

``WeightedSum`` and ``Scale`` are what ``a + b``, ``a - b`` and ``c * a`` build, so they live beside
:class:`~rewardlab.rewards.base.RewardSource` in :mod:`rewardlab.rewards.base`; they are re-exported here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from envs.state_view import StateView
from rewardlab.rewards.base import (
    RewardError,
    RewardSource,
    RewardTerms,
    Scale,
    SourceWrapper,
    TransitionBatch,
    WeightedSum,
    all_finite,
    is_torch,
)


class Clip(SourceWrapper):
    """Clip the total to ``[low, high]``; components are reported unclipped."""

    def __init__(self, source: RewardSource, low: float, high: float) -> None:
        if low > high:
            raise ValueError(f"clip: low {low} > high {high}")
        super().__init__(source, f"clip({source.name},{low:g},{high:g})")
        self.low, self.high = float(low), float(high)

    def compute(self, batch: TransitionBatch) -> RewardTerms:
        t = self.source.compute(batch)
        total = t.total.clamp(self.low, self.high) if is_torch(t.total) else np.clip(t.total, self.low, self.high)
        return RewardTerms(total, t.components)


class RunningNorm(SourceWrapper):
    """Running normalisation of a reward with explicit modes.

    * ``mode="return"`` (as SB3's VecNormalize): divide by the running std of the
      discounted return ``G_t = gamma * G_{t-1} + r_t``; ``G`` restarts at every episode
      boundary (terminated **or** truncated), per env. No centring, so signs survive.
    * ``mode="reward"``: standardise by the running mean and std of per-step rewards.

    Statistics update only in training mode and only over ``batch.valid`` envs.
    Components are reported raw (before normalisation), so reflection stays interpretable.
    """

    def __init__(
        self,
        source: RewardSource,
        mode: str = "return",
        gamma: float = 0.99,
        clip: float | None = 10.0,
        eps: float = 1e-8,
    ) -> None:
        if mode not in ("return", "reward"):
            raise ValueError(f"norm mode must be 'return' or 'reward', got {mode!r}")
        super().__init__(source, f"norm({source.name},{mode})")
        self.mode, self.gamma, self.clip, self.eps = mode, gamma, clip, eps
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4
        self._ret: np.ndarray | None = None

    def _update(self, x: np.ndarray) -> None:
        # Chan et al. parallel variance update over a batch.
        if x.size == 0:
            return
        b_mean, b_var, b_n = float(x.mean()), float(x.var()), x.size
        delta, tot = b_mean - self.mean, self.count + b_n
        self.mean += delta * b_n / tot
        m2 = self.var * self.count + b_var * b_n + delta**2 * self.count * b_n / tot
        self.var, self.count = m2 / tot, tot

    def compute(self, batch: TransitionBatch) -> RewardTerms:
        t = self.source.compute(batch)
        total = t.total
        r = total.detach().cpu().numpy() if is_torch(total) else np.asarray(total, dtype=np.float64)
        valid = np.ones(r.shape, bool) if batch.valid is None else _np(batch.valid)
        if self.mode == "return":
            if self._ret is None or self._ret.shape != r.shape:
                self._ret = np.zeros_like(r)
            self._ret = np.where(valid, self._ret * self.gamma + r, self._ret)
            if self.training:
                self._update(self._ret[valid])
            self._ret[_np(batch.done) & valid] = 0.0
            out = r / np.sqrt(self.var + self.eps)
        else:
            if self.training:
                self._update(r[valid])
            out = (r - self.mean) / np.sqrt(self.var + self.eps)
        if self.clip is not None:
            out = np.clip(out, -self.clip, self.clip)
        if is_torch(total):
            import torch

            return RewardTerms(torch.as_tensor(out, dtype=total.dtype, device=total.device), t.components)
        return RewardTerms(out, t.components)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "var": self.var, "count": self.count, "inner": self.source.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.mean, self.var, self.count = float(state["mean"]), float(state["var"]), float(state["count"])
        self.source.load_state_dict(state.get("inner", {}))


def _np(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if is_torch(x) else np.asarray(x)


class PotentialShaping(RewardSource):
    """Potential-based shaping (Ng, Harada & Russell 1999): ``r + gamma * phi(s') - phi(s)``.

    ``phi(s') = 0`` on terminated steps (the terminal state has no future); on truncated
    steps ``s'`` is a real non-terminal state and keeps its potential. With these rules the
    optimal policies of the base reward are unchanged.

    :param potential: state view -> ``(n,)``; called on ``batch.state`` and ``batch.state.prev``.
    :param base: the reward being shaped (``None`` for the shaping term alone).
    """

    def __init__(
        self,
        potential: Callable[[StateView], Any],
        gamma: float = 0.99,
        base: RewardSource | None = None,
        name: str = "potential",
        description: str = "",
    ) -> None:
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        self.potential, self.gamma, self.base = potential, float(gamma), base
        self.name = name
        self.description = description

    def children(self) -> list[RewardSource]:
        return [self.base] if self.base is not None else []

    def compute(self, batch: TransitionBatch) -> RewardTerms:
        s = batch.state
        if s is None or s.prev is None:
            raise RewardError(f"reward {self.name!r}: potential shaping needs the state view of s and s'")
        phi_next = self.potential(s)
        phi_prev = self.potential(s.prev)
        term = batch.terminated
        if is_torch(phi_next):
            import torch

            phi_next = phi_next * (~torch.as_tensor(term, device=phi_next.device).bool()).to(phi_next.dtype)
        else:
            phi_next = np.where(term, 0.0, phi_next)
        shaping = self.gamma * phi_next - phi_prev
        if self.base is None:
            return RewardTerms(shaping, {"shaping": shaping})
        t = self.base.compute(batch)
        comps = {**t.components, "shaping": shaping}
        return RewardTerms(t.total + shaping, comps)

    def describe(self) -> str:
        base = self.base.describe() if self.base is not None else "0"
        return f"{self.name}: ({base}) + {self.gamma:g}*phi(s') - phi(s); {self.description}".rstrip("; ")


def require_finite(terms: RewardTerms, source: str) -> None:
    if not all_finite(terms.total):
        raise RewardError(f"reward {source!r} produced NaN or inf")


__all__ = ["Clip", "PotentialShaping", "RunningNorm", "Scale", "WeightedSum", "require_finite"]
