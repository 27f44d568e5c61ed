"""LLM-written reward code during training, in a long-lived sandbox worker.

Validation calls a candidate a dozen times; code can pass that and still loop forever, allocate without
bound or crash later in training. :class:`SandboxedReward` therefore never runs the code in the training
process: on its first :meth:`~SandboxedReward.compute` it starts one :class:`~llm_reward.sandbox.process.Worker`
(the same kernel isolation and limits as validation) and sends it every batch. Each call gets a fresh CPU
budget (``SandboxLimits.cpu_s``) and a wall-clock limit (``call_timeout_s``) enforced here, and every result
is judged here (:func:`~llm_reward.sandbox.process.judge`). On any failure the worker's process group is
killed and :class:`RewardSandboxError` (``label`` from :data:`~llm_reward.sandbox.LABELS`) is raised; the run
then ends as failed with that message, and later calls raise the same error.

The worker never outlives this process: :meth:`~SandboxedReward.close`, interpreter exit and (Linux) the
kernel's parent-death signal end it.
"""

from __future__ import annotations

import ast
import os
from dataclasses import asdict
from typing import Any

import numpy as np

from envs.state_view import StateView
from llm_reward.code import imported_modules, static_check
from llm_reward.sandbox.guards import Fail
from llm_reward.sandbox.limits import RewardCodeError, SandboxLimits
from llm_reward.sandbox.process import Worker, WorkerFailed, judge
from rewardlab.rewards.base import RewardError, RewardSource, RewardTerms, TransitionBatch, is_torch

DEFAULT_CALL_TIMEOUT_S = 10.0


class RewardSandboxError(RewardError):
    """Sandboxed reward code failed during training.

    :param name: the reward's name.
    :param label: one of :data:`llm_reward.sandbox.LABELS`.
    :param detail: what happened, where (call number and batch size) and, when known, the line.
    :param traceback_trimmed: the candidate's own frames.
    :param exit_code: the worker's exit status when it died (negative: the signal).
    """

    def __init__(
        self, name: str, label: str, detail: str, traceback_trimmed: str = "", exit_code: int | None = None
    ) -> None:
        self.name, self.label, self.detail = name, label, detail
        self.traceback_trimmed, self.exit_code = traceback_trimmed, exit_code
        text = f"LLM reward {name!r} failed in its sandbox process [{label}]: {detail}"
        super().__init__(text + (f"\n{traceback_trimmed}" if traceback_trimmed else ""))

    def __reduce__(self) -> Any:
        return type(self), (self.name, self.label, self.detail, self.traceback_trimmed, self.exit_code)


