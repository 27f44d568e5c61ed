"""``rewardlab run``, ``demo``, ``show``, ``random`` and ``video``: one run (or a few) and what it reached."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.table import Table

from rewardlab.cli.commands import CLIError, Command, console, err_console, num

DEMO_TASK = "MountainCar-v0"
DEMO_REWARDS = ("sparse", "env", "hand")


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs-dir", default=None, help="root of run directories (default: $REWARDLAB_RUNS or ./runs)")
    p.add_argument("--device", default="auto", help="torch device for the agent: auto, cpu, cuda, cuda:1 ...")
    p.add_argument("--overwrite", action="store_true", help="replace a finished run with the same id")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def cmd_run(args: argparse.Namespace) -> int:
    from rewardlab.experiment.runner import RunConfig, run_config

    cfg = RunConfig(
        task=args.task,
        reward=args.reward,
        agent=args.agent,
        steps=args.steps,
        seed=args.seed,
        experiment=args.experiment,
        run_id=args.run_id,
        hp=args.hp or [],
        n_eval_episodes=args.eval_episodes,
        eval_every=args.eval_every,
        device=args.device,
        vec=args.vec,
        simulator=args.simulator,
    )
    res = run_config(cfg, runs_dir=args.runs_dir, progress=not args.no_progress, overwrite=args.overwrite)
    if res.status == "interrupted":
        err_console.print(f"interrupted: checkpoint saved in {res.path}; run the same command again to resume")
        return 130
    s = res.summary
    console.print(
        f"[bold]{s['task']}[/bold] reward={s['reward']} agent={s['agent']} seed={s['seed']}: "
        f"fitness {s['fitness_mean']:.4g} [{s['fitness_ci95'][0]:.4g}, {s['fitness_ci95'][1]:.4g}] {s['fitness_unit']}, "
        f"success {s['success_rate']:.0%} over {s['eval_episodes']} eval episodes; "
        f"{s['steps']} steps at {s['steps_per_second']:.0f} steps/s"
    )
    console.print(f"run directory: {res.path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """MountainCar-v0: sparse vs env vs hand-shaped reward, PPO, a few seeds."""
    from rewardlab.experiment.runner import RunConfig, run_config
    from rewardlab.experiment.store import RunDir, runs_root

    results: dict[str, list[dict[str, Any]]] = {}
    rewards = args.rewards.split(",") if args.rewards else list(DEMO_REWARDS)
    seeds = list(range(args.seeds))
    console.print(
        f"[bold]rewardlab demo[/bold]: {args.task}, PPO, rewards {rewards}, seeds {seeds}, "
        f"{args.steps or 'default'} steps each. Fitness = {args.task} task's true success measure."
    )
    for r in rewards:
        for seed in seeds:
            cfg = RunConfig(
                task=args.task, reward=r, agent="ppo", steps=args.steps, seed=seed, experiment=args.experiment
            )
            path = runs_root(args.runs_dir) / cfg.experiment / cfg.default_run_id()
            st = RunDir(path).status()
            if st is not None and st["state"] == "done":
                console.print(f"  {cfg.default_run_id()}: done earlier, reusing")
                summary = RunDir(path).summary() or {}
            else:
                res = run_config(cfg, runs_dir=args.runs_dir, progress=not args.no_progress)
                if res.status == "interrupted":
                    err_console.print("interrupted; run `rewardlab demo` again to resume")
                    return 130
                summary = res.summary
                console.print(
                    f"  {cfg.default_run_id()}: fitness {summary['fitness_mean']:.3g}, "
                    f"success {summary['success_rate']:.0%}, {summary['wall_time_s']:.0f} s"
                )
            summary = {**summary, "steps_to_success": _steps_to_success(path)}
            results.setdefault(r, []).append(summary)
    _print_table(results, args.task)
    console.print(f"runs written under {runs_root(args.runs_dir) / args.experiment}")
    return 0


def _steps_to_success(path: Path, level: float = 0.9) -> int | None:
    """First logged training step at which the success rate of the last training episodes reached ``level``."""
    from rewardlab.analysis.aggregate import steps_to_success

    return steps_to_success(path, level)


def _print_table(results: dict[str, list[dict[str, Any]]], task: str) -> None:
    import numpy as np

    from rewardlab.analysis.stats import mean_ci

    table = Table(title=f"{task}: final fitness by reward (deterministic eval, separate seeds)")
    for col in (
        "reward",
        "seeds",
        "fitness mean",
        "95% CI",
        "success rate",
        "steps to 90% success*",
        "budget",
        "steps/s",
    ):
        table.add_column(col)
    for r, sums in results.items():
        fits = np.array([s["fitness_mean"] for s in sums])
        succ = np.array([s["success_rate"] for s in sums])
        lo, hi = mean_ci(fits)
        table.add_row(
            r,
            str(len(sums)),
            f"{fits.mean():.3g}",
            f"[{lo:.3g}, {hi:.3g}]",
            f"{succ.mean():.0%}",
            _median_steps([s.get("steps_to_success") for s in sums]),
            str(sums[0]["steps"]),
            f"{np.mean([s['steps_per_second'] for s in sums]):.0f}",
        )
    console.print(table)
    from rewardlab.analysis.stats import steps_to_level_rule

    console.print(f"* median over seeds of the {steps_to_level_rule('90% success')} ('never' if not all seeds did)")


def _median_steps(vals: list[int | None]) -> str:
    import numpy as np

    reached = [v for v in vals if v is not None]
    if not vals or len(reached) < len(vals):
        return f"never ({len(reached)}/{len(vals)} seeds)" if reached else "never"
    return f"{int(np.median(reached)):,}"


def cmd_show(args: argparse.Namespace) -> int:
    from rewardlab.experiment.store import RunDir

    rd = RunDir(args.run_dir)
    st = rd.status()
    if st is None:
        raise CLIError(f"{args.run_dir} is not a run directory (no status.json)")
    console.print(f"status: {st['state']}" + (f" ({st.get('error')})" if st.get("error") else ""))
    summary = rd.summary()
    if summary:
        console.print_json(json.dumps(summary))
    return 0


def cmd_random(args: argparse.Namespace) -> int:
    from envs import get_task
    from rewardlab.analysis.stats import mean_ci
    from rewardlab.experiment.evaluate import random_baseline

    task = get_task(args.task)
    res = random_baseline(task, args.episodes, args.seed)
    fit = res["fitness"]
    lo, hi = mean_ci(fit)
    console.print(
        f"{task.id} uniform random policy: fitness {fit.mean():.4g} [{lo:.4g}, {hi:.4g}] {task.fitness.unit}, "
        f"success {res['success'].mean():.0%}, env return {res['env_return'].mean():.4g} "
        f"over {fit.size} episodes (eval seeds of --seed {args.seed})"
    )
    return 0


def cmd_video(args: argparse.Namespace) -> int:
    from rewardlab.experiment.video import VideoError, record_rollout

    out = Path(args.out) if args.out else Path(args.run_dir) / "rollout.gif"
    try:
        res = record_rollout(args.run_dir, out, seed=args.seed)
    except VideoError as e:
        raise CLIError(str(e)) from None
    console.print(
        f"wrote {res['path']}: {res['frames']} frames of a {res['steps']}-step episode, fitness {num(res['fitness'])}"
    )
    return 0


def _run_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("--task", required=True, help="task id (see `rewardlab tasks`)")
    run.add_argument("--reward", default="env", help="reward spec (see `rewardlab rewards TASK`)")
    run.add_argument("--agent", default="ppo", help="a registered agent (`rewardlab agents`): ppo, sac, ppo-native ...")
    run.add_argument(
        "--vec",
        default="gym",
        choices=["gym", "batched", "torch"],
        help="vector env: gym (SyncVectorEnv), batched (the lab's numpy batched env) or torch (on --device)",
    )
    run.add_argument(
        "--simulator",
        default="auto",
        help="physics of a batched MuJoCo env: auto (bit-identical to gymnasium), batch, data, warp, warp:cuda:0 "
        "(MuJoCo Warp: the optional warp extra; docs/mujoco_warp.md)",
    )
    run.add_argument("--steps", type=int, default=None, help="env steps (default: the task's budget for the agent)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--experiment", default="default", help="experiment folder under the runs root")
    run.add_argument("--run-id", default=None, help="run folder name (default: TASK__REWARD__AGENT__sSEED)")
    run.add_argument("--hp", action="append", metavar="KEY=VALUE", help="hyperparameter override, repeatable")
    run.add_argument("--eval-episodes", type=int, default=10, help="final deterministic evaluation episodes")
    run.add_argument("--eval-every", type=int, default=0, help="steps between evaluations (0: 5 per run, -1: none)")
    _add_run_args(run)


def _demo_arguments(d: argparse.ArgumentParser) -> None:
    d.add_argument("--task", default=DEMO_TASK)
    d.add_argument("--rewards", default=None, help=f"comma-separated (default: {','.join(DEMO_REWARDS)})")
    d.add_argument("--seeds", type=int, default=2)
    d.add_argument("--steps", type=int, default=None)
    d.add_argument("--experiment", default="demo")
    _add_run_args(d)


def _show_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("run_dir", type=Path)


def _random_arguments(rb: argparse.ArgumentParser) -> None:
    rb.add_argument("task")
    rb.add_argument("--episodes", type=int, default=10)
    rb.add_argument("--seed", type=int, default=0)


def _video_arguments(vd: argparse.ArgumentParser) -> None:
    vd.add_argument("run_dir")
    vd.add_argument("--out", default=None, help="GIF path (default RUN_DIR/rollout.gif)")
    vd.add_argument("--seed", type=int, default=0)


COMMANDS = (
    Command("run", "train one agent on one task with one reward", _run_arguments, cmd_run),
    Command("demo", "the default experiment: MountainCar sparse vs env vs hand-shaped", _demo_arguments, cmd_demo),
    Command("video", "render one episode of a run's policy to a GIF", _video_arguments, cmd_video),
    Command("random", "fitness of a uniform random policy (the floor to beat)", _random_arguments, cmd_random),
    Command("show", "print a run's status and summary", _show_arguments, cmd_show),
)
