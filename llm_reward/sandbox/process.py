"""The parent side of the sandbox: the worker process handle and the judge.

:class:`Worker` starts one sandbox worker (:mod:`llm_reward.sandbox.worker`), sends it batches of state-view
arrays through a sealed shared buffer and reads back raw results. :func:`judge` checks what came back
(shape, dtype, finiteness, component names) in this process, which candidate code never runs in, so
nothing it patches inside its own process can change a verdict. The worker's CPU time per call is read
by this process from the kernel (``/proc/<pid>/schedstat``), not reported by the worker.

Both validation (:func:`llm_reward.sandbox.validate_candidate`) and training
(:class:`llm_reward.sandbox.SandboxedReward`) use exactly this: the same lock-down, the same transport,
the same checks.
"""

from __future__ import annotations

import fcntl
import json
import math
import mmap
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from llm_reward.sandbox.guards import CANDIDATE_FILENAME, Fail
from llm_reward.sandbox.limits import LABELS, SandboxLimits
from llm_reward.sandbox.worker import BOOT
from llm_reward.textsafe import clean_message

_CONTROL_BYTES = 1 << 16  # most bytes of JSON the parent accepts in one message besides the values
COMPONENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
#: the dtypes a result may carry; anything else is refused before a byte of it is read
_DTYPES = {
    np.dtype(t).str: np.dtype(t)
    for t in ("<f2", "<f4", "<f8", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "|b1")
}


def clean_text(text: Any, limit: int, keep: str = "head") -> str:
    """Text that came from the worker made safe to store or show a model (:func:`llm_reward.textsafe.clean_message`)."""
    return clean_message(text, limit, keep=keep)


def child_env(cwd: Path) -> dict[str, str]:
    """The worker's whole environment: nothing of the parent's (no API key, no proxy settings)."""
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


class WorkerFailed(Exception):
    """The worker failed, with a label from :data:`LABELS`; it is dead (killed and reaped)."""

    def __init__(
        self, label: str, message: str, tb: str = "", exit_code: int | None = None, isolation: dict | None = None
    ) -> None:
        super().__init__(message)
        self.label, self.message, self.tb, self.exit_code = label, message, tb, exit_code
        self.isolation = isolation or {}


@dataclass
class Result:
    """What one call returned, as the worker sent it, before judging."""

    kind: str
    names: list[str]
    arrays: list[np.ndarray]
    cpu_ms: float | None
    wall_ms: float


