"""The static check of reward source against the contract in :mod:`llm_reward.code`
(:func:`static_check`), the per-attribute check the runtime guards share, and
:func:`imported_modules`."""

from __future__ import annotations

import ast

from llm_reward.code.alias_values import _library, _quals, _show, _Vals
from llm_reward.code.aliases import _Aliases
from llm_reward.code.extract import _assigned_names, _describe, _is_constant_assignment
from llm_reward.code.rules import (
    _ALWAYS_FLAGGED,
    FORBIDDEN_BUILTINS,
    FORBIDDEN_CALL_ATTRS,
    FORBIDDEN_MODULE_ATTRS,
    FORBIDDEN_MODULES,
    FORBIDDEN_SUBMODULE_ATTRS,
    MAX_SOURCE_CHARS,
    Issue,
    check_import,
    is_dunder,
)


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def check_attribute(attr: str, on_module: bool = True) -> str | None:
    """Why reading attribute ``attr`` is not allowed, or None (also used by the runtime guards)."""
    if is_dunder(attr) or attr.startswith("_"):
        return f"{attr!r} is private or a dunder name"
    return _Checker._attr_problem(attr, on_module)


def _bound_names(tree: ast.AST) -> set[str]:
    """Every name the source binds anywhere (assignments, parameters, defs, imports, loops)."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound


class _Checker(ast.NodeVisitor):
    def __init__(
        self, entry_param: str | None, bound: set[str], module_names: set[str], aliases: _Aliases | None = None
    ) -> None:
        self.issues: list[Issue] = []
        self.entry_param = entry_param
        self.bound = bound
        self.module_names = module_names  # module-level constants
        self.local_names: list[set[str]] = []  # names assigned in each enclosing function
        self.called: set[int] = set()  # ids of nodes in call position
        self.aliases = aliases or _Aliases(ast.Module(body=[], type_ignores=[]), bound)

    def _lib(self, node: ast.expr) -> _Vals:
        """The library values ``node`` may be (empty for data and the candidate's own objects)."""
        return _library(self.aliases.vals(node))

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        local = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        local |= {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
        self.local_names.append(local)
        self.generic_visit(node)
        self.local_names.pop()

    def add(self, label: str, message: str, node: ast.AST | None) -> None:
        self.issues.append(Issue(label, message, getattr(node, "lineno", None)))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            why = check_import(alias.name)
            if why:
                self.add("forbidden_import", why, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.add("forbidden_import", "relative imports are not allowed", node)
            return
        mod = node.module or ""
        why = check_import(mod)
        if why:
            self.add("forbidden_import", why, node)
            return
        for alias in node.names:
            if alias.name == "*":
                self.add("forbidden_import", f"'from {mod} import *' hides names; import the module instead", node)
                continue
            why = check_import(f"{mod}.{alias.name}") or self._attr_problem(alias.name, on_module=True)
            if why:
                self.add("forbidden_import", f"'from {mod} import {alias.name}': {why}", node)

    @staticmethod
    def _attr_problem(attr: str, on_module: bool) -> str | None:
        if attr in ("stride_tricks", "as_strided"):
            return f"{attr!r}: raw strided views can read memory outside the array"
        if attr in FORBIDDEN_MODULE_ATTRS or (on_module and attr in FORBIDDEN_SUBMODULE_ATTRS):
            return f"{attr!r} reaches file, network, process or interpreter access"
        if on_module and attr in FORBIDDEN_CALL_ATTRS:
            return f"{attr!r}: {FORBIDDEN_CALL_ATTRS[attr]}"
        if attr.startswith("_"):
            return f"{attr!r} is private"
        return None

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if name in ("getattr", "hasattr") and name not in self.bound and id(node) not in self.called:
            self.add("forbidden_call", f"{name!r} may only be called directly, with a constant attribute name", node)
        elif name in FORBIDDEN_BUILTINS and (name in _ALWAYS_FLAGGED or name not in self.bound):
            self.add("forbidden_call", f"{name!r} is not available: {FORBIDDEN_BUILTINS[name]}", node)
        elif is_dunder(name):
            self.add("dunder_access", f"{name!r}: reward code may not use dunder names", node)
        elif name in FORBIDDEN_MODULES and name not in self.bound:
            self.add("forbidden_import", f"{name!r} is file, network or process access and is not available", node)
        if isinstance(node.ctx, ast.Load):
            # f = np.save; f(...): the alias is refused wherever it is used, called or not
            # (np.save itself is reported where it is read)
            vals = self._lib(node)
            bad = {k: cv for k, cv in vals.items() if cv[0] and k[0].rsplit(".", 1)[-1] in FORBIDDEN_CALL_ATTRS}
            if bad:
                qual = min(q for q, _ in bad)
                why = FORBIDDEN_CALL_ATTRS[qual.rsplit(".", 1)[-1]]
                self.add(
                    "forbidden_call", f"{self.aliases.describe(node, bad)}{_show(qual)} is not allowed: {why}", node
                )

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        # the base may be a library value: a module by its import name (np.save), or one reached
        # through an alias (m = np; m.save), a container, a call...; ``via`` names the alias chain
        base = self._lib(node.value)
        on_module = bool(base)

        def via() -> str:  # only for a finding: describing explains the roots on the chain
            return self.aliases.describe(node.value, base) if on_module else ""

        if is_dunder(attr):
            self.add("dunder_access", f"attribute {attr!r}: dunder attributes reach interpreter internals", node)
        elif attr.startswith("_"):
            self.add(
                "private_access",
                f"attribute {attr!r}: private attributes are not part of the state view or the allowed libraries",
                node,
            )
        elif attr in FORBIDDEN_MODULE_ATTRS or (on_module and attr in FORBIDDEN_SUBMODULE_ATTRS):
            self.add("forbidden_import", f"{via()}attribute {self._attr_problem(attr, on_module=True)}", node)
        elif on_module and attr in FORBIDDEN_CALL_ATTRS:
            # refused whether it is called or not: f = np.save is np.save
            prefix = via()
            if prefix:
                quals = ", ".join(_show(f"{q}.{attr}") for q in _quals(base))
                self.add("forbidden_call", f"{prefix}{quals} is not allowed: {FORBIDDEN_CALL_ATTRS[attr]}", node)
            else:
                self.add("forbidden_call", f"{attr!r}: {FORBIDDEN_CALL_ATTRS[attr]}", node)
        elif (
            attr in FORBIDDEN_CALL_ATTRS
            and isinstance(node.ctx, ast.Load)
            and id(node) not in self.called
            and not self._is_field(node)
        ):
            # f = s.x.tofile; f(path): a file/process method taken without calling it is refused
            # as the call would be (calls are reported by visit_Call)
            self.add(
                "forbidden_call",
                f".{attr} referenced without calling it: {FORBIDDEN_CALL_ATTRS[attr]}; "
                "binding it to another name does not make it allowed",
                node,
            )
        if isinstance(node.ctx, ast.Store | ast.Del):
            self._check_store(node)
        self.generic_visit(node)

    def _is_field(self, node: ast.Attribute) -> bool:
        """``s.<field>`` or ``s.prev.<field>``: a state-view field may share a method's name."""
        v = node.value
        if isinstance(v, ast.Attribute) and v.attr == "prev":
            v = v.value
        return isinstance(v, ast.Name) and v.id == self.entry_param

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, ast.Store | ast.Del):
            self._check_store(node)
        self.generic_visit(node)

    def _check_store(self, node: ast.Attribute | ast.Subscript) -> None:
        base = self._lib(node.value)
        if base:  # assigning into anything that may be a library value
            via = self.aliases.describe(node.value, base)
            if not via:
                root = _root_name(node)
                self.add("monkeypatch", f"assigns into module {root!r}; reward code must not change libraries", node)
                return
            quals = _quals(base)
            kind = "module" if all(self.aliases.is_module(q) for q in quals) else "library object"
            what = ", ".join(repr(_show(q)) for q in quals[:3])
            self.add(
                "monkeypatch",
                f"{via}assigns into {kind} {what} (`{self.aliases.text(node, 40)} = ...`); reward code must not change "
                "libraries, under any name",
                node,
            )
            return
        root = _root_name(node)
        if root is None:
            return
        if root == self.entry_param:
            self.add(
                "monkeypatch",
                f"writes into the state view {root!r}; the view is shared with fitness and other rewards -- "
                "compute new arrays instead",
                node,
            )
        elif root in self.module_names and self.local_names and not any(root in ls for ls in self.local_names):
            self.add(
                "global_state",
                f"changes module-level {root!r} from a function; reward code must not keep state between calls",
                node,
            )

    def visit_Global(self, node: ast.Global) -> None:
        self.add(
            "global_state", f"'global {', '.join(node.names)}': reward code must not keep or change module state", node
        )

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.add(
            "global_state", f"'nonlocal {', '.join(node.names)}': reward code must not keep state between calls", node
        )

    def visit_Call(self, node: ast.Call) -> None:
        fn = node.func
        self.called.add(id(fn))
        if isinstance(fn, ast.Name) and fn.id in ("getattr", "hasattr") and fn.id not in self.bound:
            name = node.args[1] if len(node.args) >= 2 else None
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                self.add("forbidden_call", f"{fn.id}() with a computed name; use s.<field> or a constant string", node)
            elif name.value.startswith("_"):
                self.add(
                    "dunder_access", f"{fn.id}(..., {name.value!r}): private and dunder attributes are off limits", node
                )
            else:
                why = self._attr_problem(name.value, on_module=True)
                if why:
                    self.add("forbidden_call", f"{fn.id}(..., {name.value!r}): {why}", node)
        elif isinstance(fn, ast.Attribute) and fn.attr in FORBIDDEN_CALL_ATTRS:
            if not self._lib(fn.value):  # calls on library values are reported by visit_Attribute
                self.add("forbidden_call", f".{fn.attr}(): {FORBIDDEN_CALL_ATTRS[fn.attr]}", node)
        self.generic_visit(node)

    def finish(self) -> None:
        """Rule 2: every module root no finding through its alias explained."""
        for node_id, node in self.aliases.roots.items():
            if node_id in self.aliases.explained:
                continue
            text = self.aliases.text(node, 30)
            stmt = node
            while not isinstance(stmt, ast.stmt) and id(stmt) in self.aliases.parent:
                stmt = self.aliases.parent[id(stmt)]
            where = f" in `{self.aliases.text(stmt)}`" if stmt is not node else ""
            self.add(
                "forbidden_import",
                f"module {text!r} used as a value{where}: bind a module only by import and read its attributes "
                f"directly ({text}.<name>); a module in another name, a container, an argument or a return "
                "value would get past the checks on its attributes",
                node,
            )

    def _async(self, node: ast.AST) -> None:
        self.add("async_code", "async code is not supported in reward functions", node)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_Await = visit_AsyncFor = visit_AsyncWith = _async


def static_check(source: str, entry: str = "compute_reward") -> list[Issue]:
    """Check reward ``source`` against the reward-code contract without running it.

    :returns: issues sorted by line; empty when the source may go to the dynamic smoke test.
    """
    if not source.strip():
        return [Issue("empty_source", f"no code found; answer with a Python code block defining `def {entry}(s)`")]
    if len(source) > MAX_SOURCE_CHARS:
        return [Issue("source_too_large", f"source is {len(source)} characters; the limit is {MAX_SOURCE_CHARS}")]
    try:
        tree = ast.parse(source, filename="<reward_candidate>")
    except SyntaxError as e:
        where = f" (column {e.offset})" if e.offset else ""
        text = f": {e.text.strip()!r}" if e.text and e.text.strip() else ""
        return [Issue("syntax_error", f"{e.msg}{where}{text}", e.lineno)]
    except (RecursionError, MemoryError):
        return [Issue("syntax_error", "the code is nested too deeply to parse; simplify the expressions")]
    except ValueError as e:  # e.g. null bytes
        return [Issue("syntax_error", f"source cannot be parsed: {e}")]

    entry_node: ast.AST | None = None
    issues: list[Issue] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            if getattr(node, "name", None) == entry:
                entry_node = node
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue
        if _is_constant_assignment(node):
            if entry in _assigned_names(node):
                entry_node = node
            continue
        issues.append(
            Issue(
                "toplevel_code",
                f"top-level statement `{_describe(node)}` would run at import time; only imports, functions, "
                "classes and constants are allowed at top level",
                node.lineno,
            )
        )

    param: str | None = None
    if entry_node is None:
        names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        found = f"; functions found: {', '.join(names)}" if names else ""
        issues.append(Issue("missing_entry", f"no function named {entry!r}{found}; define `def {entry}(s):`"))
    elif not isinstance(entry_node, ast.FunctionDef):
        what = "async" if isinstance(entry_node, ast.AsyncFunctionDef) else "not a function"
        issues.append(Issue("bad_signature", f"{entry!r} is {what}; define `def {entry}(s):`", entry_node.lineno))
    else:
        a = entry_node.args
        positional = [*a.posonlyargs, *a.args]
        required = len(positional) - len(a.defaults)
        problem = None
        if a.vararg or a.kwarg:
            problem = "takes *args/**kwargs"
        elif not positional or required != 1:
            problem = f"takes {required} required positional parameters"
        elif any(d is None for d in a.kw_defaults):
            problem = "has keyword-only parameters without defaults"
        if problem:
            issues.append(
                Issue(
                    "bad_signature",
                    f"{entry}{_signature(entry_node)} {problem}; it must take exactly one parameter, the batched "
                    f"state view: `def {entry}(s):` reading s.<field>",
                    entry_node.lineno,
                )
            )
        if positional:
            param = positional[0].arg

    module_names = {n for node in tree.body if _is_constant_assignment(node) for n in _assigned_names(node)}
    bound = _bound_names(tree)
    try:
        checker = _Checker(param, bound, module_names, _Aliases(tree, bound, source))
        checker.visit(tree)
        checker.finish()
    except RecursionError:
        return [Issue("syntax_error", "the code is nested too deeply to check; simplify the expressions")]
    issues.extend(checker.issues)
    seen: set[tuple[str, int | None, str]] = set()
    unique = []
    for i in issues:
        key = (i.label, i.lineno, i.message)
        if key not in seen:
            seen.add(key)
            unique.append(i)
    return sorted(unique, key=lambda i: i.lineno or 0)


def _signature(fn: ast.FunctionDef) -> str:
    try:
        return f"({ast.unparse(fn.args)})"
    except Exception:  # pragma: no cover
        return "(...)"


def imported_modules(source: str) -> list[str]:
    """Allowed modules ``source`` imports (for pre-importing them before limits are set)."""
    out: list[str] = []
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return out
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names if a.name != "*"]
        for n in names:
            if check_import(n) is None and n not in out:
                out.append(n)
    return out
