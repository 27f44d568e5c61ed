"""From an LLM response to reward source code: extraction and static checks.

The reward-code contract
------------------------
An LLM-written reward is a Python module whose entry point (``compute_reward`` by default,
configurable) takes exactly one parameter, the task's batched state view, and returns
``(total, components)``::

    import numpy as np

    def _energy(x, v):
        return 0.0025 * np.sin(3.0 * x) + 1.5 * v**2

    def compute_reward(s):
        gain = 400.0 * (_energy(s.x, s.v) - _energy(s.prev.x, s.prev.v))
        goal = np.where(s.x >= 0.5, 10.0, 0.0)
        return gain + goal, {"energy_gain": gain, "goal": goal}

* ``s.<field>`` are arrays over the vector of envs (``(n,)`` or ``(n, ...)``); ``s.prev`` is the
  view of the previous state; ``s.action``, ``s.env_reward``, ``s.terminated``,
  ``s.truncated`` and ``s.step`` describe the transition.
* ``total`` is a float array of shape ``(n,)``, one value per env; ``components`` maps names to
  ``(n,)`` arrays. numpy arrays or torch tensors are both accepted. ``total`` need not equal the
  sum of the components (a reward may weight or clip them); the components are what gets logged
  and reported back to the LLM.
* Allowed imports: ``math``, ``numpy`` (and its public submodules such as ``numpy.linalg``)
  and ``torch``. Helper functions, classes and simple module constants (``GOAL_X = 0.5``) are
  allowed; nothing else runs at import time.
* Forbidden: file, network and process access, ``open``/``exec``/``eval``/``compile``/
  ``__import__``/``globals``/``locals``/``vars``/``setattr``/``delattr``, ``getattr`` with a
  computed or private name, ``type``/``object``, any ``_private`` or ``__dunder__`` attribute,
  ``global``/``nonlocal`` or changing a module-level constant from a function, and assigning into
  a module (``np.sum = ...``) or into the state view (``s.x[:] = 0``).

Extraction (:func:`extract_code`) reads every code block of a response -- fenced ```` ```python ````
blocks, plain ```` ``` ```` blocks, or bare code when there are no fences -- and merges their
top-level imports, functions, classes and constants into one module. **A later definition of a
name overrides an earlier one** (an LLM that writes a helper, then a corrected version of it,
means the correction); everything else at top level (example calls, prints, ``if __name__ ==
"__main__":`` blocks) is dropped and listed in :attr:`Extraction.dropped`.

:func:`static_check` then returns a list of :class:`Issue` with stable labels:
``syntax_error``, ``source_too_large``, ``empty_source``, ``forbidden_import``,
``forbidden_call``, ``dunder_access``, ``private_access``, ``monkeypatch``, ``global_state``,
``async_code``, ``toplevel_code``, ``missing_entry``, ``bad_signature``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

ALLOWED_MODULES = frozenset({"math", "numpy", "torch"})
"""Top-level modules reward code may import (with their public submodules)."""

DENIED_SUBMODULES = frozenset(
    {
        "numpy.ctypeslib",
        "numpy.f2py",
        "numpy.distutils",
        "numpy.testing",
        "numpy.lib.npyio",
        "numpy.lib.format",
        "torch.utils",
        "torch.multiprocessing",
        "torch.distributed",
        "torch.hub",
        "torch.package",
        "torch.ops",
        "torch.classes",
        "torch.library",
        "torch.backends",
        "torch.cuda",
        "torch.compiler",
        "torch.serialization",
    }
)
"""Submodules of allowed packages that reach files, processes, native code or devices."""

FORBIDDEN_MODULES = frozenset(
    {
        "os", "sys", "subprocess", "socket", "shutil", "pathlib", "ctypes", "multiprocessing",
        "threading", "_thread", "importlib", "pickle", "marshal", "shelve", "builtins", "io",
        "signal", "resource", "mmap", "gc", "inspect", "tempfile", "glob", "time", "asyncio",
        "select", "selectors", "fcntl", "pty", "posix", "faulthandler", "urllib", "http",
        "requests", "ssl", "code", "codeop", "runpy", "platform", "concurrent", "sched",
        "ftplib", "smtplib", "telnetlib", "webbrowser", "zipfile", "tarfile", "sqlite3",
    }
)  # fmt: skip
"""Modules named in error messages as file/network/process/interpreter access."""

# attribute names that reach one of those modules through another object (np._core...os);
# flagged wherever they appear
FORBIDDEN_MODULE_ATTRS = frozenset(
    {
        "os", "sys", "subprocess", "socket", "shutil", "pathlib", "ctypes", "ctypeslib",
        "multiprocessing", "threading", "importlib", "pickle", "marshal", "builtins", "signal",
        "resource", "mmap", "gc", "inspect", "tempfile", "faulthandler", "f2py", "distutils",
        "npyio", "stride_tricks", "as_strided",
    }
)  # fmt: skip
# submodule names of numpy/torch that are only flagged on a module (``torch.utils``), since a
# state-view field could share the name
FORBIDDEN_SUBMODULE_ATTRS = frozenset(
    {"testing", "hub", "distributed", "package", "ops", "classes", "library", "utils", "serialization", "compiler"}
)

FORBIDDEN_BUILTINS = {
    "open": "reward code must not touch files",
    "exec": "reward code must not run generated code",
    "eval": "reward code must not run generated code",
    "compile": "reward code must not compile code",
    "__import__": "import only math, numpy and torch with import statements",
    "globals": "reward code must not reach interpreter state",
    "locals": "reward code must not reach interpreter state",
    "vars": "reward code must not reach interpreter state",
    "setattr": "reward code must not modify objects it did not create",
    "delattr": "reward code must not modify objects it did not create",
    "input": "reward code runs without a terminal",
    "breakpoint": "reward code runs without a debugger",
    "help": "reward code runs without a terminal",
    "exit": "reward code must return, not exit",
    "quit": "reward code must return, not exit",
    "memoryview": "reward code must not reach raw memory",
    "type": "use isinstance() instead",
    "object": "reward code must not reach the class hierarchy",
}
"""Builtin names reward code may not use, with the reason given in messages."""

# methods and functions that read or write files, start processes or load native code
FORBIDDEN_CALL_ATTRS = {
    **dict.fromkeys(
        ("save", "savez", "savez_compressed", "savetxt", "tofile", "dump", "dumps", "memmap",
         "open_memmap", "write_text", "write_bytes", "touch", "mkdir", "makedirs", "rmdir",
         "rmtree", "unlink", "chmod", "chown", "symlink", "truncate"),
        "reward code must not write files",
    ),
    **dict.fromkeys(
        ("load", "loads", "loadtxt", "genfromtxt", "fromfile", "fromregex", "DataSource",
         "from_file", "load_library", "read_text", "read_bytes"),
        "reward code must not read files",
    ),
    **dict.fromkeys(
        ("system", "popen", "fork", "forkpty", "spawnl", "spawnv", "spawnlp", "spawnvp",
         "execv", "execve", "execl", "execlp", "execvp", "posix_spawn", "kill", "killpg",
         "setrlimit", "setsid", "setuid", "setrecursionlimit", "set_num_threads",
         "set_num_interop_threads", "set_default_device", "compile"),
        "reward code must not start processes or change interpreter settings",
    ),
}  # fmt: skip

MAX_SOURCE_CHARS = 64_000


@dataclass(frozen=True)
class Issue:
    """One static-check finding.

    :param label: stable short string (``forbidden_import``, ``dunder_access``...).
    :param message: what is wrong and what to do instead, for people and for the LLM.
    :param lineno: 1-based line in the checked source, when known.
    """

    label: str
    message: str
    lineno: int | None = None

    def __str__(self) -> str:
        where = f"line {self.lineno}: " if self.lineno else ""
        return f"[{self.label}] {where}{self.message}"


@dataclass
class CodeBlock:
    """One code block of a response: its language tag (``""`` for plain fences or bare code)."""

    text: str
    lang: str
    parsed: bool


@dataclass
class Extraction:
    """The merged module and how it was obtained.

    :param source: merged source (imports, constants, classes and functions), or the text of the
        first unparsable block when no block parses (so :func:`static_check` reports the
        syntax error with its line).
    :param entry: the entry point's name.
    :param entry_found: whether a function of that name was found.
    :param functions: top-level function and class names in the merged module.
    :param blocks: every block found, in order.
    :param dropped: short descriptions of top-level statements left out.
    :param overridden: names defined more than once (the last definition was kept).
    """

    source: str
    entry: str
    entry_found: bool
    functions: list[str] = field(default_factory=list)
    blocks: list[CodeBlock] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)


_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.S | re.M)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3", "ipython", "pycon"}
_CODE_START = re.compile(r"^(import |from \S+ import |def |class |@|async def |[A-Za-z_]\w* *=)")


def find_code_blocks(response: str) -> list[CodeBlock]:
    """All Python code blocks of ``response``: fenced blocks tagged python (or untagged), else
    the bare code in it. Blocks in other languages (```` ```json ````) are skipped."""
    blocks = []
    for m in _FENCE.finditer(response):
        lang = m.group(2).lower()
        if lang not in _PYTHON_TAGS:
            continue
        text = m.group(3)
        blocks.append(CodeBlock(text, lang, _parses(text)))
    if any(b.lang == "" for b in blocks) and any(b.lang for b in blocks):
        # untagged fences beside python ones are often output samples: keep those that parse
        blocks = [b for b in blocks if b.lang or b.parsed]
    if blocks:
        return blocks
    bare = _bare_code(response)
    return [CodeBlock(bare, "", _parses(bare))] if bare.strip() else []


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _bare_code(response: str) -> str:
    """Code in a response without fences: from the first code-looking line, with trailing prose
    lines dropped until the rest parses."""
    lines = response.splitlines()
    start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is None:
        return response
    body = lines[start:]
    for end in range(len(body), 0, -1):
        text = "\n".join(body[:end]) + "\n"
        if end < len(body) - 200:  # don't parse a long prose tail line by line
            break
        if _parses(text):
            return text
    return "\n".join(body) + "\n"


def _segment(lines: list[str], node: ast.stmt) -> str:
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "\n".join(lines[start - 1 : node.end_lineno]) + "\n"


def _describe(node: ast.stmt) -> str:
    try:
        text = ast.unparse(node).splitlines()[0]
    except Exception:  # pragma: no cover - unparse of a parsed tree does not fail in practice
        text = type(node).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def extract_code(response: str, entry: str = "compute_reward") -> Extraction:
    """Merge every code block of an LLM ``response`` into one reward module.

    Imports are kept once each, in order of appearance; functions, classes and simple constant
    assignments are keyed by name and **a later definition overrides an earlier one** (its
    position is that of the first definition). Other top-level statements are dropped and
    listed in :attr:`Extraction.dropped`. Blocks that do not parse are skipped when another
    block parses; when none parses, the first one is returned as is.
    """
    blocks = find_code_blocks(response)
    good = [b for b in blocks if b.parsed]
    if not good:
        text = blocks[0].text if blocks else ""
        return Extraction(text, entry, False, blocks=blocks)
    imports: dict[str, str] = {}
    defs: dict[str, str] = {}
    consts: dict[str, str] = {}
    kinds: dict[str, str] = {}
    dropped: list[str] = []
    overridden: list[str] = []
    for block in good:
        lines = block.text.splitlines()
        for node in ast.parse(block.text).body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                imports.setdefault(ast.unparse(node), _segment(lines, node))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if node.name in defs or node.name in consts:
                    overridden.append(node.name)
                    consts.pop(node.name, None)
                defs[node.name] = _segment(lines, node)
                kinds[node.name] = "def"
            elif _is_constant_assignment(node):
                names = _assigned_names(node)
                key = ",".join(names)
                if key in consts or any(n in defs for n in names):
                    overridden.append(key)
                    for n in names:
                        defs.pop(n, None)
                consts[key] = _segment(lines, node)
            elif (
                isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                continue  # a docstring
            else:
                dropped.append(f"line {node.lineno}: {_describe(node)}")
    parts = list(imports.values())
    if consts:
        parts.append("")
        parts.extend(consts.values())
    for text in defs.values():
        parts.append("\n")
        parts.append(text)
    source = "".join(p if p.endswith("\n") else p + "\n" for p in parts).lstrip("\n")
    functions = [n for n, k in kinds.items() if k == "def" and n in defs]
    return Extraction(source, entry, entry in defs, functions, blocks, dropped, sorted(set(overridden)))


def _assigned_names(node: ast.stmt) -> list[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]  # type: ignore[attr-defined]
    names: list[str] = []
    for t in targets:
        elts = t.elts if isinstance(t, ast.Tuple | ast.List) else [t]
        names.extend(e.id for e in elts if isinstance(e, ast.Name))
    return names


def _is_constant_assignment(node: ast.stmt) -> bool:
    """``NAME = <constant expression>`` (also annotated, tuple targets)."""
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets, value = [node.target], node.value
    else:
        return False
    for t in targets:
        elts = t.elts if isinstance(t, ast.Tuple | ast.List) else [t]
        if not all(isinstance(e, ast.Name) for e in elts):
            return False
    return _is_constant_expr(value)


_CONST_NODES = (
    ast.Constant, ast.Name, ast.Load, ast.Attribute, ast.UnaryOp, ast.BinOp, ast.BoolOp, ast.Compare,
    ast.Tuple, ast.List, ast.Set, ast.Dict, ast.operator, ast.unaryop, ast.boolop, ast.cmpop,
)  # fmt: skip


def _is_constant_expr(node: ast.expr) -> bool:
    """Literals, names, attributes and arithmetic on them: no calls, no comprehensions."""
    return all(isinstance(n, _CONST_NODES) for n in ast.walk(node))


def is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def check_import(name: str, allow_private: bool = False) -> str | None:
    """Why importing module ``name`` is not allowed, or None.

    :param allow_private: admit private submodules of the allowed packages. The runtime
        importer does: numpy and torch import their own private modules from C
        (``ndarray.sum`` imports ``numpy._core._methods``), and such imports go through the
        ``__import__`` of the calling frame, the candidate's.
    """
    root = name.split(".")[0]
    if root not in ALLOWED_MODULES:
        what = "file, network or process access" if root in FORBIDDEN_MODULES else "a module outside the allow-list"
        return f"import of {name!r} is not allowed ({what}); reward code may import only math, numpy (as np) and torch"
    parts = name.split(".")
    for i in range(2, len(parts) + 1):
        if ".".join(parts[:i]) in DENIED_SUBMODULES:
            return f"import of {name!r} is not allowed: it reaches files, processes or native code"
    if not allow_private and any(p.startswith("_") for p in parts[1:]):
        return f"import of private module {name!r} is not allowed"
    return None


# builtins flagged even when the source binds the same name (no reward needs to shadow them)
_ALWAYS_FLAGGED = frozenset(
    {"exec", "eval", "compile", "__import__", "globals", "locals", "setattr", "delattr", "memoryview", "breakpoint"}
)


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
    def __init__(self, entry_param: str | None, bound: set[str], module_names: set[str]) -> None:
        self.issues: list[Issue] = []
        self.modules: set[str] = set()  # names bound to imported modules
        self.entry_param = entry_param
        self.bound = bound
        self.module_names = module_names  # module-level constants
        self.local_names: list[set[str]] = []  # names assigned in each enclosing function
        self.called: set[int] = set()  # ids of Name nodes in call position

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
            self.modules.add(alias.asname or alias.name.split(".")[0])

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
            self.modules.add(alias.asname or alias.name)

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

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        on_module = _root_name(node.value) in self.modules
        if is_dunder(attr):
            self.add("dunder_access", f"attribute {attr!r}: dunder attributes reach interpreter internals", node)
        elif attr.startswith("_"):
            self.add(
                "private_access",
                f"attribute {attr!r}: private attributes are not part of the state view or the allowed libraries",
                node,
            )
        elif attr in FORBIDDEN_MODULE_ATTRS or (on_module and attr in FORBIDDEN_SUBMODULE_ATTRS):
            self.add("forbidden_import", f"attribute {self._attr_problem(attr, on_module=True)}", node)
        elif on_module and attr in FORBIDDEN_CALL_ATTRS:
            self.add("forbidden_call", f"{attr!r}: {FORBIDDEN_CALL_ATTRS[attr]}", node)
        if isinstance(node.ctx, ast.Store | ast.Del):
            self._check_store(node)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, ast.Store | ast.Del):
            self._check_store(node)
        self.generic_visit(node)

    def _check_store(self, node: ast.Attribute | ast.Subscript) -> None:
        root = _root_name(node)
        if root is None:
            return
        if root in self.modules:
            self.add("monkeypatch", f"assigns into module {root!r}; reward code must not change libraries", node)
        elif root == self.entry_param:
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
            if _root_name(fn.value) not in self.modules:  # module calls are reported by visit_Attribute
                self.add("forbidden_call", f".{fn.attr}(): {FORBIDDEN_CALL_ATTRS[fn.attr]}", node)
        self.generic_visit(node)

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
    checker = _Checker(param, _bound_names(tree), module_names)
    try:
        checker.visit(tree)
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
