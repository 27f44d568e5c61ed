"""Validate LLM-written reward code in a sandboxed process before any RL is spent on it.

:func:`validate_candidate` runs two layers:

1. :func:`~llm_reward.code.static_check` (imports, forbidden calls, dunder access, signature).
2. A dynamic smoke test in a separate process of the same interpreter. The child loads the
   task and the stored real transitions (:mod:`llm_reward.transitions`), builds the task's
   state views, then locks itself down and only then executes the candidate:

   * ``RLIMIT_CPU`` (SIGXCPU, then SIGKILL one second later), ``RLIMIT_AS`` (the memory the
     candidate may add on top of the loaded interpreter), ``RLIMIT_FSIZE = 0`` (no file grows),
     ``RLIMIT_NPROC = 0`` and ``RLIMIT_CORE = 0``. Running as root, the child also moves to a
     fresh network namespace (no interfaces) and drops to user ``nobody``, which makes
     ``RLIMIT_NPROC`` bite (the kernel ignores it for root) and leaves the files of every
     other user read-only.
   * Runtime guards: opening a file for writing (``open``, ``io.open``, ``os.open``, hence
     ``np.save``, ``ndarray.tofile``, ``pathlib``), the ``os`` functions that delete, rename or
     create, ``fork``/``exec``/``spawn``/``system``/``kill``, ``subprocess``, ``socket``,
     ``signal`` and thread starts raise, and the attempt is recorded even when the candidate
     catches the exception. Reading files stays possible because numpy and torch import their
     own modules lazily. The candidate is ``exec``'d with a restricted ``__builtins__``
     (``open``/``eval``/``exec``... are stubs that raise with a reason; an ``__import__`` that
     admits only math, numpy and torch; a ``getattr`` that refuses private names; a ``print``
     that discards output up to a size limit). The state view's arrays are read-only and
     checksummed before and after every call.
   * The parent enforces a wall-clock limit and kills the child's whole process group; it learns
     the outcome from the exit status plus a JSON result file the child writes (through a
     shared memory map set up before ``RLIMIT_FSIZE``) -- never from the child's output, which
     goes to ``/dev/null`` (stderr is kept only as a tail for crash messages).

The smoke test calls the entry point on several batches of real transitions (single steps of
``n_envs``, a batch of one env, and every stored transition at once) and checks: a
``(total, components)`` tuple; ``total`` a float array of shape ``(n,)`` (numpy or torch);
components a dict of ``(n,)`` numeric arrays (scalars are broadcast, with a warning) whose
keys are the same on every call; all values finite; the total not constant over all stored
transitions; no writes into the state view; and a latency within
``SandboxLimits.latency_ms_per_1k`` (thread CPU time per call, per 1000 envs). ``total`` need not
equal the sum of the components.

Labels (``ValidationResult.label``) are listed in :data:`LABELS`.

What the layers cannot do (Linux; other systems get fewer layers):

* ``RLIMIT_AS`` caps virtual address space, not resident memory; it is set to the child's size
  after loading plus ``memory_mb``. The kernel's OOM killer (SIGKILL) is reported as
  ``memory_limit`` when the CPU limit does not explain the kill.
* ``RLIMIT_FSIZE = 0`` stops files from growing, not from being created empty, truncated,
  renamed or deleted. Those are stopped by the Python guards and, when the lab runs as root, by
  running the candidate as ``nobody``; as an ordinary user, code that got past both the static
  check and the guards (through native code) could still change that user's files. A mount
  namespace, Landlock or seccomp would close this; none is used.
* ``RLIMIT_NPROC`` counts every process of the user and is ignored for root; hence the drop to
  ``nobody``. Threads count too, so the child runs numpy and torch single-threaded.
* No rlimit covers the network: a network namespace (root, or unprivileged user namespaces)
  plus the socket guards; where unsharing fails only the guards remain
  (``ValidationResult.isolation["network_namespace"]`` says which).
* CPU time does not pass while a candidate sleeps or blocks: the parent's wall clock catches
  that (``timeout``). Both limits have one-second granularity.
* Python-level guards are a second layer, not a security boundary on their own: the static
  check's ban on private and dunder attributes is what keeps code from reaching unguarded
  objects. Accelerator memory is not limited; the smoke test runs on CPU.

:func:`load_trusted_reward` turns validated code into a :class:`~rewardlab.rewards.base.FunctionReward`
for a training process (same static check and restricted builtins; no rlimits or global
patches, since training processes are separate processes already and must write their runs).
Training uses it only when asked (``llm-inproc:``); by default the code runs in a long-lived child
with this module's lock-down (:mod:`llm_reward.sandboxed_reward`).
"""

from __future__ import annotations

import builtins
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from envs.registry import Task
from llm_reward.code import (
    FORBIDDEN_BUILTINS,
    Issue,
    check_attribute,
    check_import,
    imported_modules,
    is_dunder,
    static_check,
)
from rewardlab.rewards.base import FunctionReward

CANDIDATE_FILENAME = "<reward_candidate>"
RESULT_BYTES = 1 << 20
_HEADER = 16

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
    # infrastructure
    "sandbox_error": "the sandbox itself failed (not the candidate's fault)",
}

# labels by how much they matter when static_check reports several issues
_STATIC_PRIORITY = (
    "syntax_error", "source_too_large", "empty_source", "forbidden_import", "forbidden_call", "dunder_access",
    "private_access", "monkeypatch", "global_state", "async_code", "toplevel_code", "missing_entry", "bad_signature",
)  # fmt: skip


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


# -- the restricted namespace (shared by the sandbox child and training processes) ------------

