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


def route_mujoco_warnings() -> None:
    """Send MuJoCo's C-level warnings to Python logging instead of stderr and MUJOCO_LOG.TXT.

    MuJoCo 4 warns that gymnasium's half_cheetah.xml uses the deprecated ``settotalmass``
    attribute on every load (and writes MUJOCO_LOG.TXT into the working directory). That one
    is logged at DEBUG; every other MuJoCo warning (instabilities, NaN in QACC, ...) at WARNING.
    """
    import logging

    try:
        import mujoco
    except ImportError:  # pragma: no cover - MuJoCo is a dependency, but stay importable without it
        return
    log = logging.getLogger("mujoco")

    def handler(msg: str) -> None:
        level = logging.DEBUG if "settotalmass" in msg else logging.WARNING
        log.log(level, msg.strip())

    mujoco.set_mju_user_warning(handler)
