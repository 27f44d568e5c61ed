"""AST pruning of env source: statements that compute or mention reward (or the lab's fitness),
render or log are removed, and the methods to show are picked per defining class."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
import types
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym

from llm_reward.context.docstrings import _clean_rst
from llm_reward.context.introspect import _parse_function

_REWARD_PARTS = frozenset(
    {"rew", "rews", "reward", "rewards", "cost", "costs", "penalty", "penalties", "bonus", "fitness", "score"}
)
_NOISE_PARTS = frozenset({"render", "logger", "warn", "warnings"})


def _identifier_parts(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [p.lower() for p in re.split(r"[_\W]+", spaced) if p]


def _mentions(node: ast.AST, parts: frozenset[str], names: frozenset[str] = frozenset()) -> bool:
    for n in ast.walk(node):
        ids: list[str] = []
        if isinstance(n, ast.Name):
            ids = [n.id]
        elif isinstance(n, ast.Attribute):
            ids = [n.attr]
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            ids = [n.name]
        elif isinstance(n, ast.arg):
            ids = [n.arg]
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            if any(p in n.value.lower() for p in parts if len(p) > 4) or any(nm in n.value for nm in names):
                return True
        for i in ids:
            if i in names or any(p in parts for p in _identifier_parts(i)):
                return True
    return False


def _drop_sentences(text: str, words: Sequence[str]) -> str:
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    pattern = re.compile(r"(?i)\b(" + "|".join(words) + r")")
    return " ".join(s for s in sentences if not pattern.search(s))


class _Pruner(ast.NodeTransformer):
    """Removes statements that compute or mention reward (or the lab's fitness), render or log;
    reward entries of returned tuples become ``...``; empty blocks are removed or become ``pass``."""

    def __init__(self, hidden_names: frozenset[str]) -> None:
        self.hidden = hidden_names
        self.dropped = 0

    def _bad(self, node: ast.AST) -> bool:
        return _mentions(node, _REWARD_PARTS, self.hidden)

    def _block(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for i, stmt in enumerate(body):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                if isinstance(stmt.value.value, str):  # a docstring: first paragraph, no reward talk
                    para = inspect.cleandoc(stmt.value.value).split("\n\n")[0]
                    para = _drop_sentences(para, ["reward", "fitness", "cost", "penalt"])
                    if para:
                        out.append(ast.Expr(ast.Constant(para)))
                    continue
            new = self.visit(stmt)
            if new is None:
                self.dropped += 1
                continue
            out.extend(new if isinstance(new, list) else [new])
        return out

    def _simple(self, node: ast.stmt) -> ast.stmt | None:
        if isinstance(node, ast.Assert) or _mentions(node, _NOISE_PARTS):
            return None
        value = getattr(node, "value", None)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Tuple):
            elts = node.targets[0].elts
            if not all(self._bad(e) for e in elts) and not self._bad(node.value):
                node.targets[0].elts = [ast.Name("_", ast.Store()) if self._bad(e) else e for e in elts]
        if isinstance(node, ast.Return) and isinstance(value, ast.Tuple):
            value.elts = [ast.Constant(...) if self._bad(e) else e for e in value.elts]
        if isinstance(value, ast.Dict):
            keep = [
                (k, v)
                for k, v in zip(value.keys, value.values, strict=True)
                if not self._bad(v) and (k is None or not self._bad(k))
            ]
            value.keys, value.values = [k for k, _ in keep], [v for _, v in keep]
        return None if self._bad(node) else node

    def generic_visit(self, node: ast.AST) -> Any:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if self._bad_name(node.name):
                return None
            node.body = self._block(node.body) or [ast.Expr(ast.Constant(...))]
            return node
        if isinstance(node, (ast.If, ast.While)):
            if self._bad(node.test) or _mentions(node.test, _NOISE_PARTS):
                return None
            node.body, node.orelse = self._block(node.body), self._block(node.orelse)
            if not node.body and not node.orelse:
                return None
            node.body = node.body or [ast.Pass()]
            return node
        if isinstance(node, (ast.For, ast.With)):
            node.body = self._block(node.body)
            if isinstance(node, ast.For):
                node.orelse = self._block(node.orelse)
            return node if node.body else None
        if isinstance(node, ast.Try):
            node.body = self._block(node.body) or [ast.Pass()]
            for h in node.handlers:
                h.body = self._block(h.body) or [ast.Pass()]
            node.orelse, node.finalbody = self._block(node.orelse), self._block(node.finalbody)
            return node
        if isinstance(node, ast.stmt):
            return self._simple(node)
        return node

    def _bad_name(self, name: str) -> bool:
        return name in self.hidden or any(p in _REWARD_PARTS for p in _identifier_parts(name))


def _method_source(fn: Callable[..., Any], pruner: _Pruner) -> str | None:
    fdef = _parse_function(fn)
    if fdef is None:
        return None
    pruned = pruner.visit(fdef)
    if pruned is None:
        return None
    return ast.unparse(pruned)


_OBS_METHODS = ("_get_obs", "_get_ob", "get_obs", "gen_obs", "_get_observation")
_INIT_METHODS = ("reset_model", "_gen_grid")
_HELPER_MAX_LINES = 15


def _class_doc(cls: type, drop_goal: bool) -> str:
    doc = inspect.getdoc(cls) or ""
    for para in doc.split("\n\n"):
        lines = [ln for ln in para.strip().splitlines() if not ln.lstrip().startswith("#")]
        text = _clean_rst(" ".join(lines))
        if text and not text.startswith(("```", "|", ":param", ":return", ":raises")):
            words = ["reward", "fitness", "cost", "penalt"] + (["goal", "objective", "aim"] if drop_goal else [])
            return _drop_sentences(text, words)
    return ""


def _resolve(cls: type, name: str, after: type | None = None) -> tuple[type, Any] | None:
    """The class in ``cls``'s MRO (past ``after``) that defines ``name``, and the definition."""
    mro = list(cls.__mro__)
    if after is not None:
        mro = mro[mro.index(after) + 1 :]
    for klass in mro:
        if klass in (gym.Env, gym.Wrapper, object):
            return None
        if name in vars(klass):
            return klass, vars(klass)[name]
    return None


def _function(member: Any) -> Any:
    return member.fget if isinstance(member, property) else member


def _pruned(member: Any, pruner: _Pruner) -> str | None:
    fn = _function(member)
    return _method_source(fn, pruner) if isinstance(fn, types.FunctionType) else None


class _ClassPicker:
    """Collects the methods to show, per defining class, pruned, with the helpers they use."""

    def __init__(self, cls: type, pruner: _Pruner) -> None:
        self.cls, self.pruner = cls, pruner
        self.picked: dict[type, dict[str, str]] = {}

    def add(self, name: str, after: type | None = None, helper: bool = False) -> None:
        found = _resolve(self.cls, name, after)
        if found is None:
            return
        klass, member = found
        if name in self.picked.get(klass, {}):
            return
        if helper:
            fn = _function(member)
            if not isinstance(fn, types.FunctionType) or klass.__module__ != self.cls.__module__:
                return
            if any(p in _NOISE_PARTS for p in _identifier_parts(name)):
                return
            try:
                n_lines = len(inspect.getsourcelines(fn)[0])
            except (OSError, TypeError):
                return
            if not isinstance(member, property) and n_lines > _HELPER_MAX_LINES:
                return
        src = _pruned(member, self.pruner)
        if not src:
            return
        self.picked.setdefault(klass, {})[name] = src
        if re.search(rf"super\(\)\.{name}\(", src):
            self.add(name, after=klass)
        for used in sorted(set(re.findall(r"self\.(\w+)", src))):
            self.add(used, helper=True)

    def render(self, drop_goal: bool) -> list[str]:
        out: list[str] = []
        for klass in self.cls.__mro__:
            methods = self.picked.get(klass)
            if not methods:
                continue
            if out:
                out.append("")
            out += _class_header(klass, drop_goal)
            out += "\n\n".join(textwrap.indent(src, "    ") for src in methods.values()).splitlines()
        return out


def _class_header(cls: type, drop_goal: bool) -> list[str]:
    bases = ", ".join(b.__name__ for b in cls.__bases__ if b is not object)
    lines = [f"class {cls.__name__}({bases}):" if bases else f"class {cls.__name__}:"]
    doc = _class_doc(cls, drop_goal)
    if doc:
        quoted = '"""' + doc.replace('"""', "'''") + '"""'
        lines += [f"    {line}" for line in textwrap.wrap(quoted, width=96)]
        lines.append("")
    return lines
