"""``rewardlab bench``: reward-wrapper overhead, local-pool speed-up, sandbox cost, agents' training speed and
env-steps/s per vector backend."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from rich.table import Table

from rewardlab.cli.commands import CLIError, Command, console, err_console

b_default_tasks = "CartPole-v1,HalfCheetah-v5"  # the default of --tasks; each kind reads it its own way


def cmd_bench(args: argparse.Namespace) -> int:
    from rewardlab.bench import as_dict, pool_speedup, wrapper_overhead

    rows: list[dict[str, Any]] = []
    if args.kind == "train":
        return _bench_train(args)
    if args.kind == "envs":
        return _bench_envs(args)
    if args.kind == "worlds":
        return _bench_worlds(args)
    if args.kind == "sandbox":  # llm_reward is reached by name: rewardlab does not import it
        cost = importlib.import_module("llm_reward.sandbox.bench").sandbox_cost(
            args.tasks if args.tasks != b_default_tasks else "MountainCar-v0",
            n_envs=args.n_envs,
            seconds=args.seconds,
            repeats=args.repeats,
            train_steps=args.steps,
        )
        rows.append(cost)
        console.print(
            f"{cost['task']}: validation {cost['validation_s_median']:.2f} s per candidate (median); reward wrapper "
            f"{cost['wrapper_llm']['wrapped_env_steps_per_s']:,} env-steps/s sandboxed vs "
            f"{cost['wrapper_llm-inproc']['wrapped_env_steps_per_s']:,} in process; PPO training "
            f"{cost['train_llm']['steps_per_s']:,} vs {cost['train_llm-inproc']['steps_per_s']:,} steps/s "
            f"(in-process / sandboxed = {cost['training_ratio_inproc_over_sandbox']:.2f}x)"
        )
    elif args.kind == "wrapper":
        for task in args.tasks.split(","):
            res = wrapper_overhead(task, args.reward, args.n_envs, args.seconds, args.repeats)
            rows.append(as_dict(res))
            console.print(
                f"{res.task} reward={res.reward} n_envs={res.n_envs}: raw {res.raw_steps_per_s:,.0f} env-steps/s, "
                f"wrapped {res.wrapped_steps_per_s:,.0f} env-steps/s, overhead ratio {res.ratio:.3f}x "
                f"(median of {res.repeats} paired measurements, IQR {res.ratio_iqr[0]:.3f}-{res.ratio_iqr[1]:.3f})"
            )
    else:
        from dataclasses import asdict

        pr = pool_speedup(args.runs, args.steps, args.workers)
        rows.append(asdict(pr))
        console.print(
            f"{pr.runs} runs x {pr.steps_per_run} steps: serial {pr.serial_s:.1f} s, {pr.workers}-worker pool "
            f"{pr.pool_s:.1f} s, ratio {pr.ratio:.2f}x; same results: {pr.same_results}"
        )
    if args.out:
        from rewardlab.experiment.store import atomic_write_json

        atomic_write_json(Path(args.out), rows)
        console.print(f"written to {args.out}")
    return 0


def _bench_envs(args: argparse.Namespace) -> int:
    from rewardlab.bench_envs import env_rates
    from rewardlab.bench_train import to_jsonable

    rows = []
    for task in args.tasks.split(","):
        res = env_rates(task, args.n_envs, reward=args.reward, seconds=args.seconds, repeats=min(args.repeats, 5),
                        device=args.device)  # fmt: skip
        rows.append(res)
        console.print_json(data=to_jsonable(res))
    if args.out:
        from rewardlab.experiment.store import atomic_write_json

        atomic_write_json(Path(args.out), to_jsonable(rows))
        console.print(f"written to {args.out}")
    return 0


def _bench_worlds(args: argparse.Namespace) -> int:
    from rewardlab.bench_train import to_jsonable
    from rewardlab.bench_worlds import worlds_bench

    res = worlds_bench(rounds=args.rounds, device=args.device, log=err_console.print)
    hw = res["hardware"]
    where = f"{hw['cpu']}, {hw['cores']} cores" + (f", {hw['gpu']}" if "gpu" in hw else "")
    g = res["grid"]
    grid = Table(title=f"bench worlds: batched gridworld vs minigrid ({where})")
    for c in ("world", "env-steps/s", "x minigrid SyncVectorEnv(16)", "x minigrid + lab wrappers"):
        grid.add_column(c)
    grid.add_row("minigrid SyncVectorEnv(16)", f"{g['minigrid']:,.0f}", "1", "")
    grid.add_row("minigrid + lab wrappers (16)", f"{g['minigrid_lab']:,.0f}", "", "1")
    for name, rate in g.items():
        if "/" not in name and not name.startswith("minigrid"):
            grid.add_row(f"batched {name} (4096)", f"{rate:,.0f}", f"{g[name + '/minigrid']:.0f}",
                         f"{g[name + '/minigrid_lab']:.0f}")  # fmt: skip
    console.print(grid)
    mj = Table(title="bench worlds: batched MuJoCo vs gymnasium SyncVectorEnv(16) and EnvPool (env-steps/s, median)")
    for c in ("task", "envs", "batched", "gym SyncVectorEnv(16)", "EnvPool", "x SyncVectorEnv", "x EnvPool"):
        mj.add_column(c)
    for r in res["mujoco_ratios"]:
        mj.add_row(r["task"], str(r["num_envs"]), f"{r['batched']:,.0f}", f"{r['gym_sync_16']:,.0f}",
                   "-" if r["envpool"] is None else f"{r['envpool']:,.0f}",
                   f"{r['vs_gym_sync']:.2f}", "-" if r["vs_envpool"] is None else f"{r['vs_envpool']:.2f}")  # fmt: skip
    console.print(mj)
    tr = Table(title="bench worlds: native PPO training on the batched worlds (evaluation excluded)")
    for c in ("task", "envs", "train env-steps/s", "raw batched env-steps/s", "fraction of raw"):
        tr.add_column(c)
    for t in res["training"]:
        tr.add_row(t["task"], str(t["n_envs"]), f"{t['train_steps_per_s']:,.0f}", f"{t['raw_env_steps_per_s']:,.0f}",
                   f"{t['fraction_of_raw']:.0%}")  # fmt: skip
    console.print(tr)
    if args.out:
        from rewardlab.experiment.store import atomic_write_json

        atomic_write_json(Path(args.out), to_jsonable(res))
        console.print(f"written to {args.out}")
    return 0


def _bench_train(args: argparse.Namespace) -> int:
    from rewardlab.bench_train import to_jsonable, train_bench

    task = args.tasks.split(",")[0] if args.tasks != b_default_tasks else "CartPole-v1"
    agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    vec = {}
    for item in args.agent_vec or []:
        name, _, v = item.partition("=")
        if not v:
            raise CLIError(f"--agent-vec takes AGENT=VEC (e.g. ppo-native=batched), got {item!r}")
        vec[name.strip()] = v.strip()

    def progress(t: dict[str, Any]) -> None:
        reach = (
            "not reached"
            if t["time_to_target_s"] is None
            else f"{t['time_to_target_s']:.2f} s ({t['reached_step']} steps)"
        )
        err_console.print(
            f"{t['agent']} seed {t['seed']}: target {t['target']:g} {reach}; {t['train_steps_per_s']:,.0f} train steps/s; "
            f"final fitness {t['final_fitness']:.4g}"
        )

    res = train_bench(
        task, agents, args.seeds, reward=args.reward, target=args.target, budget=args.budget,
        eval_every=args.eval_every, eval_episodes=args.eval_episodes, vec=vec, device=args.device,
        stop_at_target=not args.full_budget, progress=progress,
    )  # fmt: skip
    table = Table(
        title=f"bench train: {task} reward={args.reward} ({res['hardware']['cpu']}, {res['hardware']['device']})"
    )
    for c in ("agent", "reached", "median time to target (s)", "median train steps/s", "median final fitness"):
        table.add_column(c)
    for name, a in res["agents"].items():
        s = a["summary"]
        table.add_row(name, s["reached"], f"{s['median_time_to_target_s']:.3g}", f"{s['median_train_steps_per_s']:,.0f}",
                      f"{s['median_final_fitness']:.4g}")  # fmt: skip
    console.print(table)
    for k, v in res["ratios"].items():
        console.print(f"{k}: {v}")
    if args.out:
        from rewardlab.experiment.store import atomic_write_json

        atomic_write_json(Path(args.out), to_jsonable(res))
        console.print(f"written to {args.out}")
    return 0


def _bench_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument(
        "kind", nargs="?", default="wrapper", choices=["wrapper", "pool", "sandbox", "train", "envs", "worlds"]
    )
    b.add_argument("--agents", default="ppo,ppo-native", help="train: comma-separated agents, compared side by side")
    b.add_argument(
        "--agent-vec", action="append", metavar="AGENT=VEC", help="train: vector env per agent (gym, batched, torch)"
    )
    b.add_argument("--seeds", type=int, default=5, help="train: seeds per agent")
    b.add_argument(
        "--target", type=float, default=None, help="train: fitness target (default: the task's success threshold)"
    )
    b.add_argument(
        "--budget", type=int, default=None, help="train: env steps per seed at most (default: each preset's)"
    )
    b.add_argument(
        "--eval-every", type=int, default=None, help="train: env steps between evaluations (default budget/50)"
    )
    b.add_argument("--eval-episodes", type=int, default=10, help="train: deterministic episodes per evaluation")
    b.add_argument("--device", default="cpu", help="train: torch device for the agents")
    b.add_argument(
        "--full-budget", action="store_true", help="train: do not stop at the target (equal-steps comparison)"
    )
    b.add_argument("--runs", type=int, default=4, help="pool: independent runs")
    b.add_argument("--steps", type=int, default=20_000, help="pool: steps per run; sandbox: training steps per mode")
    b.add_argument("--workers", type=int, default=2, help="pool: worker processes")
    b.add_argument("--tasks", default=b_default_tasks, help="comma-separated task ids (sandbox: one task)")
    b.add_argument("--reward", default="hand")
    b.add_argument("--n-envs", type=int, default=16)
    b.add_argument("--seconds", type=float, default=1.0, help="seconds per measurement")
    b.add_argument("--repeats", type=int, default=11, help="alternating raw/wrapped measurement pairs")
    b.add_argument("--rounds", type=int, default=3, help="worlds: interleaved measurement rounds")
    b.add_argument("--out", default=None, help="also write the results as JSON here")


COMMANDS = (
    Command(
        "bench",
        "benchmarks: reward-wrapper overhead, local-pool speed-up, sandbox cost, training speed, batched worlds",
        _bench_arguments,
        cmd_bench,
    ),
)
