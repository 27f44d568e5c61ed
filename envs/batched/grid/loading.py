"""minigrid env state as arrays, for loading into the batched gridworld (parity tests, replays)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np


def minigrid_state(env: gym.Env) -> dict[str, Any]:
    """A minigrid env's state as arrays: ``grid`` ``(W, H, 3)`` (``grid.encode()``), ``agent_pos``
    ``(2,)``, ``agent_dir``, ``carrying`` ``(3,)`` (zeros when nothing is carried), ``step_count``,
    ``max_steps``."""
    u: Any = env.unwrapped
    carrying = np.zeros(3, dtype=np.uint8) if u.carrying is None else np.array(u.carrying.encode(), dtype=np.uint8)
    return {
        "grid": u.grid.encode(),
        "agent_pos": np.array(u.agent_pos, dtype=np.int64),
        "agent_dir": int(u.agent_dir),
        "carrying": carrying,
        "step_count": int(u.step_count),
        "max_steps": int(u.max_steps),
    }


def stacked_states(envs: Sequence[gym.Env], max_steps: int) -> dict[str, np.ndarray]:
    """:func:`minigrid_state` of each env, stacked into ``BatchedGrid.load_state``'s arguments.

    :raises ValueError: an env whose ``max_steps`` is not ``max_steps`` (the batched env's limit).
    """
    return stack_states([minigrid_state(e) for e in envs], max_steps)


def stack_states(states: Sequence[dict[str, Any]], max_steps: int) -> dict[str, np.ndarray]:
    """:func:`minigrid_state` dicts stacked into ``BatchedGrid.load_state``'s arguments.

    :raises ValueError: a state whose ``max_steps`` is not ``max_steps`` (the batched env's limit).
    """
    for st in states:
        if st["max_steps"] != max_steps:
            raise ValueError(f"minigrid env has max_steps={st['max_steps']}, the batched env {max_steps}")
    return {
        "grid": np.stack([st["grid"] for st in states]),
        "agent_pos": np.stack([st["agent_pos"] for st in states]),
        "agent_dir": np.array([st["agent_dir"] for st in states]),
        "carrying": np.stack([st["carrying"] for st in states]),
        "step_count": np.array([st["step_count"] for st in states]),
    }
