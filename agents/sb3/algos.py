"""The SB3 algorithms the lab offers, the action spaces each can act in, the constructor arguments a preset or
override may set, and the preset keys the lab handles itself or cannot honour."""

from __future__ import annotations

import inspect
from functools import cache

from gymnasium import spaces
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm

AGENTS = ("ppo", "a2c", "dqn", "sac", "td3")

ALGO_CLASSES: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "a2c": A2C, "dqn": DQN, "sac": SAC, "td3": TD3}

# Action-space classes each agent can act in.
ACTION_SPACES: dict[str, tuple[type[spaces.Space], ...]] = {
    "ppo": (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
    "a2c": (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
    "dqn": (spaces.Discrete,),
    "sac": (spaces.Box,),
    "td3": (spaces.Box,),
}

# Preset keys that configure the run around the model rather than the SB3 constructor.
META_KEYS = ("n_envs", "n_timesteps", "policy", "normalize", "noise_type", "noise_std")

# Constructor arguments make_model sets itself.
RESERVED_KWARGS = ("self", "policy", "env", "tensorboard_log", "verbose", "seed", "device", "_init_setup_model")

SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf")

NOISE_TYPES = ("normal", "ornstein-uhlenbeck")

NORMALIZE_KEYS = ("norm_obs", "norm_reward", "clip_obs", "clip_reward", "gamma", "epsilon", "norm_obs_keys")

# rl-zoo3 keys the lab cannot honour, and why.
UNSUPPORTED_KEYS = {
    "env_wrapper": "the lab builds the env stack from the task registry (fitness and reward wrappers)",
    "vec_env_wrapper": "the lab builds the vector-env stack itself (reward wrapper, then normalisation)",
    "frame_stack": "the lab's tasks define their own observations",
    "callback": "the lab installs its own callbacks (metrics, fitness, checkpoints)",
    "env_kwargs": "env construction belongs to the task",
    "monitor_kwargs": "the lab records episodes itself",
    "replay_buffer_class": "the lab uses SB3's default buffers",
    "rollout_buffer_class": "the lab uses SB3's default buffers",
}


def check_algo(algo: str) -> str:
    name = str(algo).lower()
    if name not in AGENTS:
        raise ValueError(f"unknown agent {algo!r}; valid agents: {', '.join(AGENTS)}")
    return name


def check_action_space(algo: str, action_space: spaces.Space) -> None:
    """Raise ValueError when ``algo`` cannot act in ``action_space``, naming the agents that can."""
    algo = check_algo(algo)
    if isinstance(action_space, ACTION_SPACES[algo]):
        return
    kind = type(action_space).__name__
    fits = [a for a in AGENTS if isinstance(action_space, ACTION_SPACES[a])]
    needs = " or ".join(c.__name__ for c in ACTION_SPACES[algo])
    raise ValueError(
        f"{algo} needs a {needs} action space, got {action_space}; "
        f"agents that fit a {kind} action space: {', '.join(fits) or 'none'}"
    )


@cache
def constructor_keys(algo: str) -> tuple[str, ...]:
    """Keyword arguments of the SB3 class that a preset or override may set."""
    params = inspect.signature(ALGO_CLASSES[check_algo(algo)].__init__).parameters
    return tuple(p for p in params if p not in RESERVED_KWARGS)
