"""The meaning of a derived field: the expression the task's view computes it with, rewritten
into field and schema names (``obs[:, 3]`` -> ``v``, locals inlined, constants folded)."""

from __future__ import annotations

import ast
import copy
import inspect
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from envs.registry import ObsField, Task
from llm_reward.context.introspect import _envs_helpers, _parse_function

_ARRAY_MODULES = frozenset({"np", "numpy", "math", "torch"})


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
}


class _Rewriter(ast.NodeTransformer):
    """Rewrites a view expression into field names: ``obs[:, 3]`` -> schema name, ``f["x"]`` -> ``x``,
    single-assigned locals inlined, module constants folded."""

    def __init__(
        self,
        obs_param: str | None,
        schema: Sequence[ObsField],
        locals_: Mapping[str, list[ast.expr]],
        aliases: Mapping[str, str],
        globals_: Mapping[str, Any],
        depth: int = 0,
    ) -> None:
        self.obs_param, self.schema, self.locals = obs_param, schema, locals_
        self.aliases, self.globals, self.depth = aliases, globals_, depth

    def _const(self, node: ast.AST) -> Any:
        return node.value if isinstance(node, ast.Constant) else None

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.aliases:
            return ast.Name(self.aliases[node.id], ast.Load())
        assigned = self.locals.get(node.id)
        if assigned is not None and len(assigned) == 1 and self.depth < 6:
            sub = _Rewriter(self.obs_param, self.schema, self.locals, self.aliases, self.globals, self.depth + 1)
            return sub.visit(copy.deepcopy(assigned[0]))
        value = self.globals.get(node.id)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return ast.Constant(value)
        if isinstance(value, tuple) and all(isinstance(v, (int, float)) for v in value):
            return ast.Constant(value)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        a, b = self._const(node.left), self._const(node.right)
        op = _BINOPS.get(type(node.op))
        if op is not None and isinstance(a, (int, float)) and isinstance(b, (int, float)):
            try:
                return ast.Constant(op(a, b))
            except (ArithmeticError, ValueError):
                return node
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and isinstance(node.value, ast.Name):
            return ast.Name(key.value, ast.Load())  # fields["x"] -> x, before the container is inlined
        key = node.slice = self.visit(node.slice)
        if not (isinstance(node.value, ast.Name) and node.value.id == self.obs_param):
            node.value = self.visit(node.value)
        base = self._const(node.value)
        if isinstance(base, tuple) and isinstance(self._const(key), int):
            try:
                return ast.Constant(base[self._const(key)])
            except IndexError:
                return node
        if (
            isinstance(node.value, ast.Name)
            and node.value.id == self.obs_param
            and isinstance(key, ast.Tuple)
            and len(key.elts) == 2
            and isinstance(key.elts[0], ast.Slice)
            and key.elts[0].lower is None
            and key.elts[0].upper is None
        ):
            col = key.elts[1]
            target: Any = None
            if isinstance(self._const(col), int):
                target = self._const(col)
            elif isinstance(col, ast.Slice) and col.step is None:
                lo = 0 if col.lower is None else self._const(col.lower)
                hi = self._const(col.upper)
                if isinstance(lo, int) and isinstance(hi, int):
                    target = (lo, hi)
            for f in self.schema:
                if f.index == target:
                    return ast.Name(f.name, ast.Load())
        return node


def _collect(fdef: ast.FunctionDef) -> tuple[dict[str, list[ast.expr]], dict[str, list[ast.expr]]]:
    """(locals: name -> assigned values, fields: key -> assigned values) of a view function."""
    locals_: dict[str, list[ast.expr]] = {}
    fields: dict[str, list[ast.expr]] = {}
    for node in ast.walk(fdef):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            pairs: list[tuple[ast.expr, ast.expr]] = [(target, value)]
            if isinstance(target, ast.Tuple):
                if isinstance(value, ast.Tuple) and len(value.elts) == len(target.elts):
                    pairs = list(zip(target.elts, value.elts, strict=True))
                else:
                    pairs = [(t, ast.Name("<unknown>", ast.Load())) for t in target.elts]
            for t, v in pairs:
                if isinstance(t, ast.Name):
                    locals_.setdefault(t.id, []).append(v)
                elif (
                    isinstance(t, ast.Subscript)
                    and isinstance(t.slice, ast.Constant)
                    and isinstance(t.slice.value, str)
                ):
                    fields.setdefault(t.slice.value, []).append(v)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and isinstance(node.target, ast.Name):
            locals_.setdefault(node.target.id, []).extend([node.value, node.value] if node.value else [])
        elif isinstance(node, (ast.For, ast.comprehension)):
            for t in ast.walk(node.target):
                if isinstance(t, ast.Name):
                    locals_.setdefault(t.id, []).extend([t, t])
        elif (
            isinstance(node, ast.Dict)
            and node.keys
            and all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys)
        ):
            for k, v in zip(node.keys, node.values, strict=True):
                fields.setdefault(k.value, []).append(v)  # type: ignore[union-attr]
    return locals_, fields


def _view_derivations(task: Task, field_names: set[str]) -> dict[str, str]:
    """field -> the expression the view computes it with, written in field and schema names."""
    schema_names = {f.name for f in task.obs_schema}
    allowed = field_names | schema_names | _ARRAY_MODULES
    out: dict[str, str] = {}
    for fn in [task.view, *_envs_helpers(task.view)]:
        fdef = _parse_function(fn)
        if fdef is None:
            continue
        params = [a.arg for a in fdef.args.args]
        obs_param = "obs" if "obs" in params else (params[0] if params else None)
        locals_, fields = _collect(fdef)
        aliases = {}
        for key, values in fields.items():
            if len(values) == 1 and isinstance(values[0], ast.Name) and len(locals_.get(values[0].id, [])) == 1:
                aliases[values[0].id] = key
        rewriter_globals = getattr(inspect.unwrap(fn), "__globals__", {})
        for key, values in fields.items():
            if key in out or key not in field_names or key in schema_names or len(values) != 1:
                continue
            own_alias = {a: k for a, k in aliases.items() if k != key}
            rw = _Rewriter(obs_param, task.obs_schema, locals_, own_alias, rewriter_globals)
            expr = rw.visit(copy.deepcopy(values[0]))
            names = {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
            if not names or not names <= allowed or key in names:
                continue
            text = ast.unparse(expr)
            if len(text) <= 160:
                out[key] = text
    return out
