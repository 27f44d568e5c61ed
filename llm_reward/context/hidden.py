"""What no prompt may show of a task: its fitness step and hand-written rewards, with the lab helpers
they call (the leak lists the leak check in :mod:`llm_reward.leaks` and the source pruner use)."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from envs.registry import Task
from llm_reward.context.introspect import _envs_helpers


def hidden_callables(task: Task) -> list[tuple[str, Callable[..., Any]]]:
    """The code no prompt may show: the fitness step, each hand reward's components/potential, and
    the ``envs`` helpers they call (two levels), labelled for error messages."""
    roots: list[tuple[str, Callable[..., Any]]] = [("fitness", task.fitness.step)]
    for name, hand in task.rewards.items():
        fn = hand.components or hand.potential
        if fn is not None:
            roots.append((f"hand-written reward {name!r}", fn))
    out: list[tuple[str, Callable[..., Any]]] = []
    public = [task.view, *_envs_helpers(task.view)]  # the state view is what prompts show
    seen: set[int] = {id(fn) for fn in public}

    def add(label: str, fn: Callable[..., Any], depth: int) -> None:
        if id(fn) in seen:
            return
        seen.add(id(fn))
        out.append((label, fn))
        name, qualname = getattr(fn, "__name__", ""), getattr(fn, "__qualname__", "")
        if name != "<lambda>" and "<locals>" in qualname:
            # a reward built by a factory (``_hand(...)`` returning ``components``): its source and
            # docstring describe the reward too
            outer = getattr(fn, "__globals__", {}).get(qualname.split(".<locals>")[0])
            if isinstance(outer, types.FunctionType):
                add(f"{label} (factory {outer.__name__})", outer, 2)
        if depth < 2:
            for helper in _envs_helpers(fn):
                add(f"{label} (helper {helper.__name__})", helper, depth + 1)
            closure = getattr(fn, "__closure__", None) or ()
            for cell in closure:
                try:
                    inner = cell.cell_contents
                except ValueError:
                    continue
                if isinstance(inner, types.FunctionType) and (inner.__module__ or "").startswith("envs"):
                    add(f"{label} (helper {inner.__name__})", inner, depth + 1)

    for label, fn in roots:
        add(label, fn, 0)
    return out


def _hidden_names(task: Task) -> frozenset[str]:
    names = {fn.__name__ for _, fn in hidden_callables(task) if fn.__name__ != "<lambda>"}
    return frozenset(names)
