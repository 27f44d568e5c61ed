"""The sandbox worker: the only process that ever executes candidate reward code.

Started by :class:`llm_reward.sandbox.process.Worker` as ``python -I -B -c ...`` with a socket and a sealed
shared-memory buffer as its only open files, it loads the state view's module and the modules the code imports,
warms numpy and torch up, locks itself down for good (:func:`llm_reward.sandbox.kernel.lock_down`, then the
Python guards), executes the code under the restricted builtins, and serves calls until its socket closes.

It judges nothing. For every call it sends back what the code returned, as raw arrays (dtype, shape,
bytes) with the component names; the parent checks shape, dtype, finiteness, names and latency on that
data, in a process the code cannot touch. What the worker says about a failure (a label and a message) can
only make the parent reject; no message from here can make the parent accept.

Messages (parent -> worker): ``S`` + JSON spec; ``L`` + JSON layout of the inputs in the shared buffer;
``C``: call. (worker -> parent): ``Y`` + JSON (ready, with the guarantees that hold); ``R`` + 4-byte header
length + JSON header + raw bytes (a result); ``E`` + JSON (a failure; the worker exits after it).
"""

from __future__ import annotations

import json
import math
import mmap
import os
import signal
import sys
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any, NoReturn

from llm_reward.sandbox.guards import (
    MAXRSS_FIELD,
    RSS_MARK,
    Fail,
    SandboxViolation,
    candidate_line_tb,
    exec_candidate,
    install_guards,
    restricted_builtins,
    short,
    trim_traceback,
)

BOOT = (
    "import sys; sys.path.insert(0, sys.argv[4]); from llm_reward.sandbox.worker import main; "
    "main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))"
)
_EACCES_TEXT = ("Permission denied", "Operation not permitted", "Read-only file system")


def _state_view_class() -> type:
    """``envs.state_view.StateView``, loaded from its file without running ``envs/__init__``.

    Importing ``envs.state_view`` the usual way imports the whole ``envs`` package first (gymnasium, minigrid,
    mujoco and pygame: 0.3 s of every worker's start-up, and native libraries in the process that runs candidate
    code). The module needs only numpy; the parent sends the view's fields, so the task modules are never needed.
    """
    import importlib.machinery
    import importlib.util

    name = "envs.state_view"
    mod = sys.modules.get(name)
    if mod is None:
        pkg = importlib.machinery.PathFinder.find_spec("envs", sys.path)
        if pkg is None or not pkg.submodule_search_locations:
            raise ImportError("the envs package is not on the worker's path")
        spec = importlib.machinery.PathFinder.find_spec(name, list(pkg.submodule_search_locations))
        if spec is None or spec.loader is None:
            raise ImportError(f"{name} not found beside the envs package")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return mod.StateView


def main(fd: int, shm_fd: int, parent: int) -> None:
    """Entry point: load, lock down, serve, exit."""
    import faulthandler

    for sig in (signal.SIGSEGV, signal.SIGFPE, signal.SIGBUS, signal.SIGILL, signal.SIGABRT):
        signal.signal(sig, signal.SIG_DFL)  # a module may have installed a handler that aborts
    faulthandler.enable()  # dumps the candidate's frames to stderr, then the signal's default action ends it
    _die_with_parent(parent)
    conn = Connection(fd)
    try:
        spec = json.loads(conn.recv_bytes()[1:])
        server = _Server(spec, conn, shm_fd, parent)
        server.start()
    except (EOFError, OSError) as e:
        _send(conn, b"E", {"label": "sandbox_error", "message": f"sandbox worker failed: {type(e).__name__}: {e}"})
        os._exit(0)
    except BaseException as e:  # our own failure before the candidate ran
        _send(conn, b"E", {"label": "sandbox_error", "message": f"sandbox worker failed: {type(e).__name__}: {e}"})
        os._exit(0)
    server.serve()
    os._exit(0)


