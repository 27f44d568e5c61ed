"""The agent protocol and the registry of agents by name.

The runner, grids, search, evaluation and video reach every learner through :class:`Agent` and
:func:`get_backend`, so ``rewardlab`` never imports a learning library. A backend (stable-baselines3 in
``agents.sb3``, the native torch agents in ``agents.native``) registers the names it serves::

    AGENT_BACKENDS = {"ppo": "agents.sb3:BACKEND", "ppo-native": "agents.native:BACKEND", ...}

and third-party backends add theirs with :func:`register_agent`. Importing a backend happens only when
one of its names is used.
"""

from __future__ import annotations

import abc
import difflib
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import gymnasium as gym

    from envs.registry import Task
    from rewardlab.experiment.hooks import TrainHooks


class AgentError(ValueError):
    """Bad agent input: an unknown name, an agent that cannot act in the task's action space, a bad override."""


class AgentSpec(Protocol):
    """A resolved agent configuration (preset + overrides), saved in ``config.json`` as ``to_dict()``."""

    name: str  # the registry name, e.g. ``ppo`` or ``ppo-native``
    n_envs: int  # parallel envs the agent trains on
    n_timesteps: int | None  # the preset's budget, or None (the task's budget rules)
    source: str  # where the preset came from

    def to_dict(self) -> dict[str, Any]: ...


class Agent(abc.ABC):
    """A learner behind the lab's training contract.

    ``num_steps`` counts env transitions taken (``n_envs`` per vector step) across resumes.
    """

    spec: AgentSpec
    num_steps: int = 0

    @abc.abstractmethod
    def learn(self, venv: gym.vector.VectorEnv, total_steps: int, hooks: TrainHooks) -> None:
        """Train on ``venv`` until ``num_steps >= total_steps``, stopping at the first vector step that reaches it.

        The agent calls ``hooks.step(num_steps)`` after every vector step, and ``hooks.rollout(rollout)`` on every
        collected rollout *before* it computes returns or advantages (when ``hooks.wants_rollout``), and applies
        the relabels it returns (off-policy: to the replay buffer). It resets ``venv`` itself, seeded with
        ``hooks.seed`` on the first call (``seed + i`` for env ``i``).
        """

    @abc.abstractmethod
    def act(self, obs: Any, deterministic: bool = True) -> Any:
        """Actions ``(n, ...)`` for raw observations ``(n, ...)`` (the agent applies its own normalisation)."""

    @abc.abstractmethod
    def save(self, path: Path) -> None:
        """Everything needed to act and to resume (weights, optimiser, observation normalisation,
        ``num_steps``) into the directory ``path``."""


class AgentBackend(abc.ABC):
    """Builds, loads and describes the agents of one library."""

    #: registry names served (``ppo``, ``sac``...).
    names: tuple[str, ...] = ()

    @abc.abstractmethod
    def resolve(self, name: str, task: Task, overrides: list[str], action_space: gym.Space) -> AgentSpec:
        """The preset for ``(name, task)`` with ``key=value`` overrides; :class:`AgentError` for bad input."""

    @abc.abstractmethod
    def build(
        self, spec: AgentSpec, observation_space: gym.Space, action_space: gym.Space, seed: int, device: str
    ) -> Agent:
        """A fresh agent."""

    @abc.abstractmethod
    def load(
        self, path: Path, spec: AgentSpec | None, observation_space: gym.Space, action_space: gym.Space, device: str
    ) -> Agent:
        """An agent saved with :meth:`Agent.save` (``spec`` None: the one saved with it)."""

    def describe(self, name: str) -> dict[str, Any]:
        """One row for ``rewardlab agents``: ``backend``, ``actions`` (the action spaces it takes), ``policy``."""
        return {"backend": type(self).__module__}


@dataclass(frozen=True)
class AgentEntry:
    name: str
    target: str  # "module:attribute" of an AgentBackend


AGENT_BACKENDS: dict[str, str] = {
    "ppo": "agents.sb3:BACKEND",
    "a2c": "agents.sb3:BACKEND",
    "dqn": "agents.sb3:BACKEND",
    "sac": "agents.sb3:BACKEND",
    "td3": "agents.sb3:BACKEND",
    "ppo-native": "agents.native:BACKEND",
    "sac-native": "agents.native:BACKEND",
}
_LOADED: dict[str, AgentBackend] = {}


def register_agent(name: str, target: str | AgentBackend) -> None:
    """Make ``name`` usable everywhere an agent is named (``--agent name``, grids, search, the Python API).

    :param target: an :class:`AgentBackend`, or ``"module:attribute"`` naming one (imported on first use).
    """
    key = name.lower()
    if isinstance(target, AgentBackend):
        _LOADED[key] = target
        AGENT_BACKENDS[key] = f"{type(target).__module__}:<registered>"
    else:
        if ":" not in target:
            raise AgentError(f"agent target must be 'module:attribute', got {target!r}")
        AGENT_BACKENDS[key] = target
        _LOADED.pop(key, None)


def agent_names() -> list[str]:
    return list(AGENT_BACKENDS)


def canonical_name(name: str) -> str:
    """The registered spelling of ``name``; :class:`AgentError` naming the valid ones otherwise."""
    key = str(name).strip().lower()
    if key in AGENT_BACKENDS:
        return key
    close = difflib.get_close_matches(key, list(AGENT_BACKENDS), n=2, cutoff=0.5)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    raise AgentError(
        f"unknown agent {name!r}.{hint} Valid agents: {', '.join(AGENT_BACKENDS)} (see `rewardlab agents`)."
    )


def get_backend(name: str) -> AgentBackend:
    """The backend serving agent ``name`` (imported on first use)."""
    key = canonical_name(name)
    if key not in _LOADED:
        module, _, attr = AGENT_BACKENDS[key].partition(":")
        try:
            backend = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise AgentError(f"agent {name!r}: its backend {AGENT_BACKENDS[key]} cannot be loaded ({e})") from e
        _LOADED[key] = backend
    return _LOADED[key]


def resolve_agent(
    name: str, task: Task, overrides: list[str] | None = None, action_space: gym.Space | None = None
) -> AgentSpec:
    """Resolve agent ``name`` for ``task`` (its preset, then ``overrides``), checked against the action space."""
    if action_space is None:
        env = task.make_env()
        try:
            action_space = env.action_space
        finally:
            env.close()
    return get_backend(name).resolve(canonical_name(name), task, list(overrides or []), action_space)


def load_agent(
    path: str | Path, name: str, observation_space: gym.Space, action_space: gym.Space, device: str = "cpu"
) -> Agent:
    """The agent saved in directory ``path`` (a run directory or its checkpoint) by agent ``name``'s backend."""
    return get_backend(name).load(Path(path), None, observation_space, action_space, device)


def check_device(device: str) -> str:
    """``auto`` -> ``cuda`` when present else ``cpu``; a device that does not exist -> :class:`AgentError`.

    The one device rule of the lab (:func:`envs.batched.resolve_device`, which the batched envs use too),
    with the agent's error type."""
    from envs.batched import resolve_device

    try:
        return str(resolve_device(str(device).strip().lower()))
    except ValueError as e:
        raise AgentError(f"{e}. Use auto, cpu, cuda or cuda:N.") from None
