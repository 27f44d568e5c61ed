"""The leak check: no prompt may show a task's fitness or its hand-written rewards.

:func:`find_leaks` looks in a text (or chat messages) for the source of what
:func:`~llm_reward.context.hidden_callables` lists -- whole, whitespace-insensitive, and line by line --
and for the fitness and hand-reward descriptions; :func:`assert_no_leak` raises on any. Prompts
(:mod:`llm_reward.prompts`) and few-shot retrieval (:mod:`llm_reward.fewshot`) both use it.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envs.registry import Task
from llm_reward.context import hidden_callables


class PromptLeakError(RuntimeError):
    """A prompt contains a task's fitness or hand-written reward (code or description)."""


MIN_LINE_CHARS = 20
"""A line of hidden code counts as distinctive with at least this many non-space characters."""


@dataclass(frozen=True)
class Leak:
    """A hidden item found in a prompt: what it is and the text that matched."""

    what: str
    text: str


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _spaced(text: str) -> str:
    return " ".join(text.lower().split())


def _lambda_segments(fn: Callable[..., Any]) -> list[str]:
    """Source of a lambda itself (``inspect.getsource`` gives the whole lines around it)."""
    code = getattr(fn, "__code__", None)
    try:
        path = inspect.getsourcefile(fn)
        source = Path(path).read_text(encoding="utf-8") if path else None
    except (OSError, TypeError):
        source = None
    if code is None or source is None:
        return []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Lambda) and node.lineno == code.co_firstlineno:
            segment = ast.get_source_segment(source, node)
            if segment:
                out.append(segment)
                body = ast.get_source_segment(source, node.body)
                if body:
                    out.append(body)
    return out


def _code_needles(label: str, fn: Callable[..., Any], min_line_chars: int) -> list[tuple[str, str]]:
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return []
    pieces = [source]
    if getattr(fn, "__name__", "") == "<lambda>":
        pieces += _lambda_segments(fn)
    needles = [(f"{label}: source", _squash(p)) for p in pieces if len(_squash(p)) >= min_line_chars]
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(("def ", "@", "#")):
            continue
        code_part = stripped.split("  #", 1)[0]  # the line without a trailing comment counts too
        shown = stripped if len(stripped) <= 60 else stripped[:57] + "..."
        for variant in dict.fromkeys((stripped, code_part)):
            squashed = _squash(variant)
            if len(squashed) >= min_line_chars:
                needles.append((f"{label}: line {shown!r}", squashed))
    return needles


_NEEDLES: dict[tuple[Any, ...], tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {}


def hidden_needles(
    task: Task, min_line_chars: int = MIN_LINE_CHARS
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """What no prompt may contain: (code needles without whitespace, description needles lowercased)."""
    key = (task.id, id(task.fitness), tuple((n, id(h)) for n, h in task.rewards.items()), min_line_chars)
    if key not in _NEEDLES:
        _NEEDLES[key] = _hidden_needles(task, min_line_chars)
    return _NEEDLES[key]


def _hidden_needles(task: Task, min_line_chars: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    code: list[tuple[str, str]] = []
    for label, fn in hidden_callables(task):
        code += _code_needles(label, fn, min_line_chars)
    descriptions = [("fitness description", _spaced(task.fitness.description))]
    descriptions += [
        (f"hand-written reward {n!r} description", _spaced(h.description)) for n, h in task.rewards.items()
    ]
    return code, [(w, d) for w, d in descriptions if d]


def find_leaks(
    messages: str | Iterable[Mapping[str, Any]], task: Task, min_line_chars: int = MIN_LINE_CHARS
) -> list[Leak]:
    """Every hidden item of ``task`` that appears in ``messages`` (a text or chat messages)."""
    if isinstance(messages, str):
        texts = [messages]
    else:
        texts = [str(m.get("content", "")) for m in messages]
    squashed = [_squash(t) for t in texts]
    spaced = [_spaced(t) for t in texts]
    code, descriptions = hidden_needles(task, min_line_chars)
    leaks: list[Leak] = []
    seen: set[str] = set()
    for what, needle in code:
        if needle not in seen and any(needle in t for t in squashed):
            seen.add(needle)
            leaks.append(Leak(what, needle))
    for what, needle in descriptions:
        if needle not in seen and any(needle in t for t in spaced):
            seen.add(needle)
            leaks.append(Leak(what, needle))
    return leaks


def assert_no_leak(
    messages: str | Iterable[Mapping[str, Any]], task: Task, min_line_chars: int = MIN_LINE_CHARS
) -> None:
    """Raise :class:`PromptLeakError` when ``messages`` show ``task``'s fitness or hand-written rewards.

    Checked: the source of ``task.fitness.step`` and of each hand reward's components/potential
    function (and the lab helpers they call), whole and line by line (lines with at least
    ``min_line_chars`` non-space characters), ignoring whitespace; ``task.fitness.description`` and
    each hand reward's description, ignoring case and spacing.
    """
    leaks = find_leaks(messages, task, min_line_chars)
    if leaks:
        listed = "\n".join(f"- {leak.what}" for leak in leaks[:10])
        more = f"\n(and {len(leaks) - 10} more)" if len(leaks) > 10 else ""
        raise PromptLeakError(f"prompt for {task.id} shows what the reward designer must not see:\n{listed}{more}")
