"""What reward code may import and touch: the allow and deny tables shared by the static check
(:mod:`llm_reward.code.checker`) and the runtime guards (:mod:`llm_reward.sandbox.guards`), the
per-import check, and :class:`Issue`, one finding."""

from __future__ import annotations

from dataclasses import dataclass

ALLOWED_MODULES = frozenset({"math", "numpy", "torch"})
"""Top-level modules reward code may import (with their public submodules)."""

DENIED_SUBMODULES = frozenset(
    {
        "numpy.ctypeslib",
        "numpy.f2py",
        "numpy.distutils",
        "numpy.testing",
        "numpy.lib.npyio",
        "numpy.lib.format",
        "torch.utils",
        "torch.multiprocessing",
        "torch.distributed",
        "torch.hub",
        "torch.package",
        "torch.ops",
        "torch.classes",
        "torch.library",
        "torch.backends",
        "torch.cuda",
        "torch.compiler",
        "torch.serialization",
    }
)
"""Submodules of allowed packages that reach files, processes, native code or devices."""

FORBIDDEN_MODULES = frozenset(
    {
        "os", "sys", "subprocess", "socket", "shutil", "pathlib", "ctypes", "multiprocessing",
        "threading", "_thread", "importlib", "pickle", "marshal", "shelve", "builtins", "io",
        "signal", "resource", "mmap", "gc", "inspect", "tempfile", "glob", "time", "asyncio",
        "select", "selectors", "fcntl", "pty", "posix", "faulthandler", "urllib", "http",
        "requests", "ssl", "code", "codeop", "runpy", "platform", "concurrent", "sched",
        "ftplib", "smtplib", "telnetlib", "webbrowser", "zipfile", "tarfile", "sqlite3",
    }
)  # fmt: skip
"""Modules named in error messages as file/network/process/interpreter access."""

# attribute names that reach one of those modules through another object (np._core...os);
# flagged wherever they appear
FORBIDDEN_MODULE_ATTRS = frozenset(
    {
        "os", "sys", "subprocess", "socket", "shutil", "pathlib", "ctypes", "ctypeslib",
        "multiprocessing", "threading", "importlib", "pickle", "marshal", "builtins", "signal",
        "resource", "mmap", "gc", "inspect", "tempfile", "faulthandler", "f2py", "distutils",
        "npyio", "stride_tricks", "as_strided",
    }
)  # fmt: skip
# submodule names of numpy/torch that are only flagged on a module (``torch.utils``), since a
# state-view field could share the name
FORBIDDEN_SUBMODULE_ATTRS = frozenset(
    {"testing", "hub", "distributed", "package", "ops", "classes", "library", "utils", "serialization", "compiler"}
)

FORBIDDEN_BUILTINS = {
    "open": "reward code must not touch files",
    "exec": "reward code must not run generated code",
    "eval": "reward code must not run generated code",
    "compile": "reward code must not compile code",
    "__import__": "import only math, numpy and torch with import statements",
    "globals": "reward code must not reach interpreter state",
    "locals": "reward code must not reach interpreter state",
    "vars": "reward code must not reach interpreter state",
    "setattr": "reward code must not modify objects it did not create",
    "delattr": "reward code must not modify objects it did not create",
    "input": "reward code runs without a terminal",
    "breakpoint": "reward code runs without a debugger",
    "help": "reward code runs without a terminal",
    "exit": "reward code must return, not exit",
    "quit": "reward code must return, not exit",
    "memoryview": "reward code must not reach raw memory",
    "type": "use isinstance() instead",
    "object": "reward code must not reach the class hierarchy",
}
"""Builtin names reward code may not use, with the reason given in messages."""

# methods and functions that read or write files, start processes or load native code
FORBIDDEN_CALL_ATTRS = {
    **dict.fromkeys(
        ("save", "savez", "savez_compressed", "savetxt", "tofile", "dump", "dumps", "memmap",
         "open_memmap", "write_text", "write_bytes", "touch", "mkdir", "makedirs", "rmdir",
         "rmtree", "unlink", "chmod", "chown", "symlink", "truncate"),
        "reward code must not write files",
    ),
    **dict.fromkeys(
        ("load", "loads", "loadtxt", "genfromtxt", "fromfile", "fromregex", "DataSource",
         "from_file", "load_library", "read_text", "read_bytes"),
        "reward code must not read files",
    ),
    **dict.fromkeys(
        ("system", "popen", "fork", "forkpty", "spawnl", "spawnv", "spawnlp", "spawnvp",
         "execv", "execve", "execl", "execlp", "execvp", "posix_spawn", "kill", "killpg",
         "setrlimit", "setsid", "setuid", "setrecursionlimit", "set_num_threads",
         "set_num_interop_threads", "set_default_device", "compile"),
        "reward code must not start processes or change interpreter settings",
    ),
}  # fmt: skip

MAX_SOURCE_CHARS = 64_000


@dataclass(frozen=True)
class Issue:
    """One static-check finding.

    :param label: stable short string (``forbidden_import``, ``dunder_access``...).
    :param message: what is wrong and what to do instead, for people and for the LLM.
    :param lineno: 1-based line in the checked source, when known.
    """

    label: str
    message: str
    lineno: int | None = None

    def __str__(self) -> str:
        where = f"line {self.lineno}: " if self.lineno else ""
        return f"[{self.label}] {where}{self.message}"


def is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def check_import(name: str, allow_private: bool = False) -> str | None:
    """Why importing module ``name`` is not allowed, or None.

    :param allow_private: admit private submodules of the allowed packages. The runtime
        importer does: numpy and torch import their own private modules from C
        (``ndarray.sum`` imports ``numpy._core._methods``), and such imports go through the
        ``__import__`` of the calling frame, the candidate's.
    """
    root = name.split(".")[0]
    if root not in ALLOWED_MODULES:
        what = "file, network or process access" if root in FORBIDDEN_MODULES else "a module outside the allow-list"
        return f"import of {name!r} is not allowed ({what}); reward code may import only math, numpy (as np) and torch"
    parts = name.split(".")
    for i in range(2, len(parts) + 1):
        if ".".join(parts[:i]) in DENIED_SUBMODULES:
            return f"import of {name!r} is not allowed: it reaches files, processes or native code"
    if not allow_private and any(p.startswith("_") for p in parts[1:]):
        return f"import of private module {name!r} is not allowed"
    return None


# builtins flagged even when the source binds the same name (no reward needs to shadow them)
_ALWAYS_FLAGGED = frozenset(
    {"exec", "eval", "compile", "__import__", "globals", "locals", "setattr", "delattr", "memoryview", "breakpoint"}
)


__all__ = [
    "ALLOWED_MODULES",
    "DENIED_SUBMODULES",
    "FORBIDDEN_BUILTINS",
    "FORBIDDEN_CALL_ATTRS",
    "FORBIDDEN_MODULES",
    "FORBIDDEN_MODULE_ATTRS",
    "FORBIDDEN_SUBMODULE_ATTRS",
    "MAX_SOURCE_CHARS",
    "Issue",
    "check_import",
    "is_dunder",
]
