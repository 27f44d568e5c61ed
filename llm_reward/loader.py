"""``llm:path/reward.py`` reward specs: LLM-written reward code loaded for training.

The code is statically checked again in the training process, then runs in a sandboxed child
process (:class:`~llm_reward.sandbox.SandboxedReward`): a call that loops, exhausts
memory or crashes fails the run with a labelled error instead of hanging or killing it.

``llm:`` requires the kernel sandbox (Landlock and seccomp) and is refused where the machine lacks it;
``llm-process:path/reward.py`` asks explicitly for a sandbox process with whatever isolation holds there.
``llm-inproc:path/reward.py``, or ``REWARDLAB_LLM_SANDBOX=inproc`` for every ``llm:`` spec, runs
the code inside the training process with the sandbox's restricted builtins only: no process
boundary, no resource limits, no per-call IPC. ``REWARDLAB_LLM_CALL_TIMEOUT_S`` sets the
sandboxed call's wall-clock limit (default 10 s).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from envs.registry import Task
from rewardlab.rewards.base import RewardSource
from rewardlab.rewards.registry import RewardSpecError

SANDBOX_ENV = "REWARDLAB_LLM_SANDBOX"
TIMEOUT_ENV = "REWARDLAB_LLM_CALL_TIMEOUT_S"


def reward_from_spec(path: str, task: Task) -> RewardSource:
    """The reward for ``llm:path``: in the kernel sandbox, refused where the machine cannot provide it."""
    return _sandboxed(path, require_kernel=True)


def process_reward_from_spec(path: str, task: Task) -> RewardSource:
    """The reward for ``llm-process:path``: a sandbox process with whatever isolation this machine has
    (the user asked for it explicitly: Landlock or seccomp may be missing; the run's reward.json says)."""
    return _sandboxed(path, require_kernel=False)


def _sandboxed(path: str, require_kernel: bool) -> RewardSource:
    from llm_reward.sandbox import DEFAULT_CALL_TIMEOUT_S, SandboxedReward, SandboxLimits, probe

    mode = os.environ.get(SANDBOX_ENV, "process").strip().lower() or "process"
    if mode == "inproc":
        return _inproc(path, f"{SANDBOX_ENV}=inproc")
    if mode != "process":
        raise RewardSpecError(f"{SANDBOX_ENV}={mode!r}: valid values are 'process' (the default) and 'inproc'")
    timeout = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        call_timeout_s = float(timeout) if timeout else DEFAULT_CALL_TIMEOUT_S
    except ValueError:
        raise RewardSpecError(f"{TIMEOUT_ENV}={timeout!r} is not a number of seconds") from None
    support = probe()
    if require_kernel and not support.sufficient:
        raise RewardSpecError(refusal(support, f"llm-process:{path}"))
    p = _reward_file(path)
    try:
        return SandboxedReward(
            p.read_text(),
            "compute_reward",
            name=p.parent.name or "llm",
            call_timeout_s=call_timeout_s,
            limits=SandboxLimits(require_kernel=require_kernel),
            source_file=str(p.resolve()),
        )
    except ValueError as e:  # RewardCodeError (the static check) or a bad timeout
        raise RewardSpecError(f"LLM reward {path}: {e}") from None


def refusal(support: Any, weaker: str) -> str:
    """Why LLM code is not run on this machine, and how to ask for less isolation explicitly."""
    return (
        f"LLM-written reward code runs only in the kernel sandbox, and this machine ({support.platform}) lacks "
        f"{' and '.join(support.missing())}. To run it anyway with weaker isolation (resource limits, "
        f"namespaces where available, Python guards), say so explicitly: {weaker}"
    )


def inproc_reward_from_spec(path: str, task: Task) -> RewardSource:
    """The reward for ``llm-inproc:path``: the code runs in this process (restricted builtins only)."""
    return _inproc(path, "llm-inproc:")


def _inproc(path: str, chosen_by: str) -> RewardSource:
    from llm_reward.sandbox import RewardCodeError, load_trusted_reward

    p = _reward_file(path)
    try:
        src = load_trusted_reward(p.read_text(), "compute_reward", name=p.parent.name or "llm")
    except RewardCodeError as e:
        raise RewardSpecError(f"LLM reward {path}: {e}") from None
    src.source_file = str(p.resolve())
    # no process boundary: no call timeout and no limits apply (recorded, since an env var can choose this)
    src.settings = {"llm_sandbox": {"mode": "inproc", "chosen_by": chosen_by, "call_timeout_s": None}}
    return src


def _reward_file(path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise RewardSpecError(f"LLM reward file {path!r} does not exist")
    return p
