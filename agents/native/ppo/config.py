"""``ppo-native``'s config: every hyperparameter in :class:`PPOConfig`, and :func:`resolve` (preset + overrides)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces

from agents.native.presets import PRESET_DIR, NativeConfig, check_needs, resolve_config, tunable
from rewardlab.experiment.agents import AgentError

if TYPE_CHECKING:
    import gymnasium as gym

    from envs.registry import Task

PRESETS = PRESET_DIR / "ppo_native.yml"


@dataclass
class PPOConfig(NativeConfig):
    """Every hyperparameter of ``ppo-native`` (the agent protocol's spec).

    Steps are env transitions unless said otherwise; one rollout is ``n_steps`` vector steps of ``n_envs``
    envs (``n_steps * n_envs`` transitions), split into ``n_minibatches`` per epoch.
    """

    name: str = "ppo-native"
    task_id: str = ""
    n_envs: int = 16  # parallel envs per vector step
    n_timesteps: int | None = None  # the preset's budget; None: the task's budget rules
    source: str = ""  # where the preset came from, e.g. "ppo_native.yml:CartPole-v1"
    n_steps: int = 128  # vector steps per rollout (T)
    n_epochs: int = 4  # passes over each rollout
    n_minibatches: int = 4  # minibatches per epoch
    learning_rate: float = 3e-4
    anneal_lr: bool = False  # linear decay to 0 over the budget (learn()'s total_steps, counted from step 0)
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_coef: float = 0.2  # surrogate clipping epsilon
    clip_vloss: bool = True  # clip the value update around the old values (by clip_coef)
    vf_coef: float = 0.5
    ent_coef: float = 0.0
    max_grad_norm: float = 0.5
    norm_adv: bool = True  # normalise advantages per minibatch
    target_kl: float | None = None  # stop the epochs early when the approximate KL exceeds it
    hidden: tuple[int, ...] = (64, 64)  # hidden layer widths of actor and critic (tanh)
    # "mlp": the MLPs read the flat observation. "cnn:WxHxC": its first W*H*C features are an image laid out
    # [x, y, channel] (MiniGrid's egocentric view: "cnn:7x7x3"), read by a small CNN before the MLP; the rest
    # of the observation joins after the CNN
    encoder: str = "mlp"
    log_std_init: float = 0.0  # Box actions: initial log-std of the Gaussian
    norm_obs: bool = False  # running mean/var observation normalisation
    clip_obs: float = 10.0
    norm_reward: bool = False  # divide rewards by the running std of the discounted return
    clip_reward: float = 10.0
    log_interval: int = 10_000  # transitions between training scalars in TensorBoard
    overrides: dict[str, Any] = field(default_factory=dict)  # the key=value overrides applied


def image_shape(encoder: str) -> tuple[int, int, int] | None:
    """``cnn:WxHxC`` -> ``(W, H, C)``; ``mlp`` -> None. :raises ValueError: anything else."""
    if encoder == "mlp":
        return None
    kind, _, dims = encoder.partition(":")
    parts = dims.split("x")
    if kind != "cnn" or len(parts) != 3 or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise ValueError(f"encoder must be mlp or cnn:WxHxC (e.g. cnn:7x7x3), got {encoder!r}")
    w, h, c = (int(p) for p in parts)
    return w, h, c


def valid_encoder(encoder: str) -> bool:
    try:
        image_shape(encoder)
    except ValueError:
        return False
    return True


# Fields a preset or override may set (the rest is bookkeeping).
TUNABLE = tunable(PPOConfig)


def _check(cfg: PPOConfig) -> PPOConfig:
    broken = {  # need -> broken
        "n_envs >= 1": cfg.n_envs < 1,
        "n_steps >= 1": cfg.n_steps < 1,
        "n_epochs >= 1": cfg.n_epochs < 1,
        "1 <= n_minibatches <= n_envs * n_steps": not 1 <= cfg.n_minibatches <= cfg.n_envs * cfg.n_steps,
        "learning_rate > 0": not cfg.learning_rate > 0,
        "0 <= gamma <= 1": not 0.0 <= cfg.gamma <= 1.0,
        "0 <= gae_lambda <= 1": not 0.0 <= cfg.gae_lambda <= 1.0,
        "clip_coef > 0": not cfg.clip_coef > 0,
        "max_grad_norm > 0": not cfg.max_grad_norm > 0,
        "target_kl > 0 (or none)": cfg.target_kl is not None and not cfg.target_kl > 0,
        "clip_obs, clip_reward > 0": not (cfg.clip_obs > 0 and cfg.clip_reward > 0),
        "n_timesteps >= 1 (or null)": cfg.n_timesteps is not None and cfg.n_timesteps < 1,
        "encoder = mlp or cnn:WxHxC (e.g. cnn:7x7x3)": not valid_encoder(cfg.encoder),
    }
    return check_needs("ppo-native", cfg, broken)


def resolve(name: str, task: Task, overrides: list[str], action_space: gym.Space) -> PPOConfig:
    """The preset for ``task`` (by task id, then family, then default) with ``key=value`` overrides."""
    if not isinstance(action_space, (spaces.Discrete, spaces.Box)):
        raise AgentError(
            f"{name} acts in Discrete and Box action spaces; task {task.id} has {type(action_space).__name__}"
        )
    if isinstance(action_space, spaces.Box) and not (
        np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))
    ):
        raise AgentError(f"{name} clips actions to the bounds; task {task.id} has an unbounded Box action space")
    return _check(resolve_config(PPOConfig, "ppo-native", PRESETS, name, task, overrides))
