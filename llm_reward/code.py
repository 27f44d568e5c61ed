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
* Modules are bound only by ``import`` and used only by reading their attributes
  (``np.clip(...)``): a module in another name, a container, an argument or a return value
  (``m = np``, ``[np]``, ``f(np)``) is refused, and the rules above follow such aliases
  (``m = np; m.save(...)``, ``f = np.save``). A forbidden function is refused whether it is called
  or only referenced (``w = s.x.tofile``).

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


# -- aliases -----------------------------------------------------------------------------------
#
# The bans above name module attributes (``np.save``, ``torch.utils``) and forbid assigning into
# modules. Read literally they would only hold where the module is spelled by its import name:
# ``m = np; m.save(...)``, ``f = np.save``, ``for m in (np,)``, ``def g(s, m=np)``, ``[np][0]``, a
# helper that returns ``np``... would all get past them. Two rules close that:
#
# 1. :class:`_Aliases` follows library values (modules, their submodules and members) through
#    the program -- assignments of every kind, loop/with/comprehension/match targets, default
#    arguments, calls of the candidate's own functions and lambdas (arguments to parameters,
#    return and yield values to the call), containers, subscripts, attributes of the candidate's
#    objects -- conservatively: a name bound to a library value anywhere in its scope may be that
#    value everywhere in it. The checker applies the module rules to every expression that may be
#    a library value and names the alias chain in its messages ("m is numpy (m = np, line 3)").
# 2. Independently of how precise (1) is, a module spelled by its import name (``np``, ``np.lib``)
#    anywhere but as the base of an attribute read is itself a finding, the "root" of any alias.
#    A root explained by a finding made through the alias it starts is not reported twice;
#    every other root is reported as "module used as a value". So no program that binds a module
#    to anything (a name, a container, an argument, a return value) passes, and (1) only decides
#    which label and message it gets.

# modules of the allowed packages that code may reach by attribute (``np.lib``): a value of one
# of these (or a name bound by ``import``) is a module for rule 2; anything else reached from a
# module (np.clip, np.pi, np.float32) is a member and may be used as a value
_MODULE_QUALS = frozenset(
    {
        "numpy.char", "numpy.core", "numpy.ctypeslib", "numpy.distutils", "numpy.dtypes", "numpy.emath",
        "numpy.exceptions", "numpy.f2py", "numpy.fft", "numpy.lib", "numpy.linalg", "numpy.ma",
        "numpy.matlib", "numpy.matrixlib", "numpy.polynomial", "numpy.random", "numpy.rec", "numpy.strings",
        "numpy.testing", "numpy.typing", "numpy.version", "numpy.lib.array_utils", "numpy.lib.format",
        "numpy.lib.introspect", "numpy.lib.mixins", "numpy.lib.npyio", "numpy.lib.scimath",
        "numpy.lib.stride_tricks", "numpy.linalg.linalg", "numpy.ma.core", "numpy.ma.extras",
        "numpy.polynomial.polynomial", "numpy.polynomial.chebyshev", "numpy.polynomial.legendre",
        "numpy.polynomial.hermite", "numpy.polynomial.hermite_e", "numpy.polynomial.laguerre",
        "numpy.random.mtrand", "numpy.fft.helper",
        "torch.accelerator", "torch.amp", "torch.ao", "torch.autograd", "torch.backends", "torch.builtins",
        "torch.classes", "torch.compiler", "torch.cpp", "torch.cpu", "torch.ctypes", "torch.cuda",
        "torch.distributed", "torch.distributions", "torch.export", "torch.fft", "torch.func",
        "torch.functional", "torch.functools", "torch.futures", "torch.fx", "torch.glob", "torch.hub",
        "torch.importlib", "torch.inspect", "torch.jit", "torch.library", "torch.linalg", "torch.masked",
        "torch.monitor", "torch.mps", "torch.mtia", "torch.multiprocessing", "torch.nested", "torch.nn",
        "torch.onnx", "torch.ops", "torch.optim", "torch.os", "torch.overrides", "torch.package",
        "torch.platform", "torch.profiler", "torch.quantization", "torch.quasirandom", "torch.random",
        "torch.return_types", "torch.serialization", "torch.signal", "torch.sparse", "torch.special",
        "torch.storage", "torch.sys", "torch.testing", "torch.textwrap", "torch.threading", "torch.types",
        "torch.utils", "torch.version", "torch.warnings", "torch.xpu", "torch.functional.F", "torch.nested.F",
        "torch.nn.attention", "torch.nn.common_types", "torch.nn.functional", "torch.nn.grad", "torch.nn.init",
        "torch.nn.intrinsic", "torch.nn.modules", "torch.nn.parallel", "torch.nn.parameter", "torch.nn.qat",
        "torch.nn.quantizable", "torch.nn.quantized", "torch.nn.utils", "torch.utils.data",
        "torch.utils.checkpoint", "torch.utils.dlpack", "torch.utils.hooks", "torch.autograd.function",
        "torch.autograd.functional", "torch.autograd.graph", "torch.autograd.grad_mode", "torch.optim.lr_scheduler",
    }
)  # fmt: skip

