"""LLM-written reward code evaluated in a long-lived sandboxed process during training.

Validation (:func:`llm_reward.sandbox.validate_candidate`) calls a candidate a dozen times on stored
transitions. Code can pass that and still loop forever, allocate without bound or crash the
interpreter later in training: on a large batch, after N calls, on the first terminal transition.
:class:`SandboxedReward` therefore never runs the code in the training process. On its first
:meth:`~SandboxedReward.compute` it starts one child process (the same interpreter, ``python -I``)
that applies the validation sandbox's lock-down (:meth:`llm_reward.sandbox._Child.isolate`: network
namespace, ``RLIMIT_AS``/``RLIMIT_FSIZE=0``/``RLIMIT_NPROC=0``/``RLIMIT_CORE=0``, the runtime
guards, the drop to ``nobody`` when root), executes the code with the restricted builtins, then
serves calls until it is closed. Every call gets a fresh ``RLIMIT_CPU`` budget
(``SandboxLimits.cpu_s``) and a wall-clock limit (``call_timeout_s``) that the parent enforces.

Transport: a shared memory buffer for the inputs and a Unix socket pair for one small message per
direction per call; no pickles.

* parent -> child: the batch's state view (every field of ``s``, and of ``s.prev`` when the code
  can read it) is copied into a shared buffer (a ``memfd`` sealed against shrinking, so the child
  cannot make the parent's mapping fault; an unlinked temporary file elsewhere), then one byte
  says "call". The child's arrays are read-only views of the buffer: no copy. Field names,
  dtypes, shapes, offsets and units go in a layout message only when they change (the first
  call, a new batch size); the buffer grows then if it must.
* child -> parent: ``(total, components)`` as one float64 block ``(1 + k, n)`` on the socket; the
  component names travel once, with the first result. The parent parses nothing but JSON and raw
  floats from the child, and checks shape and finiteness itself.

The child builds the same :class:`~envs.state_view.StateView` the in-process path passes (same
fields, dtypes, shapes and units, and ``prev`` whenever the code can reach it; the arrays are
read-only) and normalises the output with the same :class:`~rewardlab.rewards.base.FunctionReward`,
so totals and components are identical.

On a timeout, the child's death or an error the parent kills the child's process group and raises
:class:`RewardSandboxError` whose ``label`` is one of :data:`llm_reward.sandbox.LABELS`
(``timeout``, ``cpu_limit``, ``memory_limit``, ``crashed``, ``recursion_limit``, ``exception``
with the trimmed traceback, ``nan_or_inf``, ``wrong_shape``, ...); the run then ends as failed
with that message. The failure is sticky: later calls raise the same error.

The child never outlives its parent: :meth:`~SandboxedReward.close` (also called when the reward
wrapper's env closes) and interpreter exit kill it, and on Linux the kernel kills it when the
parent dies (``PR_SET_PDEATHSIG``; it is tied to the thread that started the child, so start it
from a thread that lives as long as training). An idle child also exits when its socket closes.
"""

from __future__ import annotations

import ast
import fcntl
import json
import math
import mmap
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from envs.state_view import StateView
from llm_reward.code import imported_modules, static_check
from llm_reward.sandbox import (
    LABELS,
    RewardCodeError,
    SandboxLimits,
    _as_array,
    _Child,
    _child_env,
    _exec_candidate,
    _Fail,
    _kill_group,
    _reap,
    _result_from_exit,
    restricted_builtins,
)
from rewardlab.rewards.base import FunctionReward, RewardError, RewardSource, RewardTerms, TransitionBatch, is_torch

DEFAULT_CALL_TIMEOUT_S = 10.0
_CONTROL_BYTES = 1 << 20  # most bytes of JSON the parent accepts from the child in one message
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[4]); from llm_reward.sandboxed_reward import _serve_main; "
    "_serve_main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))"
)