_SAFE_BUILTIN_NAMES = (
    "abs", "all", "any", "ascii", "bin", "bool", "bytes", "callable", "chr", "classmethod", "complex", "dict",
    "divmod", "enumerate", "filter", "float", "format", "frozenset", "hasattr", "hash", "hex", "int", "isinstance",
    "issubclass", "iter", "len", "list", "map", "max", "min", "next", "oct", "ord", "pow", "property", "range",
    "repr", "reversed", "round", "set", "slice", "sorted", "staticmethod", "str", "sum", "super", "tuple", "zip",
    "NotImplemented", "Ellipsis", "ArithmeticError", "AssertionError", "AttributeError", "Exception",
    "FloatingPointError", "IndexError", "KeyError", "LookupError", "NameError", "NotImplementedError",
    "OverflowError", "RuntimeError", "StopIteration", "TypeError", "ValueError", "ZeroDivisionError",
)  # fmt: skip


def restricted_builtins(
    violation: Callable[[str, str], BaseException],
    print_fn: Callable[..., None] | None = None,
) -> dict[str, Any]:
    """The ``__builtins__`` dict reward code runs with.

    :param violation: ``(label, message) -> exception`` raised by the import and getattr guards.
    :param print_fn: replacement for ``print``; the default discards output.
    """
    real_import = builtins.__import__
    real_getattr = builtins.getattr

    def guarded_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        if level:
            raise violation("forbidden_import", "relative imports are not allowed")
        why = check_import(name, allow_private=True)
        for item in fromlist or ():
            if why is None and item != "*":
                item = str(item)
                why = check_import(f"{name}.{item}", allow_private=True) or (
                    None if item.startswith("_") and not is_dunder(item) else check_attribute(item)
                )
        if why:
            raise violation("forbidden_import", why)
        return real_import(name, globals, locals, fromlist, 0)

    def guarded_getattr(obj: Any, name: str, *default: Any) -> Any:
        if not isinstance(name, str):
            raise TypeError("getattr(): attribute name must be a string")
        why = check_attribute(name, on_module=False)
        if why:
            raise violation(
                "dunder_access" if name.startswith("_") else "forbidden_call", f"getattr(..., {name!r}): {why}"
            )
        return real_getattr(obj, name, *default)

    def discard(*args: Any, **kwargs: Any) -> None:
        return None

    def denied(name: str) -> Callable[..., Any]:
        label = "file_write" if name == "open" else "forbidden_call"

        def stub(*args: Any, **kwargs: Any) -> Any:
            raise violation(label, f"{name}() is not available in reward code: {FORBIDDEN_BUILTINS[name]}")

        return stub

    # forbidden builtins are stubs that say why, rather than a bare NameError
    safe = {name: denied(name) for name in FORBIDDEN_BUILTINS if not name.startswith("_")}
    safe.update({name: real_getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES})
    safe.update(
        __import__=guarded_import,
        __build_class__=builtins.__build_class__,
        getattr=guarded_getattr,
        print=print_fn or discard,
    )
    return safe


def _exec_candidate(source: str, builtins_dict: dict[str, Any]) -> dict[str, Any]:
    import linecache

    lines = source.splitlines(keepends=True)
    linecache.cache[CANDIDATE_FILENAME] = (len(source), None, lines, CANDIDATE_FILENAME)
    namespace: dict[str, Any] = {"__builtins__": builtins_dict, "__name__": "reward_candidate"}
    exec(compile(source, CANDIDATE_FILENAME, "exec"), namespace)
    return namespace


def load_trusted_reward(source: str, entry: str = "compute_reward", name: str | None = None) -> FunctionReward:
    """A :class:`FunctionReward` over validated reward code, for use inside training processes.

    The code passes :func:`static_check` again and runs with the same restricted builtins as in
    the sandbox (``print`` is a no-op); no rlimits or process-wide patches are applied.

    :raises RewardCodeError: the static check found issues.
    """
    issues = static_check(source, entry)
    if issues:
        raise RewardCodeError(issues)

    def violation(label: str, message: str) -> BaseException:
        return PermissionError(f"[{label}] {message}")

    namespace = _exec_candidate(source, restricted_builtins(violation))
    fn = namespace.get(entry)
    if not callable(fn):
        raise RewardCodeError([Issue("missing_entry", f"{entry!r} is not a function after executing the module")])
    return FunctionReward(fn, name=name or entry)


# -- the parent side -----------------------------------------------------------------------------


