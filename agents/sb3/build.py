"""Build the SB3 model an :class:`AgentSpec` describes (and its action noise)."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import ActionNoise, NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.vec_env import VecEnv, VecNormalize, unwrap_vec_normalize

from agents.sb3.algos import ALGO_CLASSES, check_action_space
from agents.sb3.spec import AgentSpec


def make_action_noise(noise: dict[str, Any], action_space: spaces.Space) -> ActionNoise:
    """``dict(type="normal"|"ornstein-uhlenbeck", std=...)`` -> an SB3 action-noise object."""
    if not isinstance(action_space, spaces.Box):
        raise ValueError(f"action noise needs a Box action space, got {action_space}")
    n_actions = int(np.prod(action_space.shape))
    mean, sigma = np.zeros(n_actions), float(noise["std"]) * np.ones(n_actions)
    if noise["type"] == "normal":
        return NormalActionNoise(mean=mean, sigma=sigma)
    return OrnsteinUhlenbeckActionNoise(mean=mean, sigma=sigma)


def make_model(
    spec: AgentSpec,
    venv: VecEnv,
    seed: int | None,
    device: str | torch.device = "auto",
    tensorboard_log: str | None = None,
    verbose: int = 0,
) -> BaseAlgorithm:
    """Build the SB3 model ``spec`` describes on ``venv``.

    When ``spec.normalize`` is set and ``venv`` has no VecNormalize yet, it is wrapped here,
    outermost, so normalisation sees the reward the lab's reward wrapper produced.
    ``device="auto"`` picks CUDA when available (SB3's ``get_device``).
    """
    check_action_space(spec.algo, venv.action_space)
    if venv.num_envs != spec.n_envs:
        warnings.warn(
            f"{spec.algo} preset ({spec.source}) was tuned with n_envs={spec.n_envs}, the env has {venv.num_envs}",
            stacklevel=2,
        )
    if spec.normalize and unwrap_vec_normalize(venv) is None:
        venv = VecNormalize(venv, **spec.normalize)
    kwargs = copy.deepcopy(spec.kwargs)
    if spec.action_noise is not None and "action_noise" not in kwargs:
        kwargs["action_noise"] = make_action_noise(spec.action_noise, venv.action_space)
    return ALGO_CLASSES[spec.algo](
        spec.policy, venv, seed=seed, device=device, tensorboard_log=tensorboard_log, verbose=verbose, **kwargs
    )
