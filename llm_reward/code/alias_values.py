"""The values the alias tracker (:mod:`llm_reward.code.aliases`) follows through a program: library
values, the binding steps that led to them, the bounds on the tracking, and the scopes and
functions of the candidate's program they flow through."""

from __future__ import annotations

import ast
from dataclasses import dataclass

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