def validate_candidate(
    source: str,
    task: Task | str,
    transitions: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    entry: str = "compute_reward",
    limits: SandboxLimits | None = None,
    scratch_dir: str | os.PathLike[str] | None = None,
    static: bool = True,
) -> ValidationResult:
    """Static check, then a sandboxed smoke test of ``source`` on real stored transitions.

    :param source: the reward module (see :mod:`llm_reward.code` for the contract).
    :param task: the task or its id; the child re-imports it by id.
    :param transitions: arrays from :func:`~llm_reward.transitions.collect_transitions`, a path to
        their ``.npz``, or None to collect 256 random-policy steps of 8 envs now.
    :param entry: the entry point's name.
    :param limits: resource limits and check settings.
    :param scratch_dir: where the child's files go (e.g. the candidate's run directory); a
        temporary directory, removed afterwards, when None. Nothing outside it is written.
    :param static: run the static check first (False only to test the runtime layer alone).
    :returns: never raises for anything the candidate does.
    """
    from envs.registry import get_task
    from llm_reward.transitions import save_transitions

    t0 = time.monotonic()
    limits = limits or SandboxLimits()
    if isinstance(task, str):
        task = get_task(task)
    if static:
        try:
            issues = static_check(source, entry)
        except Exception as e:  # pragma: no cover - static_check reports, it does not raise
            issues = [Issue("syntax_error", f"the source could not be checked: {type(e).__name__}: {e}")]
        if issues:
            first = min(issues, key=lambda i: _STATIC_PRIORITY.index(i.label) if i.label in _STATIC_PRIORITY else 99)
            shown = "\n".join(f"- {i}" for i in issues[:10])
            more = f"\n- ... and {len(issues) - 10} more" if len(issues) > 10 else ""
            return ValidationResult(
                False,
                first.label,
                f"static check failed:\n{shown}{more}",
                issues=issues,
                wall_s=time.monotonic() - t0,
            )

    own_root = scratch_dir is None
    root: Path | None = None
    try:
        root = Path(tempfile.mkdtemp(prefix="rewardlab-sandbox-")) if own_root else Path(scratch_dir).resolve()  # type: ignore[arg-type]
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=root, prefix="candidate-"))
        if transitions is None:
            from llm_reward.transitions import collect_transitions

            transitions = collect_transitions(task, n_steps=256, seed=0)
        if isinstance(transitions, str | os.PathLike):
            data_path = Path(transitions).resolve()
        else:
            data_path = save_transitions(work / "transitions.npz", transitions)
        cwd = work / "cwd"
        cwd.mkdir()
        result_path = work / "result.json"
        with open(result_path, "wb") as f:
            f.truncate(RESULT_BYTES)
        spec = {
            "source": source,
            "entry": entry,
            "task_id": task.id,
            "task_modules": sorted({m for m in (getattr(task.view, "__module__", None), "envs") if m}),
            "transitions": str(data_path),
            "result": str(result_path),
            "limits": asdict(limits),
            "modules": imported_modules(source),
        }
        spec_path = work / "spec.json"
        spec_path.write_text(json.dumps(spec))
        result = _run_child(spec_path, result_path, cwd, limits)
    except Exception as e:  # the lab never dies because of a candidate; this is our own failure
        result = ValidationResult(False, "sandbox_error", f"the sandbox failed: {type(e).__name__}: {e}")
    finally:
        if own_root and root is not None:
            shutil.rmtree(root, ignore_errors=True)
    result.wall_s = time.monotonic() - t0
    return result


def _child_env(cwd: Path) -> dict[str, str]:
    env = {
        "PATH": os.defpath,
        "HOME": str(cwd),
        "TMPDIR": str(cwd),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NUMEXPR_NUM_THREADS": "1",
        "VECLIB_MAXIMUM_THREADS": "1",
    }
    for key in ("LD_LIBRARY_PATH", "MUJOCO_GL", "PYOPENGL_PLATFORM"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[2]); from llm_reward.sandbox import _child_main; _child_main(sys.argv[1])"
)


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            head = f.read(_HEADER)
            if not head.strip(b"\0 ") or not head.strip().isdigit():
                return None
            n = int(head)
            doc = json.loads(f.read(n))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _run_child(spec_path: Path, result_path: Path, cwd: Path, limits: SandboxLimits) -> ValidationResult:
    repo_root = str(Path(__file__).resolve().parent.parent)
    proc = subprocess.Popen(
        [sys.executable, "-I", "-B", "-c", _BOOT, str(spec_path), repo_root],
        cwd=cwd,
        env=_child_env(cwd),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: one killpg takes every descendant
        close_fds=True,
    )
    pid = proc.pid
    assert proc.stderr is not None
    err_fd = proc.stderr.fileno()
    os.set_blocking(err_fd, False)
    err_tail = b""
    start = time.monotonic()
    startup_deadline = start + limits.startup_s
    run_deadline: float | None = None
    final_deadline: float | None = None
    killed: str | None = None
    doc: dict[str, Any] | None = None
    delay = 0.01
    try:
        while True:
            try:
                chunk = os.read(err_fd, 65536)
                if chunk:
                    err_tail = (err_tail + chunk)[-8192:]
            except (BlockingIOError, InterruptedError):
                pass
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                break
            now = time.monotonic()
            doc = _read_result(result_path)
            if doc is not None:
                if doc.get("final"):
                    final_deadline = final_deadline or now + 5.0  # it is exiting; don't wait long
                elif run_deadline is None and doc.get("phase") == "running":
                    run_deadline = now + limits.wall_s
            if run_deadline is None and now > startup_deadline:
                killed = "startup"
            elif run_deadline is not None and now > run_deadline and not (doc and doc.get("final")):
                killed = "timeout"
            elif final_deadline is not None and now > final_deadline:
                killed = "exit"
            if killed:
                break
            time.sleep(delay)
            delay = min(delay * 1.5, 0.05)
    finally:
        _kill_group(pid)  # also reaps stray descendants; the child is not reaped yet, so pid is ours
        status, rusage = _reap(pid)
        proc.returncode = os.waitstatus_to_exitcode(status) if status is not None else -9
        try:
            rest = os.read(err_fd, 65536)
            err_tail = (err_tail + rest)[-8192:]
        except OSError:
            pass
        proc.stderr.close()
    doc = _read_result(result_path)
    code = proc.returncode
    if doc is not None and doc.get("final"):
        return _result_from_doc(doc, code)
    return _result_from_exit(code, killed, rusage, limits, err_tail.decode("utf-8", "replace"), doc)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(pid: int) -> tuple[int | None, Any]:
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        try:
            got, status, rusage = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:
            return None, None
        if got == pid:
            return status, rusage
        time.sleep(0.01)
    return None, None  # stuck in the kernel; it is SIGKILLed and will go, we don't wait


