"""Composition of reward sources: weighted sums, scaling, clipping, running
normalisation and potential-based shaping. Every combinator is itself a RewardSource."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from envs.state_view import StateView
from rewardlab.rewards.base import RewardError, RewardSource, RewardTerms, TransitionBatch, is_torch


class WeightedSum(RewardSource):
    """``sum_i w_i * r_i``. Components are prefixed with their source name (``hand.height``)."""

    def __init__(self, terms: Sequence[tuple[float, RewardSource]]) -> None:
        if not terms:
            raise ValueError("WeightedSum needs at least one source")
        flat: list[tuple[float, RewardSource]] = []
        for w, s in terms:  # flatten nested sums and scales so names stay short
            while isinstance(s, Scale):
                w, s = w * s.c, s.source
            if isinstance(s, WeightedSum):
                flat.extend((w * w2, s2) for w2, s2 in s.terms)
            else:
                flat.append((float(w), s))
        self.terms = flat
        self.name = "+".join(_fmt(w, s.name) for w, s in flat).replace("+-", "-")
        self.needs_state = any(s.needs_state for _, s in flat)

    def children(self) -> list[RewardSource]:
        return [s for _, s in self.terms]

    def compute(self, batch: TransitionBatch) -> RewardTerms:
        total = None
        comps: dict[str, Any] = {}
        for i, (w, s) in enumerate(self.terms):
            t = s.compute(batch)
            part = t.total * w if w != 1.0 else t.total
            total = part if total is None else total + part
            prefix = s.name if sum(1 for _, o in self.terms if o.name == s.name) == 1 else f"{s.name}{i}"
            for k, v in t.components.items():
                key = k if k.startswith(prefix + ".") or k == prefix else f"{prefix}.{k}"
                comps[key] = v * w if w != 1.0 else v
        return RewardTerms(total, comps)

    def on_rollout(self, rollout: Any) -> RewardTerms | None:
        total = None
        comps: dict[str, Any] = {}
        for w, s in self.terms:
            if not s.wants_rollout() or (t := s.on_rollout(rollout)) is None:
                continue
            part = t.total * w if w != 1.0 else t.total
            total = part if total is None else total + part
            comps.update({k: v * w if w != 1.0 else v for k, v in t.components.items()})
        return None if total is None else RewardTerms(total, comps)

    def describe(self) -> str:
        return " + ".join(f"{w:g} * ({s.describe()})" for w, s in self.terms)


def _fmt(w: float, name: str) -> str:
    return name if w == 1.0 else f"{w:g}*{name}"


class Scale(RewardSource):
    """``c * r``; components are scaled too."""

    def __init__(self, source: RewardSource, c: float) -> None:
        self.source, self.c = source, float(c)
        self.name = f"{self.c:g}*{source.name}"
        self.needs_state = source.needs_state

    def children(self) -> list[RewardSource]:
        return [self.source]

    def compute(self, batch: TransitionBatch) -> RewardTerms:
        t = self.source.compute(batch)
        return RewardTerms(t.total * self.c, {k: v * self.c for k, v in t.components.items()})

    def on_rollout(self, rollout: Any) -> RewardTerms | None:
        t = self.source.on_rollout(rollout) if self.source.wants_rollout() else None
        return None if t is None else RewardTerms(t.total * self.c, {k: v * self.c for k, v in t.components.items()})


class Clip(RewardSource):
    """Clip the total to ``[low, high]``; components are reported unclipped."""

    def __init__(self, source: RewardSource, low: float, high: float) -> None:
        if low > high:
            raise ValueError(f"clip: low {low} > high {high}")
        self.source, self.low, self.high = source, float(low), float(high)
        self.name = f"clip({source.name},{low:g},{high:g})"
        self.needs_state = source.needs_state

    def children(self) -> list[RewardSource]:
        return [self.source]

    def compute(self, batch: TransitionBatch) -> RewardTerms:
        t = self.source.compute(batch)
        total = t.total.clamp(self.low, self.high) if is_torch(t.total) else np.clip(t.total, self.low, self.high)
        return RewardTerms(total, t.components)


class RunningNorm(RewardSource):
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
        self.source, self.mode, self.gamma, self.clip, self.eps = source, mode, gamma, clip, eps
        self.name = f"norm({source.name},{mode})"
        self.needs_state = source.needs_state
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4
        self._ret: np.ndarray | None = None

    def children(self) -> list[RewardSource]:
        return [self.source]

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
        torch_in = is_torch(t.total)
        r = t.total.detach().cpu().numpy() if torch_in else np.asarray(t.total, dtype=np.float64)
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
        if torch_in:
            import torch

            out = torch.as_tensor(out, dtype=t.total.dtype, device=t.total.device)
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
            phi_next = phi_next * (~term.bool()).to(phi_next.dtype)
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
    from rewardlab.rewards.base import _all_finite

    if not _all_finite(terms.total):
        raise RewardError(f"reward {source!r} produced NaN or inf")
