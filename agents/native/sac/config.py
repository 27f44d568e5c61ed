"""``sac-native``'s config: every hyperparameter in :class:`SACConfig`, and :func:`resolve` (preset + overrides)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces

from agents.native.presets import NULLS, PRESET_DIR, NativeConfig, check_needs, resolve_config, tunable
from rewardlab.experiment.agents import AgentError

if TYPE_CHECKING:
    import gymnasium as gym

    from envs.registry import Task

PRESETS = PRESET_DIR / "sac_native.yml"


@dataclass
class SACConfig(NativeConfig):
    """Every hyperparameter of ``sac-native`` (the agent protocol's spec).

    Steps are env transitions unless said otherwise (one vector step = ``n_envs`` transitions).
    """

    name: str = "sac-native"
    task_id: str = ""
    n_envs: int = 16  # parallel envs per vector step
    n_timesteps: int | None = None  # the preset's budget; None: the task's budget rules
    source: str = ""  # where the preset came from, e.g. "sac_native.yml:Pendulum-v1"
    buffer_size: int = 1_000_000  # replay capacity in transitions (rounded down to whole vector steps)
    learning_starts: int = 5_000  # transitions of uniform random actions before learning starts
    batch_size: int = 256  # transitions per gradient step
    train_freq: int = 1  # vector steps collected between bursts of gradient steps
    utd: float = 0.25  # gradient steps per env transition (update-to-data ratio)
    gamma: float = 0.99
    tau: float = 0.005  # Polyak rate of the target critics
    actor_lr: float = 3e-4
    critic_lr: float = 1e-3
    alpha_lr: float = 3e-4
    hidden: tuple[int, ...] = (256, 256)  # hidden layer widths of actor and critics
    autotune: bool = True  # tune alpha towards target_entropy
    alpha: float = 1.0  # initial entropy coefficient (the fixed one when autotune is false)
    target_entropy: float | None = None  # None: -|A|
    policy_delay: int = 1  # gradient steps per actor/alpha update
    norm_obs: bool = False  # running mean/var observation normalisation
    clip_obs: float = 10.0  # normalised observations are clipped to +-clip_obs
    reward_scale: float = 1.0  # rewards are multiplied by this when sampled
    bf16: bool = False  # bfloat16 autocast for the hidden layers (AMX/tensor cores); heads and losses stay fp32
    compile: bool = False  # torch.compile the gradient step (measured slower on CPU: graph breaks at backward)
    save_buffer: bool = False  # write the replay buffer into checkpoints (exact resume; large files)
    log_interval: int = 10_000  # transitions between training scalars in TensorBoard
    overrides: dict[str, Any] = field(default_factory=dict)  # the key=value overrides applied


def _check(cfg: SACConfig) -> SACConfig:
    broken = {  # need -> broken
        "n_envs >= 1": cfg.n_envs < 1,
        "batch_size >= 1": cfg.batch_size < 1,
        "train_freq >= 1": cfg.train_freq < 1,
        "buffer_size >= n_envs * train_freq": cfg.buffer_size < cfg.n_envs * cfg.train_freq,
        "utd > 0": not cfg.utd > 0,
        "0 < tau <= 1": not 0.0 < cfg.tau <= 1.0,
        "0 <= gamma <= 1": not 0.0 <= cfg.gamma <= 1.0,
        "policy_delay >= 1": cfg.policy_delay < 1,
        "alpha > 0": not cfg.alpha > 0,
        "learning_starts >= 0": cfg.learning_starts < 0,
        "learning rates > 0": min(cfg.actor_lr, cfg.critic_lr, cfg.alpha_lr) <= 0,
    }
    return check_needs("sac-native", cfg, broken)


# Fields a preset or override may set (the rest is bookkeeping).
TUNABLE = tunable(SACConfig)


def resolve(name: str, task: Task, overrides: list[str], action_space: gym.Space) -> SACConfig:
    """The preset for ``task`` (by task id, then family, then default) with ``key=value`` overrides."""
    if not isinstance(action_space, spaces.Box):
        raise AgentError(
            f"{name} acts in continuous (Box) action spaces only; task {task.id} has {type(action_space).__name__}"
            " (use ppo-native, ppo or dqn)"
        )
    if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
        raise AgentError(f"{name} needs a bounded Box action space; task {task.id} has infinite bounds")
    return _check(resolve_config(SACConfig, "sac-native", PRESETS, name, task, overrides, (*NULLS, "auto")))
