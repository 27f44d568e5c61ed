"""The ``rewardlab`` command.

    rewardlab tasks [--family F]            list tasks with fitness and success threshold
    rewardlab rewards TASK                  rewards available for a task
    rewardlab agents [--task T]             agents and where their presets come from
    rewardlab run --task T --reward R ...   train one run, write its run directory
    rewardlab demo                          the default experiment (MountainCar sparse/env/hand)
    rewardlab show RUN_DIR                  print a run's status and summary
    rewardlab random TASK                   fitness of a uniform random policy
    rewardlab suites                        shipped experiment suites
    rewardlab compare SPEC|SUITE            run an experiment grid (local pool or Ray), resumable
    rewardlab report EXPERIMENT_DIR         plots + HTML + Markdown for an experiment
    rewardlab distance --task T A B         EPIC / STARC distance between two rewards
    rewardlab search --task T ...           reward search (LLM or mutation backend) with reflection
    rewardlab rank SEARCH_DIR ORDER ...     rank a search iteration's rollout videos (ICPL)
    rewardlab video RUN_DIR                 render a run's policy to a GIF
    rewardlab replay SEARCH_DIR             re-train a search's best reward, no LLM
    rewardlab bench [wrapper|pool|sandbox|train]  wrapper overhead; pool speed-up; sandbox cost; agents' training speed
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Piped output (logs, CI) gets a wide fixed width instead of rich's 80-column default.
console = Console() if sys.stdout.isatty() else Console(width=160)
err_console = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=160)
FAMILY_ORDER = {"classic": 0, "mujoco": 1, "minigrid": 2, "behaviour": 3}

DEMO_TASK = "MountainCar-v0"
DEMO_REWARDS = ("sparse", "env", "hand")


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from envs.registry import UnknownTaskError
    from rewardlab.experiment.grid import GridSpecError
    from rewardlab.experiment.store import RunExistsError, RunStoreError
    from rewardlab.rewards.base import RewardError
    from rewardlab.rewards.registry import RewardSpecError

    return (CLIError, UnknownTaskError, RewardSpecError, RewardError, RunExistsError, RunStoreError, GridSpecError, ValueError)


# -- listing ---------------------------------------------------------------------------------


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
        if task is not None:
            try:
                spec = resolve_agent(name, task, [], action_space=env.action_space)
                table.add_row(name, d.get("backend", "-"), d.get("actions", "-"), spec.source, str(spec.n_envs))
            except ValueError as e:
                table.add_row(name, d.get("backend", "-"), d.get("actions", "-"), f"[dim]not for this task: {escape(str(e))}[/dim]", "-")
        else:
            table.add_row(name, d.get("backend", "-"), d.get("actions", "-"), d.get("policy", "-"), "-")
    if env is not None:
        env.close()
    console.print(table)
    return 0


# -- run ---------------------------------------------------------------------------------------


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
            cfg = RunConfig(task=args.task, reward=r, agent="ppo", steps=args.steps, seed=seed, experiment=args.experiment)
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
    for col in ("reward", "seeds", "fitness mean", "95% CI", "success rate", "steps to 90% success*", "budget", "steps/s"):
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

    if not vals or any(v is None for v in vals):
        reached = sum(v is not None for v in vals)
        return f"never ({reached}/{len(vals)} seeds)" if reached else "never"
    return f"{int(np.median(vals)):,}"


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


def _suite_path(name: str) -> Path:
    """A spec path, or the name of a shipped suite (``rewardlab suites``)."""
    p = Path(name)
    if p.exists() or p.suffix in (".toml", ".yml", ".yaml"):
        return p
    shipped = Path(__file__).parent / "suites" / f"{name}.toml"
    if shipped.exists():
        return shipped
    names = sorted(q.stem for q in (Path(__file__).parent / "suites").glob("*.toml"))
    raise CLIError(f"no spec file {name!r} and no shipped suite of that name; suites: {', '.join(names)}")


def cmd_suites(args: argparse.Namespace) -> int:
    from rewardlab.experiment.grid import expand, load_spec

    table = Table(title="shipped experiment suites (rewardlab compare NAME)")
    for col in ("suite", "runs", "what it shows"):
        table.add_column(col, overflow="fold")
    for p in sorted((Path(__file__).parent / "suites").glob("*.toml")):
        spec = load_spec(p)
        table.add_row(p.stem, str(len(expand(spec).runs)), spec.description)
    console.print(table)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from rewardlab.analysis.aggregate import load_runs, summarize
    from rewardlab.experiment.compare import compare

    path = _suite_path(args.spec)
    res = compare(
        path, executor=args.executor, workers=args.workers, address=args.address, runs_dir=args.runs_dir,
        retry=args.retry, fresh=args.fresh, progress=not args.no_progress, dry_run=args.dry_run,
    )
    if args.dry_run:
        console.print(f"{res.spec.name}: {res.planned} runs planned, {res.already_done} already done")
        for state, ids in res.left.items():
            if ids:
                console.print(f"  {state}: {len(ids)}")
        for t, r, a, why in res.skipped_incompatible:
            console.print(f"  skipped {t} / {r} / {a}: {why}")
        return 0
    n_fail = len(res.failed)
    console.print(
        f"{res.spec.name}: {res.planned} runs; {res.already_done} were already done, "
        f"{len(res.results) - n_fail} finished now, {n_fail} failed; {res.wall_time:.0f} s"
    )
    for state, ids in res.left.items():
        if ids:
            console.print(f"[yellow]{len(ids)} {state} run(s) not re-run[/yellow] (use --retry): {', '.join(ids[:5])}")
    loaded = load_runs(res.experiment_dir)
    rows = summarize(loaded.records)
    _print_groups(rows)
    for prob in loaded.problems:
        err_console.print(f"[red]problem:[/red] {escape(str(prob))}")
    console.print(f"results: {res.experiment_dir}; plots and tables: rewardlab report {res.experiment_dir}")
    return 1 if n_fail else 0


def _print_groups(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = Table(title="final fitness per (task, reward, agent): mean and IQM over seeds, 95% stratified bootstrap CIs")
    for col in ("task", "reward", "agent", "seeds", "fitness mean", "fitness IQM", "success", "AUC", "steps to threshold"):
        table.add_column(col)
    for r in rows:
        reached = r.get("steps_to_threshold_n_reached", 0)
        med = r.get("steps_to_threshold_median")
        table.add_row(
            str(r["task"]), str(r["reward"]), str(r["agent"]), str(r["n_seeds"]),
            _fmt_ci(r.get("final_fitness_mean"), r.get("final_fitness_mean_ci")),
            _fmt_ci(r.get("final_fitness_iqm"), r.get("final_fitness_iqm_ci")),
            _fmt_ci(r.get("success_rate_mean"), r.get("success_rate_mean_ci")),
            _fmt_ci(r.get("auc_mean"), r.get("auc_mean_ci")),
            (f"{med:,.0f}" if med is not None else "never") + f" ({reached}/{r['n_seeds']} seeds)",
        )
    console.print(table)
    from rewardlab.analysis.stats import steps_to_level_rule

    console.print(f"steps to threshold: median over seeds of the {steps_to_level_rule('the success threshold')}")


def _fmt_ci(est: Any, ci: Any) -> str:
    if est is None:
        return "-"
    if isinstance(ci, list | tuple) and len(ci) == 2 and None not in ci:
        return f"{est:.3g} [{ci[0]:.3g}, {ci[1]:.3g}]"
    return f"{est:.3g}"


def cmd_report(args: argparse.Namespace) -> int:
    from rewardlab.report import write_report

    exp = Path(args.experiment_dir)
    if not exp.is_dir():
        raise CLIError(f"{exp} is not a directory")
    paths = write_report(exp, Path(args.out) if args.out else None)
    for kind, p in paths.items():
        console.print(f"{kind}: {p}")
    return 0


def cmd_distance(args: argparse.Namespace) -> int:
    from rewardlab.analysis.distances import distance

    res = distance(args.reward_a, args.reward_b, args.task, method=args.method, n=args.n, seed=args.seed)
    val = res["distance"]
    lo, hi = res.get("ci_low"), res.get("ci_high")
    ci_s = f" ({res.get('ci_level', 0.95):.0%} CI [{lo:.3g}, {hi:.3g}])" if lo is not None and hi is not None else ""
    console.print(f"{args.method.upper()} distance between {args.reward_a!r} and {args.reward_b!r} on {args.task}: {val:.4g}{ci_s}")
    if args.json:
        console.print_json(json.dumps(res, default=str))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    import importlib

    search_mod = importlib.import_module("llm_reward.search")  # rewardlab reaches llm_reward by name
    cfg = search_mod.SearchConfig(
        task=args.task, iterations=args.iterations, samples=args.samples, backend=args.backend, model=args.model,
        base_url=args.base_url, temperature=args.temperature, cassette=args.cassette,
        cassette_mode=args.cassette_mode, context=args.context, agent=args.agent, steps=args.steps, seed=args.seed,
        selection=args.selection, retrain_top=args.retrain_top, retrain_seeds=args.retrain_seeds,
        max_repairs=args.max_repairs, executor=args.executor, workers=args.workers, address=args.address,
        budget_usd=args.budget_usd, budget_tokens=args.budget_tokens, name=args.name, human_notes=args.notes,
        fewshot_library=args.fewshot_library, api_key_env=args.api_key_env or None,
        eval_every=args.eval_every, final_k=args.final_k, ranker=args.ranker, preferences=args.preferences,
        videos=args.videos, critic=args.critic, hp=tuple(args.hp), search_seeds=args.search_seeds, sandbox=args.sandbox, vec=args.vec, retrain_iteration_bests=not args.no_retrain_iteration_bests,
        baselines=tuple(b for b in args.baselines.split(",") if b),
    )
    try:
        st = search_mod.search(cfg, runs_dir=args.runs_dir, log=lambda m: console.print(escape(str(m))))
    except search_mod.SearchPaused as e:
        console.print(f"[bold yellow]paused:[/bold yellow] {escape(str(e))}")
        return 3
    except search_mod.SearchError as e:
        raise CLIError(str(e)) from None
    table = Table(title=f"reward search on {cfg.task}: best candidate per iteration (score: {cfg.selection})")
    for col in ("iteration", "candidate", "score", "final fitness"):
        table.add_column(col)
    for b in st["best_per_iteration"]:
        table.add_row(str(b["iteration"]), str(b["candidate"]), _num(b["score"]), _num(b["final_fitness"]))
    console.print(table)
    fin = st.get("final") or {}
    for c in fin.get("candidates", []):
        console.print(f"re-trained {c['candidate']} on seeds {fin['seeds']}: fitness {[round(x, 3) for x in c['retrain_fitness']]}, mean {_num(c['retrain_mean'])}")
    for p in fin.get("per_iteration", []):
        if p.get("retrain_fitness"):
            console.print(f"iteration {p['iteration']} best {p['candidate']} re-trained on seeds {fin['seeds']}: "
                          f"fitness {[round(x, 3) for x in p['retrain_fitness']]}, mean {_num(p['retrain_mean'])}")
    for name, b in (fin.get("baselines") or {}).items():
        console.print(f"baseline {name} on seeds {fin['seeds']}: fitness {[round(x, 3) for x in b['fitness']]}, mean {_num(b['mean'])}")
    usage = st.get("usage") or {}
    if usage:
        live, replayed, n = usage.get("live") or {}, usage.get("replayed") or {}, usage.get("invocations", 1)
        console.print(f"LLM usage over {n} invocation{'s' if n != 1 else ''} of this search: {live.get('calls', 0)} live "
                      f"calls ({live.get('total_tokens', 0)} tokens, ${live.get('cost_usd', 0.0):.4f}), "
                      f"{replayed.get('calls', 0)} replayed; per invocation in search.json -> invocations")
    if fin.get("best"):
        console.print(f"best: {fin['best']}; replay with `rewardlab replay {Path(args.runs_dir or 'runs') / cfg.folder()}`")
    return 0


def _num(x: Any) -> str:
    return "-" if x is None else f"{x:.3g}"


def cmd_rank(args: argparse.Namespace) -> int:
    """Record a person's ranking of one search iteration's rollouts (ICPL feedback)."""
    import importlib

    from rewardlab.experiment.store import atomic_write_json

    search_mod = importlib.import_module("llm_reward.search")
    sdir = Path(args.search_dir)
    state = sdir / "search.json"
    if not state.is_file():
        raise CLIError(f"{sdir} is not a search directory (no search.json)")
    cands = {c["id"]: c for c in json.loads(state.read_text())["candidates"]}
    trained = sorted(int(cid.rsplit("_", 1)[1]) for cid, c in cands.items()
                     if c["iteration"] == args.iteration and c.get("run_id"))
    if not trained:
        raise CLIError(f"iteration {args.iteration} of {sdir} has no trained candidates to rank")
    try:
        order = [int(x) for x in args.order.split(",") if x.strip()]
    except ValueError:
        raise CLIError(f"ranking must be candidate numbers separated by commas, like 2,0,1; got {args.order!r}") from None
    if sorted(order) != trained:
        raise CLIError(f"rank every trained candidate of iteration {args.iteration} exactly once: {trained}; got {order}")
    path = Path(args.preferences) if args.preferences else sdir / "preferences.json"
    prefs = search_mod.read_preferences(path)
    prefs[f"iter_{args.iteration}"] = {"order": order, "note": args.note, "source": "human"}
    atomic_write_json(path, prefs)
    console.print(f"ranking of iteration {args.iteration} saved to {path}: {' > '.join(f'cand_{j}' for j in order)}; "
                  "re-run the search command to continue")
    return 0


def cmd_video(args: argparse.Namespace) -> int:
    from rewardlab.experiment.video import VideoError, record_rollout

    out = Path(args.out) if args.out else Path(args.run_dir) / "rollout.gif"
    try:
        res = record_rollout(args.run_dir, out, seed=args.seed)
    except VideoError as e:
        raise CLIError(str(e)) from None
    console.print(f"wrote {res['path']}: {res['frames']} frames of a {res['steps']}-step episode, fitness {_num(res['fitness'])}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Re-train a search's best reward with no LLM involved."""
    from rewardlab.experiment.runner import RunConfig, prepare

    sdir = Path(args.search_dir)
    best = sdir / "best_reward.py"
    if not best.is_file():
        raise CLIError(f"{sdir} has no best_reward.py (is it a finished search directory?)")
    meta = json.loads((sdir / "best.json").read_text())
    # the search's own agent, budget and overrides unless told otherwise
    searched = (json.loads((sdir / "search.json").read_text()).get("config") or {}) if (sdir / "search.json").is_file() else {}
    agent = args.agent or searched.get("agent") or "ppo"
    steps = args.steps if args.steps is not None else searched.get("steps")
    hp = [*searched.get("hp", []), *(args.hp or [])] if agent == searched.get("agent", "ppo") else list(args.hp or [])
    from rewardlab.experiment.executors import make_executor
    from rewardlab.experiment.grid import run_state
    from rewardlab.experiment.store import RunDir, runs_root

    cfgs = [RunConfig(task=meta["task"], reward=f"llm:{best.resolve()}", agent=agent, steps=steps, seed=seed, hp=hp,
                      experiment=args.experiment, run_id=f"replay__{sdir.name}__s{seed}")
            for seed in range(args.first_seed, args.first_seed + args.seeds)]
    try:
        prepare(cfgs[0])  # bad agent, overrides or budget: one message before anything runs
    except ValueError as e:
        raise CLIError(str(e)) from None
    root = str(runs_root(args.runs_dir))
    todo = [c for c in cfgs if run_state(c, root) != "done"]
    for r in make_executor(args.executor, args.workers).map(todo, root, lambda *a: None):
        if r.status != "done":
            console.print(f"[red]{r.run_id} {r.status}[/red]: {escape((r.error or '').splitlines()[0] if r.error else '')}")
    fits = []
    for c in cfgs:
        summ = RunDir(Path(root) / c.experiment / (c.run_id or "")).summary()
        if summ:
            fits.append(summ["fitness_mean"])
            console.print(f"seed {c.seed}: fitness {_num(summ['fitness_mean'])}, success {summ.get('success_rate', 0):.0%}")
    if not fits:
        raise CLIError("no replay run finished")
    console.print(f"{best}: mean fitness {_num(sum(fits) / len(fits))} over seeds "
                  f"{[c.seed for c in cfgs]} ({len(fits)} finished)")
    return 0


