"""The sandbox worker's process, from the parent: its environment, its shared input buffer, its CPU time as the
kernel counts it, and killing and reaping its process group.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any


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


def stop_quietly(proc: subprocess.Popen[bytes], workdir: Path, owner: int) -> None:
    if os.getpid() != owner:
        return
    kill_group(proc.pid)
    reap(proc.pid)
    shutil.rmtree(workdir, ignore_errors=True)


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


def shared_fd() -> int:
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


def cpu_ns(pid: int) -> int | None:
    """CPU time the process has used, read from the kernel (nanoseconds)."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
