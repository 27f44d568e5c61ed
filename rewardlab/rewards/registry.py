"""Turning a reward spec string into a RewardSource.

A spec is one of:

* a name: ``env`` (the env's own reward), a task's hand-shaped reward (``sparse``, ``hand``,
  ``potential``, ...), ``count`` (an episodic count bonus, for tasks whose state view has the agent's grid
  cell: :mod:`rewardlab.rewards.counts`), or a reward registered with :func:`reward` in this process;
* a file: ``path/to/my_reward.py`` (its single ``@reward``-decorated function, or a function
  named ``reward``) or ``path/to/my_reward.py:fn_name``. A file in the format LLM-written rewards
  use (a ``compute_reward(s)`` and neither of those, like a search's ``best_reward.py``) runs
  sandboxed, as ``llm:path/to/my_reward.py`` would (one line on stderr says so);
* an expression over those: ``sparse + 0.1*hand``, ``norm(hand)``, ``norm(hand, reward)``,
  ``clip(hand, -1, 1)``, ``potential`` on any base via the task's ``HandReward(base=...)``.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envs.registry import HandReward, Task
from rewardlab.rewards.base import EnvReward, FunctionReward, RewardSource
from rewardlab.rewards.compose import Clip, PotentialShaping, RunningNorm, Scale, WeightedSum
from rewardlab.rewards.counts import FIELDS as COUNT_FIELDS
from rewardlab.rewards.counts import EpisodicCountBonus


class RewardSpecError(ValueError):
    """A reward spec that cannot be resolved; the message names the valid choices."""


@dataclass
class UserReward:
    name: str
    fn: Callable[..., Any]
    tasks: tuple[str, ...] | None
    description: str


_USER_REWARDS: dict[str, UserReward] = {}

#: ``prefix:rest`` reward specs resolved by other packages, reached by name so that importing
#: ``rewardlab`` never imports them: ``llm:path/reward.py`` is LLM-written code, statically checked
#: and run in a sandboxed child process; ``llm-inproc:path/reward.py`` runs it in the training
#: process with the sandbox's restricted builtins only (faster, no resource limits).
SPEC_PREFIXES: dict[str, str] = {
    "llm": "llm_reward.loader:reward_from_spec",
    "llm-inproc": "llm_reward.loader:inproc_reward_from_spec",
    "llm-process": "llm_reward.loader:process_reward_from_spec",
}


def reward(
    name: str | Callable[..., Any] | None = None, *, tasks: str | tuple[str, ...] | None = None, description: str = ""
) -> Any:
    """Decorator registering a plain function over the state view as a named reward.

    ``fn(s)`` returns a mapping of named components (total = their sum), an array, or
    ``(total, components)``; ``s`` is the task's state view (``s.prev`` is the previous state).

    Example::

        @rewardlab.reward("fast_flag", tasks="MountainCar-v0")
        def fast_flag(s):
            return {"speed": 10 * abs(s.v), "goal": 10.0 * (s.x >= 0.5)}
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        rname = name if isinstance(name, str) else fn.__name__
        t = (tasks,) if isinstance(tasks, str) else tasks
        desc = description or (fn.__doc__ or "").strip().split("\n")[0]
        _USER_REWARDS[rname] = UserReward(rname, fn, t, desc)
        fn.__rewardlab_reward__ = rname  # type: ignore[attr-defined]
        return fn

    if callable(name):
        return deco(name)
    return deco


def available_rewards(task: Task) -> list[str]:
    names = list(task.reward_names)
    if has_agent_state(task):
        names.append("count")
    names += [n for n, u in _USER_REWARDS.items() if u.tasks is None or task.id in u.tasks]
    return names


def resolve_reward(spec: str, task: Task) -> RewardSource:
    """Build the RewardSource a spec names for ``task``; raises :class:`RewardSpecError`."""
    spec = spec.strip()
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in SPEC_PREFIXES:
        return _prefixed(prefix, rest, task)
    if not spec:
        raise RewardSpecError(f"empty reward spec; valid rewards for {task.id}: {', '.join(available_rewards(task))}")
    if _looks_like_file(spec):
        return load_reward_file(spec, task)
    try:
        tree = ast.parse(spec, mode="eval")
    except SyntaxError:
        raise RewardSpecError(_unknown(spec, task)) from None
    return _build(tree.body, task, spec)


