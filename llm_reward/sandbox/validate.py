"""Validate LLM-written reward code before any RL is spent on it.

:func:`validate_candidate` runs two layers:

1. :func:`~llm_reward.code.static_check`: the first line, which explains rejections well (imports,
   forbidden calls and their aliases, private and dunder access, monkeypatching, the signature).
2. A smoke test. The code runs in a sandbox worker (:class:`~llm_reward.sandbox.process.Worker`: kernel
   isolation, resource limits, restricted builtins); this process sends it batches of real stored
   transitions and judges what comes back (:func:`~llm_reward.sandbox.process.judge`): a
   ``(total, components)`` tuple, float ``(n,)`` totals, ``(n,)`` numeric components (scalars broadcast,
   with a warning) under the same short identifier names every call, all finite, a total that is not
   constant over the stored transitions, and a CPU time per call (read from the kernel) within
   ``SandboxLimits.latency_ms_per_1k``.

The batches are drawn anew for every validation from the operating system's randomness: how many,
their sizes (one env, the stored vector's width, every stored transition, the sizes training will use
and random others) and which transitions, in a random order, so code cannot tell when it is tested.
"""

from __future__ import annotations

import math
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from envs.registry import Task
from llm_reward.code import Issue, imported_modules, static_check
from llm_reward.sandbox.guards import Fail, exec_candidate, restricted_builtins
from llm_reward.sandbox.limits import STATIC_PRIORITY, RewardCodeError, SandboxLimits, ValidationResult
from llm_reward.sandbox.process import Worker, WorkerFailed, judge
from rewardlab.rewards.base import FunctionReward

#: batch sizes training commonly uses; some are always among the drawn sizes
TRAINING_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def validate_candidate(
    source: str,
    task: Task | str,
    transitions: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    entry: str = "compute_reward",
    limits: SandboxLimits | None = None,
    scratch_dir: str | os.PathLike[str] | None = None,
    static: bool = True,
    batch_sizes: Sequence[int] = (),
) -> ValidationResult:
    """Static check, then a sandboxed smoke test of ``source`` on real stored transitions.

    :param source: the reward module (see :mod:`llm_reward.code` for the contract).
    :param task: the task or its id.
    :param transitions: arrays from :func:`~llm_reward.transitions.collect_transitions`, a path to their
        ``.npz``, or None to collect 256 random-policy steps of 8 envs now.
    :param entry: the entry point's name.
    :param limits: resource limits and check settings.
    :param scratch_dir: unused beyond compatibility: the worker's only writable directory is a private one,
        removed with it.
    :param static: run the static check first (False only to test the runtime layer alone).
    :param batch_sizes: batch sizes training will call the reward on (the run's ``n_envs``); always tested.
    :returns: never raises for anything the candidate does.
    """
    from envs.registry import get_task
    from llm_reward.transitions import collect_transitions, load_transitions

    t0 = time.monotonic()
    limits = limits or SandboxLimits()
    if isinstance(task, str):
        task = get_task(task)
    if static:
        issues = static_check(source, entry)
        if issues:
            first = min(issues, key=lambda i: STATIC_PRIORITY.index(i.label) if i.label in STATIC_PRIORITY else 99)
            shown = "\n".join(f"- {i}" for i in issues[:10])
            more = f"\n- ... and {len(issues) - 10} more" if len(issues) > 10 else ""
            return ValidationResult(
                False, first.label, f"static check failed:\n{shown}{more}", issues=issues, wall_s=time.monotonic() - t0
            )
    try:
        if transitions is None:
            transitions = collect_transitions(task, n_steps=256, seed=0)
        data = load_transitions(transitions) if isinstance(transitions, str | os.PathLike) else dict(transitions)
        batches = draw_batches(task, data, limits, batch_sizes)
    except Exception as e:  # our own failure, not the candidate's
        return ValidationResult(
            False,
            "sandbox_error",
            f"could not prepare the smoke test: {type(e).__name__}: {e}",
            wall_s=time.monotonic() - t0,
        )
    result = _smoke_test(source, entry, task, batches, limits, int(data["env_reward"].size))
    result.wall_s = time.monotonic() - t0
    return result


