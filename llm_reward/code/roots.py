"""Rule 2 of the alias check (see :mod:`llm_reward.code.alias_values`): a module spelled by its import
name anywhere but as the base of an attribute read is a "root", reported unless a finding through
its alias explains it; and the program text the messages of both rules quote.

:class:`_ModuleRoots` is mixed into :class:`~llm_reward.code.aliases._Aliases`, which fills the
attributes declared here while it walks the program.
"""

from __future__ import annotations

import ast

from llm_reward.code.alias_values import _MODULE_QUALS, _quals, _short, _show, _Step, _Vals
from llm_reward.code.rules import _ALWAYS_FLAGGED, ALLOWED_MODULES, FORBIDDEN_BUILTINS


class _ModuleRoots:
    bound: set[str]  # names the source binds anywhere (getattr there may not be the builtin)
    key: dict[int, tuple[int, str]]  # id(Name or arg node) -> key
    imports: dict[tuple[int, str], str]  # keys bound by import -> what they name
    imported: set[str]  # names given to `import` (modules for certain)
    parent: dict[int, ast.AST]
    roots: dict[int, ast.expr]  # id -> a module spelled by its import name, used as a value
    explained: set[int]  # roots explained by a finding made through their alias
    _nodes: list[ast.AST]
    _lines: list[str]
    _texts: dict[tuple[int, int], str]

    def text(self, node: ast.AST, n: int = 60) -> str:
        """``node``'s source, on one line, at most ``n`` characters (for messages)."""
        got = self._texts.get((id(node), n))
        if got is None:
            line, end_line = getattr(node, "lineno", 0), getattr(node, "end_lineno", None)
            start, end = getattr(node, "col_offset", 0), getattr(node, "end_col_offset", None)
            if 0 < line <= len(self._lines):  # the source segment: cheap, and as the candidate wrote it
                first = self._lines[line - 1].encode()  # offsets count UTF-8 bytes
                same = end_line == line
                text = first[start : end if same else None].decode(errors="replace") + ("" if same else " ...")
            else:
                text = _short(node, n)
            text = " ".join(text.split())
            got = self._texts[(id(node), n)] = text if len(text) <= n else text[: n - 3] + "..."
        return got

    def getattr_name(self, node: ast.Call) -> str | None:
        """``name`` for a call of the builtin ``getattr(x, "name"[, default])``, else None."""
        fn = node.func
        if (
            isinstance(fn, ast.Name)
            and fn.id in ("getattr", "hasattr")
            and fn.id not in self.bound
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            return node.args[1].value
        return None

    def chain_qual(self, node: ast.AST) -> str | None:
        """What ``np``, ``np.lib`` or ``getattr(np, "lib")`` names when spelled from an import
        (no alias in between), else None."""
        if isinstance(node, ast.Name):
            key = self.key.get(id(node))
            return self.imports.get(key) if key else None
        if isinstance(node, ast.Attribute):
            base = self.chain_qual(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
            name = self.getattr_name(node)
            base = self.chain_qual(node.args[0]) if name else None
            return f"{base}.{name}" if base else None
        return None

    def is_module(self, qual: str) -> bool:
        return qual in self.imported or qual in _MODULE_QUALS or qual.rsplit(".", 1)[-1] in ALLOWED_MODULES

    def _find_roots(self) -> None:
        for node in self._nodes:
            if not isinstance(node, ast.Name | ast.Attribute | ast.Call) or isinstance(
                getattr(node, "ctx", None), ast.Store | ast.Del
            ):
                continue
            node_id = id(node)
            qual = self.chain_qual(node)
            if qual is None or not self.is_module(qual):
                continue
            parent = self.parent.get(node_id)
            if isinstance(parent, ast.Attribute) and parent.value is node:
                continue  # np.clip: what the rules are about
            if (
                isinstance(parent, ast.Call)
                and isinstance(parent.func, ast.Name)
                and parent.func.id in ("getattr", "hasattr")
                and parent.func.id not in self.bound
                and parent.args
                and parent.args[0] is node
            ):
                continue  # getattr(np, "clip") is np.clip; a computed name is refused for the call
            if (
                isinstance(parent, ast.Call)
                and isinstance(parent.func, ast.Name)
                and parent.func.id in FORBIDDEN_BUILTINS
                and (parent.func.id in _ALWAYS_FLAGGED or parent.func.id not in self.bound)
            ):
                continue  # vars(np), type(np): refused for the call already
            self.roots[node_id] = node

    def explain(self, steps: frozenset[_Step] | tuple[_Step, ...], expr: ast.AST | None = None) -> None:
        """The roots inside these steps' values (and inside ``expr``) are explained by a finding."""
        for node in [*(s.node for s in steps), *([expr] if expr is not None else [])]:
            for n in ast.walk(node):
                if id(n) in self.roots:
                    self.explained.add(id(n))

    def describe(self, expr: ast.expr, vals: _Vals) -> str:
        """``"m is numpy (m = np, line 3): "`` when ``expr`` is a library value reached through an
        alias, a container or a call; ``""`` when it is spelled from its import (``np``, ``np.lib``)."""
        if self.chain_qual(expr) is not None and not any(chain for chain, _ in vals.values()):
            return ""
        quals = _quals(vals)
        for _chain, steps in vals.values():
            self.explain(steps)
        self.explain((), expr)
        what = _show(quals[0]) if len(quals) == 1 else "one of " + ", ".join(_show(q) for q in quals[:3])
        chain = next((vals[k][0] for k in sorted(vals) if vals[k][0]), ())
        how = f" ({'; '.join(f'{s.text}, line {s.lineno}' for s in chain)})" if chain else ""
        verb = "is" if len(quals) == 1 else "may be"
        text = self.text(expr, 40)
        text = f"({text})" if isinstance(expr, ast.NamedExpr) else text
        return f"{text} {verb} {what}{how}: "
