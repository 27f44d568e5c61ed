"""The three context styles by name, and the block of one style for a task."""

from __future__ import annotations

from envs.registry import Task
from llm_reward.context.env_source import env_source_context
from llm_reward.context.obs_table import observation_table
from llm_reward.context.state_class import state_class_context

CONTEXT_KINDS = ("source", "class", "table")
"""Context styles: pruned env source, state class abstraction, observation table."""

_KIND_ALIASES = {
    "env_source": "source",
    "code": "source",
    "abstraction": "class",
    "state_class": "class",
    "obs_table": "table",
    "observation_table": "table",
}


def normalize_kind(kind: str) -> str:
    """``"source"`` / ``"class"`` / ``"table"`` (aliases such as ``"abstraction"`` accepted)."""
    k = _KIND_ALIASES.get(kind, kind)
    if k not in CONTEXT_KINDS:
        raise ValueError(f"unknown context kind {kind!r}; choose one of {', '.join(CONTEXT_KINDS)}")
    return k


def build_context(task: Task, kind: str) -> str:
    """The context block of ``kind`` for ``task``."""
    k = normalize_kind(kind)
    if k == "source":
        return env_source_context(task)
    if k == "class":
        return state_class_context(task)
    return observation_table(task)
