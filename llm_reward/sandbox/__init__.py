"""The sandbox that LLM-written reward code runs in, for validation and for training alike.

* :mod:`~llm_reward.sandbox.kernel`: isolation guaranteed by the kernel (Landlock, seccomp, namespaces,
  rlimits, no_new_privs) and :func:`~llm_reward.sandbox.kernel.probe` of what a machine offers;
* :mod:`~llm_reward.sandbox.guards`: the restricted builtins and Python guards that explain rejections;
* :mod:`~llm_reward.sandbox.worker`: the process that runs the code and judges nothing;
* :mod:`~llm_reward.sandbox.process`: its handle and the judge, in the parent;
* :func:`validate_candidate` (static check + smoke test) and :class:`SandboxedReward` (training), both
  over one :class:`~llm_reward.sandbox.process.Worker`.

By default (``SandboxLimits.require_kernel``) code is refused where Landlock or seccomp cannot be applied;
``require_kernel=False`` (``--sandbox process``, ``llm-process:``) runs there with what holds, recorded in
the result's ``isolation``; ``llm-inproc:`` runs trusted code in the training process.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm_reward.sandbox.guards import restricted_builtins
    from llm_reward.sandbox.kernel import KernelSupport, probe
    from llm_reward.sandbox.limits import LABELS, RewardCodeError, SandboxLimits, ValidationResult
    from llm_reward.sandbox.reward import DEFAULT_CALL_TIMEOUT_S, RewardSandboxError, SandboxedReward
    from llm_reward.sandbox.validate import draw_batches, load_trusted_reward, validate_candidate

# Imported on first use, not here: the worker process imports ``llm_reward.sandbox.worker``, and loading this
# package's training and validation side with it (``reward`` -> ``envs`` -> gymnasium, minigrid, mujoco) cost
# every worker 0.3 s of start-up and put native libraries it never uses into the process candidate code runs in.
_WHERE = {
    "restricted_builtins": "guards",
    "KernelSupport": "kernel",
    "probe": "kernel",
    "LABELS": "limits",
    "RewardCodeError": "limits",
    "SandboxLimits": "limits",
    "ValidationResult": "limits",
    "DEFAULT_CALL_TIMEOUT_S": "reward",
    "RewardSandboxError": "reward",
    "SandboxedReward": "reward",
    "draw_batches": "validate",
    "load_trusted_reward": "validate",
    "validate_candidate": "validate",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_CALL_TIMEOUT_S",
    "LABELS",
    "KernelSupport",
    "RewardCodeError",
    "RewardSandboxError",
    "SandboxLimits",
    "SandboxedReward",
    "ValidationResult",
    "draw_batches",
    "load_trusted_reward",
    "probe",
    "restricted_builtins",
    "validate_candidate",
]