_MAX_DEPTH = 3  # container nesting followed: [[np]] is depth 2
_MAX_PARTS = 8  # dotted components of a library value's name
_MAX_CHAIN = 6  # binding steps kept per value (the messages show them)
_MAX_PASSES = 50  # fixed-point passes over the bindings
_MAX_VALUES = 16  # different values one expression may have
_MAX_STEPS = 8  # steps kept per value to explain roots
_MAX_WORK = 300_000  # expressions evaluated in all: a large hostile program must not stall the check
# (when a bound cuts the tracking short, rule 2 still refuses every module root; only the labels
# and messages may be less precise)


@dataclass(frozen=True, eq=False)
class _Step:
    """One binding on an alias chain (``m = np`` on line 3); ``node`` is the bound value, so a
    finding made through this step explains the roots inside it."""

    text: str
    lineno: int
    node: ast.AST


# A value is what an expression may evaluate to, as far as libraries go:
#   (qual, depth) -> (chain, steps)
# qual: "numpy", "numpy.lib", "numpy.save" (a library value; "numpy.typecodes[]" is an item of
# one), or the candidate's own objects: "@fn:<id>" (a function, by the id of its def or lambda
# node), "@cls:<id>" (a class) and "@obj:<id>" (an instance of one; its attributes are looked up
# by name).
# depth: 0 for the value itself, n for a value held n containers deep.
# chain: the binding steps that led there (the first ones found, for messages); steps: every
# step that contributed (for explaining roots).
_Chain = tuple[_Step, ...]
_Vals = dict[tuple[str, int], tuple[_Chain, frozenset[_Step]]]


def _short(node: ast.AST, n: int = 60) -> str:
    try:
        text = ast.unparse(node).splitlines()[0]
    except Exception:  # pragma: no cover - unparse of a parsed tree does not fail in practice
        text = type(node).__name__
    return text if len(text) <= n else text[: n - 3] + "..."


def _merge(into: _Vals, vals: _Vals) -> bool:
    """Add ``vals`` to ``into``; True when something was new."""
    changed = False
    for k, (chain, steps) in vals.items():
        old = into.get(k)
        if old is None:
            if len(into) < _MAX_VALUES:
                into[k] = (chain, steps)
                changed = True
        elif len(old[1]) < _MAX_STEPS and not steps <= old[1]:
            kept = sorted(old[1] | steps, key=lambda st: (st.lineno, st.text))[:_MAX_STEPS]
            into[k] = (old[0], frozenset(kept))
            changed = True
    return changed


def _shift(vals: _Vals, by: int) -> _Vals:
    """``by=+1``: the values put in a container; ``by=-1``: the items taken out of one (an item
    of a library value itself is a library value: ``np.typecodes["All"]``)."""
    out: _Vals = {}
    for (q, d), cv in vals.items():
        if by < 0 and d == 0:
            if q.startswith("@"):
                continue
            k = (q if q.endswith("[]") else q + "[]", 0)
        else:
            k = (q, max(0, min(_MAX_DEPTH, d + by)))
        _merge(out, {k: cv})
    return out


def _with_step(vals: _Vals, step: _Step) -> _Vals:
    out: _Vals = {}
    for k, (chain, steps) in vals.items():
        chain = (*chain, step) if len(chain) < _MAX_CHAIN else (*chain[: _MAX_CHAIN - 1], step)
        out[k] = (chain, steps | {step})
    return out


def _library(vals: _Vals) -> _Vals:
    """The library values themselves (not functions of the candidate's, not contents)."""
    return {k: cv for k, cv in vals.items() if k[1] == 0 and not k[0].startswith("@")}


def _show(qual: str) -> str:
    return qual.replace("[]", "[...]")


def _quals(vals: _Vals) -> list[str]:
    """The names of the values, for messages: ``numpy`` rather than ``numpy, numpy[...]``."""
    quals = {q for q, _ in vals}
    return sorted(q for q in quals if not (q.endswith("[]") and q[:-2] in quals))


class _Scope:
    def __init__(self, kind: str, parent: _Scope | None) -> None:
        self.kind, self.parent = kind, parent
        self.locals: set[str] = set()
        self.outer: set[str] = set()  # declared global or nonlocal here


@dataclass
class _Function:
    """A def or lambda of the candidate's: where its parameters are bound."""

    name: str
    params: list[tuple[str, tuple[int, str]]]  # positional parameters: (name, key)
    kwonly: dict[str, tuple[int, str]]
    vararg: tuple[int, str] | None
    kwarg: tuple[int, str] | None


class _Aliases:
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

    # -- rule 2: module roots -----------------------------------------------------------------

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


def _all_args(a: ast.arguments) -> list[ast.arg]:
    return [*a.posonlyargs, *a.args, *([a.vararg] if a.vararg else []), *a.kwonlyargs, *([a.kwarg] if a.kwarg else [])]


def _own_nodes(fn: ast.AST) -> list[ast.AST]:
    """The nodes of a function's body, not those of functions, lambdas or classes inside it."""
    out: list[ast.AST] = []
    todo = list(fn.body) if isinstance(fn.body, list) else [fn.body]  # type: ignore[attr-defined]
    while todo:
        n = todo.pop()
        out.append(n)
        if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            todo.extend(ast.iter_child_nodes(n))
    return out


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