def _die_with_parent(parent: int) -> None:
    """SIGKILL when the parent dies (Linux), and exit if it already has."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except Exception:  # pragma: no cover - the socket's EOF still ends an idle worker
            pass
    if os.getppid() != parent:
        os._exit(0)


def _send(conn: Connection, tag: bytes, doc: Any) -> None:
    try:
        conn.send_bytes(tag + json.dumps(doc).encode())
    except OSError:
        pass


class _Server:
    def __init__(self, spec: dict[str, Any], conn: Connection, shm_fd: int, parent: int) -> None:
        self.spec, self.conn, self.shm_fd, self.parent = spec, conn, shm_fd, parent
        self.limits = spec["limits"]
        self.violations: list[tuple[str, str]] = []
        self.printed = 0
        self.shm: mmap.mmap | None = None
        self.shm_size = 0
        self.calls = 0
        self.executed = False

    # -- start-up (trusted code, before any limit) -------------------------------------------------------
    def load(self) -> None:
        import importlib
        import warnings

        import numpy as np

        wants_torch = self.spec["torch"] or any(m.split(".")[0] == "torch" for m in self.spec["modules"])
        if wants_torch:
            import torch

            torch.set_num_threads(1)
            torch.set_num_interop_threads(1)
            # the first matmul reads /proc/cpuinfo; after the lock-down /proc is closed
            (torch.ones(8, 8) @ torch.ones(8, 8)).sum().item()
        for mod in self.spec["task_modules"] + self.spec["modules"]:  # best effort: "math.pi" is no module
            try:
                importlib.import_module(mod)
            except ImportError:
                pass
        self.StateView = _state_view_class()
        float(np.linalg.norm(np.ones((4, 4)) @ np.ones((4, 4))))
        np.random.default_rng(0).random(4)
        # used after the lock-down
        import errno  # noqa: F401
        import linecache  # noqa: F401
        import resource  # noqa: F401
        import traceback  # noqa: F401

        import llm_reward.sandbox.kernel  # noqa: F401

        try:
            import pyseccomp  # noqa: F401  (finds libseccomp with ldconfig, a subprocess: before the lock-down)
        except (ImportError, OSError, AttributeError, TypeError):
            pass
        warnings.simplefilter("ignore")
        self.np = np

    def start(self) -> None:
        import resource

        from llm_reward.sandbox import kernel

        self.load()
        # before any candidate code runs: how much memory the loaded worker holds (its own peak, VmHWM), so that
        # a worker killed at the CPU limit while filling its memory can be told from one that only spun, and what
        # its ru_maxrss reads now: Linux carries the RSS of the process that exec'd it into that figure, so the
        # ru_maxrss of its death is its own peak only if it rose above this (judge.exit_verdict)
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        hwm = _status_kib("VmHWM")
        os.write(2, f"{RSS_MARK}{maxrss if hwm is None else hwm} {MAXRSS_FIELD}{maxrss}\n".encode())
        vm = _status_kib("VmSize")
        vm = vm * 1024 if vm is not None else None
        limit = vm + int(self.limits["memory_mb"]) * 2**20 if vm is not None else None
        try:
            self.isolation = kernel.lock_down(
                self.spec["scratch"], address_space=limit, require_kernel=bool(self.limits["require_kernel"])
            )
        except OSError as e:
            self._report(Fail("sandbox_error", f"the kernel sandbox could not be applied: {e}"), before=True)
        faulthandler_register_xcpu()
        self._cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        install_guards(self.violation)
        self.isolation["python_guards"] = True
        _die_with_parent(self.parent)  # again: a change of credentials clears it
        self._reserve: bytearray | None = bytearray(4 << 20)  # freed on MemoryError so reporting has room
        self.executed = True
        self._last_header: dict[str, Any] | None = None
        self._last_head = b""
        self._arm_cpu()
        try:
            namespace = exec_candidate(self.spec["source"], restricted_builtins(self.violation, self._print))
        except BaseException as e:
            self._report(self.classify(e, "while executing the module"))
        self._check_violations("while executing the module")
        fn = namespace.get(self.spec["entry"])
        if not callable(fn):
            self._report(Fail("missing_entry", f"the module defines no function {self.spec['entry']!r}"))
        self.fn = fn
        _send(self.conn, b"Y", {"isolation": self.isolation})

    # -- serving -------------------------------------------------------------------------------------------
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
                    conn.send_bytes(self._call())
                except OSError:
                    return
            elif tag == b"L":
                self._set_layout(json.loads(msg[1:]))
            else:
                return

    def _set_layout(self, doc: dict[str, Any]) -> None:
        """Map the shared buffer read-only (again, when the parent grew it) and view the inputs in it."""
        np = self.np
        if doc["shm_size"] != self.shm_size:
            self.shm = mmap.mmap(self.shm_fd, doc["shm_size"], access=mmap.ACCESS_READ)
            self.shm_size = doc["shm_size"]
        self.n, self.torch = int(doc["n"]), bool(doc["torch"])
        groups: list[dict[str, Any] | None] = []
        for group in (doc["fields"], doc["prev"]):
            if group is None:
                groups.append(None)
                continue
            groups.append(
                {
                    name: np.ndarray(tuple(shape), np.dtype(dt), buffer=self.shm, offset=off)
                    for name, dt, shape, off in group
                }
            )
        self.fields, self.prev_fields = groups
        self.units = doc["units"]

    def _view(self) -> Any:
        StateView = self.StateView
        fields, prev = self.fields, self.prev_fields
        if self.torch:  # tensors own their memory: copies of this call's inputs
            import torch

            def conv(f: dict[str, Any]) -> dict[str, Any]:
                return {k: torch.from_numpy(self.np.array(a)) for k, a in f.items()}

            fields, prev = conv(fields), conv(prev) if prev is not None else None
        return StateView(fields, self.units, StateView(prev, self.units) if prev is not None else None)

    def _call(self) -> bytes:
        self.calls += 1
        where = f"on call {self.calls} ({self.n} envs)"
        view = self._view()
        self._arm_cpu()
        try:
            with self.np.errstate(all="ignore"):
                out = self.fn(view)
                header, payload = self._encode(out, where)
        except Fail as f:
            self._report(f)
        except BaseException as e:
            self._reserve = None
            self._report(self.classify(e, where))
        self._check_violations(where)
        if header != self._last_header:  # names, dtypes and shapes rarely change between calls
            self._last_header, self._last_head = header, json.dumps(header).encode()
        head = self._last_head
        return b"R" + len(head).to_bytes(4, "little") + head + payload

    def _encode(self, out: Any, where: str) -> tuple[dict[str, Any], bytes]:
        """What the code returned, as it is: the form, the names, and each array's dtype, shape and bytes."""
        contract = "return (total, components): total an (n,) float array, components a dict of (n,) arrays"
        if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], Mapping):
            kind, items = "tuple", [("", out[0]), *out[1].items()]
        elif isinstance(out, Mapping):
            kind, items = "mapping", list(out.items())
        elif isinstance(out, tuple):
            raise Fail("wrong_type", f"returned a tuple of {len(out)} items {where}; {contract}")
        else:
            kind, items = "single", [("", out)]
        if len(items) > int(self.limits["max_components"]) + 1:
            raise Fail(
                "output_too_large",
                f"returned {len(items) - 1} components {where}; at most {self.limits['max_components']} are allowed",
            )
        names, arrays, chunks, size = [], [], [], 0
        cap = (1 + int(self.limits["max_components"])) * max(self.n, 1) * 8
        for name, value in items:
            if not isinstance(name, str):
                raise Fail("wrong_type", f"a component name is a {type(name).__name__}, not a string {where}")
            a = self._as_array(value, f"component {short(name, 40)!r}" if name else "the value", where, contract)
            size += a.nbytes
            if size > cap:
                raise Fail("output_too_large", f"returned more than {cap} bytes {where}")
            names.append(name)
            arrays.append([a.dtype.str, list(a.shape)])
            chunks.append(self.np.ascontiguousarray(a).tobytes())
        return {"kind": kind, "names": names, "arrays": arrays}, b"".join(chunks)

    def _as_array(self, x: Any, what: str, where: str, contract: str) -> Any:
        np = self.np
        if type(x).__module__.startswith("torch") and hasattr(x, "detach"):
            try:
                return x.detach().cpu().numpy()
            except Exception as e:
                raise Fail(
                    "wrong_type", f"{what} is a tensor that cannot be read ({short(str(e), 100)}) {where}"
                ) from None
        if type(x) is np.ndarray:
            return x
        if isinstance(x, bool | int | float | np.number | np.bool_):
            return np.asarray(x)
        raise Fail("wrong_type", f"{what} is {_describe(x)} {where}; {contract}")

    # -- limits and failures -------------------------------------------------------------------------------
    def _arm_cpu(self) -> None:
        """A fresh CPU budget for the next call; SIGXCPU (faulthandler dumps the frame) ends the process."""
        import resource

        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = math.ceil(used.ru_utime + used.ru_stime + float(self.limits["cpu_s"]))
        if self._cpu_hard != resource.RLIM_INFINITY:
            soft = min(soft, self._cpu_hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, self._cpu_hard))

    def violation(self, label: str, message: str) -> SandboxViolation:
        self.violations.append((label, message))
        return SandboxViolation(label, message)

    def _print(self, *args: Any, **kwargs: Any) -> None:
        sep = kwargs.get("sep", " ")
        self.printed += sum(len(str(a)) for a in args) + len(str(sep)) * max(0, len(args) - 1) + 1
        if self.printed > int(self.limits["max_print_chars"]):
            raise self.violation(
                "output_too_large",
                f"printed more than {self.limits['max_print_chars']} characters; reward code should not print",
            )

    def _check_violations(self, where: str) -> None:
        if self.violations:
            label, message = self.violations[0]
            self._report(Fail(label, f"{message} (the attempt was caught and swallowed by the code {where})"))

    def classify(self, e: BaseException, where: str) -> Fail:
        import errno

        line = candidate_line_tb(e.__traceback__)
        if isinstance(e, SandboxViolation):
            return Fail(e.label, f"{e}{line} ({where})")
        if isinstance(e, MemoryError):
            return Fail(
                "memory_limit", f"ran out of memory{line} ({where}); the limit is {self.limits['memory_mb']} MiB"
            )
        if isinstance(e, RecursionError):
            return Fail(
                "recursion_limit",
                f"RecursionError{line} ({where}); write the reward without deep recursion",
                trim_traceback(e),
            )
        if self.violations:
            label, message = self.violations[0]
            return Fail(label, f"{message} ({where}); it then raised {type(e).__name__}")
        if isinstance(e, OSError) and e.errno == errno.EFBIG:
            return Fail("file_write", f"tried to write a file{line} ({where})")
        if isinstance(e, ValueError) and "read-only" in str(e):
            return Fail(
                "mutates_input",
                f"wrote into a state-view array{line} ({where}); compute new arrays instead",
                trim_traceback(e),
            )
        if (isinstance(e, OSError) and e.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSYS)) or any(
            t in str(e) for t in _EACCES_TEXT
        ):
            return Fail(
                "denied",
                f"the sandbox refused an operation{line} ({where}): {type(e).__name__}: "
                f"{short(str(e), 200)}; reward code reads only its state view",
                trim_traceback(e),
            )
        return Fail("exception", f"{type(e).__name__}: {short(str(e))}{line} ({where})", trim_traceback(e))

    def _report(self, f: Fail, before: bool = False) -> NoReturn:
        label = f.label
        if label == "sandbox_error" and self.executed and not before:
            label = "exception"  # once the code has run, a claim that the sandbox failed is the code's doing
        doc = {"label": label, "message": str(f), "traceback": f.tb, "executed": self.executed}
        _send(self.conn, b"E", {**doc, "isolation": getattr(self, "isolation", {})})
        os._exit(0)


def faulthandler_register_xcpu() -> None:
    import faulthandler

    faulthandler.register(signal.SIGXCPU, chain=True)


def _describe(x: Any) -> str:
    if x is None:
        return "None"
    if isinstance(x, list | tuple):
        return f"a {type(x).__name__} of {len(x)} items"
    return f"a {type(x).__name__}"


def _status_kib(field: str) -> int | None:
    """``field`` (``VmSize``, ``VmHWM``) of ``/proc/self/status``, in KiB, or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None
