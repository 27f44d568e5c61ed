"""What defines a run, and the resolved record of it that the run directory keeps as ``config.json``.

:class:`RunConfig` is the plain, serialisable run spec. :func:`resolved_config` is what a run saves: the spec,
the budget, what the reward spec resolved to with the settings it does not show (:meth:`RewardSource.config`,
e.g. an LLM reward's sandbox mode and call timeout), the agent preset, library versions and the machine.
:func:`config_differences` says why an unfinished run cannot be resumed with another config.
"""

from __future__ import annotations

import importlib
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rewardlab.rewards.base import RewardSource


@dataclass
class RunConfig:
    """Everything that defines a run. Saved, resolved, as ``config.json``.

    :param task: task id (``rewardlab tasks``).
    :param reward: reward spec (``sparse``, ``hand``, ``env``, ``file.py:fn``, ``sparse+0.1*hand``...).
    :param agent: a registered agent (``rewardlab agents``): ``ppo``, ``a2c``, ``dqn``, ``sac``, ``td3``
        (stable-baselines3), ``ppo-native``, ``sac-native`` (the lab's torch agents)...
    :param steps: env steps to train (``None``: the task's default budget for the agent).
    :param seed: training seed; evaluation uses separate seeds derived from it.
    :param hp: hyperparameter overrides as ``key=value`` strings.
    :param n_eval_episodes: final deterministic evaluation episodes.
    :param eval_every: evaluate every this many steps (0: five times over the run; -1: never).
    :param eval_episodes: episodes per periodic evaluation.
    :param checkpoint_every: steps between checkpoints (0: ten per run).
    :param device: torch device for the agent (``auto`` picks CUDA when present).
    :param torch_threads: torch CPU threads (1 is fastest for small MLPs and is deterministic).
    :param spec_hash: hash of the experiment spec this run belongs to (set by experiment grids).
    :param vec: ``gym`` (SyncVectorEnv), ``batched`` (the lab's numpy batched env) or ``torch``
        (torch batched env on ``device``); the batched ones exist for the tasks in ``envs.batched.BATCHED_TASKS``.
    :param simulator: the physics of a batched MuJoCo env (``vec`` batched or torch): ``auto`` (``mujoco.batch``,
        or one ``MjData`` per thread where the task needs it: bit-identical to gymnasium), ``batch``, ``data``, or
        ``warp`` / ``warp:<device>`` (MuJoCo Warp, the optional ``warp`` extra: float32 and its own solver, not
        bit-identical; docs/mujoco_warp.md).
    """

    task: str
    reward: str = "env"
    agent: str = "ppo"
    steps: int | None = None
    seed: int = 0
    experiment: str = "default"
    run_id: str | None = None
    hp: list[str] = field(default_factory=list)
    n_eval_episodes: int = 10
    eval_every: int = 0
    eval_episodes: int = 5
    checkpoint_every: int = 0
    device: str = "auto"
    torch_threads: int = 1
    spec_hash: str | None = None
    vec: str = "gym"
    simulator: str = "auto"

    def default_run_id(self) -> str:
        reward = "".join(c if c.isalnum() or c in "._+-" else "_" for c in Path(self.reward).name)
        task = self.task.replace("/", "_")
        return f"{task}__{reward}__{self.agent}__s{self.seed}"


def versions() -> dict[str, str]:
    """Versions of Python and the libraries a run's result depends on."""
    out = {"python": platform.python_version()}
    for mod in ("numpy", "torch", "gymnasium", "stable_baselines3", "mujoco", "minigrid"):
        try:
            out[mod] = importlib.import_module(mod).__version__
        except Exception:  # pragma: no cover - optional
            pass
    return out


def resolved_config(cfg: RunConfig, spec: Any, steps: int, source: RewardSource) -> dict[str, Any]:
    """The ``config.json`` of a run: ``run`` (the spec), ``steps`` (the budget), ``reward`` (what the spec
    resolved to, with the settings the spec does not show), ``agent`` (the resolved preset), ``versions``
    and ``machine``."""
    return {
        "run": asdict(cfg),
        "steps": steps,
        "reward": {"spec": cfg.reward, "name": source.name, "settings": source.config()},
        "agent": spec.to_dict(),
        "versions": versions(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }


#: what must agree for an unfinished run to be resumed
IDENTITY = ("task", "reward", "agent", "seed", "steps", "hp", "vec", "simulator", "reward_settings")


def identity(d: dict[str, Any]) -> dict[str, Any]:
    """The :data:`IDENTITY` fields of a ``config.json`` (as read back, see :func:`~rewardlab.experiment.store.as_saved`)."""
    c = d["run"]
    return {
        "task": c["task"],
        "reward": c["reward"],
        "agent": c["agent"],
        "seed": c["seed"],
        "steps": d["steps"],
        "hp": list(c.get("hp", [])),
        "vec": c.get("vec", "gym"),
        "simulator": c.get("simulator", "auto"),
        # None: a config.json written before reward settings were recorded (nothing to compare)
        "reward_settings": d.get("reward", {}).get("settings"),
    }


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``"field: X there, Y asked"`` for every :data:`IDENTITY` field in which two ``config.json`` differ."""
    a, b = identity(old), identity(new)
    return [
        f"{k}: {a[k]!r} there, {b[k]!r} asked"
        for k in IDENTITY
        if a[k] != b[k] and not (k == "reward_settings" and a[k] is None)
    ]
