"""The static check follows aliases of modules and of forbidden functions (llm_reward.code).

Binding ``np`` (or ``np.save``, ``np.lib``...) to another name first -- by assignment,
unpacking, walrus, a loop/with/comprehension/match target, a default argument, a lambda, a
function's return value, a container -- must not get past the bans on module attributes or on
assigning into modules; and a module used as anything but the base of an attribute read is
refused on its own ("module ... used as a value").
"""

from __future__ import annotations

import ast
import json
import random
import time
from pathlib import Path

import pytest

from llm_reward.code import Issue, extract_code, static_check

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "hostile"
HEADER = "import math\n\nimport numpy as np\nimport torch\n\n\n"  # lines 1-6; candidate code starts on line 7

# static labels, most important first: the label validation reports when a program has several
# issues (the order of llm_reward.sandbox's static priority)
STATIC_PRIORITY = (
    "syntax_error", "source_too_large", "empty_source", "forbidden_import", "forbidden_call",
    "dunder_access", "private_access", "monkeypatch", "global_state", "async_code", "toplevel_code",
    "missing_entry", "bad_signature",
)  # fmt: skip


def _top(issues: list[Issue]) -> str:
    return min(issues, key=lambda i: STATIC_PRIORITY.index(i.label)).label if issues else "ok"


def _text(issues: list[Issue]) -> str:
    return "\n".join(str(i) for i in issues)


