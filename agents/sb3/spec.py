"""The resolved agent configuration: a plain, JSON-serialisable value the run store saves next to every run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from agents.sb3.algos import check_algo
from agents.sb3.literals import render_value
from agents.sb3.overrides import coerce_value


@dataclass
class AgentSpec:
    """A resolved SB3 agent configuration.

    :param algo: one of :data:`AGENTS`.
    :param task_id: the task the preset was resolved for.
    :param n_envs: number of parallel envs the preset was tuned with.
    :param policy: SB3 policy alias (``"MlpPolicy"``...).
    :param kwargs: constructor kwargs, ready to pass to the SB3 class (schedules, classes and
        action-noise objects included).
    :param normalize: ``None`` or VecNormalize kwargs ``dict(norm_obs=, norm_reward=, gamma=)``.
    :param n_timesteps: the preset's training budget, or ``None`` (the task's budget then rules).
    :param source: where the preset came from, e.g. ``"rl-zoo3 ppo.yml[CartPole-v1]"``.
    :param overrides: the overrides applied on top of the preset.
    :param dropped: preset keys the lab cannot honour, with the reason.
    :param action_noise: ``None`` or ``dict(type=, std=)``; make_model builds the noise object
        from the env's action space when ``kwargs`` lacks one.
    """

    algo: str
    task_id: str
    n_envs: int
    policy: str
    kwargs: dict[str, Any]
    normalize: dict[str, Any] | None
    n_timesteps: int | None
    source: str
    overrides: dict[str, Any] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    action_noise: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        """The registry name (the agent protocol's ``AgentSpec.name``)."""
        return self.algo

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view: schedules become ``"lin_<v>"``, classes ``"nn.ReLU"``, noise its repr."""
        return {f.name: render_value(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentSpec:
        """Rebuild a spec saved with :meth:`to_dict` (the action-noise object is rebuilt by make_model)."""
        algo = check_algo(data["algo"])
        kwargs = {k: coerce_value(k, v) for k, v in dict(data.get("kwargs") or {}).items() if k != "action_noise"}
        overrides = {k: coerce_value(k, v) for k, v in dict(data.get("overrides") or {}).items()}
        return cls(
            algo=algo,
            task_id=data["task_id"],
            n_envs=int(data["n_envs"]),
            policy=data["policy"],
            kwargs=kwargs,
            normalize=data.get("normalize"),
            n_timesteps=data.get("n_timesteps"),
            source=data["source"],
            overrides=overrides,
            dropped=dict(data.get("dropped") or {}),
            action_noise=data.get("action_noise"),
        )
