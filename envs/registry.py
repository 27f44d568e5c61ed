"""The task registry: env factory, fitness, description, observation schema, state view.

A :class:`Task` is everything the lab knows about a benchmark: how to build one env, what
its observations mean, how to turn observations into a :class:`~envs.state_view.StateView`,
its **fitness** (the designer's true measure of success, kept apart from every reward
source), hand-shaped rewards written as plain functions over the state view, and default
budgets per agent.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from envs.state_view import StateView

ViewFn = Callable[[np.ndarray, Mapping[str, Any]], dict[str, Any]]
"""(obs batch ``(n, ...)``, info dict of arrays ``(n,)``) -> named fields ``(n, ...)``."""

ComponentsFn = Callable[[StateView], Mapping[str, Any]]
"""Transition view -> named reward components, each ``(n,)``; the total is their sum."""

PotentialFn = Callable[[StateView], Any]
"""State view (of one state) -> potential ``(n,)``."""

FITNESS_REDUCTIONS = ("sum", "max", "min", "last", "mean")


@dataclass(frozen=True)
class ObsField:
    """One entry of the observation schema.

    :param name: field name as the state view and prompts call it.
    :param index: index (int), slice start:stop, or a key path (``"image"``) into the obs.
    :param unit: physical unit (``"m"``, ``"rad"``, ``"m/s"``, ``"id"``...).
    :param description: what it means, in a sentence.
    :param low: lower bound when known (for validation against the space).
    :param high: upper bound when known.
    """

    name: str
    index: int | tuple[int, int] | str
    unit: str
    description: str
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Fitness:
    """Episode fitness: ``reduce`` over the episode of ``step(view)``.

    :param step: transition view -> per-step value ``(n,)``.
    :param reduce: how per-step values become one number per episode (sum/max/min/last/mean).
    :param threshold: an episode succeeds when its fitness is >= threshold.
    :param unit: unit of the episode fitness.
    :param description: one line for tables and docs.
    """

    step: Callable[[StateView], Any]
    reduce: str
    threshold: float
    unit: str
    description: str

    def __post_init__(self) -> None:
        if self.reduce not in FITNESS_REDUCTIONS:
            raise ValueError(f"fitness reduce must be one of {FITNESS_REDUCTIONS}, got {self.reduce!r}")


@dataclass(frozen=True)
class HandReward:
    """A hand-shaped reward over the state view.

    Either ``components`` (a plain function returning named components) or ``potential``
    (potential-based shaping ``base + gamma * phi(s') - phi(s)`` with ``phi(terminal) = 0``).
    """

    description: str
    components: ComponentsFn | None = None
    potential: PotentialFn | None = None
    base: str = "sparse"
    gamma: float = 0.99

    def __post_init__(self) -> None:
        if (self.components is None) == (self.potential is None):
            raise ValueError("HandReward needs exactly one of components= or potential=")


@dataclass
class Task:
    """A benchmark task.

    :param id: task id; also the gymnasium id (``gymnasium.make(id)`` works).
    :param family: ``classic`` / ``mujoco`` / ``minigrid`` / ``behaviour``.
    :param make_env: ``(**kwargs) -> gym.Env``: one env, with whatever wrappers put the
        declared ``info_keys`` into ``info`` on reset and step.
    :param description: natural-language description of the goal (shown to LLMs).
    :param obs_schema: what each observation entry means.
    :param view: builds state fields from a batch of observations and infos.
    :param units: unit for every state-view field.
    :param fitness: the true measure of success.
    :param rewards: hand-shaped rewards by name (``sparse`` is required).
    :param has_env_reward: whether the env's own reward is meaningful (``env`` reward).
    :param info_keys: info fields ``view`` reads (batched by the vector env).
    :param budgets: default training steps per agent name (``"default"`` as fallback).
    :param max_episode_steps: episode length limit.
    """

    id: str
    family: str
    make_env: Callable[..., gym.Env]
    description: str
    obs_schema: tuple[ObsField, ...]
    view: ViewFn
    units: Mapping[str, str]
    fitness: Fitness
    rewards: Mapping[str, HandReward]
    has_env_reward: bool = True
    info_keys: tuple[str, ...] = ()
    budgets: Mapping[str, int] = field(default_factory=lambda: {"default": 100_000})
    max_episode_steps: int | None = None
    action_doc: str = ""

    def __post_init__(self) -> None:
        if "sparse" not in self.rewards:
            raise ValueError(f"task {self.id}: every task needs a 'sparse' reward")

    @property
    def reward_names(self) -> list[str]:
        names = list(self.rewards)
        if self.has_env_reward:
            names.insert(0, "env")
        return names

    def budget(self, agent: str) -> int:
        return int(self.budgets.get(agent, self.budgets.get("default", 100_000)))

    def state(self, obs: Any, info: Mapping[str, Any] | None = None) -> StateView:
        """The view of one batch of states (``obs`` shape ``(n, ...)``)."""
        return StateView(self.view(obs, info or {}), self.units)

    def transition_view(
        self,
        obs: Any,
        action: Any,
        next_obs: Any,
        env_reward: Any,
        terminated: Any,
        truncated: Any,
        info: Mapping[str, Any],
        prev_info: Mapping[str, Any] | None = None,
        step: Any = None,
    ) -> StateView:
        """View of ``s'`` with ``prev`` = view of ``s`` and the transition fields."""
        units = self.units

        def prev() -> StateView:
            return StateView(self.view(obs, prev_info or {}), units)

        fields = self.view(next_obs, info)
        fields["action"] = action
        fields["env_reward"] = env_reward
        fields["terminated"] = terminated
        fields["truncated"] = truncated
        if step is not None:
            fields["step"] = step
        return StateView(fields, units, prev)


_TASKS: dict[str, Task] = {}


class UnknownTaskError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0])


def register_task(task: Task, *, gym_entry_point: Callable[..., gym.Env] | None = None) -> Task:
    """Add ``task`` to the registry; with ``gym_entry_point`` also register it with gymnasium."""
    _TASKS[task.id] = task
    if gym_entry_point is not None and task.id not in gym.registry:
        gym.register(id=task.id, entry_point=gym_entry_point, max_episode_steps=task.max_episode_steps)
    return task


def get_task(task_id: str) -> Task:
    """Look a task up by id (case-insensitive; the ``-vN`` suffix may be left off if unique)."""
    if task_id in _TASKS:
        return _TASKS[task_id]
    low = task_id.lower()
    matches = [t for k, t in _TASKS.items() if k.lower() == low or k.lower().rsplit("-v", 1)[0] == low]
    if len(matches) == 1:
        return matches[0]
    close = difflib.get_close_matches(task_id, list(_TASKS), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownTaskError(
        f"unknown task {task_id!r}.{hint} Valid tasks: {', '.join(sorted(_TASKS))} (see `rewardlab tasks`)."
    )


def list_tasks(family: str | None = None) -> list[Task]:
    return [t for t in _TASKS.values() if family is None or t.family == family]
