"""What a ``rewardlab`` subcommand is: the lab's own commands and those other packages add (``llm_reward``'s
search, rank and replay) meet this one interface, print through the same consoles and fail the same way."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console

# Piped output (logs, CI) gets a wide fixed width instead of rich's 80-column default.
console = Console() if sys.stdout.isatty() else Console(width=160)
err_console = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=160)


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


@dataclass(frozen=True)
class Command:
    """One subcommand.

    :param name: what the user types (``rewardlab NAME``).
    :param help: its line in ``rewardlab --help``.
    :param arguments: declares its arguments on the subparser.
    :param run: does the work with the parsed arguments; returns the exit code. Raises :class:`CLIError` (or
        another of the lab's user errors) for bad input.
    """

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def num(x: Any) -> str:
    """A number for a table or a log line, 3 significant digits; ``-`` for None."""
    return "-" if x is None else f"{x:.3g}"