# (body after HEADER, the label it gets, substrings of its messages)
ALIAS_CASES = {
    "module_alias": (
        "def compute_reward(s):\n    m = np\n    m.save('out.npy', s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["m is numpy (m = np, line 8): numpy.save is not allowed"],
    ),
    "module_alias_attribute_not_called": (
        "def compute_reward(s):\n    m = np\n    f = m.save\n    f('out.npy', s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["m is numpy (m = np, line 8): numpy.save", "f is numpy.save (m = np, line 8; f = m.save, line 9)"],
    ),
    "alias_of_alias": (
        "def compute_reward(s):\n    m = np\n    n = m\n    n.save('out.npy', s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["n is numpy (m = np, line 8; n = m, line 9)"],
    ),
    "function_alias": (
        "def compute_reward(s):\n    f = np.save\n    f('out.npy', s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["'save': reward code must not write files", "f is numpy.save (f = np.save, line 8)"],
    ),
    "function_alias_passed_on": (
        "def _call(fn, x):\n    return fn('out.npy', x)\n\n\ndef compute_reward(s):\n    f = np.save\n"
        "    _call(f, s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["f is numpy.save (f = np.save, line 12)", "fn is numpy.save"],
    ),
    "tuple_unpacking_monkeypatch": (
        "def compute_reward(s):\n    a, b = np, 1\n    a.sum = lambda *x: 0.0\n    return s.x, {}\n",
        "monkeypatch",
        ["a is numpy (a, b = np, 1, line 8): assigns into module 'numpy'"],
    ),
    "starred_unpacking": (
        "def compute_reward(s):\n    a, *rest = 1, np\n    rest[0].sum = 0\n    return s.x, {}\n",
        "monkeypatch",
        ["rest[0] is numpy", "assigns into module 'numpy'"],
    ),
    "augmented_assignment": (
        "def compute_reward(s):\n    libs = []\n    libs += [np]\n    libs[0].save('out.npy', s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["libs[0] is numpy (libs += [np], line 9)"],
    ),
    "annotated_assignment": (
        "def compute_reward(s):\n    m: 'module' = np\n    m.save('out.npy', s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["m is numpy (m: 'module' = np, line 8)"],
    ),
    "walrus": (
        "def compute_reward(s):\n    (m := np).save('out.npy', s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["(m := np) is numpy: numpy.save is not allowed"],
    ),
    "walrus_then_name": (
        "def compute_reward(s):\n    if (m := np):\n        m.save('out.npy', s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["m is numpy (m := np, line 8)"],
    ),
    "for_target": (
        "def compute_reward(s):\n    for m in (np,):\n        m.save('out.npy', s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["m is numpy (for m in (np,), line 8)"],
    ),
    "comprehension_target": (
        "def compute_reward(s):\n    [m.save('out.npy', s.x) for m in [np]]\n    return s.x, {}\n",
        "forbidden_call",
        ["m is numpy (for m in [np], line 8)"],
    ),
    "with_target": (
        "class _Ctx:\n    def __init__(self, v):\n        self.v = v\n\n\ndef compute_reward(s):\n"
        "    with _Ctx(np) as c:\n        c.v.save('out.npy', s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["c.v is numpy", "numpy.save is not allowed"],
    ),
    "match_capture": (
        "def compute_reward(s):\n    match np:\n        case m:\n            m.save('out.npy', s.x)\n"
        "    return s.x, {}\n",
        "forbidden_call",
        ["m is numpy (match np, line 8)"],
    ),
    "default_argument": (
        "def g(x, m=np):\n    m.save('out.npy', x)\n\n\ndef compute_reward(s):\n    g(s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["m is numpy (m=np, a default of g(), line 7)"],
    ),
    "keyword_only_default": (
        "def g(x, *, m=np):\n    m.sum = 0\n\n\ndef compute_reward(s):\n    g(s.x)\n    return s.x, {}\n",
        "monkeypatch",
        ["m is numpy (m=np, a default of g(), line 7)"],
    ),
    "passed_as_argument": (
        "def g(m):\n    m.sum = 0\n\n\ndef compute_reward(s):\n    g(np)\n    return s.x, {}\n",
        "monkeypatch",
        ["m is numpy (g(np) passes np as m, line 12)"],
    ),
    "lambda_returns_module": (
        "def compute_reward(s):\n    f = lambda: np\n    f().save('out.npy', s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["f() is numpy (lambda returns np, line 8)"],
    ),
    "lambda_default": (
        "def compute_reward(s):\n    f = lambda x, m=np: m.save('out.npy', x)\n    f(s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["m is numpy (m=np, a default of lambda(), line 8)"],
    ),
    "submodule_alias": (
        "def compute_reward(s):\n    lib = np.lib\n    lib.format.open_memmap('out.npy', mode='w+', shape=(3,))\n"
        "    return s.x, {}\n",
        "forbidden_call",
        ["lib.format is numpy.lib.format (lib = np.lib, line 8): numpy.lib.format.open_memmap is not allowed"],
    ),
    "submodule_by_getattr": (
        "def compute_reward(s):\n    lib = getattr(np, 'lib')\n    lib.format.open_memmap('out.npy')\n"
        "    return s.x, {}\n",
        "forbidden_call",
        ["(lib = getattr(np, 'lib'), line 8)"],
    ),
    "submodule_from_import": (
        "from numpy import lib\n\n\ndef compute_reward(s):\n    x = lib\n    x.format.open_memmap('out.npy')\n"
        "    return s.x, {}\n",
        "forbidden_call",
        ["x.format is numpy.lib.format (x = lib, line 11)"],
    ),
    "list_item": (
        "def compute_reward(s):\n    x = [np][0]\n    x.save('out.npy', s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["x is numpy (x = [np][0], line 8)"],
    ),
    "dict_item": (
        "def compute_reward(s):\n    d = {'a': np}\n    d['a'].save('out.npy', s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["d['a'] is numpy (d = {'a': np}, line 8)"],
    ),
    "dict_built_by_call": (
        "def compute_reward(s):\n    d = dict(a=np)\n    d['a'].sum = 0\n    return s.x, {}\n",
        "monkeypatch",
        ["d['a'] is numpy (d = dict(a=np), line 8)"],
    ),
    "container_method": (
        "def compute_reward(s):\n    libs = []\n    libs.append(np)\n    libs[0].sum = 0\n    return s.x, {}\n",
        "monkeypatch",
        ["libs[0] is numpy (libs.append(np), line 9)"],
    ),
    "next_iter": (
        "def compute_reward(s):\n    m = next(iter([np]))\n    m.sum = 0\n    return s.x, {}\n",
        "monkeypatch",
        ["m is numpy (m = next(iter([np])), line 8)"],
    ),
    "returned_by_function": (
        "def h():\n    return np\n\n\ndef compute_reward(s):\n    h().save('out.npy', s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["h() is numpy (h() returns np, line 8)"],
    ),
    "returned_in_container": (
        "def h():\n    return [np]\n\n\ndef compute_reward(s):\n    h()[0].sum = 0\n    return s.x, {}\n",
        "monkeypatch",
        ["h()[0] is numpy (h() returns [np], line 8)"],
    ),
    "identity_function": (
        "def ident(x):\n    return x\n\n\ndef compute_reward(s):\n    ident(np).save('out.npy', s.x)\n"
        "    return s.x, {}\n",
        "forbidden_call",
        ["ident(np) passes np as x, line 12", "ident() returns x, line 8"],
    ),
    "generator": (
        "def g():\n    yield np\n\n\ndef compute_reward(s):\n    for m in g():\n        m.save('out.npy', s.x)\n"
        "    return s.x, {}\n",
        "forbidden_call",
        ["m is numpy (g() yields np, line 8; for m in g(), line 12)"],
    ),
    "decorator_returns_module": (
        "def deco(f):\n    return np\n\n\n@deco\ndef h():\n    pass\n\n\ndef compute_reward(s):\n    h.sum = 0\n"
        "    return s.x, {}\n",
        "monkeypatch",
        ["h is numpy (deco() returns np, line 8)"],
    ),
    "closure": (
        "def compute_reward(s):\n    m = np\n\n    def inner():\n        return m.save\n\n    inner()('out.npy', s.x)\n"
        "    return s.x, {}\n",
        "forbidden_call",
        ["m is numpy (m = np, line 8)"],
    ),
    "class_attribute": (
        "class C:\n    m = np\n\n\ndef compute_reward(s):\n    C.m.save('out.npy', s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["C.m is numpy (m = np, line 8)"],
    ),
    "instance_attribute": (
        "class C:\n    def __init__(self):\n        self.m = np\n\n\ndef compute_reward(s):\n    C().m.sum = 0\n"
        "    return s.x, {}\n",
        "monkeypatch",
        ["C().m is numpy (self.m = np, line 9)"],
    ),
    "conditional": (
        "def compute_reward(s):\n    m = np if s.x is not None else torch\n    m.save('out.npy', s.x)\n"
        "    return s.x, {}\n",
        "forbidden_call",
        ["m may be one of numpy, torch", "numpy.save, torch.save is not allowed"],
    ),
    "torch_alias_save": (
        "def compute_reward(s):\n    t = torch\n    t.save(torch.as_tensor(s.x), 'out.pt')\n    return s.x, {}\n",
        "forbidden_call",
        ["t is torch (t = torch, line 8): torch.save is not allowed"],
    ),
    "torch_alias_submodule": (
        "def compute_reward(s):\n    t = torch\n    t.utils.data\n    return s.x, {}\n",
        "forbidden_import",
        ["t is torch (t = torch, line 8): attribute 'utils'"],
    ),
    "torch_class_monkeypatch": (
        "def compute_reward(s):\n    T = torch.Tensor\n    T.abs = lambda self: self\n    return s.x, {}\n",
        "monkeypatch",
        ["T is torch.Tensor (T = torch.Tensor, line 8): assigns into library object 'torch.Tensor'"],
    ),
    "delete_through_alias": (
        "def compute_reward(s):\n    m = np\n    del m.sum\n    return s.x, {}\n",
        "monkeypatch",
        ["m is numpy (m = np, line 8)"],
    ),
    "augmented_module_attribute": (
        "def compute_reward(s):\n    m = np\n    m.pi += 1\n    return s.x, {}\n",
        "monkeypatch",
        ["assigns into module 'numpy' (`m.pi = ...`)"],
    ),
    "library_dict_item": (
        "def compute_reward(s):\n    tc = np.typecodes\n    tc['All'] = ''\n    return s.x, {}\n",
        "monkeypatch",
        ["tc is numpy.typecodes (tc = np.typecodes, line 8): assigns into library object 'numpy.typecodes'"],
    ),
    "reader_loadtxt": (
        "def compute_reward(s):\n    m = np\n    m.loadtxt('/etc/passwd', dtype=str)\n    return s.x, {}\n",
        "forbidden_call",
        ["m is numpy (m = np, line 8): numpy.loadtxt is not allowed: reward code must not read files"],
    ),
    "reader_fromfile_function": (
        "def compute_reward(s):\n    rd = np.fromfile\n    rd('/etc/passwd')\n    return s.x, {}\n",
        "forbidden_call",
        ["rd is numpy.fromfile (rd = np.fromfile, line 8)"],
    ),
    "bound_method_not_called": (
        "def compute_reward(s):\n    w = s.x.tofile\n    w('out.bin')\n    return s.x, {}\n",
        "forbidden_call",
        [".tofile referenced without calling it"],
    ),
    # the conservative rule: a module used as a value is refused even when nothing bad follows
    "harmless_alias": (
        "def compute_reward(s):\n    m = np\n    return m.clip(s.x, 0, 1), {}\n",
        "forbidden_import",
        ["module 'np' used as a value in `m = np`", "read its attributes directly"],
    ),
    "module_dispatch": (
        "def compute_reward(s):\n    xp = torch if isinstance(s.x, torch.Tensor) else np\n    return xp.abs(s.x), {}\n",
        "forbidden_import",
        ["module 'torch' used as a value", "module 'np' used as a value"],
    ),
    "module_printed": (
        "def compute_reward(s):\n    print(np)\n    return s.x, {}\n",
        "forbidden_import",
        ["module 'np' used as a value in `print(np)`"],
    ),
    "module_raised": (
        "def compute_reward(s):\n    try:\n        raise ValueError(np)\n    except ValueError as e:\n"
        "        e.args[0].sum = 0\n    return s.x, {}\n",
        "forbidden_import",
        ["module 'np' used as a value in `raise ValueError(np)`"],
    ),
    "submodule_as_value": (
        "def compute_reward(s):\n    fmt = np.lib.format\n    return s.x, {}\n",
        "forbidden_import",
        ["module 'np.lib.format' used as a value"],
    ),
    "math_module_as_value": (
        "def compute_reward(s):\n    mods = {'m': math}\n    return s.x, {}\n",
        "forbidden_import",
        ["module 'math' used as a value"],
    ),
    # already refused before aliases were followed
    "module_dict": (
        "def compute_reward(s):\n    np.__dict__['save']('out.npy', s.x)\n    return s.x, {}\n",
        "dunder_access",
        ["'__dict__'"],
    ),
    "vars_of_module": (
        "def compute_reward(s):\n    vars(np)['save']('out.npy', s.x)\n    return s.x, {}\n",
        "forbidden_call",
        ["'vars' is not available"],
    ),
    "type_of_module": (
        "def compute_reward(s):\n    t = type(np)\n    return s.x, {}\n",
        "forbidden_call",
        ["'type' is not available"],
    ),
    "getattr_computed": (
        "def compute_reward(s):\n    f = getattr(np, 'sa' + 've')\n    return s.x, {}\n",
        "forbidden_call",
        ["computed name"],
    ),
}


