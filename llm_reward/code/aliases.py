"""Rule 1 of the alias check: which expressions of a reward program may be library values, followed
through its bindings (the two rules are explained in :mod:`llm_reward.code.alias_values`; rule 2,
the module roots, is :mod:`llm_reward.code.roots`)."""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from llm_reward.code.alias_values import (
    _MAX_PARTS,
    _MAX_PASSES,
    _MAX_WORK,
    _all_args,
    _Function,
    _library,
    _merge,
    _own_nodes,
    _Scope,
    _shift,
    _Step,
    _Vals,
    _with_step,
)
from llm_reward.code.roots import _ModuleRoots


class _Aliases(_ModuleRoots):
    """Which expressions of a program may be library values, and the module roots (rule 2).

    Names are keyed by ``(id(scope), name)`` with Python's scoping (functions, lambdas and
    classes are scopes; comprehension targets count as names of the enclosing scope). Bindings
    are collected in one walk, then applied until nothing changes (every binding anywhere in a
    scope counts for every use in it: flow-insensitive, so conservative).
    """

    def __init__(self, tree: ast.AST, bound: set[str], source: str = "") -> None:
        self.bound = bound  # names the source binds anywhere (getattr there may not be the builtin)
        self._lines = source.splitlines()
        self._texts: dict[tuple[int, int], str] = {}
        self._steps: dict[tuple[int, str], _Step] = {}
        self.values: dict[tuple[int, str], _Vals] = {}
        self.attrs: dict[str, _Vals] = {}  # attribute name -> values stored under it (obj.m = np, class bodies)
        self.returns: dict[int, _Vals] = {}  # id(def or lambda) -> values it returns or yields
        self.functions: dict[int, _Function] = {}
        self.classes: dict[int, int | None] = {}  # id(class) -> id(its __init__)
        self.imports: dict[tuple[int, str], str] = {}  # keys bound by import -> what they name
        self.imported: set[str] = set()  # names given to `import` (modules for certain)
        self.key: dict[int, tuple[int, str]] = {}  # id(Name or arg node) -> key
        self.parent: dict[int, ast.AST] = {}
        self.roots: dict[int, ast.expr] = {}  # id -> a module spelled by its import name, used as a value
        self.explained: set[int] = set()  # roots explained by a finding made through their alias
        self._names: list[tuple[ast.Name, _Scope]] = []
        self._nodes: list[ast.AST] = []
        self._events: list[Callable[[], None]] = []
        self._scopes: list[_Scope] = []  # keys use id(scope): keep every scope alive
        self._class_scopes: set[int] = set()
        self._frozen: dict[int, _Vals] | None = None  # every expression's value, once the bindings are done
        self._memo: dict[int, _Vals] = {}
        self._work = 0
        self.module = self._scope("module", None)
        self._walk(tree, self.module)
        for node, scope in self._names:
            self.key[id(node)] = self._resolve(node.id, scope)
        for _ in range(_MAX_PASSES):
            self._changed = False
            self._memo = {}  # one evaluation per expression and pass
            for event in self._events:
                event()
                if self._work > _MAX_WORK:
                    break
            if not self._changed or self._work > _MAX_WORK:
                break
        self._memo = {}
        self._frozen = {}
        self._find_roots()

    # -- scopes ------------------------------------------------------------------------------

    def _resolve(self, name: str, scope: _Scope) -> tuple[int, str]:
        s: _Scope | None = scope
        while s is not None:
            # class bodies are not enclosing scopes for the functions inside them
            if (s is scope or s.kind != "class") and name in s.locals and name not in s.outer:
                return (id(s), name)
            s = s.parent
        return (id(self.module), name)

    def _scope(self, kind: str, parent: _Scope | None) -> _Scope:
        scope = _Scope(kind, parent)
        self._scopes.append(scope)
        if kind == "class":
            self._class_scopes.add(id(scope))
        return scope

    def _walk(self, node: ast.AST, scope: _Scope) -> None:
        self._nodes.append(node)
        for child in ast.iter_child_nodes(node):
            self.parent[id(child)] = node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            self._walk_function(node, scope)
            return
        if isinstance(node, ast.ClassDef):
            for n in [*node.decorator_list, *node.bases, *node.keywords]:
                self._walk(n, scope)
            scope.locals.add(node.name)
            # calling the class makes an instance ("@obj:"), its arguments going to __init__
            init = [d for d in node.body if isinstance(d, ast.FunctionDef) and d.name == "__init__"]
            self.classes[id(node)] = id(init[-1]) if init else None
            cls: _Vals = {(f"@cls:{id(node)}", 0): ((), frozenset())}
            self._events.append(lambda: self._set_name(node.name, scope, cls, None))
            inner = self._scope("class", scope)
            for stmt in node.body:
                self._walk(stmt, inner)
            return
        if isinstance(node, ast.Name):
            self._names.append((node, scope))
            if isinstance(node.ctx, ast.Store | ast.Del):
                scope.locals.add(node.id)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            scope.outer.update(node.names)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            self._import(node, scope)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            scope.locals.add(node.name)
        elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            scope.locals.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            scope.locals.add(node.rest)
        self._bindings(node, scope)
        for child in ast.iter_child_nodes(node):
            self._walk(child, scope)

    def _walk_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, scope: _Scope) -> None:
        a = node.args
        # decorators, defaults and annotations are evaluated in the enclosing scope
        outer: list[ast.AST] = [*a.defaults, *(d for d in a.kw_defaults if d is not None)]
        if not isinstance(node, ast.Lambda):
            outer += [*node.decorator_list, *(x.annotation for x in _all_args(a) if x.annotation)]
            outer += [node.returns] if node.returns else []
        for n in outer:
            self._walk(n, scope)
        name = getattr(node, "name", "lambda")
        inner = self._scope("function", scope)
        for x in _all_args(a):
            inner.locals.add(x.arg)
            self.key[id(x)] = (id(inner), x.arg)
        positional = [*a.posonlyargs, *a.args]
        fn = _Function(
            name,
            [(x.arg, (id(inner), x.arg)) for x in positional],
            {x.arg: (id(inner), x.arg) for x in a.kwonlyargs},
            (id(inner), a.vararg.arg) if a.vararg else None,
            (id(inner), a.kwarg.arg) if a.kwarg else None,
        )
        self.functions[id(node)] = fn
        me: _Vals = {(f"@fn:{id(node)}", 0): ((), frozenset())}
        if isinstance(node, ast.Lambda):
            step = self._step(node.body, lambda: f"lambda returns {self.text(node.body)}", node.lineno, "return")
            self._events.append(lambda: self._flow(self.returns, id(node), self.vals(node.body), step))
            self._walk(node.body, inner)
        else:
            scope.locals.add(node.name)
            self._events.append(lambda: self._set_name(node.name, scope, self._decorated(node, me), None))
            for stmt in node.body:
                self._walk(stmt, inner)
        # default arguments: def g(s, m=np) binds m to np
        with_defaults = positional[len(positional) - len(a.defaults) :]
        pairs = [*zip(with_defaults, a.defaults, strict=True), *zip(a.kwonlyargs, a.kw_defaults, strict=True)]
        for x, d in pairs:
            if d is not None:
                step = self._step(
                    d, lambda x=x, d=d: f"{x.arg}={self.text(d)}, a default of {name}()", d.lineno, "default"
                )
                key = (id(inner), x.arg)
                self._events.append(lambda k=key, d=d, step=step: self._set(k, self.vals(d), step))
        # returns and yields flow to the calls of this function
        for n in _own_nodes(node):
            if isinstance(n, ast.Return | ast.Yield | ast.YieldFrom) and n.value is not None:
                verb = "returns" if isinstance(n, ast.Return) else "yields"
                step = self._step(
                    n.value, lambda n=n, verb=verb: f"{name}() {verb} {self.text(n.value)}", n.lineno, "return"
                )
                # a generator's call is a container of what it yields (yield from: of what that holds)
                shift = 1 if isinstance(n, ast.Yield) else 0
                self._events.append(
                    lambda v=n.value, step=step, shift=shift: self._flow(
                        self.returns, id(node), _shift(self.vals(v), shift), step
                    )
                )

    def _decorated(self, node: ast.FunctionDef | ast.AsyncFunctionDef, fn: _Vals) -> _Vals:
        """What a def binds its name to: the function, or what its own decorators return."""
        out = dict(fn)
        for d in node.decorator_list:
            for q, depth in self.vals(d):
                if depth == 0 and q.startswith("@fn:"):
                    _merge(out, self.returns.get(int(q[4:]), {}))
        return out

    def _import(self, node: ast.Import | ast.ImportFrom, scope: _Scope) -> None:
        for alias in node.names:
            if isinstance(node, ast.Import):
                name = alias.asname or alias.name.split(".")[0]
                qual = alias.name if alias.asname else alias.name.split(".")[0]
                self.imported.add(qual)
            elif alias.name == "*" or node.level:
                continue
            else:
                name, qual = alias.asname or alias.name, f"{node.module}.{alias.name}"
            scope.locals.add(name)

            def bind(name: str = name, qual: str = qual) -> None:
                key = self._resolve(name, scope)
                self.imports[key] = qual
                self._set(key, {(qual, 0): ((), frozenset())}, None)

            self._events.append(bind)

    def _bindings(self, node: ast.AST, scope: _Scope) -> None:
        """Queue the bindings ``node`` makes."""
        ev = self._events.append
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Assign):
            step = self._step(node.value, lambda: self.text(node), line)
            for t in node.targets:
                ev(lambda t=t: self._assign(t, node.value, step))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr) and node.value is not None:
            step = self._step(node.value, lambda: self.text(node), line)
            ev(lambda: self._assign(node.target, node.value, step))
        elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            text = f"for {self.text(node.target, 30)} in {self.text(node.iter, 40)}"
            step = self._step(node.iter, lambda: text, node.iter.lineno, "for")
            ev(lambda: self._bind(node.target, _shift(self.vals(node.iter), -1), step))
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            text = f"with {self.text(node.context_expr, 40)} as {self.text(node.optional_vars, 30)}"
            step = self._step(node.context_expr, lambda: text, node.context_expr.lineno, "with")
            ev(lambda: self._bind(node.optional_vars, self._through(self.vals(node.context_expr)), step))
        elif isinstance(node, ast.Match):
            step = self._step(node.subject, lambda: f"match {self.text(node.subject, 40)}", line, "match")
            names = [
                n.name if isinstance(n, ast.MatchAs | ast.MatchStar) else n.rest
                for case in node.cases
                for n in ast.walk(case.pattern)
                if getattr(n, "name", None) or getattr(n, "rest", None)
            ]
            for name in names:
                ev(lambda name=name: self._set_name(name, scope, self._through(self.vals(node.subject)), step))
        elif isinstance(node, ast.Call):
            ev(lambda: self._call(node))

    # -- applying bindings --------------------------------------------------------------------

    def _flow(self, table: dict[Any, _Vals], key: Any, vals: _Vals, step: _Step | None) -> None:
        if vals:
            if step is not None:
                vals = _with_step(vals, step)
            if _merge(table.setdefault(key, {}), vals):
                self._changed = True

    def _set(self, key: tuple[int, str] | None, vals: _Vals, step: _Step | None) -> None:
        if key is None or not vals:
            return
        self._flow(self.values, key, vals, step)
        if key[0] in self._class_scopes:  # class attributes are read as C.m or self.m
            self._flow(self.attrs, key[1], vals, step)

    def _set_name(self, name: str, scope: _Scope, vals: _Vals, step: _Step | None) -> None:
        self._set(self._resolve(name, scope), vals, step)

    def _assign(self, target: ast.expr, value: ast.expr, step: _Step) -> None:
        # a, b = np, 1: element by element where both sides are spelled out
        if (
            isinstance(target, ast.Tuple | ast.List)
            and isinstance(value, ast.Tuple | ast.List)
            and len(target.elts) == len(value.elts)
            and not any(isinstance(e, ast.Starred) for e in [*target.elts, *value.elts])
        ):
            for t, v in zip(target.elts, value.elts, strict=True):
                self._assign(t, v, step)
            return
        self._bind(target, self.vals(value), step)

    def _bind(self, target: ast.expr, vals: _Vals, step: _Step) -> None:
        if not vals:
            return
        if isinstance(target, ast.Name):
            self._set(self.key.get(id(target)), vals, step)
        elif isinstance(target, ast.Starred):
            self._bind(target.value, vals, step)
        elif isinstance(target, ast.Tuple | ast.List):
            for e in target.elts:
                self._bind(e, vals if isinstance(e, ast.Starred) else _shift(vals, -1), step)
        elif isinstance(target, ast.Attribute):
            self._flow(self.attrs, target.attr, vals, step)
        elif isinstance(target, ast.Subscript):  # d["a"] = np: d holds np
            self._bind(target.value, _shift(vals, +1), step)

    def _call(self, node: ast.Call) -> None:
        fn = node.func
        callee = self.vals(fn)
        star = any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords)
        for q, d in list(callee):
            if d or not q.startswith(("@fn:", "@cls:")):
                continue
            is_class = q.startswith("@cls:")
            f = self.functions.get(self.classes.get(int(q[5:])) or 0) if is_class else self.functions.get(int(q[4:]))
            if f is None:
                continue
            keys = [k for _, k in f.params] + list(f.kwonly.values()) + [k for k in (f.vararg, f.kwarg) if k]

            def passes(a: ast.expr, name: str = "") -> _Step:
                as_name = f" as {name}" if name else ""
                return self._step(
                    a, lambda: f"{self.text(node, 40)} passes {self.text(a, 30)}{as_name}", a.lineno, "arg"
                )

            if star:  # g(*args): any argument may reach any parameter
                for a in [*node.args, *(k.value for k in node.keywords)]:
                    for k in keys:
                        self._set(k, self._through(self.vals(a)), passes(a))
                continue
            # a method call (obj.f(x)) and a class call (C(x) runs __init__) do not pass self
            method = is_class or isinstance(fn, ast.Attribute)
            offset = 1 if method and f.params and f.params[0][0] in ("self", "cls") else 0
            for i, a in enumerate(node.args):
                j = i + offset
                if j < len(f.params):
                    name, k = f.params[j]
                    self._set(k, self.vals(a), passes(a, name))
                elif f.vararg:
                    self._set(f.vararg, _shift(self.vals(a), +1), passes(a))
            for kw in node.keywords:
                params = dict(f.params) | f.kwonly
                k = params.get(kw.arg or "") or f.kwarg
                vals = self.vals(kw.value) if kw.arg in params else _shift(self.vals(kw.value), +1)
                self._set(k, vals, passes(kw.value, kw.arg or ""))
        # a method of the candidate's objects may keep its arguments: lst.append(np), d.update(a=np)
        if isinstance(fn, ast.Attribute) and not _library(self.vals(fn.value)):
            args: _Vals = {}
            for a in [*node.args, *(k.value for k in node.keywords)]:
                _merge(args, self.vals(a))
            if args:
                step = self._step(node, lambda: self.text(node), node.lineno, "keeps")
                self._bind(fn.value, self._modules(_shift(args, +1)), step)

    def _step(self, node: ast.AST, text: Callable[[], str], lineno: int, kind: str = "") -> _Step:
        """The step binding ``node``'s value, made once (steps are compared by identity)."""
        step = self._steps.get((id(node), kind))
        if step is None:
            step = self._steps[(id(node), kind)] = _Step(text(), lineno, node)
        return step

    def _modules(self, vals: _Vals) -> _Vals:
        """Only the modules (and the candidate's own objects) of ``vals``: what is followed
        through unknown calls and into the receivers of methods. Members such as np.nan go through
        those all the time in ordinary code (``out.fill(np.nan)``, ``max(x, np.pi)``) and would turn
        plain arrays into "library values" there."""
        return {k: cv for k, cv in vals.items() if k[0].startswith("@") or self.is_module(k[0].removesuffix("[]"))}

    def _through(self, vals: _Vals) -> _Vals:
        """What an unknown call may hand back of the modules it was given: the modules themselves,
        their items, or a container of them (``next(iter([np]))``, ``dict(a=np)``, ``d.get("a")``)."""
        vals = self._modules(vals)
        out = dict(vals)
        _merge(out, _shift(vals, -1))
        _merge(out, _shift(vals, +1))
        return out

    # -- values -------------------------------------------------------------------------------

    def vals(self, node: ast.AST | None) -> _Vals:
        """What ``node`` may evaluate to (see ``_Vals``); ``{}`` for plain data."""
        if node is None:
            return {}
        memo = self._frozen if self._frozen is not None else self._memo
        got = memo.get(id(node))
        if got is None:
            self._work += 1
            got = memo[id(node)] = self._vals(node)
        return got

    def _vals(self, node: ast.AST) -> _Vals:
        out: _Vals = {}
        if isinstance(node, ast.Name):
            key = self.key.get(id(node))
            return dict(self.values.get(key, {})) if key else {}
        if isinstance(node, ast.Attribute):
            return self._attr_vals(self.vals(node.value), node.attr)
        if isinstance(node, ast.Subscript):
            base = self.vals(node.value)
            return base if isinstance(node.slice, ast.Slice) else _shift(base, -1)
        if isinstance(node, ast.Call):
            return self._call_vals(node)
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            for e in node.elts:
                _merge(out, self.vals(e.value) if isinstance(e, ast.Starred) else _shift(self.vals(e), +1))
            return out
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                _merge(out, self.vals(v) if k is None else _shift(self.vals(v), +1))
                _merge(out, _shift(self.vals(k), +1))
            return out
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp):
            return _shift(self.vals(node.elt), +1)
        if isinstance(node, ast.DictComp):
            _merge(out, _shift(self.vals(node.key), +1))
            _merge(out, _shift(self.vals(node.value), +1))
            return out
        if isinstance(node, ast.IfExp):
            _merge(out, self.vals(node.body))
            _merge(out, self.vals(node.orelse))
            return out
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                _merge(out, self.vals(v))
            return out
        if isinstance(node, ast.BinOp):  # [np] + [], [np] * 2: containers stay containers
            for v in (node.left, node.right):
                _merge(out, {k: cv for k, cv in self.vals(v).items() if k[1] > 0})
            return out
        if isinstance(node, ast.NamedExpr | ast.Starred | ast.Await):
            return self.vals(node.value)
        if isinstance(node, ast.Lambda):
            return {(f"@fn:{id(node)}", 0): ((), frozenset())}
        return out  # constants, arithmetic, comparisons, f-strings: data

    def _attr_vals(self, base: _Vals, attr: str) -> _Vals:
        out: _Vals = {}
        for (q, d), cv in base.items():
            if q.startswith("@"):
                continue
            if d == 0:  # an attribute of a library value: np.lib, m.save
                q = q if q.count(".") >= _MAX_PARTS else f"{q}.{attr}"
                _merge(out, {(q, 0): cv})
            else:  # a method of a container holding library values (d.get) carries them
                _merge(out, {(q, d): cv})
        if not _library(base):  # an attribute of the candidate's own objects: obj.m = np, class C: m = np
            _merge(out, self.attrs.get(attr, {}))
        return out

    def _call_vals(self, node: ast.Call) -> _Vals:
        name = self.getattr_name(node)
        if name is not None and isinstance(node.func, ast.Name) and node.func.id == "getattr":
            return self._attr_vals(self.vals(node.args[0]), name)
        callee = self.vals(node.func)
        out: _Vals = {}
        known = False
        for (q, d), _cv in callee.items():
            if d == 0 and q.startswith("@fn:"):
                _merge(out, self.returns.get(int(q[4:]), {}))
                known = True
            elif d == 0 and q.startswith("@cls:"):
                _merge(out, {(f"@obj:{q[5:]}", 0): ((), frozenset())})
                known = True
            elif d == 0:
                known = True  # a library function: returns data
        if not known:  # builtins (next, dict, max...), methods of containers, anything else
            vals = {k: cv for k, cv in callee.items() if k[1] > 0}
            for a in [*node.args, *(k.value for k in node.keywords)]:
                _merge(vals, self.vals(a))
            out = self._through(vals)
        return out
