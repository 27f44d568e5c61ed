"""The lab's own torch agents: vectorized PPO (``ppo-native``) and SAC (``sac-native``).

One package per algorithm (:mod:`agents.native.ppo`, :mod:`agents.native.sac`), CleanRL-clear, each
exposing the same four functions -- ``resolve``, ``build``, ``load``, ``describe`` -- which this
backend dispatches to by agent name. What both share lives beside them: :mod:`~agents.native.presets`
(typed configs, presets, overrides), :mod:`~agents.native.running` (running statistics) and
:mod:`~agents.native.base` (the env boundary, training scalars, the checkpoint layout). Both train on any gymnasium vector env (numpy or torch arrays)
through the lab's hooks (:class:`rewardlab.experiment.hooks.TrainHooks`).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rewardlab.experiment.agents import Agent, AgentBackend, AgentError, AgentSpec

if TYPE_CHECKING:
    import gymnasium as gym

    from envs.registry import Task

_MODULES = {"ppo-native": "agents.native.ppo", "sac-native": "agents.native.sac"}


def _module(name: str) -> Any:
    if name not in _MODULES:
        raise AgentError(f"agent {name!r} is not a native agent ({', '.join(_MODULES)})")
    try:
        return importlib.import_module(_MODULES[name])
    except ImportError as e:
        raise AgentError(f"agent {name!r}: {_MODULES[name]} cannot be imported ({e})") from e


class NativeBackend(AgentBackend):
    names = tuple(_MODULES)

    def resolve(self, name: str, task: Task, overrides: list[str], action_space: gym.Space) -> AgentSpec:
        return _module(name).resolve(name, task, overrides, action_space)

    def build(
        self, spec: AgentSpec, observation_space: gym.Space, action_space: gym.Space, seed: int, device: str
    ) -> Agent:
        return _module(spec.name).build(spec, observation_space, action_space, seed, device)

    def load(
        self, path: Path, spec: AgentSpec | None, observation_space: gym.Space, action_space: gym.Space, device: str
    ) -> Agent:
        import json

        name = spec.name if spec is not None else json.loads((Path(path) / "agent.json").read_text())["name"]
        return _module(name).load(Path(path), spec, observation_space, action_space, device)

    def describe(self, name: str) -> dict[str, Any]:
        return _module(name).describe(name)


BACKEND = NativeBackend()