class Worker:
    """One sandbox worker process running one candidate.

    :param source: the reward module.
    :param entry: the entry point's name.
    :param limits: its limits.
    :param task_modules: modules to import before the lock-down (the task's state view).
    :param modules: modules the code imports.
    :param torch_inputs: state-view fields reach the code as CPU tensors.
    """

    def __init__(
        self,
        source: str,
        entry: str,
        limits: SandboxLimits,
        *,
        task_modules: list[str] | None = None,
        modules: list[str] | None = None,
        torch_inputs: bool = False,
        name: str = "reward",
    ) -> None:
        self.limits, self.torch = limits, torch_inputs
        self.owner = os.getpid()
        self.workdir = Path(tempfile.mkdtemp(prefix="rewardlab-sandbox-"))
        self.scratch = self.workdir / "scratch"
        self.scratch.mkdir()
        os.chmod(self.workdir, 0o755)
        os.chmod(self.scratch, 0o777)  # writable by whoever the worker becomes
        self.shm_fd = _shared_fd()
        self.shm: mmap.mmap | None = None
        self.shm_size = 0
        self.layout_key: Any = None
        self.inputs: list[np.ndarray] = []
        self.names: tuple[str, ...] | None = None
        self.stopped = False
        self.rusage: Any = None
        self.isolation: dict[str, Any] = {}
        self.calls = 0
        self._err = b""
        parent_sock, child_sock = socket.socketpair()
        repo_root = str(Path(__file__).resolve().parents[2])
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-I",
                "-B",
                "-c",
                BOOT,
                str(child_sock.fileno()),
                str(self.shm_fd),
                str(os.getpid()),
                repo_root,
            ],
            cwd=self.scratch,
            env=child_env(self.scratch),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(child_sock.fileno(), self.shm_fd),
            start_new_session=True,  # its own process group: one killpg takes every descendant
        )
        child_sock.close()
        self.conn = Connection(parent_sock.detach())
        assert self.proc.stderr is not None
        os.set_blocking(self.proc.stderr.fileno(), False)
        self._err = b""
        self._finalizer = weakref.finalize(self, _stop_quietly, self.proc, self.workdir, self.owner)
        spec = {
            "source": source,
            "entry": entry,
            "name": name,
            "limits": asdict(limits),
            "task_modules": task_modules or [],
            "modules": modules or [],
            "torch": torch_inputs,
            "scratch": str(self.scratch),
        }
        self._send(b"S" + json.dumps(spec).encode())
        msg = self._recv(limits.startup_s, "while starting and loading the reward code", 0, starting=True)
        if msg[:1] != b"Y":
            self._fail("sandbox_error", f"the worker sent {bytes(msg[:1])!r} instead of a ready message")
        doc = _json(msg[1:])
        self.isolation = dict(doc.get("isolation", {})) if isinstance(doc, dict) else {}

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return not self.stopped and self.proc.poll() is None

    # -- calls -------------------------------------------------------------------------------------------
    def call(
        self,
        fields: dict[str, np.ndarray],
        prev: dict[str, np.ndarray] | None,
        units: dict[str, str],
        timeout_s: float,
        where: str,
    ) -> Result:
        """Call the code on one batch (numpy arrays of a common first dimension ``n``)."""
        n = _first_dim(fields)
        key = (
            n,
            tuple((k, a.dtype.str, a.shape) for k, a in fields.items()),
            None if prev is None else tuple((k, a.dtype.str, a.shape) for k, a in prev.items()),
        )
        if key != self.layout_key:
            self._send(b"L" + json.dumps(self._map_layout(key, units)).encode())
            self.layout_key = key
        arrays = [*fields.values(), *(prev.values() if prev is not None else ())]
        for dst, a in zip(self.inputs, arrays, strict=True):
            np.copyto(dst, a, casting="no")
        self.calls += 1
        cpu0 = _cpu_ns(self.pid)
        t0 = time.perf_counter()
        self._send(b"C")
        msg = self._recv(timeout_s, where, (1 + self.limits.max_components) * max(n, 1) * 8)
        wall_ms = (time.perf_counter() - t0) * 1000.0
        cpu1 = _cpu_ns(self.pid)
        if msg[:1] != b"R":
            self._fail("sandbox_error", f"the worker sent {bytes(msg[:1])!r} instead of a result {where}")
        body = memoryview(msg)[1:]
        size = int.from_bytes(body[:4], "little")
        if size > _CONTROL_BYTES:
            self._fail(
                "output_too_large",
                f"the result's names and shapes are {size} bytes, longer than "
                f"{_CONTROL_BYTES} {where}; use short component names",
            )
        header = _json(bytes(body[4 : 4 + size]))
        if not isinstance(header, dict):
            self._fail("wrong_type", f"the worker sent an unreadable result header {where}")
        arrays_out = _decode_arrays(header, body[4 + size :], where)
        if arrays_out is None:
            self._fail("wrong_type", f"the worker sent values that do not match their header {where}")
        kind, names = header.get("kind"), header.get("names")
        if kind not in ("tuple", "mapping", "single") or not isinstance(names, list) or len(names) != len(arrays_out):
            self._fail("wrong_type", f"the worker sent an unreadable result {where}")
        cpu_ms = (cpu1 - cpu0) / 1e6 if cpu0 is not None and cpu1 is not None else None
        return Result(kind, [str(x) for x in names], arrays_out, cpu_ms, wall_ms)

    def _map_layout(self, key: Any, units: dict[str, str]) -> dict[str, Any]:
        n, fields, prev = key
        offset = 0
        groups: list[list[Any] | None] = []
        for group in (fields, prev):
            if group is None:
                groups.append(None)
                continue
            entries = []
            for k, dt, shape in group:
                if np.dtype(dt).kind not in "biuf":
                    raise ValueError(f"state-view field {k!r} has dtype {dt}; only numbers reach sandboxed code")
                offset = -(-offset // 64) * 64
                entries.append((k, dt, list(shape), offset))
                offset += np.dtype(dt).itemsize * math.prod(shape)
            groups.append(entries)
        size = max(4096, -(-offset // 4096) * 4096)
        if size > self.shm_size:
            size = max(size, 2 * self.shm_size)
            os.ftruncate(self.shm_fd, size)
            self.shm = mmap.mmap(self.shm_fd, size)
            self.shm_size = size
        assert self.shm is not None
        self.inputs = [
            np.ndarray(tuple(shape), np.dtype(dt), buffer=self.shm, offset=off)
            for group in groups
            if group is not None
            for _, dt, shape, off in group
        ]
        return {
            "n": n,
            "fields": groups[0],
            "prev": groups[1],
            "units": units,
            "torch": self.torch,
            "shm_size": self.shm_size,
        }

    # -- transport -----------------------------------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        try:
            self.conn.send_bytes(data)
        except OSError:
            pass  # it died; the next receive says how

    def _recv(self, timeout: float, where: str, max_bytes: int, starting: bool = False) -> bytes:
        deadline = time.monotonic() + timeout
        fd = self.conn.fileno()
        while True:
            self._drain_stderr()
            left = deadline - time.monotonic()
            if left <= 0:
                label = "sandbox_error" if starting else "timeout"
                what = (
                    f"did not start within {timeout:g} s; the machine may be overloaded"
                    if starting
                    else f"no result {timeout:g} s (wall clock) {where}: the code looped, blocked or was too slow; "
                    "its process was killed"
                )
                self._fail(label, what)
            r, _, _ = select.select([fd], [], [], min(left, 0.25))
            if r:
                break
        try:
            msg = self.conn.recv_bytes(_CONTROL_BYTES + max_bytes)
        except (EOFError, ConnectionResetError):
            msg = b""
        except OSError as e:
            self._fail("output_too_large", f"the worker sent a message longer than any valid reply {where} ({e})")
        if not msg:
            self.stop(wait_exit_s=2.0)
            code = self.proc.returncode
            if starting and code is not None and code >= 0:
                tail = "\n".join(self._err.decode("utf-8", "replace").strip().splitlines()[-6:])
                self._fail("sandbox_error", f"the sandbox process exited with status {code} {where}", tail)
            label, message, tb = exit_verdict(
                code, self.rusage, self.limits, self._err.decode("utf-8", "replace"), f" {where}"
            )
            self._fail(label, message, tb)
        if msg[:1] == b"E":
            doc = _json(msg[1:])
            self.stop(wait_exit_s=1.0)
            if not isinstance(doc, dict):
                self._fail("sandbox_error", f"the worker sent an unreadable error report {where}")
            if isinstance(doc.get("isolation"), dict) and not self.isolation:
                self.isolation = doc["isolation"]
            label = str(doc.get("label"))
            if label not in LABELS or label == "ok":
                label = "exception"
            self._fail(
                label, clean_text(doc.get("message", ""), 2000), clean_text(doc.get("traceback", ""), 4000, keep="tail")
            )
        return msg

    def _fail(self, label: str, message: str, tb: str = "") -> Any:
        self.stop()
        raise WorkerFailed(label, message, tb, self.proc.returncode, dict(self.isolation))

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        try:
            while chunk := os.read(self.proc.stderr.fileno(), 65536):
                self._err = (self._err + chunk)[-8192:]
        except (BlockingIOError, InterruptedError, OSError, ValueError):
            pass

    def stop(self, wait_exit_s: float = 0.0) -> None:
        """Kill the worker's process group and reap it (first giving a dying worker ``wait_exit_s`` to exit by
        itself, so its own exit status is what gets reported). Idempotent; a no-op in a forked copy."""
        if self.stopped or os.getpid() != self.owner:
            return
        self.stopped = True
        pid = self.proc.pid
        deadline = time.monotonic() + wait_exit_s
        while time.monotonic() < deadline:
            try:
                if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    break
            except ChildProcessError:
                break
            time.sleep(0.005)
        kill_group(pid)
        status, self.rusage = reap(pid)
        self.proc.returncode = os.waitstatus_to_exitcode(status) if status is not None else -signal.SIGKILL
        self._drain_stderr()
        self.conn.close()
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        self.inputs, self.shm = [], None
        try:
            os.close(self.shm_fd)
        except OSError:
            pass
        shutil.rmtree(self.workdir, ignore_errors=True)
        self._finalizer.detach()

    def stderr_text(self) -> str:
        return self._err.decode("utf-8", "replace")


def _stop_quietly(proc: subprocess.Popen[bytes], workdir: Path, owner: int) -> None:
    if os.getpid() != owner:
        return
    kill_group(proc.pid)
    reap(proc.pid)
    shutil.rmtree(workdir, ignore_errors=True)


# -- the judge -----------------------------------------------------------------------------------------------


@dataclass
class Verdict:
    total: np.ndarray
    components: dict[str, np.ndarray]
    warnings: list[str] = field(default_factory=list)


def judge(
    res: Result,
    n: int,
    where: str,
    *,
    strict: bool,
    max_components: int,
    reward_name: str = "reward",
    expected: tuple[str, ...] | None = None,
) -> Verdict:
    """Check one result; raise :class:`~llm_reward.sandbox.guards.Fail` with a label for the first problem.

    :param strict: only ``(total, components)`` is accepted (validation); otherwise also the other forms
        :class:`~rewardlab.rewards.base.FunctionReward` takes (a mapping, total = sum; a single array).
    :param expected: the component names of earlier calls; they must not change.
    """
    contract = "return (total, components): total an (n,) float array, components a dict of (n,) arrays"
    warnings: list[str] = []
    if strict and res.kind != "tuple":
        raise Fail(
            "wrong_type", f"returned {'a dict' if res.kind == 'mapping' else 'a single value'} {where}; {contract}"
        )
    names = res.names[1:] if res.kind == "tuple" else res.names
    values = res.arrays[1:] if res.kind == "tuple" else res.arrays
    if res.kind == "single":
        names = [reward_name]
    if len(names) > max_components:
        raise Fail(
            "output_too_large", f"returned {len(names)} components {where}; at most {max_components} are allowed"
        )
    if res.kind == "mapping" and not names:
        raise Fail("wrong_type", f"returned no components {where}; {contract}")
    for k in names:
        if not COMPONENT_NAME.fullmatch(k):
            raise Fail(
                "bad_component_name",
                f"a component name is not a short identifier {where} (letters, digits "
                "and _, at most 40 characters, not starting with a digit); name components like 'goal_bonus'",
            )
    if len(set(names)) != len(names):
        raise Fail("wrong_type", f"component names repeat {where}")

    def column(a: np.ndarray, what: str, total: bool = False) -> np.ndarray:
        if a.ndim == 0:
            if total and strict:
                raise Fail(
                    "wrong_shape",
                    f"the total is a scalar ({float(a):.6g}) {where}; return one value per env, shape ({n},)",
                )
            if not total:
                warnings.append(f"{what} is a scalar; it is broadcast to every env")
            return np.full(n, float(a))
        if a.shape != (n,):
            hint = " -- squeeze the last axis" if a.shape == (n, 1) else ""
            raise Fail("wrong_shape", f"{what} has shape {tuple(a.shape)} {where}; expected ({n},){hint}")
        if total and strict and a.dtype.kind != "f":
            raise Fail("wrong_type", f"the total has dtype {a.dtype} {where}; return floats (e.g. .astype(np.float32))")
        return a.astype(np.float64)

    comps = {k: column(v, f"component {k!r}") for k, v in zip(names, values, strict=True)}
    if expected is not None and tuple(names) != expected:
        raise Fail(
            "unstable_components",
            f"component names changed between calls: {list(expected)} then "
            f"{list(names)} {where}; return the same components every call (use zeros when one does not apply)",
        )

    if res.kind == "tuple":
        total = column(res.arrays[0], "the total", total=True)
    elif res.kind == "mapping":
        total = np.sum(list(comps.values()), axis=0) if comps else np.zeros(n)
    else:
        total = comps[reward_name]
    bad = [k for k, a in comps.items() if not np.isfinite(a).all()]
    if not np.isfinite(total).all() or bad:
        culprits = f"; non-finite components: {bad}" if bad else ""
        raise Fail(
            "nan_or_inf",
            f"the total is NaN or inf for {int((~np.isfinite(total)).sum())} of {n} envs {where}"
            f"{culprits} -- guard divisions, logs and square roots (e.g. np.maximum(x, 1e-8))",
        )
    return Verdict(total, comps, warnings)


def _decode_arrays(header: dict[str, Any], payload: memoryview, where: str) -> list[np.ndarray] | None:
    specs = header.get("arrays")
    if not isinstance(specs, list):
        return None
    out, offset = [], 0
    for spec in specs:
        if not (isinstance(spec, list) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], list)):
            return None
        dt = _DTYPES.get(spec[0])
        shape = spec[1]
        if dt is None:
            raise Fail("wrong_type", f"a returned array has dtype {clean_text(spec[0], 20)!r} {where}; return numbers")
        if not all(isinstance(d, int) and 0 <= d < 2**31 for d in shape) or len(shape) > 8:
            return None
        nbytes = dt.itemsize * math.prod(shape)
        if offset + nbytes > len(payload):
            return None
        out.append(np.frombuffer(payload[offset : offset + nbytes], dtype=dt).reshape(shape).copy())
        offset += nbytes
    return out if offset == len(payload) else None


# -- process plumbing -----------------------------------------------------------------------------------------


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def reap(pid: int) -> tuple[int | None, Any]:
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        try:
            got, status, rusage = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:
            return None, None
        if got == pid:
            return status, rusage
        time.sleep(0.005)
    return None, None  # stuck in the kernel; it is SIGKILLed and will go


def exit_verdict(code: int | None, rusage: Any, limits: SandboxLimits, err: str, where: str) -> tuple[str, str, str]:
    """Label, message and the candidate's frames (from faulthandler's dump) for a worker that died."""
    keep = [ln.strip() for ln in err.splitlines() if "Fatal Python error" in ln or CANDIDATE_FILENAME in ln]
    frames = [ln for ln in keep if CANDIDATE_FILENAME in ln]
    if frames:
        where += " (" + frames[0].replace(f'File "{CANDIDATE_FILENAME}", ', "") + ")"
    tail = "\n".join(keep[-8:])
    code = -signal.SIGKILL if code is None else code
    if code < 0:
        sig = -code
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if sig == signal.SIGXCPU:
            why = "look for an unbounded loop or a per-env Python loop, and vectorise over envs"
            return (
                "cpu_limit",
                f"used more than the CPU limit of {limits.cpu_s:g} s{where}; it was killed -- {why}",
                tail,
            )
        if sig == signal.SIGXFSZ:
            return "file_write", "tried to write a file (file size limit is 0); it was killed", tail
        if sig == signal.SIGSYS:
            return "denied", f"made a system call the sandbox forbids{where}; it was killed", tail
        if sig == signal.SIGKILL:
            return (
                "memory_limit",
                f"was killed by SIGKILL{where} (the kernel's out-of-memory killer or the hard "
                f"limits); the memory limit is {limits.memory_mb} MiB",
                tail,
            )
        return "crashed", f"the interpreter crashed with {name}{where} (native code fault or abort)", tail
    return "crashed", f"the process exited with status {code} without a result{where}", tail


def _shared_fd() -> int:
    """The shared input buffer: a memfd sealed against shrinking (so the worker cannot make the parent's
    map fault), or an unlinked temporary file."""
    if hasattr(os, "memfd_create") and hasattr(fcntl, "F_ADD_SEALS"):
        try:
            fd = os.memfd_create("rewardlab-reward", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        except OSError:
            pass
        else:
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK)
            return fd
    fd, path = tempfile.mkstemp(prefix="rewardlab-inputs-")
    os.unlink(path)
    return fd


def _cpu_ns(pid: int) -> int | None:
    """CPU time the process has used, read from the kernel (nanoseconds)."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _first_dim(fields: dict[str, np.ndarray]) -> int:
    for a in fields.values():
        return int(a.shape[0]) if a.ndim else 1
    return 0


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None
