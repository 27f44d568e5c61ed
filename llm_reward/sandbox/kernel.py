"""Kernel isolation for a process about to run untrusted reward code (Linux).

:func:`lock_down` is called by the sandbox worker after it has loaded everything it needs and before
it executes a line of candidate code. Once applied, nothing here can be undone by the process or by any
code it runs, in Python or native (numpy and torch functions implemented in C go straight to libc, so
only the kernel can stop them):

* **Landlock** (:func:`landlock_abi`, ABI 1+): file access is refused everywhere except read-only on the
  Python installation, the lab's packages and the system's shared libraries, and read-write on a private
  scratch directory and ``/dev/null``. ABI 4+ also refuses TCP bind/connect, ABI 6+ refuses signals to
  processes outside the sandbox and abstract Unix sockets. ``/proc`` is not readable, so neither is the
  parent's environment.
* **seccomp** (through libseccomp, the ``pyseccomp`` package): new processes (``fork``, ``clone``
  without ``CLONE_THREAD``, ``execve``), sockets, ``ptrace`` and cross-process memory access, System V and
  POSIX message-queue IPC, ``io_uring``, ``bpf``, ``perf_event_open``, mounts, namespaces, keyrings,
  permission and ownership changes, kernel modules and signals to other processes fail with ``EPERM``.
* **no_new_privs**, so nothing executed later (nothing can be) could gain privileges.
* **Namespaces**: a new network namespace without interfaces and a new IPC namespace (unprivileged user
  namespaces when not root); where the kernel refuses, Landlock and seccomp still hold.
* **rlimits**: address space, file size 0, no core dumps, no processes; CPU time is armed by the worker.
* **Privileges**: as root the process drops to ``nobody`` with no supplementary groups.

:func:`probe` says what this machine offers without changing anything; a sandbox that requires the
kernel layers refuses to run code where Landlock or seccomp is missing (macOS, Linux < 5.13, a
container that filters the Landlock syscalls), unless its user explicitly asks for less.

The kernel interface of Landlock is in :mod:`~llm_reward.sandbox.landlock_uapi`, the seccomp rules in
:mod:`~llm_reward.sandbox.seccomp_rules`, namespaces, rlimits and identity in
:mod:`~llm_reward.sandbox.confinement`; this module applies them (every name is re-exported here).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llm_reward.sandbox.confinement import (
    drop_root,
    load_libc,
    no_new_privs,
    set_no_new_privs,
    set_rlimits,
    thread_count,
    unshare_namespaces,
)
from llm_reward.sandbox.landlock_uapi import (
    CREATE_RULESET_VERSION,
    FILE_RIGHTS,
    FS_EXECUTE,
    FS_IOCTL_DEV,
    FS_MAKE_BLOCK,
    FS_MAKE_CHAR,
    FS_MAKE_DIR,
    FS_MAKE_FIFO,
    FS_MAKE_REG,
    FS_MAKE_SOCK,
    FS_MAKE_SYM,
    FS_READ_DIR,
    FS_READ_FILE,
    FS_REFER,
    FS_REMOVE_DIR,
    FS_REMOVE_FILE,
    FS_TRUNCATE,
    FS_WRITE_FILE,
    NET_BIND_TCP,
    NET_CONNECT_TCP,
    READ_RIGHTS,
    RULE_PATH_BENEATH,
    SCOPE_ABSTRACT_UNIX_SOCKET,
    SCOPE_SIGNAL,
    SYS_ADD_RULE,
    SYS_CREATE_RULESET,
    SYS_RESTRICT_SELF,
    PathBeneathAttr,
    RulesetAttr,
    fs_rights,
)
from llm_reward.sandbox.seccomp_rules import CLONE_THREAD, DENIED_SYSCALLS, SIGNAL_SYSCALLS

__all__ = [
    "DENIED_SYSCALLS",
    "FS_EXECUTE",
    "FS_IOCTL_DEV",
    "FS_MAKE_BLOCK",
    "FS_MAKE_CHAR",
    "FS_MAKE_DIR",
    "FS_MAKE_FIFO",
    "FS_MAKE_REG",
    "FS_MAKE_SOCK",
    "FS_MAKE_SYM",
    "FS_READ_DIR",
    "FS_READ_FILE",
    "FS_REFER",
    "FS_REMOVE_DIR",
    "FS_REMOVE_FILE",
    "FS_TRUNCATE",
    "FS_WRITE_FILE",
    "NET_BIND_TCP",
    "NET_CONNECT_TCP",
    "READ_RIGHTS",
    "SCOPE_ABSTRACT_UNIX_SOCKET",
    "SCOPE_SIGNAL",
    "KernelSupport",
    "apply_landlock",
    "apply_seccomp",
    "drop_root",
    "landlock_abi",
    "lock_down",
    "no_new_privs",
    "probe",
    "readable_roots",
    "seccomp_available",
    "set_no_new_privs",
    "set_rlimits",
    "thread_count",
    "unshare_namespaces",
]

# -- Landlock ----------------------------------------------------------------------------------------
# landlock_abi and _seccomp_module are looked up here by apply_landlock, apply_seccomp and lock_down: a test
# replaces them on this module to lock a process down with one mechanism missing.


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 where there is none (not Linux, too old, disabled, filtered)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        libc = load_libc()
        libc.syscall.restype = ctypes.c_long
        v = libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return int(v) if v > 0 else 0


def apply_landlock(read: Iterable[str | os.PathLike[str]], write: Iterable[str | os.PathLike[str]]) -> dict[str, Any]:
    """Restrict this process (and what it starts, though it can start nothing) to reading ``read`` and
    reading and writing ``write``: everything else in the file system is refused, TCP too (ABI 4+), and
    signals and abstract sockets towards processes outside (ABI 6+).

    Call it while the process has a single thread: Landlock binds the calling thread and its future
    children, not threads that already run.

    :returns: what was applied (ABI, the paths, which scopes).
    :raises OSError: Landlock is unavailable or refused the rules.
    """
    abi = landlock_abi()
    if abi < 1:
        raise OSError(errno.ENOSYS, "Landlock is not available on this kernel")
    handled = fs_rights(abi)
    attr = RulesetAttr(handled_access_fs=handled)
    size = 8
    if abi >= 4:
        attr.handled_access_net, size = NET_BIND_TCP | NET_CONNECT_TCP, 16
    if abi >= 6:
        attr.scoped, size = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL, 24
    libc = load_libc()
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"landlock_create_ruleset: {os.strerror(e)}")
    applied: dict[str, Any] = {"abi": abi, "read": [], "write": [], "network": abi >= 4, "scoped_signals": abi >= 6}
    try:
        for paths, rights, key in ((read, READ_RIGHTS, "read"), (write, handled & ~FS_EXECUTE, "write")):
            for p in paths:
                path = str(p)
                try:
                    pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue  # a path this machine lacks (a /lib64 on some systems) grants nothing
                try:
                    allowed = rights if os.path.isdir(path) else rights & FILE_RIGHTS
                    rule = PathBeneathAttr(allowed_access=allowed, parent_fd=pfd)
                    if (
                        libc.syscall(
                            SYS_ADD_RULE,
                            ctypes.c_int(fd),
                            ctypes.c_int(RULE_PATH_BENEATH),
                            ctypes.byref(rule),
                            ctypes.c_uint32(0),
                        )
                        != 0
                    ):
                        e = ctypes.get_errno()
                        raise OSError(e, f"landlock_add_rule({path}): {os.strerror(e)}")
                    applied[key].append(path)
                finally:
                    os.close(pfd)
        set_no_new_privs()
        if libc.syscall(SYS_RESTRICT_SELF, ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"landlock_restrict_self: {os.strerror(e)}")
    finally:
        os.close(fd)
    return applied


# -- seccomp ------------------------------------------------------------------------------------------


def seccomp_available() -> bool:
    return _seccomp_module() is not None


def _seccomp_module() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import pyseccomp
    except (ImportError, OSError, AttributeError, TypeError):  # no libseccomp: the module fails at import
        return None
    return pyseccomp


def apply_seccomp() -> dict[str, Any]:
    """Load the filter: :data:`DENIED_SYSCALLS` fail with EPERM; ``clone`` only makes threads; signals
    reach only this process; syscalls of another ABI (x32, i386 on x86_64) kill the process.

    :raises OSError: seccomp (or libseccomp) is unavailable.
    """
    sc = _seccomp_module()
    if sc is None:
        raise OSError(errno.ENOSYS, "seccomp is unavailable (needs Linux, libseccomp and the pyseccomp package)")
    deny = sc.ERRNO(errno.EPERM)
    f = sc.SyscallFilter(sc.ALLOW)
    f.set_attr(sc.Attr.CTL_TSYNC, 1)  # every thread, not just the caller
    f.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    skipped = []
    for name in DENIED_SYSCALLS:
        try:
            f.add_rule(deny, name)
        except (OSError, ValueError, RuntimeError):
            skipped.append(name)  # not a syscall on this architecture
    f.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))  # a new process, not a thread
    try:
        f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # its flags sit behind a pointer; libcs fall back to clone
    except (OSError, ValueError, RuntimeError):
        skipped.append("clone3")
    pid = os.getpid()
    for name in SIGNAL_SYSCALLS:
        try:
            if name == "pidfd_send_signal":
                f.add_rule(deny, name)
            else:
                f.add_rule(deny, name, sc.Arg(0, sc.NE, pid, 0))  # to itself (raise, abort) only
        except (OSError, ValueError, RuntimeError):
            skipped.append(name)
    f.load()
    return {"denied": len(DENIED_SYSCALLS) + len(SIGNAL_SYSCALLS) + 2 - len(skipped), "arch": platform.machine()}


# -- the whole lock-down -------------------------------------------------------------------------------


def readable_roots() -> list[str]:
    """What untrusted reward code may read: the interpreter's installation, every ``sys.path`` entry that is
    a package directory (site-packages, the lab's own packages, resolved one by one so a project checkout's
    other files stay closed), the system's shared libraries and the dynamic loader's cache."""
    roots: set[str] = set()
    for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        roots.add(os.path.realpath(p))
    import site

    for p in [*site.getsitepackages(), site.getusersitepackages()]:
        roots.add(os.path.realpath(p))
    here = Path(__file__).resolve().parents[2]  # the directory that holds the lab's packages
    for pkg in ("rewardlab", "envs", "agents", "llm_reward"):
        if (here / pkg).is_dir():
            roots.add(str(here / pkg))
    for p in (
        "/usr/lib",
        "/usr/lib64",
        "/lib",
        "/lib64",
        "/usr/local/lib",
        "/etc/ld.so.cache",
        "/dev/urandom",
        "/dev/random",
        "/dev/zero",
    ):
        if os.path.exists(p):
            roots.add(os.path.realpath(p))
    return sorted(roots)


@dataclass(frozen=True)
class KernelSupport:
    """What this machine offers (:func:`probe`)."""

    platform: str
    landlock_abi: int
    seccomp: bool
    root: bool

    @property
    def sufficient(self) -> bool:
        """Landlock and seccomp both work: the guarantees of the kernel sandbox hold."""
        return self.landlock_abi >= 1 and self.seccomp

    def missing(self) -> list[str]:
        out = []
        if self.landlock_abi < 1:
            out.append("Landlock (Linux >= 5.13 with the landlock LSM enabled)")
        if not self.seccomp:
            out.append("seccomp through libseccomp (`pip install pyseccomp`, libseccomp2)")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sufficient": self.sufficient}


def probe() -> KernelSupport:
    """What isolation this machine offers; changes nothing."""
    return KernelSupport(
        sys.platform, landlock_abi(), seccomp_available(), hasattr(os, "geteuid") and os.geteuid() == 0
    )


def lock_down(scratch: str | os.PathLike[str], *, address_space: int | None, require_kernel: bool) -> dict[str, Any]:
    """Isolate this process for good. Order matters: namespaces and rlimits need the privileges that the
    drop to ``nobody`` removes; Landlock and seccomp come last, so the process sets them up itself.

    :param scratch: the only writable directory.
    :param address_space: RLIMIT_AS in bytes, or None to leave it.
    :param require_kernel: raise instead of carrying on when Landlock or seccomp cannot be applied.
    :returns: the guarantees that now hold, for the run's record.
    :raises OSError: a required layer failed (the caller reports it and must not run the code).
    """
    iso: dict[str, Any] = {"platform": sys.platform}
    _seccomp_module()  # libseccomp is found with a subprocess (ldconfig): before anything is restricted
    if thread_count() != 1:
        raise OSError(errno.EBUSY, f"the sandbox process has {thread_count()} threads; Landlock needs one")
    iso.update(unshare_namespaces())
    iso["rlimits"] = set_rlimits(address_space)
    try:
        iso["landlock"] = apply_landlock(readable_roots(), [os.path.realpath(scratch), "/dev/null"])
    except OSError as e:
        if require_kernel:
            raise
        iso["landlock"] = f"unavailable: {e}"
    # with Landlock, root in its own user namespace can open nothing it was not granted; without it,
    # root becomes nobody so that ownership at least keeps it from other users' files
    root_without_userns = os.geteuid() == 0 and not iso["user_namespace"]
    iso["user"] = drop_root() if root_without_userns or not isinstance(iso["landlock"], dict) else str(os.geteuid())
    try:
        iso["seccomp"] = apply_seccomp()
    except OSError as e:
        if require_kernel:
            raise
        iso["seccomp"] = f"unavailable: {e}"
    if not no_new_privs():
        set_no_new_privs()
    iso["no_new_privs"] = no_new_privs()
    iso["kernel"] = isinstance(iso["landlock"], dict) and isinstance(iso["seccomp"], dict)
    return iso