b_default_tasks = "CartPole-v1,HalfCheetah-v5"


def cmd_bench(args: argparse.Namespace) -> int:
    from rewardlab.bench import as_dict, pool_speedup, wrapper_overhead

    rows: list[dict[str, Any]] = []
    if args.kind == "train":
        return _bench_train(args)
    if args.kind == "envs":
        return _bench_envs(args)
    if args.kind == "sandbox":  # llm_reward is reached by name: rewardlab does not import it
        cost = importlib.import_module("llm_reward.sandbox.bench").sandbox_cost(
            args.tasks if args.tasks != b_default_tasks else "MountainCar-v0", n_envs=args.n_envs,
            seconds=args.seconds, repeats=args.repeats, train_steps=args.steps,
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
        reach = "not reached" if t["time_to_target_s"] is None else f"{t['time_to_target_s']:.2f} s ({t['reached_step']} steps)"
        err_console.print(
            f"{t['agent']} seed {t['seed']}: target {t['target']:g} {reach}; {t['train_steps_per_s']:,.0f} train steps/s; "
            f"final fitness {t['final_fitness']:.4g}"
        )

    res = train_bench(
        task, agents, args.seeds, reward=args.reward, target=args.target, budget=args.budget,
        eval_every=args.eval_every, eval_episodes=args.eval_episodes, vec=vec, device=args.device,
        stop_at_target=not args.full_budget, progress=progress,
    )  # fmt: skip
    table = Table(title=f"bench train: {task} reward={args.reward} ({res['hardware']['cpu']}, {res['hardware']['device']})")
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


# -- entry point -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rewardlab", description="A lab for designing reward functions for RL.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("tasks", help="list tasks with fitness and success threshold")
    t.add_argument("--family", default=None, help="classic, mujoco, minigrid or behaviour")
    t.set_defaults(fn=cmd_tasks)

    r = sub.add_parser("rewards", help="rewards available for a task")
    r.add_argument("task")
    r.set_defaults(fn=cmd_rewards)

    a = sub.add_parser("agents", help="agents and their preset sources")
    a.add_argument("--task", default=None)
    a.set_defaults(fn=cmd_agents)

    run = sub.add_parser("run", help="train one agent on one task with one reward")
    run.add_argument("--task", required=True, help="task id (see `rewardlab tasks`)")
    run.add_argument("--reward", default="env", help="reward spec (see `rewardlab rewards TASK`)")
    run.add_argument("--agent", default="ppo", help="a registered agent (`rewardlab agents`): ppo, sac, ppo-native ...")
    run.add_argument(
        "--vec", default="gym", choices=["gym", "batched", "torch"],
        help="vector env: gym (SyncVectorEnv), batched (the lab's numpy batched env) or torch (on --device)",
    )
    run.add_argument("--steps", type=int, default=None, help="env steps (default: the task's budget for the agent)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--experiment", default="default", help="experiment folder under the runs root")
    run.add_argument("--run-id", default=None, help="run folder name (default: TASK__REWARD__AGENT__sSEED)")
    run.add_argument("--hp", action="append", metavar="KEY=VALUE", help="hyperparameter override, repeatable")
    run.add_argument("--eval-episodes", type=int, default=10, help="final deterministic evaluation episodes")
    run.add_argument("--eval-every", type=int, default=0, help="steps between evaluations (0: 5 per run, -1: none)")
    _add_run_args(run)
    run.set_defaults(fn=cmd_run)

    d = sub.add_parser("demo", help="the default experiment: MountainCar sparse vs env vs hand-shaped")
    d.add_argument("--task", default=DEMO_TASK)
    d.add_argument("--rewards", default=None, help=f"comma-separated (default: {','.join(DEMO_REWARDS)})")
    d.add_argument("--seeds", type=int, default=2)
    d.add_argument("--steps", type=int, default=None)
    d.add_argument("--experiment", default="demo")
    _add_run_args(d)
    d.set_defaults(fn=cmd_demo)

    su = sub.add_parser("suites", help="list the shipped experiment suites")
    su.set_defaults(fn=cmd_suites)

    c = sub.add_parser("compare", help="run an experiment grid (a spec file or a shipped suite name)")
    c.add_argument("spec", help="a .toml/.yml spec, or a suite name from `rewardlab suites`")
    c.add_argument("--executor", default="local", choices=["local", "serial", "ray"])
    c.add_argument("--workers", type=int, default=None, help="parallel runs (default: one per CPU core)")
    c.add_argument("--address", default=None, help="Ray cluster address (with --executor ray)")
    c.add_argument("--retry", action="store_true", help="re-run failed runs and resume interrupted ones")
    c.add_argument("--fresh", action="store_true", help="delete results of a different spec under the same name")
    c.add_argument("--dry-run", action="store_true", help="validate and show the plan; run nothing")
    c.add_argument("--runs-dir", default=None, help="root of run directories (default: $REWARDLAB_RUNS or ./runs)")
    c.add_argument("--no-progress", action="store_true")
    c.set_defaults(fn=cmd_compare)

    rp = sub.add_parser("report", help="plots, an HTML page and a Markdown summary for an experiment")
    rp.add_argument("experiment_dir")
    rp.add_argument("--out", default=None, help="output folder (default: EXPERIMENT_DIR/report)")
    rp.set_defaults(fn=cmd_report)

    ds = sub.add_parser("distance", help="EPIC or STARC distance between two rewards on a task")
    ds.add_argument("--task", required=True)
    ds.add_argument("reward_a")
    ds.add_argument("reward_b")
    ds.add_argument("--method", default="epic", choices=["epic", "starc"])
    ds.add_argument("--n", type=int, default=2048, help="transitions sampled from random-policy rollouts")
    ds.add_argument("--seed", type=int, default=0)
    ds.add_argument("--json", action="store_true", help="also print the full result")
    ds.set_defaults(fn=cmd_distance)

    se = sub.add_parser("search", help="LLM (or mutation) reward search with reflection: write, validate, train, reflect")
    se.add_argument("--task", required=True)
    se.add_argument("--iterations", type=int, default=3)
    se.add_argument("--samples", type=int, default=4, help="reward programs per iteration")
    se.add_argument("--backend", default="mutation", choices=["mutation", "openai"])
    se.add_argument("--model", default="gpt-4o-mini")
    se.add_argument("--base-url", default=None, help="OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio)")
    se.add_argument("--api-key-env", default="OPENAI_API_KEY", help="env var holding the key ('' for keyless local servers)")
    se.add_argument("--temperature", type=float, default=1.0)
    se.add_argument("--cassette", default=None, help="record/replay directory (default: SEARCH_DIR/cassette)")
    se.add_argument("--cassette-mode", default="auto", choices=["auto", "replay", "record"])
    se.add_argument("--context", default="state_class", choices=["state_class", "observation_table", "env_source"])
    se.add_argument("--agent", default="ppo", help="a registered agent (`rewardlab agents`), e.g. ppo or ppo-native")
    se.add_argument("--vec", default="gym", choices=["gym", "batched", "torch"], help="every run's vector env")
    se.add_argument("--steps", type=int, default=None, help="training steps per candidate")
    se.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE",
                    help="agent hyperparameter override for every run of the search (repeatable)")
    se.add_argument("--seed", type=int, default=0)
    se.add_argument("--selection", default="max", choices=["max", "final", "iqm"])
    se.add_argument("--eval-every", type=int, default=0,
                    help="evaluate each candidate every N steps (needed by --selection final)")
    se.add_argument("--final-k", type=int, default=3, help="selection final: mean of the last K evaluations")
    se.add_argument("--baselines", default="sparse,hand",
                    help="task rewards trained on the re-training seeds for comparison ('' for none)")
    se.add_argument("--ranker", default=None, choices=["synthetic", "human"],
                    help="ICPL: rank each iteration's rollouts; 'human' pauses for `rewardlab rank`, "
                         "'synthetic' ranks by fitness (tests)")
    se.add_argument("--preferences", default=None, help="rankings file (default SEARCH_DIR/preferences.json)")
    se.add_argument("--videos", action="store_true", help="record a rollout GIF of every trained candidate")
    se.add_argument("--critic", action="store_true", help="an LLM critic reviews each valid candidate before training")
    se.add_argument("--retrain-top", type=int, default=2)
    se.add_argument("--retrain-seeds", type=int, default=3)
    se.add_argument("--sandbox", choices=["kernel", "process"], default="kernel",
                    help="kernel: LLM code runs under Landlock + seccomp, refused where they are missing (default); "
                    "process: say so explicitly to run it there with the isolation that holds")
    se.add_argument("--search-seeds", type=int, default=1,
                    help="train every candidate on this many seeds during the search and score it by the mean")
    se.add_argument("--no-retrain-iteration-bests", action="store_true",
                    help="re-train only the top candidates, not also each iteration's best (cheaper; progress "
                         "across iterations is then only the training seed's)")
    se.add_argument("--max-repairs", type=int, default=1)
    se.add_argument("--executor", default="local", choices=["local", "serial", "ray"])
    se.add_argument("--workers", type=int, default=None)
    se.add_argument("--address", default=None)
    se.add_argument("--budget-usd", type=float, default=None)
    se.add_argument("--budget-tokens", type=int, default=None)
    se.add_argument("--notes", default=None, help="free-text human feedback added to every prompt")
    se.add_argument("--fewshot-library", default=None,
                    help="JSONL library of earlier good rewards: similar tasks' rewards become few-shot examples, "
                         "and this search's best reward is appended")
    se.add_argument("--name", default=None, help="search folder under the runs root")
    se.add_argument("--runs-dir", default=None)
    se.set_defaults(fn=cmd_search)

    rk = sub.add_parser("rank", help="rank a search iteration's rollouts, most preferred first (ICPL feedback)")
    rk.add_argument("search_dir")
    rk.add_argument("order", help="candidate numbers, most preferred first, e.g. 2,0,1")
    rk.add_argument("--iteration", type=int, required=True)
    rk.add_argument("--note", default=None, help="free-text comment passed to the next prompt")
    rk.add_argument("--preferences", default=None, help="rankings file (default SEARCH_DIR/preferences.json)")
    rk.set_defaults(fn=cmd_rank)

    vd = sub.add_parser("video", help="render one episode of a run's policy to a GIF")
    vd.add_argument("run_dir")
    vd.add_argument("--out", default=None, help="GIF path (default RUN_DIR/rollout.gif)")
    vd.add_argument("--seed", type=int, default=0)
    vd.set_defaults(fn=cmd_video)

    rpl = sub.add_parser("replay", help="re-train a search's best reward, no LLM")
    rpl.add_argument("search_dir")
    rpl.add_argument("--seeds", type=int, default=3)
    rpl.add_argument("--first-seed", type=int, default=0,
                     help="seeds first-seed .. first-seed+seeds-1 (the search trained on 0.., re-trained on 1000..)")
    rpl.add_argument("--steps", type=int, default=None, help="default: the search's budget per run")
    rpl.add_argument("--agent", default=None, help="default: the search's agent")
    rpl.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE",
                     help="override on top of the search's own overrides (repeatable)")
    rpl.add_argument("--experiment", default="replay")
    rpl.add_argument("--executor", default="local", choices=["local", "serial", "ray"])
    rpl.add_argument("--workers", type=int, default=None)
    rpl.add_argument("--runs-dir", default=None)
    rpl.add_argument("--no-progress", action="store_true")
    rpl.set_defaults(fn=cmd_replay)

    rb = sub.add_parser("random", help="fitness of a uniform random policy (the floor to beat)")
    rb.add_argument("task")
    rb.add_argument("--episodes", type=int, default=10)
    rb.add_argument("--seed", type=int, default=0)
    rb.set_defaults(fn=cmd_random)

    b = sub.add_parser("bench", help="benchmarks: reward-wrapper overhead, local-pool speed-up, sandbox cost")
    b.add_argument("kind", nargs="?", default="wrapper", choices=["wrapper", "pool", "sandbox", "train", "envs"])
    b.add_argument("--agents", default="ppo,ppo-native", help="train: comma-separated agents, compared side by side")
    b.add_argument("--agent-vec", action="append", metavar="AGENT=VEC", help="train: vector env per agent (gym, batched, torch)")
    b.add_argument("--seeds", type=int, default=5, help="train: seeds per agent")
    b.add_argument("--target", type=float, default=None, help="train: fitness target (default: the task's success threshold)")
    b.add_argument("--budget", type=int, default=None, help="train: env steps per seed at most (default: each preset's)")
    b.add_argument("--eval-every", type=int, default=None, help="train: env steps between evaluations (default budget/50)")
    b.add_argument("--eval-episodes", type=int, default=10, help="train: deterministic episodes per evaluation")
    b.add_argument("--device", default="cpu", help="train: torch device for the agents")
    b.add_argument("--full-budget", action="store_true", help="train: do not stop at the target (equal-steps comparison)")
    b.add_argument("--runs", type=int, default=4, help="pool: independent runs")
    b.add_argument("--steps", type=int, default=20_000, help="pool: steps per run; sandbox: training steps per mode")
    b.add_argument("--workers", type=int, default=2, help="pool: worker processes")
    b.add_argument("--tasks", default=b_default_tasks, help="comma-separated task ids (sandbox: one task)")
    b.add_argument("--reward", default="hand")
    b.add_argument("--n-envs", type=int, default=16)
    b.add_argument("--seconds", type=float, default=1.0, help="seconds per measurement")
    b.add_argument("--repeats", type=int, default=11, help="alternating raw/wrapped measurement pairs")
    b.add_argument("--out", default=None, help="also write the results as JSON here")
    b.set_defaults(fn=cmd_bench)

    s = sub.add_parser("show", help="print a run's status and summary")
    s.add_argument("run_dir", type=Path)
    s.set_defaults(fn=cmd_show)
    return p


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


if __name__ == "__main__":
    sys.exit(main())
