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

from llm_reward.sandbox.guards import restricted_builtins
from llm_reward.sandbox.kernel import KernelSupport, probe
from llm_reward.sandbox.limits import LABELS, RewardCodeError, SandboxLimits, ValidationResult
from llm_reward.sandbox.reward import DEFAULT_CALL_TIMEOUT_S, RewardSandboxError, SandboxedReward
from llm_reward.sandbox.validate import draw_batches, load_trusted_reward, validate_candidate

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
