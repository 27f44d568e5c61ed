"""``rewardlab tasks``, ``rewards`` and ``agents``: what the lab has to offer, as tables."""

from __future__ import annotations

import argparse

from rich.markup import escape
from rich.table import Table

from rewardlab.cli.commands import CLIError, Command, console

FAMILY_ORDER = {"classic": 0, "mujoco": 1, "minigrid": 2, "behaviour": 3}


def cmd_tasks(args: argparse.Namespace) -> int:
    import envs

    tasks = sorted(envs.list_tasks(args.family), key=lambda t: FAMILY_ORDER.get(t.family, 9))
    if not tasks:
        families = sorted({t.family for t in envs.list_tasks()})
        raise CLIError(f"no tasks in family {args.family!r}; families: {', '.join(families)}")
    table = Table(title="rewardlab tasks", show_lines=False)
    table.add_column("task", no_wrap=True)
    table.add_column("family")
    table.add_column("fitness", overflow="fold")
    table.add_column("success if >=", justify="right")
    table.add_column("rewards")
    for t in tasks:
        table.add_row(
            t.id,
            t.family,
            escape(f"{t.fitness.description} [{t.fitness.unit}]"),
            f"{t.fitness.threshold:.4g}",
            ", ".join(t.reward_names),
        )
    console.print(table)
    return 0


def cmd_rewards(args: argparse.Namespace) -> int:
    from envs import get_task
    from rewardlab.rewards.registry import available_rewards, named_reward

    task = get_task(args.task)
    table = Table(title=f"rewards for {task.id}")
    table.add_column("name")
    table.add_column("description", overflow="fold")
    for name in available_rewards(task):
        table.add_row(name, escape(named_reward(name, task).describe()))
    console.print(table)
    console.print(
        "Also: a file 'my_reward.py[:function]' and expressions such as 'sparse + 0.1*hand', 'norm(hand)', "
        "'clip(hand, -1, 1)'."
    )
    return 0


def cmd_agents(args: argparse.Namespace) -> int:
    from rewardlab.experiment.agents import agent_names, get_backend, resolve_agent

    table = Table(title="agents" + (f" for {args.task}" if args.task else ""))
    table.add_column("agent")
    table.add_column("backend")
    table.add_column("actions")
    table.add_column("preset source", overflow="fold")
    table.add_column("n_envs")
    task = env = None
    if args.task:
        from envs import get_task

        task = get_task(args.task)
        env = task.make_env()
    for name in agent_names():
        try:
            d = get_backend(name).describe(name)
        except ValueError as e:  # a registered backend that cannot load here
            table.add_row(name, "-", "-", f"[dim]unavailable: {escape(str(e))}[/dim]", "-")
            continue
        if task is not None and env is not None:
            try:
                spec = resolve_agent(name, task, [], action_space=env.action_space)
                table.add_row(name, d.get("backend", "-"), d.get("actions", "-"), spec.source, str(spec.n_envs))
            except ValueError as e:
                table.add_row(
                    name,
                    d.get("backend", "-"),
                    d.get("actions", "-"),
                    f"[dim]not for this task: {escape(str(e))}[/dim]",
                    "-",
                )
        else:
            table.add_row(name, d.get("backend", "-"), d.get("actions", "-"), d.get("policy", "-"), "-")
    if env is not None:
        env.close()
    console.print(table)
    return 0


def _tasks_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--family", default=None, help="classic, mujoco, minigrid or behaviour")


def _rewards_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task")


def _agents_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default=None)


COMMANDS = (
    Command("tasks", "list tasks with fitness and success threshold", _tasks_arguments, cmd_tasks),
    Command("rewards", "rewards available for a task", _rewards_arguments, cmd_rewards),
    Command("agents", "agents and their preset sources", _agents_arguments, cmd_agents),
)
