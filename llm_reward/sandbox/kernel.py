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
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# -- Landlock (include/uapi/linux/landlock.h) -------------------------------------------------------

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # the same on every architecture
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_GET_NO_NEW_PRIVS = 39

FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REMOVE_DIR, FS_REMOVE_FILE, FS_MAKE_CHAR, FS_MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
FS_MAKE_REG, FS_MAKE_SOCK, FS_MAKE_FIFO, FS_MAKE_BLOCK = 1 << 8, 1 << 9, 1 << 10, 1 << 11
FS_MAKE_SYM, FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 12, 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV  # valid on a file rule


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 where there is none (not Linux, too old, disabled, filtered)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        libc = _libc()
        libc.syscall.restype = ctypes.c_long
        v = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return int(v) if v > 0 else 0


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


READ_RIGHTS = FS_READ_FILE | FS_READ_DIR


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
    handled = _fs_rights(abi)
    attr = _RulesetAttr(handled_access_fs=handled)
    size = 8
    if abi >= 4:
        attr.handled_access_net, size = NET_BIND_TCP | NET_CONNECT_TCP, 16
    if abi >= 6:
        attr.scoped, size = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL, 24
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
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
                    allowed = rights if os.path.isdir(path) else rights & _FILE_RIGHTS
                    rule = _PathBeneathAttr(allowed_access=allowed, parent_fd=pfd)
                    if (
                        libc.syscall(
                            _SYS_ADD_RULE,
                            ctypes.c_int(fd),
                            ctypes.c_int(_RULE_PATH_BENEATH),
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
        if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"landlock_restrict_self: {os.strerror(e)}")
    finally:
        os.close(fd)
    return applied


def set_no_new_privs() -> None:
    libc = _libc()
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(e)}")


def no_new_privs() -> bool:
    try:
        return bool(_libc().prctl(_PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1)
    except (OSError, AttributeError):
        return False


# -- seccomp ------------------------------------------------------------------------------------------

#: syscalls refused with EPERM. Landlock handles paths; these are what paths do not cover.
DENIED_SYSCALLS: tuple[str, ...] = (
    # new programs and processes (clone with CLONE_THREAD stays allowed below; clone3 is refused with ENOSYS)
    "execve",
    "execveat",
    "fork",
    "vfork",
    # network and local sockets
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    # other processes' memory and debugging
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "kcmp",
    "pidfd_open",
    "pidfd_getfd",
    "move_pages",
    "migrate_pages",
    # IPC that crosses the sandbox's walls
    "shmget",
    "shmat",
    "shmctl",
    "shmdt",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "semget",
    "semop",
    "semctl",
    "semtimedop",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
    # kernel interfaces no reward needs (io_uring performs file operations outside these checks)
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "fanotify_init",
    "keyctl",
    "add_key",
    "request_key",
    "lookup_dcookie",
    "quotactl",
    "syslog",
    "acct",
    "personality",
    "uselib",
    "ioperm",
    "iopl",
    "modify_ldt",
    "vhangup",
    # the process's own confinement
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    # identity and privileges
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setgroups",
    "setfsuid",
    "setfsgid",
    "capset",
    # file metadata that Landlock does not cover
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "utime",
    "utimes",
    "utimensat",
    "futimesat",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "mknod",
    "mknodat",
    "name_to_handle_at",
    "open_by_handle_at",
    # the machine
    "reboot",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "swapon",
    "swapoff",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
)

_SIGNAL_SYSCALLS = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_send_signal")
_CLONE_THREAD = 0x00010000


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
    f.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, 0))  # a new process, not a thread
    try:
        f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # its flags sit behind a pointer; libcs fall back to clone
    except (OSError, ValueError, RuntimeError):
        skipped.append("clone3")
    pid = os.getpid()
    for name in _SIGNAL_SYSCALLS:
        try:
            if name == "pidfd_send_signal":
                f.add_rule(deny, name)
            else:
                f.add_rule(deny, name, sc.Arg(0, sc.NE, pid, 0))  # to itself (raise, abort) only
        except (OSError, ValueError, RuntimeError):
            skipped.append(name)
    f.load()
    return {"denied": len(DENIED_SYSCALLS) + len(_SIGNAL_SYSCALLS) + 2 - len(skipped), "arch": platform.machine()}


# -- namespaces, rlimits, identity ---------------------------------------------------------------------

_CLONE_NEWUSER, _CLONE_NEWNET, _CLONE_NEWIPC = 0x10000000, 0x40000000, 0x08000000


def unshare_namespaces() -> dict[str, bool]:
    """New user, network (no interfaces) and IPC namespaces, for root too: in a user namespace of its own,
    root keeps its uid for ownership checks but holds no capability over the machine's files, processes
    or network. Best effort: what the kernel refuses is reported False (Landlock and seccomp still hold)."""
    if not sys.platform.startswith("linux"):
        return {"user_namespace": False, "network_namespace": False, "ipc_namespace": False}
    libc = _libc()
    for flags in (_CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWIPC, _CLONE_NEWNET | _CLONE_NEWIPC, _CLONE_NEWNET):
        if libc.unshare(flags) == 0:
            return {
                "user_namespace": bool(flags & _CLONE_NEWUSER),
                "network_namespace": True,
                "ipc_namespace": bool(flags & _CLONE_NEWIPC),
            }
    return {"user_namespace": False, "network_namespace": False, "ipc_namespace": False}


def set_rlimits(address_space: int | None) -> list[str]:
    import resource

    done = []
    if address_space is not None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        done.append(f"as={address_space >> 20}MiB")
    for name, lim in (("RLIMIT_FSIZE", 0), ("RLIMIT_CORE", 0), ("RLIMIT_NPROC", 0)):
        resource.setrlimit(getattr(resource, name), (lim, lim))
        done.append(f"{name[7:].lower()}=0")
    return done


def drop_root() -> str:
    """As root, become ``nobody`` (uid/gid 65534, no groups): RLIMIT_NPROC binds again and no file of
    another user is writable even if every other layer failed. As anyone else, stay."""
    if os.geteuid() != 0:
        return str(os.geteuid())
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    return "nobody"


def thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


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
        return {
            "platform": self.platform,
            "landlock_abi": self.landlock_abi,
            "seccomp": self.seccomp,
            "root": self.root,
            "sufficient": self.sufficient,
        }


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
