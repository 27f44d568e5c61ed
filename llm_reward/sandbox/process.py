"""The parent side of the sandbox: the worker process handle and the judge.

:class:`Worker` starts one sandbox worker (:mod:`llm_reward.sandbox.worker`), sends it batches of state-view
arrays through a sealed shared buffer and reads back raw results. :func:`judge` checks what came back
(shape, dtype, finiteness, component names) in this process, which candidate code never runs in, so
nothing it patches inside its own process can change a verdict. The worker's CPU time per call is read
by this process from the kernel (``/proc/<pid>/schedstat``), not reported by the worker.

Both validation (:func:`llm_reward.sandbox.validate_candidate`) and training
(:class:`llm_reward.sandbox.SandboxedReward`) use exactly this: the same lock-down, the same transport,
the same checks.

The judge is in :mod:`~llm_reward.sandbox.judge`, the reply format in :mod:`~llm_reward.sandbox.wire` and the
process's environment, buffer, CPU time and reaping in :mod:`~llm_reward.sandbox.lifecycle`; their names are
re-exported here.
"""

from __future__ import annotations

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
from typing import Any

import numpy as np

from llm_reward.sandbox.judge import COMPONENT_NAME, Verdict, exit_verdict, judge, loaded_kib, loaded_maxrss_kib
from llm_reward.sandbox.lifecycle import child_env, cpu_ns, kill_group, reap, shared_fd, stop_quietly
from llm_reward.sandbox.limits import LABELS, SandboxLimits
from llm_reward.sandbox.wire import CONTROL_BYTES, Result, clean_text, decode_arrays, read_json
from llm_reward.sandbox.worker import BOOT

__all__ = [
    "COMPONENT_NAME",
    "Result",
    "Verdict",
    "Worker",
    "WorkerFailed",
    "child_env",
    "clean_text",
    "exit_verdict",
    "judge",
    "kill_group",
    "reap",
]


class WorkerFailed(Exception):
    """The worker failed, with a label from :data:`LABELS`; it is dead (killed and reaped)."""

    def __init__(
        self, label: str, message: str, tb: str = "", exit_code: int | None = None, isolation: dict | None = None
    ) -> None:
        super().__init__(message)
        self.label, self.message, self.tb, self.exit_code = label, message, tb, exit_code
        self.isolation = isolation or {}


