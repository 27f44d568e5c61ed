"""Environment context for reward-writing prompts, built from the task registry.

Three styles, one per reward-code paper the lab compares against:

- :func:`env_source_context` (Eureka): the env's Python source, pruned by AST to what produces
  observations -- reward computation and everything else is left out.
- :func:`state_class_context` (Text2Reward): a Pythonic class with one typed, commented attribute
  per field of the state view ``s`` the reward code receives.
- :func:`observation_table` (LaRe): observation index -> name, unit, range, meaning, validated
  against the real observation space (:func:`validate_obs_schema`).

Everything is derived from code, never typed in by hand: the list of state fields comes from calling
``task.view`` on a real batch (two envs, reset plus one random step, see :func:`probe`), and the
meaning of a derived field is the expression the view computes it with. No builder reads a task's
fitness or hand-written rewards, except to *remove* what mentions them (:func:`hidden_callables`
lists them for the leak check in :mod:`llm_reward.prompts`).
"""

from __future__ import annotations

import ast
import copy
import inspect
import operator
import re
import textwrap
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from envs.registry import ObsField, Task

CONTEXT_KINDS = ("source", "class", "table")
"""Context styles: pruned env source, state class abstraction, observation table."""

_KIND_ALIASES = {
    "env_source": "source",
    "code": "source",
    "abstraction": "class",
    "state_class": "class",
    "obs_table": "table",
    "observation_table": "table",
}

TRANSITION_FIELDS = ("action", "env_reward", "terminated", "truncated", "step")
"""Fields a transition view adds to the task's own fields (``env_reward`` only where meaningful)."""

_ARRAY_MODULES = frozenset({"np", "numpy", "math", "torch"})


class ObservationSchemaError(ValueError):
    """A task's observation schema disagrees with its real observation space."""


def normalize_kind(kind: str) -> str:
    """``"source"`` / ``"class"`` / ``"table"`` (aliases such as ``"abstraction"`` accepted)."""
    k = _KIND_ALIASES.get(kind, kind)
    if k not in CONTEXT_KINDS:
        raise ValueError(f"unknown context kind {kind!r}; choose one of {', '.join(CONTEXT_KINDS)}")
    return k


def build_context(task: Task, kind: str) -> str:
    """The context block of ``kind`` for ``task``."""
    k = normalize_kind(kind)
    if k == "source":
        return env_source_context(task)
    if k == "class":
        return state_class_context(task)
    return observation_table(task)


