"""``rewardlab suites``, ``compare``, ``report`` and ``distance``: experiment grids, their reports, and how far
apart two rewards are."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from rewardlab.cli.commands import CLIError, Command, console, err_console

SUITES = Path(__file__).resolve().parents[1] / "suites"  # rewardlab/suites/*.toml


def _suite_path(name: str) -> Path:
    """A spec path, or the name of a shipped suite (``rewardlab suites``)."""
    p = Path(name)
    if p.exists() or p.suffix in (".toml", ".yml", ".yaml"):
        return p
    shipped = SUITES / f"{name}.toml"
    if shipped.exists():
        return shipped
    names = sorted(q.stem for q in (SUITES).glob("*.toml"))
    raise CLIError(f"no spec file {name!r} and no shipped suite of that name; suites: {', '.join(names)}")


def cmd_suites(args: argparse.Namespace) -> int:
    from rewardlab.experiment.grid import expand, load_spec

    table = Table(title="shipped experiment suites (rewardlab compare NAME)")
    for col in ("suite", "runs", "what it shows"):
        table.add_column(col, overflow="fold")
    for p in sorted((SUITES).glob("*.toml")):
        spec = load_spec(p)
        table.add_row(p.stem, str(len(expand(spec).runs)), spec.description)
    console.print(table)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from rewardlab.analysis.aggregate import load_runs, summarize
    from rewardlab.experiment.compare import compare

    path = _suite_path(args.spec)
    res = compare(
        path,
        executor=args.executor,
        workers=args.workers,
        address=args.address,
        runs_dir=args.runs_dir,
        retry=args.retry,
        fresh=args.fresh,
        progress=not args.no_progress,
        dry_run=args.dry_run,
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
    table = Table(
        title="final fitness per (task, reward, agent): mean and IQM over seeds, 95% stratified bootstrap CIs"
    )
    for col in (
        "task",
        "reward",
        "agent",
        "seeds",
        "fitness mean",
        "fitness IQM",
        "success",
        "AUC",
        "steps to threshold",
    ):
        table.add_column(col)
    for r in rows:
        reached = r.get("steps_to_threshold_n_reached", 0)
        med = r.get("steps_to_threshold_median")
        table.add_row(
            str(r["task"]),
            str(r["reward"]),
            str(r["agent"]),
            str(r["n_seeds"]),
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
    console.print(
        f"{args.method.upper()} distance between {args.reward_a!r} and {args.reward_b!r} on {args.task}: {val:.4g}{ci_s}"
    )
    if args.json:
        console.print_json(json.dumps(res, default=str))
    return 0


def _compare_arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("spec", help="a .toml/.yml spec, or a suite name from `rewardlab suites`")
    c.add_argument("--executor", default="local", choices=["local", "serial", "ray"])
    c.add_argument("--workers", type=int, default=None, help="parallel runs (default: one per CPU core)")
    c.add_argument("--address", default=None, help="Ray cluster address (with --executor ray)")
    c.add_argument("--retry", action="store_true", help="re-run failed runs and resume interrupted ones")
    c.add_argument("--fresh", action="store_true", help="delete results of a different spec under the same name")
    c.add_argument("--dry-run", action="store_true", help="validate and show the plan; run nothing")
    c.add_argument("--runs-dir", default=None, help="root of run directories (default: $REWARDLAB_RUNS or ./runs)")
    c.add_argument("--no-progress", action="store_true")


def _report_arguments(rp: argparse.ArgumentParser) -> None:
    rp.add_argument("experiment_dir")
    rp.add_argument("--out", default=None, help="output folder (default: EXPERIMENT_DIR/report)")


def _distance_arguments(ds: argparse.ArgumentParser) -> None:
    ds.add_argument("--task", required=True)
    ds.add_argument("reward_a")
    ds.add_argument("reward_b")
    ds.add_argument("--method", default="epic", choices=["epic", "starc"])
    ds.add_argument("--n", type=int, default=2048, help="transitions sampled from random-policy rollouts")
    ds.add_argument("--seed", type=int, default=0)
    ds.add_argument("--json", action="store_true", help="also print the full result")


COMMANDS = (
    Command("suites", "list the shipped experiment suites", lambda p: None, cmd_suites),
    Command("compare", "run an experiment grid (a spec file or a shipped suite name)", _compare_arguments, cmd_compare),
    Command("report", "plots, an HTML page and a Markdown summary for an experiment", _report_arguments, cmd_report),
    Command("distance", "EPIC or STARC distance between two rewards on a task", _distance_arguments, cmd_distance),
)
