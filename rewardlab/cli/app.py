"""The ``rewardlab`` parser and entry point: the lab's commands, and those other packages add through
:data:`PLUGINS`, in the order :data:`HELP_ORDER` lists them."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from rich.markup import escape

from rewardlab.cli import bench, experiments, listing, runs
from rewardlab.cli.commands import CLIError, Command, err_console

#: Packages that add commands, as ``"module:function"``; the function returns its :class:`Command` objects. They are
#: imported when the parser is built, never when ``rewardlab`` is: the core reaches them only by name.
PLUGINS: tuple[str, ...] = ("llm_reward.cli:commands",)

#: The order ``rewardlab --help`` lists commands in; a command not named here follows, in the order it was found.
HELP_ORDER = (
    "tasks",
    "rewards",
    "agents",
    "run",
    "demo",
    "suites",
    "compare",
    "report",
    "distance",
    "search",
    "rank",
    "video",
    "replay",
    "random",
    "bench",
    "show",
)


def commands() -> list[Command]:
    """Every command: the lab's own and the plugins', in help order; two commands of one name are an error."""
    found = [*listing.COMMANDS, *runs.COMMANDS, *experiments.COMMANDS, *bench.COMMANDS]
    for ref in PLUGINS:
        module, _, fn = ref.partition(":")
        found += getattr(importlib.import_module(module), fn)()
    names = [c.name for c in found]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise RuntimeError(f"commands registered twice: {dupes}")
    rank = {name: i for i, name in enumerate(HELP_ORDER)}
    return sorted(found, key=lambda c: rank.get(c.name, len(rank)))  # stable: unnamed ones keep their order


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rewardlab", description="A lab for designing reward functions for RL.")
    sub = p.add_subparsers(dest="command", required=True)
    for c in commands():
        cp = sub.add_parser(c.name, help=c.help)
        c.arguments(cp)
        cp.set_defaults(fn=c.run)
    return p


def _user_errors() -> tuple[type[BaseException], ...]:
    from envs.registry import UnknownTaskError
    from rewardlab.experiment.grid import GridSpecError
    from rewardlab.experiment.store import RunExistsError, RunStoreError
    from rewardlab.rewards.base import RewardError
    from rewardlab.rewards.registry import RewardSpecError

    return (
        CLIError,
        UnknownTaskError,
        RewardSpecError,
        RewardError,
        RunExistsError,
        RunStoreError,
        GridSpecError,
        ValueError,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except _user_errors() as e:
        err_console.print(f"[bold red]error:[/bold red] {escape(str(e))}", highlight=False)
        return 2
