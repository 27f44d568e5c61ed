"""The confinement of the sandbox process besides Landlock and seccomp: no_new_privs, namespaces, rlimits and
identity, and the thread count Landlock's binding needs (one). :func:`llm_reward.sandbox.kernel.lock_down`
applies them in order.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

_PR_SET_NO_NEW_PRIVS = 38
_PR_GET_NO_NEW_PRIVS = 39


def load_libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def set_no_new_privs() -> None:
    libc = load_libc()
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(e)}")


def no_new_privs() -> bool:
    try:
        return bool(load_libc().prctl(_PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1)
    except (OSError, AttributeError):
        return False


# -- namespaces, rlimits, identity ---------------------------------------------------------------------

_CLONE_NEWUSER, _CLONE_NEWNET, _CLONE_NEWIPC = 0x10000000, 0x40000000, 0x08000000


def unshare_namespaces() -> dict[str, bool]:
    """New user, network (no interfaces) and IPC namespaces, for root too: in a user namespace of its own,
    root keeps its uid for ownership checks but holds no capability over the machine's files, processes
    or network. Best effort: what the kernel refuses is reported False (Landlock and seccomp still hold)."""
    if not sys.platform.startswith("linux"):
        return {"user_namespace": False, "network_namespace": False, "ipc_namespace": False}
    libc = load_libc()
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
