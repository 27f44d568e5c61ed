"""Small single-env wrappers used by task factories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym


class ZeroEnvReward(gym.RewardWrapper, gym.utils.RecordConstructorArgs):
    """New-behaviour tasks have no built-in reward: the env reward is always 0."""

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.RewardWrapper.__init__(self, env)

    def reward(self, reward: Any) -> float:
        return 0.0


class InfoFields(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Adds privileged state fields to ``info`` on reset and on every step.

    :param fields: ``env.unwrapped -> dict[str, float]``, called after reset and each step.
    """

    def __init__(self, env: gym.Env, fields: Callable[[Any], dict[str, Any]]) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, fields=fields)
        gym.Wrapper.__init__(self, env)
        self._fields = fields

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        info.update(self._fields(self.env.unwrapped))
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info.update(self._fields(self.env.unwrapped))
        return obs, reward, terminated, truncated, info
