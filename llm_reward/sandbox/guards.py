"""The Python layer of the sandbox: the restricted namespace candidate code runs in, the runtime guards
that name what it tried, and the helpers that turn its failures into short messages.

None of this is the security boundary (the kernel layer, :mod:`llm_reward.sandbox.kernel`, is); it is what
makes rejections explain themselves, and it is what training with ``llm-inproc:`` gets.
"""

from __future__ import annotations

import builtins
import os
import signal
from collections.abc import Callable
from typing import Any

from llm_reward.code import FORBIDDEN_BUILTINS, check_attribute, check_import, is_dunder

CANDIDATE_FILENAME = "<reward_candidate>"
# the line the worker writes to stderr, before any candidate code runs: its own peak RSS (VmHWM) in KiB, then
# MAXRSS_FIELD and its ru_maxrss (which also counts the process that exec'd it) in KiB
RSS_MARK = "rewardlab-sandbox: loaded rss_kib="
MAXRSS_FIELD = "maxrss_kib="


class SandboxViolation(BaseException):
    """Raised by the runtime guards; a BaseException so ``except Exception`` does not swallow it."""

    def __init__(self, label: str, message: str) -> None:
        super().__init__(message)
        self.label = label


class Fail(Exception):
    """A labelled failure of the candidate."""

    def __init__(self, label: str, message: str, tb: str = "") -> None:
        super().__init__(message)
        self.label, self.tb = label, tb


_SAFE_BUILTIN_NAMES = (
    "abs",
    "all",
    "any",
    "ascii",
    "bin",
    "bool",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "complex",
    "dict",
    "divmod",
    "enumerate",
    "filter",
    "float",
    "format",
    "frozenset",
    "hasattr",
    "hash",
    "hex",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "list",
    "map",
    "max",
    "min",
    "next",
    "oct",
    "ord",
    "pow",
    "property",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "zip",
    "NotImplemented",
    "Ellipsis",
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "Exception",
    "FloatingPointError",
    "IndexError",
    "KeyError",
    "LookupError",
    "NameError",
    "NotImplementedError",
    "OverflowError",
    "RuntimeError",
    "StopIteration",
    "TypeError",
    "ValueError",
    "ZeroDivisionError",
)


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


def exec_candidate(source: str, builtins_dict: dict[str, Any]) -> dict[str, Any]:
    import linecache

    lines = source.splitlines(keepends=True)
    linecache.cache[CANDIDATE_FILENAME] = (len(source), None, lines, CANDIDATE_FILENAME)
    namespace: dict[str, Any] = {"__builtins__": builtins_dict, "__name__": "reward_candidate"}
    exec(compile(source, CANDIDATE_FILENAME, "exec"), namespace)
    return namespace


def install_guards(violation: Callable[[str, str], BaseException]) -> None:
    """Python-level guards: a second layer that names what the candidate tried (the kernel refuses it
    regardless). Opening files for writing, deleting or renaming them, starting processes or threads,
    sockets and signal handlers raise ``violation(label, message)``."""
    import _io
    import _thread
    import io
    import socket
    import subprocess as sp
    import threading

    def deny(label: str, what: str) -> Callable[..., Any]:
        def denied(*args: Any, **kwargs: Any) -> Any:
            raise violation(label, f"{what} is not allowed in reward code")

        return denied

    # reading stays possible: numpy and torch import modules lazily (through _io.open) and read
    # data files; anything that could create, change or delete a file is refused
    real_open, real_fileio, real_os_open = _io.open, _io.FileIO, os.open
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if not isinstance(mode, str) or set(mode) & set("wax+"):
            raise violation("file_write", f"opening {file!r} for writing is not allowed in reward code")
        return real_open(file, mode, *args, **kwargs)

    def guarded_fileio(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if not isinstance(mode, str) or set(mode) & set("wax+"):
            raise violation("file_write", f"opening {file!r} for writing is not allowed in reward code")
        return real_fileio(file, mode, *args, **kwargs)

    def guarded_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> Any:
        if flags & write_flags:
            raise violation("file_write", f"os.open({path!r}) for writing is not allowed in reward code")
        return real_os_open(path, flags, *args, **kwargs)

    for mod in (builtins, io, _io):
        mod.open = guarded_open  # type: ignore[attr-defined]
    for mod in (io, _io):
        mod.FileIO = guarded_fileio  # type: ignore[attr-defined]
    os.open = guarded_os_open
    for name in (
        "remove",
        "unlink",
        "rmdir",
        "mkdir",
        "makedirs",
        "rename",
        "renames",
        "replace",
        "truncate",
        "chmod",
        "chown",
        "lchown",
        "symlink",
        "link",
        "utime",
        "mkfifo",
        "mknod",
        "removedirs",
    ):
        if hasattr(os, name):
            setattr(os, name, deny("file_write", f"os.{name}"))
    for name in (
        "fork",
        "forkpty",
        "system",
        "popen",
        "execv",
        "execve",
        "execl",
        "execle",
        "execlp",
        "execlpe",
        "execvp",
        "execvpe",
        "spawnl",
        "spawnle",
        "spawnlp",
        "spawnlpe",
        "spawnv",
        "spawnve",
        "spawnvp",
        "spawnvpe",
        "posix_spawn",
        "posix_spawnp",
        "setsid",
        "setpgid",
    ):
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


def short(text: str, n: int = 300) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def candidate_line(frame: Any) -> str:
    while frame is not None:
        if frame.f_code.co_filename == CANDIDATE_FILENAME:
            return f" (at line {frame.f_lineno}, in {frame.f_code.co_name})"
        frame = frame.f_back
    return ""


def candidate_line_tb(tb: Any) -> str:
    last = ""
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == CANDIDATE_FILENAME:
            last = f" (line {tb.tb_lineno}, in {tb.tb_frame.f_code.co_name})"
        tb = tb.tb_next
    return last


def trim_traceback(e: BaseException, max_frames: int = 4) -> str:
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
    return short("\n".join(lines), 2000)