@pytest.mark.parametrize("name", sorted(ALIAS_CASES))
def test_alias_forms_are_refused(name: str) -> None:
    body, label, messages = ALIAS_CASES[name]
    issues = static_check(HEADER + body)
    assert _top(issues) == label, _text(issues)
    for m in messages:
        assert m in _text(issues), f"{m!r} not in:\n{_text(issues)}"
    assert all(i.lineno for i in issues)


def test_only_known_labels() -> None:
    from llm_reward.sandbox import LABELS

    for body, _, _ in ALIAS_CASES.values():
        assert {i.label for i in static_check(HEADER + body)} <= set(LABELS) & set(STATIC_PRIORITY)


def test_a_finding_through_an_alias_is_not_reported_twice() -> None:
    """The module root of an alias that a finding explains is not also 'used as a value'."""
    issues = static_check(HEADER + ALIAS_CASES["tuple_unpacking_monkeypatch"][0])
    assert [i.label for i in issues] == ["monkeypatch"]
    # a second, unexplained root still is
    src = HEADER + "def compute_reward(s):\n    m = np\n    m.sum = 0\n    k = np\n    return s.x, {}\n"
    issues = static_check(src)
    assert [(i.label, i.lineno) for i in issues] == [("monkeypatch", 9), ("forbidden_import", 10)], _text(issues)