def draw_batches(
    task: Task,
    data: Mapping[str, np.ndarray],
    limits: SandboxLimits,
    sizes: Sequence[int] = (),
    rng: np.random.Generator | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """The smoke test's batches, drawn afresh: ``(description, {"fields", "prev", "units"})``, the last one
    every stored transition (the constant-output and latency checks use it)."""
    from llm_reward.transitions import transition_view

    rng = rng or np.random.default_rng(secrets.randbits(64))
    n_steps, n_envs = data["env_reward"].shape
    total = n_steps * n_envs
    done = np.flatnonzero((data["terminated"] | data["truncated"]).any(axis=1))
    plan: list[tuple[str, Any]] = []
    k_steps = max(1, limits.n_batches - 2 + int(rng.integers(0, 3)))
    steps = set(rng.choice(n_steps, size=min(k_steps, n_steps), replace=False).tolist())
    if len(done):
        steps.add(int(rng.choice(done)))  # a terminal transition
    plan += [(f"stored step {i} ({n_envs} envs)", int(i)) for i in steps]
    wanted = {1, *[s for s in sizes if 1 <= s <= total]}
    wanted |= {int(s) for s in rng.choice([s for s in TRAINING_SIZES if s <= total], size=2, replace=False)}
    wanted |= {int(rng.integers(2, max(3, total)))}  # and one no list names
    # and two larger than what is stored (drawn with replacement): training may batch far more envs
    wanted |= {int(rng.integers(total + 1, 4 * total + 1)), int(rng.integers(4 * total + 1, 16 * total + 1))}
    for size in sorted(wanted):
        flat = rng.choice(total, size=size, replace=size > total)
        plan.append((f"a batch of {size} env{'s' if size > 1 else ''}", np.unravel_index(flat, (n_steps, n_envs))))
    order = rng.permutation(len(plan))
    plan = [plan[i] for i in order]
    plan.append((f"all {total} stored transitions", None))
    return [(where, _materialise(transition_view(task, data, index))) for where, index in plan]


def _materialise(view: Any) -> dict[str, Any]:
    def fields(v: Any) -> dict[str, np.ndarray]:
        return {k: np.ascontiguousarray(np.asarray(v[k])) for k in v.keys()}

    prev = view.prev
    units = {k: view.unit(k) for k in view.keys()}
    return {"fields": fields(view), "prev": fields(prev) if prev is not None else None, "units": units}


def _smoke_test(
    source: str, entry: str, task: Task, batches: list[tuple[str, dict[str, Any]]], limits: SandboxLimits, n_stored: int
) -> ValidationResult:
    worker: Worker | None = None
    warnings: list[str] = []
    try:
        worker = Worker(
            source,
            entry,
            limits,
            modules=imported_modules(source),
            torch_inputs=limits.backend == "torch",
        )
        deadline = time.monotonic() + limits.wall_s
        keys: tuple[str, ...] | None = None
        verdict = None
        for where, b in batches:
            n = _n(b)
            res = worker.call(b["fields"], b["prev"], b["units"], max(0.05, deadline - time.monotonic()), f"on {where}")
            verdict = judge(res, n, f"on {where}", strict=True, max_components=limits.max_components, expected=keys)
            keys = tuple(verdict.components)
            warnings += [w for w in verdict.warnings if w not in warnings]
        assert verdict is not None and keys is not None
        totals = verdict.total
        span = float(totals.max() - totals.min())
        if span <= 1e-9 * max(1.0, float(np.abs(totals).max())):
            raise Fail(
                "constant_output",
                f"the total is {float(totals[0]):.6g} for all {totals.shape[0]} stored "
                f"transitions (a random policy on {task.id}); RL gets no learning signal from it -- add dense "
                "terms that vary with the state",
            )
        stats = {"total": _stats(totals)}
        for k, v in verdict.components.items():
            stats[k] = _stats(v)
            if np.ptp(v) == 0:
                warnings.append(f"component {k!r} is constant ({float(v[0]):.4g}) on every stored transition")
        where, b = batches[-1]
        latency = _latency(worker, b, where, limits, deadline)
        n_all = _n(b)
        return ValidationResult(
            True,
            "ok",
            f"ran on {len(batches)} batches ({n_all} stored transitions); components {list(keys)}",
            components=keys,
            latency_ms=latency,
            latency_ms_per_1k=latency * 1000.0 / n_all,
            warnings=warnings,
            stats=stats,
            n_transitions=n_stored,
            exit_code=None,
            isolation=dict(worker.isolation),
        )
    except Fail as f:
        return ValidationResult(
            False,
            f.label,
            f.args[0],
            traceback_trimmed=f.tb,
            warnings=warnings,
            isolation=dict(worker.isolation) if worker else {},
            n_transitions=n_stored,
        )
    except WorkerFailed as e:
        return ValidationResult(
            False,
            e.label,
            e.message,
            traceback_trimmed=e.tb,
            exit_code=e.exit_code,
            warnings=warnings,
            isolation=dict(worker.isolation) if worker else e.isolation,
            n_transitions=n_stored,
        )
    except Exception as e:  # our own failure
        return ValidationResult(False, "sandbox_error", f"the sandbox failed: {type(e).__name__}: {e}")
    finally:
        if worker is not None:
            worker.stop()


def _latency(worker: Worker, b: dict[str, Any], where: str, limits: SandboxLimits, deadline: float) -> float:
    """CPU ms of one call on the largest batch, the best of up to three, measured by this process."""
    n = _n(b)
    budget = limits.latency_ms_per_1k * max(n, 1000) / 1000.0
    best = math.inf
    for _ in range(3):
        res = worker.call(b["fields"], b["prev"], b["units"], max(0.05, deadline - time.monotonic()), f"on {where}")
        best = min(best, res.cpu_ms if res.cpu_ms is not None else res.wall_ms)
        if best <= budget or best > 3.0 * budget:
            break  # repeats only rescue a call near the budget
    if best > budget:
        raise Fail(
            "too_slow",
            f"one call on {n} envs took {best:.1f} ms of CPU; the budget is {budget:.1f} ms "
            f"({limits.latency_ms_per_1k:g} ms per 1000 envs) -- vectorise over envs instead of looping",
        )
    return best


def _n(b: dict[str, Any]) -> int:
    for a in b["fields"].values():
        return int(a.shape[0])
    return 0


def _stats(a: np.ndarray) -> dict[str, float]:
    return {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()), "max": float(a.max())}


def load_trusted_reward(source: str, entry: str = "compute_reward", name: str | None = None) -> FunctionReward:
    """A :class:`FunctionReward` over validated code run in this process (``llm-inproc:``): the static check
    again and the restricted builtins, no process boundary and no kernel isolation. Only for code the user
    trusts; :class:`~llm_reward.sandbox.SandboxedReward` is the default.

    :raises RewardCodeError: the static check found issues.
    """
    issues = static_check(source, entry)
    if issues:
        raise RewardCodeError(issues)

    def violation(label: str, message: str) -> BaseException:
        return PermissionError(f"[{label}] {message}")

    namespace = exec_candidate(source, restricted_builtins(violation))
    fn = namespace.get(entry)
    if not callable(fn):
        raise RewardCodeError([Issue("missing_entry", f"{entry!r} is not a function after executing the module")])
    return FunctionReward(fn, name=name or entry)


__all__ = ["TRAINING_SIZES", "draw_batches", "load_trusted_reward", "validate_candidate"]
