"""Reading the lab's own code: the ``envs`` helpers a function calls, a function's AST, and the
lab's wrappers around an env."""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from collections.abc import Callable, Iterator
from typing import Any

import gymnasium as gym


def _envs_helpers(fn: Callable[..., Any]) -> list[Callable[..., Any]]:
    """Functions from the lab's ``envs`` package that ``fn`` calls by name."""
    fn = inspect.unwrap(fn)
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    out = []
    for name in code.co_names:
        obj = getattr(fn, "__globals__", {}).get(name)
        if isinstance(obj, types.FunctionType) and (obj.__module__ or "").startswith("envs"):
            out.append(obj)
    return out


def _parse_function(fn: Callable[..., Any]) -> ast.FunctionDef | None:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            return node
    return None


def _lab_wrappers(env: gym.Env) -> Iterator[gym.Env]:
    w: Any = env
    while isinstance(w, gym.Wrapper):
        if (type(w).__module__ or "").startswith("envs"):
            yield w
        w = w.env