class RewardSandboxError(RewardError):
    """Sandboxed reward code failed during training.

    :param name: the reward's name.
    :param label: one of :data:`llm_reward.sandbox.LABELS` (``timeout``, ``memory_limit``, ...).
    :param detail: what happened, where (call number and batch size) and, when known, the line.
    :param traceback_trimmed: the candidate's own frames (``exception``, ``recursion_limit``, crashes).
    :param exit_code: the child's exit status when it died (negative: the signal).
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
    """A :class:`RewardSource` over reward code that runs in a sandboxed child process.

    :param source: the reward module (the contract of :mod:`llm_reward.code`); statically checked here.
    :param entry: the entry point's name.
    :param name: the reward's name (component logs, messages).
    :param limits: the child's limits: ``cpu_s`` CPU seconds per call, ``memory_mb`` address space the
        code may add, ``startup_s`` to start and load the code, ``max_components``.
    :param call_timeout_s: wall-clock seconds one call may take before the child is killed.
    :param static: run the static check (switch it off only to test the runtime layer on its own).
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
        self.calls = 0
        #: which sandbox layers the child reported as active (empty until it has started)
        self.isolation: dict[str, Any] = {}
        self._child: _ChildProcess | None = None
        self._finalizer: weakref.finalize | None = None
        self._error: RewardSandboxError | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id while one runs for this process."""
        c = self._child
        return c.proc.pid if c is not None and c.alive() else None

    def describe(self) -> str:
        return f"{self.name}: {self.description}" if self.description else self.name

    def compute(self, batch: TransitionBatch) -> RewardTerms:
        if self._error is not None:
            raise self._error
        if batch.state is None:
            raise RewardError(f"reward {self.name!r} reads the state view, but the batch has no task view")
        n = batch.n
        key, arrays, device = _pack(batch.state, n, self.reads_prev)
        child = self._running(torch_inputs=device is not None)
        self.calls += 1
        where = f"on call {self.calls} ({n} envs)"
        try:
            if key != child.layout_key:
                child.send(b"L" + json.dumps(child.map_layout(_layout(batch.state, key))).encode())
                child.layout_key = key
            for dst, a in zip(child.inputs, arrays, strict=True):
                np.copyto(dst, a, casting="no")
            child.busy = True
            child.send(b"C")
        except OSError:  # it died between calls; _receive reports how
            pass
        msg = self._receive(child, self.call_timeout_s, where, max_bytes=(1 + self.limits.max_components) * n * 8)
        child.busy = False
        if self.calls % 256 == 0:  # the child writes little (warnings are off); keep its pipe from filling
            child.drain_stderr()
        return self._terms(child, msg, n, where, device)

    def close(self) -> None:
        """Kill the child. The reward still works afterwards (a new child starts) unless it failed."""
        if self._finalizer is not None:
            self._finalizer()  # stops the child once, in the process that started it
        self._finalizer = self._child = None

    def __getstate__(self) -> dict[str, Any]:
        # a copy in another process starts its own child; the handle and its finalizer stay here
        state = dict(self.__dict__)
        state["_child"] = state["_finalizer"] = None
        return state

    # -- the parent side of the protocol ------------------------------------------------------------

    def _running(self, torch_inputs: bool) -> _ChildProcess:
        child = self._child
        if child is not None and child.owner == os.getpid() and child.alive() and not child.busy:
            if child.torch or not torch_inputs:
                return child
        # a forked copy's handle, a call or start interrupted mid-way (Ctrl-C), or torch inputs for
        # a child that could not import torch before its lock-down: start afresh
        self.close()
        child = _ChildProcess()
        self._child, self._finalizer = child, weakref.finalize(self, child.stop)
        child.torch, child.busy = torch_inputs, True
        spec = {
            "source": self.source,
            "entry": self.entry,
            "name": self.name,
            "limits": asdict(self.limits),
            "modules": imported_modules(self.source),
            "torch": torch_inputs,
        }
        try:
            child.send(b"S" + json.dumps(spec).encode())
        except OSError:
            pass
        msg = self._receive(child, self.limits.startup_s, "while starting and loading the reward code", 0, True)
        if msg[:1] != b"Y":
            raise self._protocol_error("no ready message")
        doc = _json(msg[1:])
        self.isolation = dict(doc.get("isolation", {})) if isinstance(doc, dict) else {}
        # loaded and locked down, it writes nowhere: its (empty) working directory can go now, so
        # even a parent killed by SIGKILL leaves nothing behind
        shutil.rmtree(child.workdir, ignore_errors=True)
        child.busy = False
        return child

    def _receive(
        self, child: _ChildProcess, timeout: float, where: str, max_bytes: int, starting: bool = False
    ) -> bytes:
        try:
            msg = child.recv(timeout, _CONTROL_BYTES + max_bytes)
        except (EOFError, ConnectionResetError):
            msg = b""
        except OSError as e:  # a message longer than any valid reply
            raise self._protocol_error(f"an unreadable message ({e})") from None
        if msg is None:
            raise self._fail(
                "timeout",
                f"no result {timeout:g} s (wall clock) {where}: the code looped, blocked or was too slow; "
                "its process was killed",
            )
        if not msg:  # the child died: its exit status says how
            child.stop(wait_exit_s=2.0)
            if starting and child.proc.returncode >= 0:
                # exited, not killed, before the code ran: our own failure (an import, the lock-down)
                tail = "\n".join(child.stderr_text().strip().splitlines()[-6:])
                raise self._fail(
                    "sandbox_error", f"the sandbox process exited with status {child.proc.returncode} {where}", tail
                )
            res = _result_from_exit(
                child.proc.returncode, None, child.rusage, self.limits, child.stderr_text(), {"where": f" {where}"}
            )
            raise self._fail(res.label, res.message, res.traceback_trimmed, child.proc.returncode)
        if msg[:1] == b"E":
            doc = _json(msg[1:])
            if not isinstance(doc, dict):
                raise self._protocol_error("an unreadable error report")
            label = str(doc.get("label"))
            raise self._fail(
                label if label in LABELS else "sandbox_error",
                str(doc.get("message", ""))[:2000],
                str(doc.get("traceback", ""))[:4000],
            )
        return msg

    def _terms(self, child: _ChildProcess, msg: bytes, n: int, where: str, device: Any) -> RewardTerms:
        tag, body = msg[:1], memoryview(msg)[1:]
        if tag == b"K":  # the first result carries the component names
            size = int.from_bytes(body[:4], "little")
            keys = _json(bytes(body[4 : 4 + size]))
            if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
                raise self._protocol_error("unreadable component names")
            child.keys, body = tuple(keys), body[4 + size :]
        elif tag != b"D" or child.keys is None:
            raise self._protocol_error(f"an unexpected message {bytes(tag)!r}")
        keys = child.keys
        if len(body) != (1 + len(keys)) * n * 8:
            raise self._protocol_error(f"{len(body)} bytes of values for {len(keys)} components and {n} envs")
        values = np.frombuffer(body, dtype="<f8").reshape(1 + len(keys), n).copy()  # writable, as in-process
        if not np.isfinite(values).all():
            bad = [k for k, row in zip(keys, values[1:], strict=True) if not np.isfinite(row).all()]
            culprits = f"; non-finite components: {bad}" if bad else ""
            raise self._fail(
                "nan_or_inf",
                f"the total is NaN or inf for {int((~np.isfinite(values[0])).sum())} of {n} envs {where}{culprits} "
                "-- guard divisions, logs and square roots (e.g. np.maximum(x, 1e-8))",
            )
        if device is not None:
            import torch

            values = torch.as_tensor(values, dtype=torch.float32, device=device)
        return RewardTerms(values[0], {k: values[i + 1] for i, k in enumerate(keys)})

    def _fail(self, label: str, detail: str, tb: str = "", exit_code: int | None = None) -> RewardSandboxError:
        """Kill the child and record the failure; every later call raises it again."""
        self.close()
        self._error = RewardSandboxError(self.name, label, detail, tb, exit_code)
        return self._error

    def _protocol_error(self, what: str) -> RewardSandboxError:
        return self._fail("sandbox_error", f"the sandbox process sent {what}; it was killed")


class _ChildProcess:
    """One started child: the process, its socket and the tail of its stderr."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.workdir = Path(tempfile.mkdtemp(prefix="rewardlab-reward-"))
        self.shm_fd = _shared_fd(self.workdir)
        self.shm: mmap.mmap | None = None
        self.shm_size = 0
        self.inputs: list[np.ndarray] = []  # the state view's arrays in the shared buffer
        ours, theirs = socket.socketpair()
        repo_root = str(Path(__file__).resolve().parent.parent)
        argv = [str(theirs.fileno()), str(self.shm_fd), str(os.getpid()), repo_root]
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-B", "-c", _BOOT, *argv],
                cwd=self.workdir,
                env=_child_env(self.workdir),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,  # faulthandler's dump names the candidate's line after a crash
                start_new_session=True,  # its own process group: one killpg takes every descendant
                close_fds=True,
                pass_fds=(theirs.fileno(), self.shm_fd),
            )
        except BaseException:
            ours.close()
            os.close(self.shm_fd)
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.poller = select.poll()
        self.poller.register(self.conn.fileno(), select.POLLIN)
        assert self.proc.stderr is not None
        self.err_fd = self.proc.stderr.fileno()
        os.set_blocking(self.err_fd, False)
        self.err_tail = b""
        self.rusage: Any = None
        self.stopped = False
        self.busy = False  # a request is out: a reply may still come
        self.torch = False  # torch was imported before the lock-down (state views of tensors)
        self.layout_key: Any = None
        self.keys: tuple[str, ...] | None = None

    def alive(self) -> bool:
        return not self.stopped

    def map_layout(self, layout: dict[str, Any]) -> dict[str, Any]:
        """Grow the shared buffer to fit ``layout`` and point :attr:`inputs` into it."""
        if layout["size"] > self.shm_size:
            size = max(layout["size"], 2 * self.shm_size, 1 << 16)
            os.ftruncate(self.shm_fd, size)
            self.inputs = []
            self.shm = mmap.mmap(self.shm_fd, size)  # the old map goes with the last view of it
            self.shm_size = size
        layout["shm_size"] = self.shm_size
        self.inputs = [
            np.ndarray(shape, np.dtype(dtype), buffer=self.shm, offset=offset)
            for group in (layout["fields"], layout["prev"] or [])
            for _, dtype, shape, offset in group
        ]
        return layout

    def send(self, data: bytes) -> None:
        self.conn.send_bytes(data)

    def recv(self, timeout: float, max_bytes: int) -> bytes | None:
        """The next message; None after ``timeout`` seconds; EOFError once the child is gone."""
        if not self.poller.poll(math.ceil(max(timeout, 0.0) * 1000)):
            return None
        return self.conn.recv_bytes(max_bytes)

    def drain_stderr(self) -> None:
        try:
            while chunk := os.read(self.err_fd, 65536):
                self.err_tail = (self.err_tail + chunk)[-8192:]
        except OSError:  # nothing more for now (EAGAIN), or closed
            pass

    def stderr_text(self) -> str:
        return self.err_tail.decode("utf-8", "replace")

    def stop(self, wait_exit_s: float = 0.0) -> None:
        """Kill the process group and reap the child; idempotent, and a no-op in a forked copy.

        :param wait_exit_s: first give a dying child this long to exit by itself, so its own exit
            status (a signal, an exit code) is what gets reported.
        """
        if self.stopped or os.getpid() != self.owner:
            return
        self.stopped = True
        pid = self.proc.pid
        deadline = time.monotonic() + wait_exit_s
        while time.monotonic() < deadline:
            try:
                if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    break
            except ChildProcessError:  # reaped elsewhere (a SIGCHLD handler)
                break
            time.sleep(0.005)
        _kill_group(pid)
        status, self.rusage = _reap(pid)
        self.proc.returncode = os.waitstatus_to_exitcode(status) if status is not None else -signal.SIGKILL
        self.drain_stderr()
        self.conn.close()
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        self.inputs, self.shm = [], None
        os.close(self.shm_fd)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _shared_fd(workdir: Path) -> int:
    """A file descriptor for the shared input buffer: a memfd the child cannot shrink (Linux), or
    an unlinked temporary file."""
    if hasattr(os, "memfd_create") and hasattr(fcntl, "F_ADD_SEALS"):
        try:
            fd = os.memfd_create("rewardlab-reward", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        except OSError:
            pass
        else:
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK)  # shrinking would fault the parent's map
            return fd
    fd, path = tempfile.mkstemp(dir=workdir, prefix="inputs-")
    os.unlink(path)
    return fd