def _result_from_doc(doc: dict[str, Any], code: int) -> ValidationResult:
    label = str(doc.get("label", "sandbox_error"))
    return ValidationResult(
        ok=label == "ok",
        label=label,
        message=str(doc.get("message", "")),
        traceback_trimmed=str(doc.get("traceback", "")),
        components=tuple(doc.get("components", ())),
        latency_ms=doc.get("latency_ms"),
        latency_ms_per_1k=doc.get("latency_ms_per_1k"),
        warnings=list(doc.get("warnings", [])),
        stats=dict(doc.get("stats", {})),
        n_transitions=int(doc.get("n_transitions", 0)),
        exit_code=code,
        isolation=dict(doc.get("isolation", {})),
    )


def _result_from_exit(
    code: int, killed: str | None, rusage: Any, limits: SandboxLimits, err: str, doc: dict[str, Any] | None
) -> ValidationResult:
    isolation = dict(doc.get("isolation", {})) if doc else {}
    where = doc.get("where", "") if doc else ""
    # from faulthandler's dump keep the fatal-error line and the candidate's own frames
    keep = [ln.strip() for ln in err.splitlines() if "Fatal Python error" in ln or CANDIDATE_FILENAME in ln]
    frames = [ln for ln in keep if CANDIDATE_FILENAME in ln]
    if frames:
        where += " (" + frames[0].replace(f'File "{CANDIDATE_FILENAME}", ', "") + ")"
    tail = "\n".join(keep[-8:])
    cpu = (rusage.ru_utime + rusage.ru_stime) if rusage is not None else 0.0
    cpu_cap = doc.get("cpu_cap_s") if doc else None

    def res(label: str, message: str) -> ValidationResult:
        return ValidationResult(False, label, message, traceback_trimmed=tail, exit_code=code, isolation=isolation)

    if killed == "timeout":
        return res(
            "timeout",
            f"no result {limits.wall_s:g} s (wall clock) after the candidate started{where}: it blocked, slept or "
            "looped without using CPU; it was killed",
        )
    if killed == "startup":
        return res(
            "sandbox_error", f"the sandbox did not start within {limits.startup_s:g} s; the machine may be overloaded"
        )
    if code < 0:
        sig = -code
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_cap is not None and cpu >= cpu_cap - 0.5):
            return res("cpu_limit", f"used more than the CPU limit of {limits.cpu_s:g} s{where}; it was killed")
        if sig == signal.SIGXFSZ:
            return res("file_write", "tried to write a file (file size limit is 0); it was killed")
        if sig == signal.SIGKILL and killed != "exit":
            return res(
                "memory_limit",
                f"was killed by SIGKILL{where} (the kernel's out-of-memory killer or the hard limits); "
                f"the memory limit is {limits.memory_mb} MiB",
            )
        return res("crashed", f"the interpreter crashed with {name}{where} (native code fault or abort)")
    if killed == "exit":
        return res("sandbox_error", "the child wrote its result but did not exit")
    return res("crashed", f"the process exited with status {code} without writing a result{where}")


# -- the child side ------------------------------------------------------------------------------


class SandboxViolation(BaseException):
    """Raised by the runtime guards; a BaseException so ``except Exception`` does not swallow it."""

    def __init__(self, label: str, message: str) -> None:
        super().__init__(message)
        self.label = label


class _Fail(Exception):
    def __init__(self, label: str, message: str, tb: str = "") -> None:
        super().__init__(message)
        self.label, self.tb = label, tb


class _ResultFile:
    """The JSON result, written through a shared map of a file pre-sized by the parent (writes
    through a map are not subject to RLIMIT_FSIZE)."""

    def __init__(self, path: str) -> None:
        import mmap

        fd = os.open(path, os.O_RDWR)
        try:
            self.mm = mmap.mmap(fd, RESULT_BYTES)
        finally:
            os.close(fd)

    def write(self, doc: dict[str, Any]) -> None:
        payload = json.dumps(_jsonable(doc)).encode()
        if len(payload) > RESULT_BYTES - _HEADER:
            doc = {k: doc[k] for k in ("final", "label", "phase") if k in doc}
            doc["message"] = "result too large to report"
            payload = json.dumps(doc).encode()
        self.mm[:_HEADER] = b"\0" * _HEADER
        self.mm[_HEADER : _HEADER + len(payload)] = payload
        self.mm[:_HEADER] = f"{len(payload):>{_HEADER}d}".encode()
        self.mm.flush()


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    return x


def _child_main(spec_path: str) -> None:
    """Entry point of the sandbox child (``python -I -c ... spec.json``)."""
    import faulthandler

    faulthandler.enable()
    spec = json.loads(Path(spec_path).read_text())
    out = _ResultFile(spec["result"])
    try:
        child = _Child(spec, out)
        doc = child.run()
    except BaseException as e:  # our own failure before or around the candidate
        doc = {"final": True, "label": "sandbox_error", "message": f"sandbox child failed: {type(e).__name__}: {e}"}
    doc["final"] = True
    out.write(doc)
    os._exit(0)


