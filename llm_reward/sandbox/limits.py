"""What the sandbox reports: labels, limits, validation results and the static-check error."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from llm_reward.code import Issue

CANDIDATE_FILENAME = "<reward_candidate>"

LABELS: dict[str, str] = {
    "ok": "the candidate passed every check",
    # static
    "syntax_error": "the source does not parse",
    "source_too_large": "the source is longer than the limit",
    "empty_source": "no code was found",
    "forbidden_import": "imports (or reaches) a module outside math, numpy, torch",
    "forbidden_call": "uses a forbidden builtin or a file/process function",
    "dunder_access": "reads a __dunder__ name or attribute",
    "private_access": "reads a _private attribute",
    "monkeypatch": "assigns into a module or into the state view",
    "global_state": "uses global or nonlocal",
    "async_code": "uses async code",
    "toplevel_code": "runs statements at import time",
    "missing_entry": "the entry point is not defined",
    "bad_signature": "the entry point does not take exactly one parameter",
    # dynamic
    "exception": "raised an exception (trimmed traceback attached)",
    "recursion_limit": "recursed too deeply",
    "timeout": "exceeded the wall-clock limit and was killed",
    "cpu_limit": "exceeded the CPU-time limit and was killed",
    "memory_limit": "exceeded the memory limit",
    "crashed": "the process died (signal or exit without a result)",
    "nan_or_inf": "returned NaN or inf",
    "wrong_shape": "returned an array of the wrong shape (or a scalar)",
    "wrong_type": "returned the wrong type or dtype",
    "unstable_components": "component names changed between calls",
    "constant_output": "the total is the same for every stored transition",
    "too_slow": "a call took longer than the latency budget",
    "output_too_large": "printed or returned too much",
    "mutates_input": "wrote into the state view's arrays",
    "fork_attempt": "tried to start a process or thread",
    "file_write": "tried to open, write or delete a file",
    "network": "tried to open a socket",
    "denied": "the kernel sandbox refused a file, process or network operation",
    "bad_component_name": "a component name is not a short identifier",
    # infrastructure
    "sandbox_error": "the sandbox itself failed (not the candidate's fault)",
}

# labels by how much they matter when static_check reports several issues
_STATIC_PRIORITY = (
    "syntax_error",
    "source_too_large",
    "empty_source",
    "forbidden_import",
    "forbidden_call",
    "dunder_access",
    "private_access",
    "monkeypatch",
    "global_state",
    "async_code",
    "toplevel_code",
    "missing_entry",
    "bad_signature",
)


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits and check settings for one validation.

    :param cpu_s: CPU seconds the candidate may use (on top of the child's start-up).
    :param memory_mb: address space the candidate may add to the loaded child, MiB.
    :param wall_s: wall-clock seconds from the moment the candidate starts running.
    :param startup_s: wall-clock seconds the child may take to load the task and transitions.
    :param latency_ms_per_1k: CPU milliseconds per call per 1000 envs (batches below 1000 envs
        get the 1000-env budget).
    :param max_components: most components a reward may return.
    :param max_print_chars: characters the candidate may print (output is discarded).
    :param n_batches: single-step batches to call the candidate on (plus a one-env batch and
        the batch of all stored transitions).
    :param backend: ``"numpy"`` or ``"torch"`` (state-view fields become CPU tensors).
    :param require_kernel: refuse to run code where the kernel layers (Landlock and seccomp) cannot be
        applied. ``False`` runs with whatever holds there (rlimits, namespaces, Python guards) and says so
        in the result's ``isolation``; only a user who asks for it explicitly should get that.
    """

    cpu_s: float = 10.0
    memory_mb: int = 1024
    wall_s: float = 20.0
    startup_s: float = 90.0
    latency_ms_per_1k: float = 10.0
    max_components: int = 64
    max_print_chars: int = 100_000
    n_batches: int = 6
    backend: str = "numpy"
    require_kernel: bool = True

    def __post_init__(self) -> None:
        if self.backend not in ("numpy", "torch"):
            raise ValueError(f"backend must be 'numpy' or 'torch', got {self.backend!r}")
        if min(self.cpu_s, self.memory_mb, self.wall_s, self.startup_s, self.latency_ms_per_1k) <= 0:
            raise ValueError(f"limits must be positive: {self}")


@dataclass
class ValidationResult:
    """What validating one candidate found.

    :param ok: True when the candidate may be trained.
    :param label: ``"ok"`` or one of :data:`LABELS`.
    :param message: one paragraph for people and for the LLM's repair prompt.
    :param traceback_trimmed: candidate frames only, last lines (``exception`` and friends).
    :param components: component names the reward returns.
    :param latency_ms: CPU ms per call on the largest batch.
    :param latency_ms_per_1k: the same per 1000 envs.
    :param issues: every static-check finding.
    :param warnings: non-fatal findings (dead components, broadcast scalars, numpy warnings).
    :param stats: per component and ``total``: mean, std, min, max over all stored transitions.
    :param n_transitions: stored transitions the candidate was called on.
    :param exit_code: the child's exit status (negative: killed by that signal).
    :param wall_s: seconds the whole validation took.
    :param isolation: which sandbox layers were active in the child.
    """

    ok: bool
    label: str
    message: str
    traceback_trimmed: str = ""
    components: tuple[str, ...] = ()
    latency_ms: float | None = None
    latency_ms_per_1k: float | None = None
    issues: list[Issue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, dict[str, float]] = field(default_factory=dict)
    n_transitions: int = 0
    exit_code: int | None = None
    wall_s: float = 0.0
    isolation: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["components"] = list(self.components)
        return d

    def feedback(self) -> str:
        """Text for the LLM's repair prompt: label, message and trimmed traceback."""
        if self.ok:
            return "The reward code ran correctly on real transitions."
        text = f"Validation failed ({self.label}): {self.message}"
        if self.traceback_trimmed:
            text += f"\n{self.traceback_trimmed}"
        return text


class RewardCodeError(ValueError):
    """Reward code that fails the static check (raised by :func:`load_trusted_reward`)."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("reward code rejected:\n" + "\n".join(f"  {i}" for i in issues))


STATIC_PRIORITY = _STATIC_PRIORITY