class Worker:
    """One sandbox worker process running one candidate.

    :param source: the reward module.
    :param entry: the entry point's name.
    :param limits: its limits.
    :param task_modules: trusted modules to import before the lock-down (none are needed: the worker loads the
        state view's own module, and the parent sends the view's fields).
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
        self.shm_fd = shared_fd()
        self.shm: mmap.mmap | None = None
        self.shm_size = 0
        self.layout_key: Any = None
        self.inputs: list[np.ndarray] = []
        self.names: tuple[str, ...] | None = None
        self.stopped = False
        self.rusage: Any = None
        self._head_raw, self._head = b"", None  # the last result header, as sent and as parsed
        self._schedstat: int | None = None  # fd of /proc/<pid>/schedstat, kept open (cpu time per call)
        self.peak_kib: list[tuple[int, int]] = []  # (VmHWM, VmRSS) of the worker, sampled while a call is slow
        self._ready_kib: int | None = None  # VmHWM once the worker was ready (see __init__'s end)
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
        # this process's peak RSS, just after the worker's exec: a bound above what Linux carried into the
        # worker's ru_maxrss at that exec, for a worker whose own reading of it is missing (judge.exit_verdict)
        self._spawn_kib = _own_hwm_kib()
        child_sock.close()
        self.conn = Connection(parent_sock.detach())
        assert self.proc.stderr is not None
        os.set_blocking(self.proc.stderr.fileno(), False)
        self._err = b""
        self._err_eof = False
        self._err_head = b""  # the first of stderr, kept whatever follows: the worker's loaded-RSS line is in it
        self._finalizer = weakref.finalize(self, stop_quietly, self.proc, self.workdir, self.owner)
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
        doc = read_json(msg[1:])
        self.isolation = dict(doc.get("isolation", {})) if isinstance(doc, dict) else {}
        # the worker's peak RSS once ready, read here: the baseline of a memory bomb's growth when the worker's own
        # loaded-RSS mark is missing from its stderr (once per worker, never per call)
        self._sample_peak()
        self._ready_kib = self.peak_kib[-1][0] if self.peak_kib else None

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
        cpu0 = self._cpu_ns()
        t0 = time.perf_counter()
        self._send(b"C")
        msg = self._recv(timeout_s, where, (1 + self.limits.max_components) * max(n, 1) * 8)
        wall_ms = (time.perf_counter() - t0) * 1000.0
        cpu1 = self._cpu_ns()
        if msg[:1] != b"R":
            self._fail("sandbox_error", f"the worker sent {bytes(msg[:1])!r} instead of a result {where}")
        body = memoryview(msg)[1:]
        size = int.from_bytes(body[:4], "little")
        if size > CONTROL_BYTES:
            self._fail(
                "output_too_large",
                f"the result's names and shapes are {size} bytes, longer than "
                f"{CONTROL_BYTES} {where}; use short component names",
            )
        head = bytes(body[4 : 4 + size])
        if head != self._head_raw:  # the names and shapes rarely change between calls: parse them once
            self._head_raw, self._head = head, read_json(head)
        header = self._head
        if not isinstance(header, dict):
            self._fail("wrong_type", f"the worker sent an unreadable result header {where}")
        arrays_out = decode_arrays(header, body[4 + size :], where)
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
        assert self.proc.stderr is not None
        err_fd = self.proc.stderr.fileno()
        self.peak_kib = []
        while True:
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
            r, _, _ = select.select([fd] if self._err_eof else [fd, err_fd], [], [], min(left, 0.05))
            if err_fd in r:  # drained as it comes (a full pipe would block the worker), not read on every call
                self._drain_stderr()
            if fd in r:
                break
            self._sample_peak()  # only a call that takes longer than a poll pays for it
        try:
            msg = self.conn.recv_bytes(CONTROL_BYTES + max_bytes)
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
                code,
                self.rusage,
                self.limits,
                self._err.decode("utf-8", "replace"),
                f" {where}",
                self.peak_kib,
                _first(loaded_kib(self._err_head.decode("utf-8", "replace")), self._ready_kib),
                _first(loaded_maxrss_kib(self._err_head.decode("utf-8", "replace")), self._spawn_kib),
            )
            self._fail(label, message, tb)
        if msg[:1] == b"E":
            doc = read_json(msg[1:])
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

    def _cpu_ns(self) -> int | None:
        """CPU time the worker has used (ns), from its ``schedstat`` kept open: a read per call, not an open."""
        try:
            if self._schedstat is None:
                self._schedstat = os.open(f"/proc/{self.proc.pid}/schedstat", os.O_RDONLY | os.O_CLOEXEC)
            return int(os.pread(self._schedstat, 128, 0).split()[0])
        except (OSError, ValueError, IndexError):
            return cpu_ns(self.proc.pid)

    def _sample_peak(self) -> None:
        """Note the worker's peak and current RSS: whether memory was still growing when the CPU limit hit tells
        a memory bomb on a slow machine from a loop that spins holding what it allocated (``judge.exit_verdict``)."""
        got: dict[bytes, int] = {}
        try:
            with open(f"/proc/{self.proc.pid}/status", "rb") as f:
                for line in f:
                    if line.startswith((b"VmHWM:", b"VmRSS:")):
                        got[line[:5]] = int(line.split()[1])
        except (OSError, ValueError, IndexError):
            return
        if len(got) == 2:
            self.peak_kib = [*self.peak_kib[-1:], (got[b"VmHWM"], got[b"VmRSS"])]

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        try:
            while True:
                chunk = os.read(self.proc.stderr.fileno(), 65536)
                if not chunk:  # the worker closed it (or died): select must not wake on it again
                    self._err_eof = True
                    return
                self._err = (self._err + chunk)[-8192:]
                if len(self._err_head) < 8192:
                    self._err_head = (self._err_head + chunk)[:8192]
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
        if self._schedstat is not None:
            os.close(self._schedstat)
            self._schedstat = None
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


def _first_dim(fields: dict[str, np.ndarray]) -> int:
    for a in fields.values():
        return int(a.shape[0]) if a.ndim else 1
    return 0


def _own_hwm_kib() -> int | None:
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)