# -- a real batch -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """Two envs of a task after reset and one random step (arrays ``(2, ...)``): one
    :class:`~rewardlab.data.Collector` row, kept with the spaces."""

    obs: np.ndarray
    next_obs: np.ndarray
    action: np.ndarray
    env_reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    info: dict[str, np.ndarray]
    prev_info: dict[str, np.ndarray]
    observation_space: gym.Space
    action_space: gym.Space


_PROBES: dict[tuple[str, int], Probe] = {}


def probe(task: Task, n_envs: int = 2, seed: int = 0) -> Probe:
    """Reset ``n_envs`` real envs of ``task`` and take one random step (cached per task)."""
    key = (task.id, id(task.make_env))
    if key in _PROBES:
        return _PROBES[key]
    from rewardlab.data import Collector, random_policy
    from rewardlab.wrappers import make_vector_env

    venv = make_vector_env(task, n_envs)
    try:
        policy = random_policy(venv.action_space, seed)
        collector = Collector(venv, tuple(task.info_keys))
        collector.reset(seed=seed)
        row = collector.step(policy)  # next_obs and info are the state reached, even on a done step
        result = Probe(
            obs=np.asarray(row.obs),
            next_obs=np.array(row.next_obs, copy=True),
            action=np.asarray(row.action),
            env_reward=np.asarray(row.env_reward, dtype=np.float64),
            terminated=np.asarray(row.terminated, dtype=bool),
            truncated=np.asarray(row.truncated, dtype=bool),
            info={k: np.array(v, copy=True) for k, v in row.info.items()},
            prev_info={k: np.array(v, copy=True) for k, v in row.prev_info.items()},
            observation_space=venv.single_observation_space,
            action_space=venv.single_action_space,
        )
    finally:
        venv.close()
    _PROBES[key] = result
    return result


# -- the fields of the state view -------------------------------------------------------------


@dataclass(frozen=True)
class StateField:
    """One attribute of the state view ``s``.

    :param name: attribute name (``s.<name>``).
    :param shape: per-env shape (the batch adds a leading ``n``).
    :param dtype: dtype of the real array.
    :param unit: unit (``task.units``, else the schema's).
    :param meaning: what it is, in words.
    :param origin: ``"obs[3]"``, ``"obs[0:147]"``, ``"info"``, ``"derived"`` or ``"transition"``.
    :param derivation: the view's expression for a derived field, in field names, when it has one
        (observation entries it uses that are not fields themselves are explained after it).
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    unit: str
    meaning: str
    origin: str
    derivation: str | None = None

    @property
    def shape_text(self) -> str:
        return "(" + ", ".join(["n", *map(str, self.shape)]) + ("," if not self.shape else "") + ")"


def view_fields(task: Task) -> dict[str, Any]:
    """``task.view`` on the probe's next observations and info: the task's own fields ``(2, ...)``."""
    p = probe(task)
    return task.view(p.next_obs, p.info)


def state_field_names(task: Task) -> list[str]:
    """Every attribute of ``s`` besides ``prev``: the view's fields, then the transition fields."""
    names = list(view_fields(task))
    names += [f for f in TRANSITION_FIELDS if f != "env_reward" or task.has_env_reward]
    return [n for i, n in enumerate(names) if n not in names[:i]]


def _index_text(index: int | tuple[int, int] | str) -> str:
    if isinstance(index, tuple):
        return f"{index[0]}:{index[1]}"
    return str(index)


def state_fields(task: Task) -> list[StateField]:
    """The fields of ``s`` with shapes, dtypes and units from a real batch (see :func:`probe`)."""
    p = probe(task)
    fields = view_fields(task)
    schema = {f.name: f for f in task.obs_schema}
    derivations = _view_derivations(task, set(fields))
    bullets, mentions = _doc_notes(task)
    info_doc = _info_doc(task)
    out: list[StateField] = []
    for name, value in fields.items():
        arr = np.asarray(value)
        unit = task.units.get(name) or (schema[name].unit if name in schema else "")
        derivation = None
        if name in schema:
            origin = f"obs[{_index_text(schema[name].index)}]"
            meaning = schema[name].description
        else:
            origin = "info" if name in task.info_keys else "derived"
            derivation = derivations.get(name)
            meaning = bullets.get(name) or ("" if derivation else mentions.get(name, ""))
            if origin == "info" and not bullets.get(name):
                meaning = info_doc or meaning or "privileged simulator state the env reports in info"
            if derivation:
                for other in sorted(set(re.findall(r"\b\w+\b", derivation)) & (set(schema) - set(fields))):
                    sf = schema[other]
                    derivation += f" (where {other} = obs[{_index_text(sf.index)}]: {sf.description})"
        out.append(StateField(name, tuple(arr.shape[1:]), str(arr.dtype), unit, meaning, origin, derivation))
    transition = {
        "action": (p.action, "", f"the action taken in this transition; {task.action_doc}".strip("; ")),
        "env_reward": (p.env_reward, "", "the environment's own reward for this transition"),
        "terminated": (
            p.terminated,
            "bool",
            "True where this transition ended the episode in a terminal state (s is that final state)",
        ),
        "truncated": (p.truncated, "bool", "True where the episode was cut off by the time limit on this transition"),
        "step": (
            np.ones(len(p.action), dtype=np.int64),
            "",
            "steps taken in the episode, counting this one (1 on the first)",
        ),
    }
    for name, (value, unit, meaning) in transition.items():
        if name in fields or (name == "env_reward" and not task.has_env_reward):
            continue
        arr = np.asarray(value)
        unit = unit or task.units.get(name, "steps" if name == "step" else "")
        out.append(StateField(name, tuple(arr.shape[1:]), str(arr.dtype), unit, meaning, "transition"))
    return out


def _describe(f: StateField, *, with_origin: bool) -> str:
    unit = "" if f.unit == f.dtype else f.unit
    head = f"{f.shape_text} {f.dtype}" + (f", {unit}" if unit else "")
    parts = [f.meaning] if f.meaning else []
    if f.derivation:
        parts.append(f"= {f.derivation}")
    if with_origin and f.origin not in ("derived", "transition"):
        parts.insert(0, f"[{f.origin}]")
    return head + (": " + " ".join(parts) if parts else "")


def state_class_context(task: Task) -> str:
    """A Text2Reward-style class: one typed attribute per field of ``s``, unit and meaning in comments."""
    fields = state_fields(task)
    groups: list[tuple[str, list[StateField]]] = [
        ("observed by the policy (from the observation vector)", [f for f in fields if f.origin.startswith("obs")]),
        ("privileged state from the simulator (not observed by the policy)", [f for f in fields if f.origin == "info"]),
        ("derived by the lab from the fields above", [f for f in fields if f.origin == "derived"]),
        ("the transition", [f for f in fields if f.origin == "transition"]),
    ]
    lines = [
        "class State:",
        '    """The argument `s` of compute_reward: the state after one transition, batched over n envs.',
        "",
        "    Every attribute is an array whose first dimension is n (one row per environment).",
        '    """',
    ]
    for title, group in groups:
        if not group:
            continue
        lines += ["", f"    # {title}"]
        for f in group:
            comment = _describe(f, with_origin=False)
            wrapped = textwrap.wrap(comment, width=96) or [""]
            lines.append(f"    {f.name}: np.ndarray  # {wrapped[0]}")
            lines += [f"    #     {w}" for w in wrapped[1:]]
    transition = ", ".join(f.name for f in fields if f.origin == "transition")
    lines += [
        "",
        "    prev: State  # the state before this transition: the same fields as above, without the",
        f"    #     transition ones ({transition})",
    ]
    return "\n".join(lines)


def state_fields_summary(task: Task) -> str:
    """One line per attribute of ``s``: shape, dtype, unit, and where it comes from."""
    lines = [f"- s.{f.name}: {_describe(f, with_origin=True)}" for f in state_fields(task)]
    lines.append("- s.prev: the same fields (not the transition ones) for the state before this transition")
    return "\n".join(lines)


# -- observation table ------------------------------------------------------------------------


def _space_bounds(space: gym.spaces.Box, idx: Any) -> tuple[float, float]:
    low = np.asarray(space.low, dtype=np.float64).reshape(-1)[idx]
    high = np.asarray(space.high, dtype=np.float64).reshape(-1)[idx]
    return float(np.min(low)), float(np.max(high))


def _ranges(indices: Sequence[int]) -> str:
    out: list[str] = []
    idx = sorted(indices)
    start = prev = idx[0]
    for i in [*idx[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        out.append(str(start) if start == prev else f"{start}..{prev}")
        if i is not None:
            start = prev = i
    return ", ".join(out)


def _field_indices(f: ObsField, dim: int) -> list[int]:
    if isinstance(f.index, bool) or not isinstance(f.index, (int, tuple)):
        raise ObservationSchemaError(f"field {f.name!r}: index {f.index!r} must be an int or a (start, stop) pair")
    if isinstance(f.index, int):
        if not 0 <= f.index < dim:
            raise ObservationSchemaError(f"field {f.name!r}: index {f.index} is outside the observation (0..{dim - 1})")
        return [f.index]
    if len(f.index) != 2:
        raise ObservationSchemaError(f"field {f.name!r}: slice index must be (start, stop), got {f.index!r}")
    a, b = f.index
    if not 0 <= a < b <= dim:
        raise ObservationSchemaError(f"field {f.name!r}: slice {a}:{b} is empty or outside the observation (0:{dim})")
    return list(range(a, b))


def validate_obs_schema(task: Task, schema: Sequence[ObsField] | None = None) -> None:
    """Check ``task.obs_schema`` against the real observation space and real observations.

    Every index of the (flat ``Box``) observation is covered by exactly one field (``Dict`` spaces:
    every key by one field), names are unique, each field's ``low <= high``, the schema's bounds lie
    within the space's finite bounds (1 % slack for rounded numbers), and the observations of a real
    reset and step lie within the schema's bounds.

    :raises ObservationSchemaError: with every problem found, one per line.
    """
    schema = tuple(task.obs_schema if schema is None else schema)
    p = probe(task)
    space = p.observation_space
    problems: list[str] = []
    names = [f.name for f in schema]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"duplicate field names: {', '.join(dupes)}")
    for f in schema:
        if f.low is not None and f.high is not None and f.low > f.high:
            problems.append(f"field {f.name!r}: low {f.low} > high {f.high}")
    if isinstance(space, gym.spaces.Dict):
        keys = list(space.spaces)
        covered = [f.index for f in schema]
        bad = [f.name for f in schema if not isinstance(f.index, str) or f.index not in keys]
        if bad:
            problems.append(f"fields {bad} do not name a key of the Dict observation (keys: {keys})")
        missing = [k for k in keys if k not in covered]
        twice = sorted({k for k in covered if isinstance(k, str) and covered.count(k) > 1})
        if missing:
            problems.append(f"observation keys without a field: {missing}")
        if twice:
            problems.append(f"observation keys covered by more than one field: {twice}")
    elif isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        dim = int(space.shape[0])
        owners: dict[int, list[str]] = {}
        for f in schema:
            try:
                idx = _field_indices(f, dim)
            except ObservationSchemaError as e:
                problems.append(str(e))
                continue
            for i in idx:
                owners.setdefault(i, []).append(f.name)
            slo, shi = _space_bounds(space, idx)
            for label, bound in (("low", f.low), ("high", f.high)):
                if bound is None:
                    continue
                tol = 0.01 * max(1.0, abs(bound))
                if (np.isfinite(slo) and bound < slo - tol) or (np.isfinite(shi) and bound > shi + tol):
                    problems.append(
                        f"field {f.name!r} (obs[{_index_text(f.index)}]): schema {label} {bound:g} lies outside "
                        f"the observation space's bounds [{slo:g}, {shi:g}]"
                    )
            observed = np.concatenate([p.obs[:, idx].reshape(-1), p.next_obs[:, idx].reshape(-1)]).astype(np.float64)
            lo = f.low if f.low is not None else -np.inf
            hi = f.high if f.high is not None else np.inf
            slack = 0.01 * max(1.0, abs(lo) if np.isfinite(lo) else 0.0, abs(hi) if np.isfinite(hi) else 0.0)
            outside = observed[(observed < lo - slack) | (observed > hi + slack)]
            if outside.size:
                problems.append(
                    f"field {f.name!r} (obs[{_index_text(f.index)}]): real observation {outside[0]:g} is outside "
                    f"the schema's range [{lo:g}, {hi:g}]"
                )
        missing = [i for i in range(dim) if i not in owners]
        if missing:
            problems.append(f"observation indices without a field: {_ranges(missing)} (observation has {dim} entries)")
        shared = {i: o for i, o in owners.items() if len(o) > 1}
        if shared:
            pairs = sorted({" & ".join(o) for o in shared.values()})
            problems.append(
                f"observation indices {_ranges(list(shared))} covered by more than one field ({'; '.join(pairs)})"
            )
    else:
        problems.append(f"observation space {space} is neither a flat Box nor a Dict; the schema cannot index it")
    if problems:
        raise ObservationSchemaError(
            f"task {task.id}: observation schema does not match the real observation space {space}:\n- "
            + "\n- ".join(problems)
        )


def observation_table(task: Task) -> str:
    """Observation index -> name, unit, range, meaning, after :func:`validate_obs_schema`.

    :raises ObservationSchemaError: when the schema does not match the real observation space.
    """
    validate_obs_schema(task)
    space = probe(task).observation_space
    rows = [
        f"Observation space: {space}. Each row is one entry (or a slice) of the observation vector; "
        "the state view s names it by the same name.",
        "",
        "| index | name | unit | range | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]

    def order(f: ObsField) -> tuple[int, Any]:
        return (1, f.index) if isinstance(f.index, str) else (0, f.index if isinstance(f.index, int) else f.index[0])

    for f in sorted(task.obs_schema, key=order):
        lo = "" if f.low is None else f"{f.low:g}"
        hi = "" if f.high is None else f"{f.high:g}"
        rng = f"[{lo}, {hi}]" if (lo or hi) else ""
        desc = f.description.replace("|", "/")
        rows.append(f"| {_index_text(f.index)} | {f.name} | {f.unit} | {rng} | {desc} |")
    return "\n".join(rows)


# -- meanings of derived fields: the view's own expressions and docstrings -------------------


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


def _info_doc(task: Task) -> str:
    """The docstring of the function a lab wrapper uses to put privileged fields into ``info``."""
    if not task.info_keys:
        return ""
    env = task.make_env()
    try:
        for w in _lab_wrappers(env):
            fn = getattr(w, "_fields", None)
            if isinstance(fn, types.FunctionType) and inspect.getdoc(fn):
                return _clean_rst(inspect.getdoc(fn) or "")
    finally:
        env.close()
    return ""


_RST_ROLE = re.compile(r":\w+:`~?([\w.]+)`")


def _clean_rst(text: str) -> str:
    text = _RST_ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return " ".join(text.replace("``", "").split())


_BULLET_HEAD = re.compile(r"^\s*(``\w+``\s*(,|/|and)?\s*)+$")


def _doc_notes(task: Task) -> tuple[dict[str, str], dict[str, str]]:
    """What the view's docstrings say about each field: (bullet entries ``- ``a``, ``b``: text``,
    the first sentence that names the field)."""
    docs: list[str] = []
    for fn in [task.view, *_envs_helpers(task.view)]:
        docs.append(inspect.getdoc(fn) or "")
        module = inspect.getmodule(fn)
        docs.append(inspect.getdoc(module) or "" if module is not None else "")
    bullets: dict[str, str] = {}
    mentions: dict[str, str] = {}
    for doc in docs:
        items: list[str] = []
        for line in doc.splitlines():
            stripped = line.strip()
            if stripped.startswith("- "):
                items.append(stripped[2:])
            elif stripped and items and line.startswith((" ", "\t")):
                items[-1] += " " + stripped
            elif not stripped and items:
                items.append("")
        for item in items:
            head, sep, rest = item.partition(": ")
            paren = re.search(r"\(([^)]*)\)", head)
            bare = re.sub(r"\([^)]*\)", "", head)
            if not sep or not _BULLET_HEAD.match(bare):
                continue
            meaning = _clean_rst(rest)
            if paren:
                meaning = f"({paren.group(1)}) {meaning}"
            for name in re.findall(r"``(\w+)``", bare):
                bullets.setdefault(name, meaning)
        flat = " ".join(doc.split())
        for sentence in re.split(r"(?<=[.;])\s+(?=[A-Z(`])", flat):
            for name in re.findall(r"``(\w+)``", sentence):
                mentions.setdefault(name, _clean_rst(sentence)[:400])
    return bullets, mentions


# -- pruned env source ------------------------------------------------------------------------

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


def hidden_callables(task: Task) -> list[tuple[str, Callable[..., Any]]]:
    """The code no prompt may show: the fitness step, each hand reward's components/potential, and
    the ``envs`` helpers they call (two levels), labelled for error messages."""
    roots: list[tuple[str, Callable[..., Any]]] = [("fitness", task.fitness.step)]
    for name, hand in task.rewards.items():
        fn = hand.components or hand.potential
        if fn is not None:
            roots.append((f"hand-written reward {name!r}", fn))
    out: list[tuple[str, Callable[..., Any]]] = []
    public = [task.view, *_envs_helpers(task.view)]  # the state view is what prompts show
    seen: set[int] = {id(fn) for fn in public}

    def add(label: str, fn: Callable[..., Any], depth: int) -> None:
        if id(fn) in seen:
            return
        seen.add(id(fn))
        out.append((label, fn))
        name, qualname = getattr(fn, "__name__", ""), getattr(fn, "__qualname__", "")
        if name != "<lambda>" and "<locals>" in qualname:
            # a reward built by a factory (``_hand(...)`` returning ``components``): its source and
            # docstring describe the reward too
            outer = getattr(fn, "__globals__", {}).get(qualname.split(".<locals>")[0])
            if isinstance(outer, types.FunctionType):
                add(f"{label} (factory {outer.__name__})", outer, 2)
        if depth < 2:
            for helper in _envs_helpers(fn):
                add(f"{label} (helper {helper.__name__})", helper, depth + 1)
            closure = getattr(fn, "__closure__", None) or ()
            for cell in closure:
                try:
                    inner = cell.cell_contents
                except ValueError:
                    continue
                if isinstance(inner, types.FunctionType) and (inner.__module__ or "").startswith("envs"):
                    add(f"{label} (helper {inner.__name__})", inner, depth + 1)

    for label, fn in roots:
        add(label, fn, 0)
    return out


def _hidden_names(task: Task) -> frozenset[str]:
    names = {fn.__name__ for _, fn in hidden_callables(task) if fn.__name__ != "<lambda>"}
    return frozenset(names)


def _lab_wrappers(env: gym.Env) -> Iterator[gym.Env]:
    w: Any = env
    while isinstance(w, gym.Wrapper):
        if (type(w).__module__ or "").startswith("envs"):
            yield w
        w = w.env


def env_source_context(task: Task) -> str:
    """The env's Python source, pruned to what produces observations (Eureka style).

    Keeps each shown class's docstring (first paragraph), the env's observation methods, ``step``
    (and the parent ``step`` it extends) and its initial-state method, short helpers and properties
    of the env's own module they use, and the observation and info code of the lab's wrappers.
    Statements that compute, assign or return reward, or mention the lab's fitness, are removed (a
    returned reward becomes ``...``); so are rendering, logging and asserts.
    """
    pruner = _Pruner(_hidden_names(task))
    drop_goal = not task.has_env_reward
    env = task.make_env()
    try:
        cls = type(env.unwrapped)
        wrappers = list(_lab_wrappers(env))
    finally:
        env.close()
    picker = _ClassPicker(cls, pruner)
    for name in (*_OBS_METHODS, "step", *_INIT_METHODS):
        picker.add(name)
    if not any(name in methods for methods in picker.picked.values() for name in _INIT_METHODS):
        picker.add("reset")
    out = [
        f"# {cls.__module__}.{cls.__name__}, pruned to the code that produces observations.",
        "# Reward computation and the rest of the environment definition are omitted;",
        "# a returned reward is shown as `...`.",
        "",
        *picker.render(drop_goal),
    ]
    for w in wrappers:
        wcls = type(w)
        if isinstance(w, gym.ObservationWrapper) and "observation" in vars(wcls):
            wp = _ClassPicker(wcls, pruner)
            wp.add("observation")
            out += ["", f"# The lab wraps the env in {wcls.__name__}: the policy's observation is its output."]
            out += wp.render(drop_goal)
        fields_fn = getattr(w, "_fields", None)
        if callable(fields_fn):
            out += ["", "# Privileged fields the lab adds to info on reset and every step (the env is env.unwrapped):"]
            if inspect.ismethod(fields_fn):
                wp = _ClassPicker(type(fields_fn.__self__), pruner)
                wp.add(fields_fn.__func__.__name__)
                out += wp.render(drop_goal)
            else:
                src_text = _pruned(fields_fn, pruner)
                if src_text:
                    out += src_text.splitlines()
        if wcls.__name__ == "ZeroEnvReward":
            out += ["", "# The lab wraps the env so that it gives no reward of its own (always 0)."]
    return "\n".join(out)
