"""``sac-native``'s replay buffer: torch on the agent's device, addressed by global vector step and env.

Preallocated as ``(capacity, n_envs, ...)`` and indexed by ``(global vector step mod capacity, env)``: that is
what lets the lab's episode relabels (:class:`~rewardlab.data.Relabel`, addressed by global vector step and env)
overwrite stored rewards.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rewardlab.data import Relabel


class ReplayBuffer:
    """Transitions in torch on ``device``, row ``t mod capacity`` holding global vector step ``t`` of every env.

    ``rewards`` are stored raw (as the reward source and its hooks gave them), actions in ``[-1, 1]``,
    ``dones`` are ``terminated`` only (a truncated step bootstraps).
    """

    def __init__(self, capacity: int, n: int, obs_dim: int, act_dim: int, device: torch.device) -> None:
        self.capacity, self.n = int(capacity), int(n)
        f32 = dict(dtype=torch.float32, device=device)
        self.obs = torch.zeros(self.capacity, n, obs_dim, **f32)
        self.next_obs = torch.zeros(self.capacity, n, obs_dim, **f32)
        self.actions = torch.zeros(self.capacity, n, act_dim, **f32)
        self.rewards = torch.zeros(self.capacity, n, **f32)
        self.dones = torch.zeros(self.capacity, n, **f32)
        self.device = device
        self.t = 0  # global vector step of the next row written
        self.lo = 0  # first global vector step stored (later ones may have been overwritten since)

    @property
    def oldest(self) -> int:
        """The oldest global vector step still in the buffer."""
        return max(self.lo, self.t - self.capacity)

    def __len__(self) -> int:
        return (self.t - self.oldest) * self.n

    def restart(self, t: int) -> None:
        """Continue at global vector step ``t`` (an empty buffer after a load without its contents)."""
        self.t = self.lo = int(t)

    def add(
        self, t0: int, obs: torch.Tensor, act: torch.Tensor, rew: torch.Tensor, nxt: torch.Tensor, done: Any
    ) -> None:
        """Rows ``(T, n, ...)`` for global vector steps ``t0 .. t0+T-1`` (which must follow the last ones)."""
        if t0 != self.t:
            raise RuntimeError(f"replay buffer: expected vector step {self.t}, got {t0}")
        T = obs.shape[0]
        rows = torch.arange(t0, t0 + T, device=self.device) % self.capacity
        self.obs[rows] = obs
        self.actions[rows] = act
        self.rewards[rows] = rew
        self.next_obs[rows] = nxt
        self.dones[rows] = done
        self.t += T

    def relabel(self, relabels: list[Relabel]) -> int:
        """Overwrite the stored rewards the relabels address that are still here; returns how many were written."""
        if not relabels:
            return 0
        steps = np.concatenate([np.arange(r.start, r.start + len(r.reward)) for r in relabels])
        envs = np.concatenate([np.full(len(r.reward), r.env) for r in relabels])
        vals = np.concatenate([np.asarray(r.reward, dtype=np.float32).reshape(-1) for r in relabels])
        keep = (steps >= self.oldest) & (steps < self.t)
        if not keep.any():
            return 0
        rows = torch.as_tensor(steps[keep] % self.capacity, device=self.device)
        cols = torch.as_tensor(envs[keep], device=self.device)
        self.rewards[rows, cols] = torch.as_tensor(vals[keep], device=self.device)
        return int(keep.sum())

    def sample(self, k: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        """``k`` transitions drawn uniformly: obs, action, reward, next obs, done."""
        i = torch.randint(len(self), (k,), device=self.device, generator=gen)
        rows = (self.oldest + torch.div(i, self.n, rounding_mode="floor")) % self.capacity
        cols = i % self.n
        return (
            self.obs[rows, cols],
            self.actions[rows, cols],
            self.rewards[rows, cols],
            self.next_obs[rows, cols],
            self.dones[rows, cols],
        )

    def state_dict(self) -> dict[str, Any]:
        """The stored rows in age order (not the empty capacity)."""
        rows = torch.arange(self.oldest, self.t, device=self.device) % self.capacity
        return {
            "t": self.t,
            "lo": self.oldest,
            **{k: getattr(self, k)[rows] for k in ("obs", "actions", "rewards", "next_obs", "dones")},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        lo, t = int(state["lo"]), int(state["t"])
        keep = min(t - lo, self.capacity)
        self.lo, self.t = t - keep, t
        if keep:
            rows = torch.arange(t - keep, t, device=self.device) % self.capacity
            for k in ("obs", "actions", "rewards", "next_obs", "dones"):
                getattr(self, k)[rows] = state[k][-keep:].to(self.device)