class SandboxedReward(RewardSource):
    """A :class:`RewardSource` over reward code that runs in a sandbox worker.

    :param source: the reward module; statically checked here.
    :param entry: the entry point's name.
    :param name: the reward's name (component logs, messages).
    :param limits: the worker's limits (``cpu_s`` per call, ``memory_mb``, ``startup_s``, ``max_components``,
        ``require_kernel``).
    :param call_timeout_s: wall-clock seconds one call may take before the worker is killed.
    :param static: run the static check (switch it off only to test the runtime layer on its own).
    :param source_file: where the code was read from (copied into the run directory).
    :raises RewardCodeError: the static check found issues.
    """

    needs_state = True

    def __init__(
        self,
        source: str,
        entry: str = "compute_reward",
        name: str | None = None,
        *,
        limits: SandboxLimits | None = None,
        call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
        description: str = "",
        static: bool = True,
        source_file: str | None = None,
    ) -> None:
        issues = static_check(source, entry) if static else []
        if issues:
            raise RewardCodeError(issues)
        if not call_timeout_s > 0:
            raise ValueError(f"call_timeout_s must be positive, got {call_timeout_s}")
        self.source, self.entry = source, entry
        self.name = name or entry
        self.description = description or _docstring(source, entry)
        self.limits = limits or SandboxLimits()
        self.call_timeout_s = float(call_timeout_s)
        self.reads_prev = _reads_prev(source)
        self.source_file = source_file
        self.calls = 0
        #: the guarantees the worker reported as holding (empty until it has started)
        self.isolation: dict[str, Any] = {}
        self._worker: Worker | None = None
        self._keys: tuple[str, ...] | None = None
        self._error: RewardSandboxError | None = None

    @property
    def pid(self) -> int | None:
        w = self._worker
        return w.pid if w is not None and w.alive() else None

    def describe(self) -> str:
        return f"{self.name}: {self.description}" if self.description else self.name

    def config(self) -> dict[str, Any]:
        """How the code runs: in a sandbox process (kernel isolation required or not), its call timeout and limits."""
        return {
            "llm_sandbox": {
                "mode": "process",
                "require_kernel": self.limits.require_kernel,
                "call_timeout_s": self.call_timeout_s,
                "limits": asdict(self.limits),
            }
        }

    def info(self) -> dict[str, Any]:
        return {
            "sandbox": {
                "limits": asdict(self.limits),
                "call_timeout_s": self.call_timeout_s,
                "guarantees": self.isolation or "not started yet",
            }
        }

    def compute(self, batch: TransitionBatch) -> RewardTerms:
        if self._error is not None:
            raise self._error
        state = batch.state
        if state is None:
            raise RewardError(f"reward {self.name!r} reads the state view, but the batch has no task view")
        fields, prev, units, device = _pack(state, self.reads_prev)
        n = batch.n
        self.calls += 1
        where = f"on call {self.calls} ({n} envs)"
        try:
            worker = self._running(device is not None)
            res = worker.call(fields, prev, units, self.call_timeout_s, where)
            verdict = judge(
                res,
                n,
                where,
                strict=False,
                max_components=self.limits.max_components,
                reward_name=self.name,
                expected=self._keys,
            )
        except WorkerFailed as e:
            self.isolation = self.isolation or e.isolation
            raise self._fail(e.label, e.message, e.tb, e.exit_code) from None
        except Fail as f:
            raise self._fail(f.label, str(f), f.tb) from None
        self._keys = tuple(verdict.components)
        total, comps = verdict.total, verdict.components
        if device is not None:
            import torch

            values = torch.as_tensor(np.stack([total, *comps.values()]), dtype=torch.float32, device=device)
            return RewardTerms(values[0], {k: values[i + 1] for i, k in enumerate(comps)})
        return RewardTerms(total, dict(comps))

    def close(self) -> None:
        """Stop the worker. The reward still works afterwards (a new worker starts) unless it failed."""
        if self._worker is not None:
            self._worker.stop()
        self._worker = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_worker"] = None  # a copy in another process starts its own worker
        return state

    def _running(self, torch_inputs: bool) -> Worker:
        w = self._worker
        if w is not None and w.owner == os.getpid() and w.alive() and (w.torch or not torch_inputs):
            return w
        self.close()  # a forked copy's handle, an interrupted call, or torch inputs for a numpy worker
        self._worker = Worker(
            self.source,
            self.entry,
            self.limits,
            modules=imported_modules(self.source),
            torch_inputs=torch_inputs,
            name=self.name,
        )
        self.isolation = dict(self._worker.isolation)
        return self._worker

    def _fail(self, label: str, detail: str, tb: str = "", exit_code: int | None = None) -> RewardSandboxError:
        self.close()
        self._error = RewardSandboxError(self.name, label, detail, tb, exit_code)
        return self._error


def _pack(
    state: StateView, with_prev: bool
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None, dict[str, str], Any]:
    """The state view's arrays as numpy (torch tensors copied to the host), its units, and the inputs' device."""
    device = None

    def fields(view: StateView) -> dict[str, np.ndarray]:
        nonlocal device
        out = {}
        for k in view.keys():
            a = view[k]
            if type(a) is not np.ndarray:
                if is_torch(a):
                    device = device or a.device
                    a = a.detach().cpu().numpy()
                else:
                    a = np.asarray(a)
            if a.dtype.kind not in "biuf":
                raise RewardError(f"state-view field {k!r} has dtype {a.dtype}; only numbers reach sandboxed code")
            out[k] = a
        return out

    f = fields(state)
    units = {k: state.unit(k) for k in state.keys()}
    p = None
    if with_prev and state.prev is not None:
        p = fields(state.prev)
        units.update({k: state.prev.unit(k) for k in state.prev.keys()})
    return f, p, units, device


def _reads_prev(source: str) -> bool:
    """Whether the code may read ``s.prev`` (when it cannot, the previous state is not even sent): an
    attribute or a string names ``prev``, or ``getattr`` is used other than called with a constant name."""
    tree = ast.parse(source)
    literal_getattr = {
        id(node.func)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "prev":
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "prev" in node.value:
            return True
        if isinstance(node, ast.Name) and node.id == "getattr" and id(node) not in literal_getattr:
            return True
    return False


def _docstring(source: str, entry: str) -> str:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == entry:
            return (ast.get_docstring(node) or "").strip().split("\n")[0]
    return ""


__all__ = ["DEFAULT_CALL_TIMEOUT_S", "RewardSandboxError", "SandboxedReward"]
