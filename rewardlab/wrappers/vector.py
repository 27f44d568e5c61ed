"""Apply any RewardSource to a gymnasium vector env (any autoreset mode) or a single env.

The agent sees the source's total; ``info`` keeps the env's own reward (``env_reward``),
the per-step fitness value (``fitness_step``) and every component (``reward_components``).
Finished episodes (fitness, success, returns, component sums) are queued on
``wrapper.accountant`` for callbacks to drain.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from envs.registry import Task
from rewardlab.data.rollout import true_next_obs
from rewardlab.rewards.base import RewardSource
from rewardlab.wrappers.accounting import RewardAccountant, TorchRewardAccountant


class RewardVectorWrapper(VectorWrapper):
    """Replaces a gymnasium vector env's reward with ``source``.

    Accepts gymnasium's vector envs (numpy) and the lab's batched envs
    (:func:`envs.batched.make_batched`, numpy or torch). With a torch env every array stays a
    tensor on the env's device -- observations, rewards, components, fitness and the episode
    accounting (:class:`~rewardlab.wrappers.accounting.TorchRewardAccountant`) -- and
    :meth:`step` does no host round trip; finished episodes reach the host in batches (see
    ``accountant.drain_every``).

    Next-observation semantics per autoreset mode:

    * ``NEXT_STEP`` (gymnasium's default): the obs returned on a done step is the terminal
      obs; the following step is a reset pseudo-step whose reward is discarded (0) and which
      does not count towards any episode.
    * ``SAME_STEP``: the returned obs on a done step is the next episode's first obs; the
      true terminal obs is read from ``info["final_obs"]`` (an object array of rows, or the
      batched envs' full ``(n, obs_dim)`` array; :func:`rewardlab.data.rollout.true_next_obs`)
      and declared info fields from ``info["final_info"]``.
    * ``DISABLED``: like SAME_STEP without final obs; the caller resets done envs.

    :param drain_every: torch envs only: vector steps between copies of finished episodes to
        the host (default: 1 on a CPU device, 32 on an accelerator).
    """

    def __init__(
        self, env: VectorEnv, source: RewardSource, task: Task | None = None, drain_every: int | None = None
    ) -> None:
        super().__init__(env)
        if not isinstance(env.single_observation_space, gym.spaces.Box):
            raise TypeError(
                f"RewardVectorWrapper supports Box observations, got {type(env.single_observation_space).__name__}; "
                "flatten the observation first"
            )
        self.source, self.task = source, task
        self.mode = AutoresetMode(env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP))
        base: Any = env.unwrapped  # a torch batched env (``backend == "torch"``) has a ``device``
        self.torch = getattr(base, "backend", None) == "torch"
        self.accountant: RewardAccountant
        if self.torch:
            self.accountant = TorchRewardAccountant(source, task, env.num_envs, base.device, drain_every)
        else:
            if drain_every is not None:
                raise ValueError("drain_every is for torch envs; the numpy accountant hands over episodes at once")
            self.accountant = RewardAccountant(source, task, env.num_envs)
        self._obs: Any = None
        self._info: dict[str, Any] = {}
        self._pending = np.zeros(env.num_envs, dtype=bool)

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._obs = obs
        self._info = self.accountant.pick_info(info)
        self._pending[:] = False
        self.accountant.reset_envs(np.arange(self.num_envs))
        return obs, info

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        obs, env_reward, terminated, truncated, info = self.env.step(actions)
        acc = self.accountant
        next_obs, next_info = obs, acc.pick_info(info)
        valid = None
        done = terminated | truncated
        if self.mode == AutoresetMode.SAME_STEP:
            if self.torch:
                next_obs = _torch_next_obs(obs, info, done)
                if next_info and "final_info" in info:
                    final_info = info["final_info"]
                    next_info = {k: _torch_merge(v, final_info.get(k), done) for k, v in next_info.items()}
            else:
                final = info.get("final_obs")
                if type(final) is np.ndarray and final.dtype != object and final.shape == obs.shape:
                    # the batched envs' full final_obs already is the true next obs (rows of envs that did
                    # not finish equal obs): what true_next_obs would build, without a copy
                    next_obs = final if done.any() else obs
                else:
                    next_obs = true_next_obs(obs, info, done, self.mode)
                if next_info and next_obs is not obs:
                    idx = np.flatnonzero(done)
                    final_info = info.get("final_info", {})
                    next_info = {k: _merge(v, final_info.get(k), idx) for k, v in next_info.items()}
        elif self.mode == AutoresetMode.NEXT_STEP and self._pending.any():
            valid = ~self._pending
        reward = acc.process(
            self._obs, actions, next_obs, env_reward, terminated, truncated, next_info, self._info, valid
        )
        if self.mode == AutoresetMode.NEXT_STEP:
            self._pending = done.copy()
            if valid is not None:  # pseudo-steps restart their episode counters
                acc.step_count[~valid] = 0
        self._obs = obs
        self._info = acc.pick_info(info) if self.mode == AutoresetMode.SAME_STEP else next_info
        info["env_reward"] = env_reward
        info["reward_components"] = acc.last_components
        if acc.last_fitness_step is not None:
            info["fitness_step"] = acc.last_fitness_step
        return obs, reward, terminated, truncated, info

    def close(self, **kwargs: Any) -> None:
        try:
            super().close(**kwargs)
        finally:
            self.source.close()


def _torch_next_obs(obs: Any, info: Any, done: Any) -> Any:
    """:func:`true_next_obs` for tensors, without its ``bool(done.any())`` early exit (a host sync)."""
    final = info.get("final_obs")
    if final is None:
        return obs
    import torch

    return torch.where(done.reshape(done.shape + (1,) * (obs.dim() - 1)), final, obs)


def _torch_merge(current: Any, final: Any, done: Any) -> Any:
    if final is None:
        return current
    import torch

    return torch.where(done.reshape(done.shape + (1,) * (current.dim() - 1)), final, current)


def _merge(current: Any, final: Any, idx: np.ndarray) -> Any:
    if final is None:
        return current
    out = np.array(current, copy=True)
    out[idx] = np.asarray(final)[idx]
    return out


class RewardEnvWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """The same for a single gymnasium env (a batch of one). For checkers and debugging;
    training goes through :class:`RewardVectorWrapper`."""

    def __init__(self, env: gym.Env, source: RewardSource, task: Task | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, source=source, task=task)
        gym.Wrapper.__init__(self, env)
        self.source, self.task = source, task
        self.accountant = RewardAccountant(source, task, 1)
        self._obs: Any = None
        self._info: dict[str, Any] = {}

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._obs = obs
        self._info = {k: np.asarray([v]) for k, v in self.accountant.pick_info(info).items()}
        self.accountant.reset_envs(np.arange(1))
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, r, term, trunc, info = self.env.step(action)
        next_info = {k: np.asarray([v]) for k, v in self.accountant.pick_info(info).items()}
        reward = self.accountant.process(
            np.asarray(self._obs)[None],
            np.asarray(action)[None],
            np.asarray(obs)[None],
            np.asarray([r], dtype=np.float64),
            np.asarray([term]),
            np.asarray([trunc]),
            next_info,
            self._info,
        )
        self._obs, self._info = obs, next_info
        info = dict(info)
        info["env_reward"] = r
        info["reward_components"] = {k: float(np.asarray(v)[0]) for k, v in self.accountant.last_components.items()}
        return obs, float(reward[0]), term, trunc, info

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.source.close()