def _pack(state: StateView, n: int, with_prev: bool = True) -> tuple[Any, list[np.ndarray], Any]:
    """The state view's arrays, a key describing their layout, and the torch device of the
    inputs (None for numpy)."""
    device = None
    key: list[Any] = [n]
    arrays: list[np.ndarray] = []
    for view in (state, state.prev if with_prev else None):
        if view is None:
            key.append(None)
            continue
        entries = []
        for k in view.keys():
            a = view[k]
            if type(a) is not np.ndarray:
                if is_torch(a):
                    device = device or a.device
                    a = a.detach().cpu().numpy()
                else:
                    a = np.asarray(a)
            entries.append((k, a.dtype, a.shape))  # dtypes are checked by _layout when the layout changes
            arrays.append(a)
        key.append(tuple(entries))
    key.append(device is not None)
    return tuple(key), arrays, device


def _layout(state: StateView, key: Any) -> dict[str, Any]:
    """The layout message for :func:`_pack`'s key: names, dtypes, shapes and units."""
    n, fields, prev, torch_inputs = key
    for k, dtype, _ in fields + (prev or ()):
        if dtype.kind not in "biuf":
            raise RewardError(
                f"state-view field {k!r} has dtype {dtype}; only numeric and boolean arrays reach sandboxed reward code"
            )
    units = {k: state.unit(k) for k, _, _ in fields}
    if prev is not None and state.prev is not None:
        units.update({k: state.prev.unit(k) for k, _, _ in prev})
    offset = 0
    groups: list[list[Any] | None] = []
    for group in (fields, prev):
        if group is None:
            groups.append(None)
            continue
        entries = []
        for k, dtype, shape in group:
            offset = -(-offset // 64) * 64  # aligned, like numpy's own allocations
            entries.append((k, dtype.str, shape, offset))
            offset += dtype.itemsize * math.prod(shape)
        groups.append(entries)
    return {"n": n, "fields": groups[0], "prev": groups[1], "units": units, "torch": torch_inputs, "size": offset}


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _reads_prev(source: str) -> bool:
    """Whether the code may read ``s.prev``. When it cannot, the previous state is not even built.

    It can when an attribute or a string names ``prev``, or when ``getattr`` is used other than
    called with a constant name (an alias of it takes computed names past the static check)."""
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


# -- the child side ----------------------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGKILL when the parent dies (Linux), and exit if it already has."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except Exception:  # pragma: no cover - no prctl: the socket's EOF still ends an idle child
            pass
    if os.getppid() != parent:
        os._exit(0)


def _serve_main(fd: int, shm_fd: int, parent: int) -> None:
    """Entry point of the reward child (``python -I -c ...``): load, lock down, serve, exit."""
    import faulthandler

    for sig in (signal.SIGSEGV, signal.SIGFPE, signal.SIGBUS, signal.SIGILL, signal.SIGABRT):
        signal.signal(sig, signal.SIG_DFL)  # pygame (imported with the tasks) installs a handler that aborts
    faulthandler.enable()  # dumps the candidate's frames, then the signal's default action ends the process
    _die_with_parent(parent)
    conn = Connection(fd)
    try:
        msg = conn.recv_bytes()
        server = _RewardServer(json.loads(msg[1:]), conn, shm_fd, parent)
        server.start()
    except (EOFError, OSError):
        os._exit(0)
    except BaseException as e:  # our own failure before the candidate ran
        _send(conn, b"E", {"label": "sandbox_error", "message": f"sandbox child failed: {type(e).__name__}: {e}"})
        os._exit(0)
    server.serve()
    os._exit(0)


def _send(conn: Connection, tag: bytes, doc: Any) -> None:
    try:
        conn.send_bytes(tag + json.dumps(doc).encode())
    except OSError:
        pass


class _RewardServer(_Child):
    """The validation child's lock-down and error classification, serving calls instead of a smoke test."""

    def __init__(self, spec: dict[str, Any], conn: Connection, shm_fd: int, parent: int) -> None:
        super().__init__(spec, None)  # type: ignore[arg-type]  # no result file: replies go over conn
        self.conn, self.shm_fd, self.parent = conn, shm_fd, parent
        self.shm_size = 0
        self.calls = 0
        self.keys: tuple[str, ...] | None = None

    def load(self) -> None:
        import importlib
        import warnings

        if self.spec["torch"] or any(m.split(".")[0] == "torch" for m in self.spec["modules"]):
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
        import linecache  # noqa: F401
        import resource  # noqa: F401
        import traceback  # noqa: F401

        warnings.simplefilter("ignore")  # nobody reads the child's stderr but for crash reports

    def _limit_cpu(self) -> None:
        """A fresh CPU budget per call (armed in :meth:`_compute`); on SIGXCPU faulthandler dumps the
        candidate's frame to stderr, then the default action ends the process."""
        import faulthandler
        import resource

        faulthandler.register(signal.SIGXCPU, chain=True)
        self._cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        self.cpu_cap_s = None

    def _arm_cpu(self) -> None:
        import resource

        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = math.ceil(used.ru_utime + used.ru_stime + self.limits.cpu_s)
        if self._cpu_hard != resource.RLIM_INFINITY:
            soft = min(soft, self._cpu_hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, self._cpu_hard))

    def start(self) -> None:
        self.load()
        self.isolate()
        _die_with_parent(self.parent)  # again: dropping to nobody cleared it
        self._reserve: bytearray | None = bytearray(4 << 20)  # freed on MemoryError so reporting has room
        try:
            namespace = _exec_candidate(self.spec["source"], restricted_builtins(self.violation))
        except BaseException as e:
            self._report(self._classify(e, "while executing the module"))
        fn = namespace.get(self.entry)
        if not callable(fn):
            self._report(_Fail("missing_entry", f"the module defines no function {self.entry!r}"))
        self.reward = FunctionReward(fn, name=self.spec["name"])
        _send(self.conn, b"Y", {"isolation": self.isolation})

    def _report(self, f: _Fail) -> NoReturn:
        _send(self.conn, b"E", {"label": f.label, "message": str(f), "traceback": f.tb})
        os._exit(0)

    def serve(self) -> None:
        conn = self.conn
        while True:
            try:
                msg = conn.recv_bytes()
            except (EOFError, OSError):
                return
            tag = msg[:1]
            if tag == b"C":
                try:
                    conn.send_bytes(self._compute())
                except OSError:  # the parent is gone
                    return
            elif tag == b"L":
                self._set_layout(json.loads(msg[1:]))
            else:
                return

    def _set_layout(self, doc: dict[str, Any]) -> None:
        """Map the shared buffer (again, when the parent grew it) and view the batch's arrays in it."""
        if doc["shm_size"] != self.shm_size:
            self.shm = mmap.mmap(self.shm_fd, doc["shm_size"])  # the old map goes with the last view of it
            self.shm_size = doc["shm_size"]
        self.n, self.torch = int(doc["n"]), bool(doc["torch"])
        views: list[dict[str, Any] | None] = []
        for group in (doc["fields"], doc["prev"]):
            if group is None:
                views.append(None)
                continue
            fields = {}
            for name, dtype, shape, offset in group:
                a = np.ndarray(tuple(shape), np.dtype(dtype), buffer=self.shm, offset=offset)
                a.flags.writeable = False  # as in validation: reward code computes new arrays
                fields[name] = a
            views.append(fields)
        self.fields, self.prev_fields = views
        self.view = self._state_view(self.fields, self.prev_fields, doc["units"])
        self.units = doc["units"]
        self.dummy_reward = np.empty(self.n)  # TransitionBatch.n reads its length

    @staticmethod
    def _state_view(fields: Any, prev: Any, units: dict[str, str]) -> StateView:
        return StateView(fields, units, StateView(prev, units) if prev is not None else None)

    def _compute(self) -> bytes:
        view = self.view
        if self.torch:  # tensors own their memory: copies of this call's inputs
            import torch

            as_torch = lambda f: {k: torch.from_numpy(np.array(a)) for k, a in f.items()}  # noqa: E731
            view = self._state_view(
                as_torch(self.fields), as_torch(self.prev_fields) if self.prev_fields else None, self.units
            )
        n = self.n
        self.calls += 1
        where = f"on call {self.calls} ({n} envs)"
        batch = TransitionBatch(None, None, None, self.dummy_reward, None, None, state=view)
        self._arm_cpu()
        try:
            with np.errstate(all="ignore"):
                terms = self.reward.compute(batch)
                total = _as_array(terms.total, "the total", where)
                comps = {k: _as_array(v, f"component {k!r}", where) for k, v in terms.components.items()}
        except RewardError as e:  # FunctionReward's own checks on what the code returned
            text = str(e)
            label = "wrong_shape" if "shape" in text else "unstable_components" if "changed" in text else "wrong_type"
            self._report(_Fail(label, f"{text} ({where})"))
        except _Fail as f:
            self._report(f)
        except BaseException as e:
            self._reserve = None
            self._report(self._classify(e, where))
        if self.violations:
            label, message = self.violations[0]
            self._report(_Fail(label, f"{message} (the attempt was caught and swallowed by the code {where})"))
        head = b"D"
        if self.keys is None:
            self._check_keys(list(comps), where)
            self.keys = tuple(comps)
            names = json.dumps(self.keys).encode()
            head = b"K" + len(names).to_bytes(4, "little") + names
        out = np.empty((1 + len(comps), n), dtype="<f8")
        out[0] = total
        for i, v in enumerate(comps.values()):
            out[i + 1] = v
        return head + out.tobytes()

    def _check_keys(self, keys: list[Any], where: str) -> None:
        if len(keys) > self.limits.max_components:
            self._report(
                _Fail(
                    "output_too_large", f"returned {len(keys)} components {where}; at most {self.limits.max_components}"
                )
            )
        for k in keys:
            if not isinstance(k, str):
                self._report(_Fail("wrong_type", f"component name {repr(k)[:80]} is not a string ({where})"))
            if len(k) > 64:
                self._report(_Fail("output_too_large", f"component name {k[:20]!r}... is {len(k)} characters long"))


__all__ = ["DEFAULT_CALL_TIMEOUT_S", "RewardSandboxError", "SandboxedReward"]