def test_direct_messages_are_unchanged() -> None:
    """Spelled from the import, the rules keep their messages."""
    src = HEADER + "def compute_reward(s):\n    np.save('x', s.x)\n    np.sum = 0\n    return s.x, {}\n"
    assert [str(i) for i in static_check(src)] == [
        "[forbidden_call] line 8: 'save': reward code must not write files",
        "[monkeypatch] line 9: assigns into module 'np'; reward code must not change libraries",
    ]


def test_scopes_are_separate() -> None:
    """A name bound to a module in one function is not that module in another (only the binding
    itself is refused), and parameters shadow module-level names."""
    src = HEADER + (
        "def f(s):\n    m = np\n    return m\n\n\ndef compute_reward(s, m=None):\n    m = s.x.copy()\n"
        "    m[0] = 1.0\n    return m, {}\n"
    )
    issues = static_check(src)
    assert [(i.label, i.lineno) for i in issues] == [("forbidden_import", 8)], _text(issues)


GOOD = {
    "basics": """
import math

import numpy as np
import torch
from numpy import clip

GOAL_X = 0.5
SCALE = np.pi
LIMITS = (-np.inf, np.inf)


def compute_reward(s):
    x = np.clip(s.x, 0, 1)
    y = np.where(s.v > 0, 1.0, 0.0)
    t = torch.as_tensor(s.x, dtype=torch.float32)
    r = x + y + math.pi * 0.0 + clip(s.v, -1, 1) + 0.0 * t.numpy() + SCALE * (s.x > GOAL_X)
    return r, {"x": x, "y": y}
""",
    "helpers_and_defaults": """
import numpy as np


def _wrap(a, period=2 * np.pi, lo=-np.inf, hi=np.inf, dtype=np.float64):
    out = np.mod(a + period / 2, period) - period / 2
    return np.clip(out, lo, hi).astype(dtype)


def _fill(out, value):
    out[...] = value
    return out


def compute_reward(s):
    out = np.zeros_like(s.x)
    out.fill(np.nan)
    out[np.isnan(out)] = 0.0
    buf = _fill(np.empty_like(s.x), np.nan)
    buf[:] = 1.0
    vals = [np.pi, 0.5]
    vals[0] = 2.0
    lo, hi = -np.inf, np.inf
    ang = _wrap(s.x, lo=lo, hi=hi)
    return ang + vals[0] + buf + out, {"ang": ang}
""",
    "function_tables": """
import numpy as np


def compute_reward(s):
    comps = {}
    for name, fn in [("sin", np.sin), ("cos", np.cos)]:
        comps[name] = fn(s.x)
    ops = {"abs": np.abs, "sq": np.square}
    comps["abs"] = ops["abs"](s.v)
    dt = np.float32
    f = getattr(np, "tanh")
    comps = {k: np.asarray(v, dtype=np.float64) for k, v in comps.items()}
    total = (sum(comps.values()) + f(s.x)).astype(dt)
    return total, comps
""",
    "torch": """
import torch
import torch.nn.functional as F


def _to(x, dtype=torch.float32):
    return torch.as_tensor(x, dtype=dtype)


def compute_reward(s):
    x = _to(s.x)
    v = _to(s.v)
    if isinstance(x, torch.Tensor):
        x = x.to(torch.float32)
    with torch.no_grad():
        h = torch.sin(3.0 * x) + F.relu(v) + torch.nn.functional.softplus(v)
    h = torch.where(h > 0, h, torch.zeros_like(h))
    return h, {"h": h}
""",
    "numpy_submodules": """
import numpy as np
import numpy.linalg as la
from numpy.linalg import norm


def compute_reward(s):
    rng = np.random.default_rng(0)
    noise = 0.0 * rng.normal(size=s.x.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(s.v != 0, s.x / s.v, 0.0)
    pos = np.stack([s.x, s.v], axis=1)
    d = norm(pos, axis=1) + la.norm(pos, axis=1) + np.linalg.norm(pos, axis=1) + np.finfo(np.float64).eps
    return ratio + d + noise, {"ratio": ratio, "d": d}
""",
    "classes": """
import numpy as np


class _Shaper:
    scale = 2.0

    def __init__(self, k=np.pi):
        self.k = k
        self.history = []

    def energy(self, x, v):
        e = self.scale * (np.sin(3 * x) + v**2)
        self.history.append(float(e.mean()))
        return e


def compute_reward(s):
    sh = _Shaper()
    e = sh.energy(s.x, s.v) - sh.energy(s.prev.x, s.prev.v)
    arr = np.copy(s.x)
    arr[arr < 0] = 0.0
    return e + arr, {"energy": e, "arr": arr}
""",
    "locals_and_comprehensions": """
import math

import numpy as np


def _norm(*parts):
    return np.sqrt(sum(p**2 for p in parts))


def compute_reward(s):
    terms = [w * np.tanh(f) for w, f in zip([1.0, 0.5], [s.x, s.v])]
    total = np.zeros_like(s.x)
    for t in terms:
        total = total + t
    best = max(0.0, math.cos(0.1))
    total += best + _norm(s.x, s.v)
    mask = (s.x > 0) & (s.v > 0)
    total[mask] *= 2.0
    if (n := s.x.shape[0]) > 0:
        total = total + 0.0 * n
    match s.x.ndim:
        case 1:
            r = np.abs(s.x)
        case _:
            r = np.abs(s.x).sum(axis=-1)
    f = lambda a, b=np.pi: np.sin(a) * b
    return total + r + f(s.x), {f"t{i}": t for i, t in enumerate(terms)}
""",
    "field_named_like_a_method": """
def compute_reward(s):
    return s.load + s.prev.load, {"load": s.load}
""",
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_ordinary_reward_code_passes(name: str) -> None:
    assert static_check(GOOD[name]) == []


def _repo_programs() -> dict[str, str]:
    """The repository's own good rewards: fixture cassettes, the searches' best rewards, the good
    programs the sandbox tests run, and rewards the mutation backend writes."""
    out: dict[str, str] = {}
    for p in sorted((ROOT / "llm_reward" / "cassettes").rglob("*.json")):
        text = json.loads(p.read_text()).get("text")
        if text and "compute_reward" in text:
            out[str(p.relative_to(ROOT))] = extract_code(text).source
    for p in sorted((ROOT / "docs" / "benchmarks").rglob("*best_reward.py")):
        out[str(p.relative_to(ROOT))] = p.read_text()
    for p in sorted((ROOT / "tests").glob("test_sandbox*.py")):
        for node in ast.parse(p.read_text()).body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id.startswith(("GOOD", "COMMON"))
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                out[f"{p.name}:{node.targets[0].id}"] = node.value.value
    from llm_reward import mutation

    rng = random.Random(0)
    for k in range(10):
        terms = [
            mutation.Term(f"t{j}", mutation.term_expr(rng.choice(["x", "v"]), kind), rng.uniform(-2, 2))
            for j, kind in enumerate(rng.sample(mutation.TERM_KINDS, 3))
        ]
        out[f"mutation:{k}"] = mutation.render(terms)
    return out


def test_repository_rewards_pass() -> None:
    programs = _repo_programs()
    assert len(programs) >= 30 and any(k.startswith("docs") for k in programs)
    assert any(k.startswith("llm_reward/cassettes") for k in programs)
    assert any("GOOD" in k for k in programs)
    failed = {k: _text(static_check(src)) for k, src in programs.items() if static_check(src)}
    assert failed == {}


def _header(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines()[:8]:
        for key in ("expect", "expect-runtime", "message"):
            if line.startswith(f"# {key}:"):
                out[key] = line.split(":", 1)[1].strip()
    return out


ALIAS_HOSTILE = sorted(p.name for p in HOSTILE.glob("alias_*.py"))


def test_alias_corpus_is_there() -> None:
    assert len(ALIAS_HOSTILE) >= 8


@pytest.mark.parametrize("name", ALIAS_HOSTILE)
def test_hostile_alias_programs_are_refused_statically(name: str) -> None:
    path = HOSTILE / name
    header = _header(path)
    issues = static_check(path.read_text().replace("@SENTINEL@", "/nonexistent"))
    assert _top(issues) == header["expect"], _text(issues)
    assert header["message"].lower() in _text(issues).lower(), _text(issues)


def test_large_hostile_programs_are_checked_quickly() -> None:
    """The alias analysis is bounded: big programs built to make it work hard finish fast and are
    still refused."""
    n = 2500
    programs = [
        # a long alias chain written backwards: one fixed-point pass per link
        "import numpy as np\n\n\ndef compute_reward(s):\n"
        + "".join(f"    a{i} = a{i + 1}\n" for i in range(n))
        + f"    a{n} = np\n    a0.save('x', s.x)\n    return s.x, {{}}\n",
        # many functions passing modules to each other
        "import numpy as np\n\n\n"
        + "".join(f"def f{i}(x, y=np):\n    return f{i + 1}(y, x)\n\n\n" for i in range(1000))
        + "def compute_reward(s):\n    return s.x, {}\n",
        # one wide unpacking of modules
        "import numpy as np\nimport torch\n\n\ndef compute_reward(s):\n    "
        + ", ".join(f"v{i}" for i in range(2000))
        + " = "
        + ", ".join("np" if i % 2 else "torch" for i in range(2000))
        + "\n    return s.x, {}\n",
    ]
    for src in programs:
        assert len(src) < 64_000
        start = time.monotonic()
        issues = static_check(src)
        assert time.monotonic() - start < 10.0
        assert issues and _top(issues) in ("forbidden_import", "forbidden_call")