class _Child:
    def __init__(self, spec: dict[str, Any], out: _ResultFile) -> None:
        self.spec, self.out = spec, out
        self.limits = SandboxLimits(**spec["limits"])
        self.entry: str = spec["entry"]
        self.violations: list[tuple[str, str]] = []
        self.printed = 0
        self.isolation: dict[str, Any] = {}
        self.where = ""

    # setup (trusted code, before any limit)
    def load(self) -> None:
        import importlib

        import numpy as np

        for mod in self.spec["task_modules"]:
            importlib.import_module(mod)
        if self.limits.backend == "torch" or any(m.split(".")[0] == "torch" for m in self.spec["modules"]):
            import torch

            torch.set_num_threads(1)
            torch.set_num_interop_threads(1)
        for mod in self.spec["modules"]:  # best effort: `from math import pi` lists "math.pi"
            try:
                importlib.import_module(mod)
            except ImportError:
                pass
        # used after the lock-down, when the standard library may no longer be readable
        import errno  # noqa: F401
        import hashlib  # noqa: F401
        import linecache  # noqa: F401
        import traceback  # noqa: F401
        import warnings  # noqa: F401

        from envs.registry import get_task
        from llm_reward.transitions import load_transitions, transition_view

        task = get_task(self.spec["task_id"])
        data = load_transitions(self.spec["transitions"])
        for v in data.values():
            v.setflags(write=False)
        n_steps, n_envs = data["env_reward"].shape
        done = data["terminated"] | data["truncated"]
        steps = {int(i) for i in np.linspace(0, n_steps - 1, max(1, self.limits.n_batches - 1)).round()}
        done_steps = np.flatnonzero(done.any(axis=1))
        if len(done_steps):
            steps.add(int(done_steps[0]))
        self.batches: list[tuple[str, Any]] = []
        for i in sorted(steps):
            self.batches.append((f"stored step {i} ({n_envs} envs)", transition_view(task, data, i)))
        one = (np.array([n_steps // 2]), np.array([0]))
        self.batches.append(("a batch of 1 env", transition_view(task, data, one)))
        self.batches.append((f"all {n_steps * n_envs} stored transitions", transition_view(task, data)))
        self.batches = [(where, self._freeze(view)) for where, view in self.batches]
        self.n_transitions = n_steps * n_envs

    def _freeze(self, view: Any) -> Any:
        """Read-only fields (numpy) or CPU tensors (torch backend), with prev evaluated now."""
        import numpy as np

        from envs.state_view import StateView

        def fields(v: Any) -> dict[str, Any]:
            out = {}
            for k in v.keys():
                a = np.array(v[k], copy=True)
                a.setflags(write=False)
                out[k] = a
            return out

        prev = view.prev
        f, pf = fields(view), fields(prev) if prev is not None else None
        if self.limits.backend == "torch":
            import torch

            f = {k: torch.from_numpy(np.array(a)) for k, a in f.items()}
            pf = {k: torch.from_numpy(np.array(a)) for k, a in pf.items()} if pf is not None else None
        units = {k: view.unit(k) for k in view.keys()}
        return StateView(f, units, StateView(pf, units) if pf is not None else None)

    @staticmethod
    def _checksum(view: Any) -> str:
        import hashlib

        import numpy as np

        h = hashlib.blake2b(digest_size=16)
        for v in (view, view.prev):
            if v is None:
                continue
            for k in v.keys():
                a = v[k]
                a = a.numpy() if not isinstance(a, np.ndarray) else a
                h.update(k.encode())
                h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    # lock-down
    def isolate(self) -> None:
        import resource

        iso = self.isolation
        root = os.geteuid() == 0
        iso["network_namespace"] = _unshare_net(user=not root)
        self._limit_cpu()
        vm = _vm_size_bytes()
        if vm is not None:
            limit = vm + self.limits.memory_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            iso["address_space_mb"] = round(limit / 2**20)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
        iso["rlimits"] = ["cpu", "as" if vm is not None else "as(unavailable)", "fsize=0", "core=0", "nproc=0"]
        self._patch()  # imports what it patches, so it runs before the drop below
        iso["guards"] = True
        if root:  # the kernel ignores RLIMIT_NPROC for root, and root may write anywhere
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                iso["user"] = "nobody"
            except OSError as e:
                iso["user"] = f"root (could not drop: {e})"
        else:
            iso["user"] = str(os.getuid())
        iso["nproc_effective"] = os.geteuid() != 0

    def _limit_cpu(self) -> None:
        """One CPU budget for the whole smoke test (a long-lived child overrides this)."""
        import resource

        used = resource.getrusage(resource.RUSAGE_SELF)
        cap = math.ceil(used.ru_utime + used.ru_stime + self.limits.cpu_s)
        resource.setrlimit(resource.RLIMIT_CPU, (cap, cap + 1))  # SIGXCPU, then SIGKILL a second later
        self.cpu_cap_s = cap
        signal.signal(signal.SIGXCPU, self._on_cpu_limit)

    def _on_cpu_limit(self, signum: int, frame: Any) -> None:
        line = _candidate_line(frame)
        self.out.write(
            {
                "final": True,
                "label": "cpu_limit",
                "message": f"used more than the CPU limit of {self.limits.cpu_s:g} s{self.where}{line}; "
                "look for an unbounded loop or per-env Python loops",
                "isolation": self.isolation,
            }
        )
        os._exit(0)

    def violation(self, label: str, message: str) -> SandboxViolation:
        self.violations.append((label, message))
        return SandboxViolation(label, message)

    def _deny(self, label: str, what: str) -> Callable[..., Any]:
        def denied(*args: Any, **kwargs: Any) -> Any:
            raise self.violation(label, f"{what} is not allowed in reward code")

        return denied

    def _patch(self) -> None:
        import _io
        import _thread
        import io
        import socket
        import subprocess as sp
        import threading

        deny = self._deny
        # reading stays possible: numpy and torch import modules lazily (through _io.open) and read
        # data files; anything that could create, change or delete a file is refused
        real_open, real_fileio, real_os_open = _io.open, _io.FileIO, os.open
        write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

        def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if not isinstance(mode, str) or set(mode) & set("wax+"):
                raise self.violation("file_write", f"opening {file!r} for writing is not allowed in reward code")
            return real_open(file, mode, *args, **kwargs)

        def guarded_fileio(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if not isinstance(mode, str) or set(mode) & set("wax+"):
                raise self.violation("file_write", f"opening {file!r} for writing is not allowed in reward code")
            return real_fileio(file, mode, *args, **kwargs)

        def guarded_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> Any:
            if flags & write_flags:
                raise self.violation("file_write", f"os.open({path!r}) for writing is not allowed in reward code")
            return real_os_open(path, flags, *args, **kwargs)

        for mod in (builtins, io, _io):
            mod.open = guarded_open  # type: ignore[attr-defined]
        for mod in (io, _io):
            mod.FileIO = guarded_fileio  # type: ignore[attr-defined]
        os.open = guarded_os_open
        for name in (
            "remove", "unlink", "rmdir", "mkdir", "makedirs", "rename", "renames", "replace", "truncate",
            "chmod", "chown", "lchown", "symlink", "link", "utime", "mkfifo", "mknod", "removedirs",
        ):  # fmt: skip
            if hasattr(os, name):
                setattr(os, name, deny("file_write", f"os.{name}"))
        for name in (
            "fork", "forkpty", "system", "popen", "execv", "execve", "execl", "execle", "execlp", "execlpe", "execvp",
            "execvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe",
            "posix_spawn", "posix_spawnp", "setsid", "setpgid",
        ):  # fmt: skip
            if hasattr(os, name):
                setattr(os, name, deny("fork_attempt", f"os.{name}"))
        for name in ("kill", "killpg"):
            setattr(os, name, deny("forbidden_call", f"os.{name}"))
        sp.Popen = deny("fork_attempt", "subprocess.Popen")  # type: ignore[misc]
        _thread.start_new_thread = deny("fork_attempt", "starting a thread")
        threading._start_new_thread = _thread.start_new_thread  # type: ignore[attr-defined]
        if hasattr(_thread, "start_joinable_thread"):
            _thread.start_joinable_thread = deny("fork_attempt", "starting a thread")
        for name in ("socket", "create_connection", "create_server", "socketpair", "fromfd", "getaddrinfo"):
            if hasattr(socket, name):
                setattr(socket, name, deny("network", f"socket.{name}"))
        try:
            import _socket

            _socket.socket = deny("network", "socket.socket")  # type: ignore[misc]
        except ImportError:  # pragma: no cover
            pass
        for name in ("signal", "setitimer", "alarm", "pthread_kill", "raise_signal", "siginterrupt", "pause"):
            if hasattr(signal, name):
                setattr(signal, name, deny("forbidden_call", f"signal.{name}"))

    def _print(self, *args: Any, **kwargs: Any) -> None:
        sep = kwargs.get("sep", " ")
        self.printed += sum(len(str(a)) for a in args) + len(str(sep)) * max(0, len(args) - 1) + 1
        if self.printed > self.limits.max_print_chars:
            raise self.violation(
                "output_too_large",
                f"printed more than {self.limits.max_print_chars} characters; reward code should not print",
            )

    # the run
    def run(self) -> dict[str, Any]:
        self.out.write({"phase": "loading"})
        try:
            self.load()
        except Exception as e:
            return {
                "label": "sandbox_error",
                "message": f"could not load the task or transitions: {type(e).__name__}: {e}",
            }
        self.isolate()
        self._phase()
        doc = self._run_candidate()
        doc["isolation"] = self.isolation
        doc["n_transitions"] = self.n_transitions
        return doc

    def _phase(self) -> None:
        """Tell the parent the candidate runs now (its wall clock starts) and where."""
        self.out.write(
            {"phase": "running", "where": self.where, "cpu_cap_s": self.cpu_cap_s, "isolation": self.isolation}
        )

    def _fail(self, label: str, message: str, tb: str = "") -> dict[str, Any]:
        return {"label": label, "message": message, "traceback": tb}

    def _guarded(self, fn: Callable[[], Any], what: str) -> Any:
        """Run candidate code; convert whatever it raises into a ``_Fail``."""
        import warnings

        import numpy as np

        reserve = bytearray(4 << 20)  # freed on MemoryError so reporting has room
        try:
            with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
                warnings.simplefilter("always")
                value = fn()
            for w in caught[:5]:
                if "NumPy array is not writable" in str(w.message):
                    continue  # torch.as_tensor on the read-only view: our doing, not the candidate's
                msg = f"{w.category.__name__}: {_short(str(w.message), 200)}"
                if msg not in self.warnings:
                    self.warnings.append(msg)
        except BaseException as e:
            del reserve
            raise self._classify(e, what) from None
        if self.violations:
            label, message = self.violations[0]
            raise _Fail(label, f"{message} (the attempt was caught and swallowed by the candidate {what})")
        return value

    def _classify(self, e: BaseException, what: str) -> _Fail:
        import errno
        import traceback

        tb = e.__traceback__
        line = _candidate_line_tb(tb)
        if isinstance(e, SandboxViolation):
            f = _Fail(e.label, f"{e}{line} ({what})")
        elif isinstance(e, MemoryError):
            traceback.clear_frames(tb)
            f = _Fail(
                "memory_limit",
                f"ran out of memory{line} ({what}): {str(e) or 'MemoryError'}; the limit is {self.limits.memory_mb} MiB",
            )
        elif isinstance(e, RecursionError):
            f = _Fail(
                "recursion_limit",
                f"RecursionError: {e}{line} ({what}); write the reward without deep recursion",
                _trim_traceback(e),
            )
        elif isinstance(e, OSError) and e.errno == errno.EFBIG:
            f = _Fail("file_write", f"tried to write a file{line} ({what}): {e}")
        elif isinstance(e, ValueError) and "read-only" in str(e):
            f = _Fail(
                "mutates_input",
                f"wrote into a state-view array{line} ({what}): {e}; compute new arrays instead",
                _trim_traceback(e),
            )
        elif self.violations:
            label, message = self.violations[0]
            f = _Fail(label, f"{message} ({what}); it then raised {type(e).__name__}")
        else:
            f = _Fail("exception", f"{type(e).__name__}: {_short(str(e))}{line} ({what})", _trim_traceback(e))
        return f

    def _run_candidate(self) -> dict[str, Any]:
        self.warnings: list[str] = []
        try:
            return self._smoke_test()
        except _Fail as f:
            doc = self._fail(f.label, str(f), f.tb)
        except BaseException as e:  # the output itself broke a check (hostile __len__, __str__...)
            f = self._classify(e, "while checking its output")
            doc = self._fail(f.label if f.label != "exception" else "wrong_type", str(f), f.tb)
        doc["warnings"] = self.warnings
        return doc

    def _smoke_test(self) -> dict[str, Any]:
        import numpy as np

        safe = restricted_builtins(self.violation, self._print)
        self.where = " while executing the module"
        namespace = self._guarded(lambda: _exec_candidate(self.spec["source"], safe), "while executing the module")
        fn = namespace.get(self.entry)
        if not callable(fn):
            raise _Fail("missing_entry", f"the module defines no function {self.entry!r}")
        keys: tuple[str, ...] | None = None
        totals: np.ndarray | None = None
        comps_all: dict[str, np.ndarray] = {}
        for where, view in self.batches:
            self.where = f" on {where}"
            self._phase()
            before = self._checksum(view)
            out = self._guarded(lambda view=view: fn(view), f"on {where}")
            if self._checksum(view) != before:
                raise _Fail(
                    "mutates_input", f"changed the state view's arrays in place on {where}; compute new arrays instead"
                )
            n = _batch_size(view)
            total, comps = self._check_output(out, n, where)
            if keys is None:
                keys = tuple(comps)
            elif tuple(comps) != keys:
                raise _Fail(
                    "unstable_components",
                    f"component names changed between calls: {list(keys)} then {list(comps)} on {where}; "
                    "return the same components every call (use zeros when one does not apply)",
                )
            totals, comps_all = total, comps  # the last batch holds every stored transition
        assert totals is not None and keys is not None
        n_all = totals.shape[0]
        span = float(totals.max() - totals.min())
        if span <= 1e-9 * max(1.0, float(np.abs(totals).max())):
            raise _Fail(
                "constant_output",
                f"the total is {float(totals[0]):.6g} for all {n_all} stored transitions (a random policy on "
                f"{self.spec['task_id']}); RL gets no learning signal from it -- add dense terms that vary with the state",
            )
        stats = {"total": _stats(totals)}
        for k, v in comps_all.items():
            stats[k] = _stats(v)
            if np.ptp(v) == 0:
                self.warnings.append(f"component {k!r} is constant ({float(v[0]):.4g}) on every stored transition")
        latency = self._latency(fn, self.batches[-1])
        return {
            "label": "ok",
            "message": f"ran on {len(self.batches)} batches ({n_all} stored transitions); components {list(keys)}",
            "components": list(keys),
            "latency_ms": latency,
            "latency_ms_per_1k": latency * 1000.0 / n_all,
            "warnings": self.warnings,
            "stats": stats,
        }

    def _latency(self, fn: Callable[[Any], Any], batch: tuple[str, Any]) -> float:
        where, view = batch
        n = _batch_size(view)
        budget = self.limits.latency_ms_per_1k * max(n, 1000) / 1000.0
        best = math.inf
        for _ in range(3):
            t = time.thread_time()
            self._guarded(lambda: fn(view), f"on {where}")
            best = min(best, (time.thread_time() - t) * 1000.0)
            if best <= budget or best > 3.0 * budget:
                break  # repeats only rescue a call near the budget; a far slower one spends CPU it has not got
        if best > budget:
            raise _Fail(
                "too_slow",
                f"one call on {n} envs took {best:.1f} ms of CPU; the budget is {budget:.1f} ms "
                f"({self.limits.latency_ms_per_1k:g} ms per 1000 envs) -- vectorise over envs instead of looping",
            )
        return best

    def _check_output(self, out: Any, n: int, where: str) -> tuple[Any, dict[str, Any]]:
        from collections.abc import Mapping as _Mapping

        import numpy as np

        contract = "return (total, components): total an (n,) float array, components a dict of (n,) arrays"
        if isinstance(out, _Mapping):
            raise _Fail("wrong_type", f"returned a dict on {where}; {contract}")
        if not isinstance(out, tuple):
            raise _Fail("wrong_type", f"returned {_describe_value(out)} on {where}; {contract}")
        if len(out) != 2:
            raise _Fail("wrong_type", f"returned a tuple of {len(out)} items on {where}; {contract}")
        total, comps = out
        total = _as_array(total, "the total", where)
        if total.ndim == 0:
            raise _Fail(
                "wrong_shape",
                f"the total is a scalar ({_short(repr(total.item()))}) on {where}; return one value per env, shape ({n},)",
            )
        if total.shape != (n,):
            hint = " -- squeeze the last axis" if total.shape == (n, 1) else ""
            raise _Fail("wrong_shape", f"the total has shape {tuple(total.shape)} on {where}; expected ({n},){hint}")
        if total.dtype.kind != "f":
            raise _Fail(
                "wrong_type",
                f"the total has dtype {total.dtype} on {where}; return floats (e.g. .astype(np.float32))",
            )
        if not isinstance(comps, _Mapping):
            raise _Fail("wrong_type", f"the components are {_describe_value(comps)} on {where}; {contract}")
        if len(comps) > self.limits.max_components:
            raise _Fail(
                "output_too_large",
                f"returned {len(comps)} components on {where}; at most {self.limits.max_components} are allowed",
            )
        checked: dict[str, Any] = {}
        for k, v in comps.items():
            if not isinstance(k, str):
                raise _Fail("wrong_type", f"component name {_short(repr(k))} is not a string")
            if len(k) > 64:
                raise _Fail("output_too_large", f"component name {k[:20]!r}... is {len(k)} characters long")
            a = _as_array(v, f"component {k!r}", where)
            if a.ndim == 0:
                if f"component {k!r} is a scalar" not in " ".join(self.warnings):
                    self.warnings.append(f"component {k!r} is a scalar; it is broadcast to every env")
                a = np.full(n, a.item() if a.dtype.kind in "biuf" else np.nan)
            if a.shape != (n,):
                hint = " -- squeeze the last axis" if a.shape == (n, 1) else ""
                raise _Fail(
                    "wrong_shape", f"component {k!r} has shape {tuple(a.shape)} on {where}; expected ({n},){hint}"
                )
            if a.dtype.kind not in "biuf":
                raise _Fail("wrong_type", f"component {k!r} has dtype {a.dtype} on {where}; return numbers")
            checked[k] = a.astype(np.float64)
        bad = [k for k, a in checked.items() if not np.isfinite(a).all()]
        if not np.isfinite(total).all() or bad:
            n_bad = int((~np.isfinite(total)).sum())
            culprits = f"; non-finite components: {bad}" if bad else ""
            raise _Fail(
                "nan_or_inf",
                f"the total is NaN or inf for {n_bad} of {n} envs on {where}{culprits} -- guard divisions, logs and "
                "square roots (e.g. np.maximum(x, 1e-8))",
            )
        return total.astype(np.float64), checked


def _batch_size(view: Any) -> int:
    import numpy as np

    for k in view.keys():
        return int(np.shape(view[k])[0])
    return 0


def _as_array(x: Any, what: str, where: str) -> Any:
    import numpy as np

    t = type(x)
    if t.__module__.startswith("torch") and hasattr(x, "detach"):
        try:
            return x.detach().cpu().numpy()
        except Exception as e:
            raise _Fail("wrong_type", f"{what} is a tensor that cannot be read ({e}) on {where}") from None
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, bool | int | float | np.number | np.bool_):
        return np.asarray(x)
    raise _Fail("wrong_type", f"{what} is {_describe_value(x)} on {where}; expected a numpy array or torch tensor")


def _describe_value(x: Any) -> str:
    if x is None:
        return "None"
    if isinstance(x, list | tuple):
        return f"a {type(x).__name__} of {len(x)} items"
    return f"a {type(x).__name__}"


def _short(text: str, n: int = 300) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _stats(a: Any) -> dict[str, float]:
    return {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()), "max": float(a.max())}


def _candidate_line(frame: Any) -> str:
    while frame is not None:
        if frame.f_code.co_filename == CANDIDATE_FILENAME:
            return f" (at line {frame.f_lineno}, in {frame.f_code.co_name})"
        frame = frame.f_back
    return ""


def _candidate_line_tb(tb: Any) -> str:
    last = ""
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == CANDIDATE_FILENAME:
            last = f" (line {tb.tb_lineno}, in {tb.tb_frame.f_code.co_name})"
        tb = tb.tb_next
    return last


def _trim_traceback(e: BaseException, max_frames: int = 4) -> str:
    """Only the candidate's frames, the last ``max_frames`` of them, then the exception line.

    The traceback is walked by hand: library frames are never looked up, so no library
    source file is opened inside the locked-down child."""
    import linecache
    import traceback

    frames = []
    tb = e.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == CANDIDATE_FILENAME:
            frames.append((tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    lines = ["Traceback (candidate code only, most recent call last):"]
    if len(frames) > max_frames:
        lines.append(f"  ... {len(frames) - max_frames} earlier frames ...")
    for lineno, name in frames[-max_frames:]:
        lines.append(f"  line {lineno}, in {name}")
        text = linecache.getline(CANDIDATE_FILENAME, lineno).strip()
        if text:
            lines.append(f"    {text}")
    lines.extend(x.rstrip() for x in traceback.format_exception_only(type(e), e))
    return _short("\n".join(lines), 2000)


def _vm_size_bytes() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _unshare_net(user: bool = False) -> bool:
    """Move this process into a new network namespace without interfaces (Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        flags = 0x40000000 | (0x10000000 if user else 0)  # CLONE_NEWNET | CLONE_NEWUSER
        return libc.unshare(flags) == 0
    except Exception:
        return False


__all__ = [
    "LABELS",
    "RewardCodeError",
    "SandboxLimits",
    "ValidationResult",
    "load_trusted_reward",
    "restricted_builtins",
    "validate_candidate",
]