def _prefixed(prefix: str, rest: str, task: Task) -> RewardSource:
    mod, _, fn = SPEC_PREFIXES[prefix].partition(":")
    return getattr(importlib.import_module(mod), fn)(rest, task)


def _looks_like_file(spec: str) -> bool:
    path = spec.rsplit(":", 1)[0] if spec.count(":") == 1 and not spec.endswith(":") else spec
    return path.endswith(".py")


def _unknown(name: str, task: Task) -> str:
    return (
        f"unknown reward {name!r} for task {task.id}. Valid rewards: {', '.join(available_rewards(task))}; "
        "or a file 'my_reward.py[:function]', or an expression like 'sparse + 0.1*hand', 'norm(hand)', "
        "'clip(hand, -1, 1)'."
    )


def _build(node: ast.expr, task: Task, spec: str) -> RewardSource:
    if isinstance(node, ast.Name):
        return named_reward(node.id, task)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        left, right = _build(node.left, task, spec), _build(node.right, task, spec)
        return WeightedSum([(1.0, left), (1.0 if isinstance(node.op, ast.Add) else -1.0, right)])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        if is_number(node.left):
            return Scale(_build(node.right, task, spec), number(node.left))
        if is_number(node.right):
            return Scale(_build(node.left, task, spec), number(node.right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
        fn, args = node.func.id, node.args
        inner = _build(args[0], task, spec)
        if fn == "norm":
            mode = args[1].id if len(args) > 1 and isinstance(args[1], ast.Name) else "return"
            try:
                return RunningNorm(inner, mode=mode)
            except ValueError as e:
                raise RewardSpecError(f"in reward spec {spec!r}: {e}") from None
        if fn == "clip" and len(args) == 3 and all(is_number(a) for a in args[1:]):
            return Clip(inner, number(args[1]), number(args[2]))
        if fn == "scale" and len(args) == 2 and is_number(args[1]):
            return Scale(inner, number(args[1]))
    raise RewardSpecError(
        f"cannot read reward spec {spec!r} at {ast.unparse(node)!r}. " + _unknown(ast.unparse(node), task)
    )


def is_number(n: ast.expr) -> bool:
    """True for a numeric literal, possibly negated (``3``, ``-0.5``); booleans are not numbers."""
    if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
        return is_number(n.operand)
    return isinstance(n, ast.Constant) and isinstance(n.value, int | float) and not isinstance(n.value, bool)


def number(n: ast.expr) -> float:
    """The value of a literal accepted by :func:`is_number`."""
    if isinstance(n, ast.UnaryOp):
        return -number(n.operand)
    assert isinstance(n, ast.Constant) and isinstance(n.value, int | float)
    return float(n.value)


def named_reward(name: str, task: Task) -> RewardSource:
    if name == "env":
        if not task.has_env_reward:
            raise RewardSpecError(
                f"task {task.id} has no built-in reward (a new-behaviour task: only its fitness is defined). "
                f"Valid rewards: {', '.join(available_rewards(task))}."
            )
        return EnvReward()
    if name in task.rewards:
        return hand_reward(name, task.rewards[name], task)
    if name == "count" and name not in _USER_REWARDS:
        if not has_agent_state(task):
            raise RewardSpecError(
                f"reward 'count' needs the agent's grid state ({', '.join(COUNT_FIELDS)}) in the state view; "
                f"task {task.id} has none. Valid rewards: {', '.join(available_rewards(task))}."
            )
        return EpisodicCountBonus()
    if name in _USER_REWARDS:
        u = _USER_REWARDS[name]
        if u.tasks is not None and task.id not in u.tasks:
            raise RewardSpecError(f"reward {name!r} is registered for {list(u.tasks)}, not for {task.id}")
        return FunctionReward(u.fn, name, u.description)
    raise RewardSpecError(_unknown(name, task))


def has_agent_state(task: Task) -> bool:
    """True when the task's state view has the agent's grid cell and heading (what ``count`` reads)."""
    return all(f in task.units for f in COUNT_FIELDS)


def hand_reward(name: str, hr: HandReward, task: Task) -> RewardSource:
    if hr.components is not None:
        return FunctionReward(hr.components, name, hr.description)
    if hr.base == name:
        raise RewardSpecError(f"task {task.id}: potential reward {name!r} cannot be its own base")
    base = named_reward(hr.base, task)
    return PotentialShaping(hr.potential, hr.gamma, base=base, name=name, description=hr.description)  # type: ignore[arg-type]


def load_reward_file(spec: str, task: Task) -> RewardSource:
    """Load a reward from a Python file: ``file.py`` or ``file.py:function``.

    The file may use ``@rewardlab.reward`` or define a plain function (``reward`` by
    default), or a :class:`RewardSource` subclass/instance.
    """
    path_s, _, attr = spec.partition(":") if spec.count(":") == 1 else (spec, "", "")
    path = Path(path_s).expanduser()
    if not path.is_file():
        raise RewardSpecError(f"reward file {str(path)!r} does not exist")
    source_text = path.read_text()
    try:
        compile(source_text, str(path), "exec")
    except SyntaxError as e:
        raise RewardSpecError(f"reward file {path}: syntax error at line {e.lineno}: {e.msg}") from None
    if not attr and is_llm_format(source_text):
        return _sandboxed_file(path_s, task)
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    mod_name = f"rewardlab_user_{path.stem}_{digest}"
    mod_spec = importlib.util.spec_from_file_location(mod_name, path)
    assert mod_spec and mod_spec.loader
    module = importlib.util.module_from_spec(mod_spec)
    before = set(_USER_REWARDS)
    try:
        sys.modules[mod_name] = module
        mod_spec.loader.exec_module(module)
    except Exception as e:
        raise RewardSpecError(f"reward file {path} failed to import: {type(e).__name__}: {e}") from None
    if attr:
        if not hasattr(module, attr):
            fns = [k for k, v in vars(module).items() if callable(v) and not k.startswith("_")]
            raise RewardSpecError(f"reward file {path} has no {attr!r}; callables defined there: {fns}")
        obj = getattr(module, attr)
    else:
        decorated = [v for v in vars(module).values() if getattr(v, "__rewardlab_reward__", None)]
        new = [n for n in _USER_REWARDS if n not in before]
        if len(decorated) == 1:
            obj = decorated[0]
        elif len(decorated) > 1:
            raise RewardSpecError(
                f"reward file {path} defines several rewards {new or [d.__name__ for d in decorated]}; "
                f"pick one with '{path}:NAME'"
            )
        elif hasattr(module, "reward"):
            obj = module.reward
        else:
            raise RewardSpecError(
                f"reward file {path} defines no reward: decorate a function with @rewardlab.reward, "
                f"name it 'reward', or pass '{path}:function' (LLM-written code defining compute_reward(s) "
                f"runs sandboxed as 'llm:{path}')"
            )
    if isinstance(obj, type) and issubclass(obj, RewardSource):
        obj = obj()
    if isinstance(obj, RewardSource):
        return obj
    if not callable(obj):
        raise RewardSpecError(f"{spec}: {attr or 'reward'} is not callable")
    name = getattr(obj, "__rewardlab_reward__", None) or getattr(obj, "__name__", path.stem)
    return FunctionReward(obj, name, source_file=str(path.resolve()))


def is_llm_format(source: str) -> bool:
    """True for reward code in the format LLM-written rewards use (what the search writes to ``best_reward.py``):
    a top-level ``def compute_reward`` and nothing this loader would take instead (no ``@reward``-decorated
    function or class, nothing named ``reward``). Read with ``ast``: the code is not run."""
    names: set[str] = set()
    functions: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if any(_decorator_name(d) == "reward" for d in node.decorator_list):
                return False
            names.add(node.name)
            if not isinstance(node, ast.ClassDef):
                functions.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return "compute_reward" in functions and "reward" not in names


def _decorator_name(node: ast.expr) -> str | None:
    """``reward`` for ``@reward``, ``@rewardlab.reward`` and ``@rewardlab.reward("name", tasks=...)``."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else None


_ANNOUNCED: set[str] = set()


def _sandboxed_file(path: str, task: Task) -> RewardSource:
    """An LLM-format reward file given as a plain file spec: run it as ``llm:FILE`` (sandboxed), saying so once."""
    if path not in _ANNOUNCED:
        _ANNOUNCED.add(path)
        print(
            f"reward file {path} defines compute_reward(s) in the LLM reward format: running it sandboxed, "
            f"as --reward llm:{path}",
            file=sys.stderr,
        )
    return _prefixed("llm", path, task)
