"""``rewardlab search``, ``rank`` and ``replay``: llm_reward's commands, which ``rewardlab`` finds through its plugin
list (``rewardlab.cli.app.PLUGINS``). They read flags and print; the work is in :mod:`llm_reward.search`. The
search's and the replay's flags are generated from :class:`SearchConfig` and :class:`ReplayConfig`."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from llm_reward.search.config import SearchConfig
from llm_reward.search.errors import SearchError, SearchPaused
from llm_reward.search.loop import search
from llm_reward.search.preferences import record_ranking
from llm_reward.search.replay import ReplayConfig, replay_best
from rewardlab.cli.commands import CLIError, Command, console, num
from rewardlab.cli.options import add_options, from_options

#: the order ``rewardlab search --help`` lists the flags in (SearchConfig's fields are in search.json's order)
SEARCH_FLAGS = (
    "task",
    "iterations",
    "samples",
    "backend",
    "model",
    "base_url",
    "api_key_env",
    "temperature",
    "cassette",
    "cassette_mode",
    "context",
    "agent",
    "vec",
    "steps",
    "hp",
    "seed",
    "selection",
    "eval_every",
    "final_k",
    "baselines",
    "ranker",
    "preferences",
    "videos",
    "critic",
    "retrain_top",
    "retrain_seeds",
    "sandbox",
    "search_seeds",
    "retrain_iteration_bests",
    "max_repairs",
    "executor",
    "workers",
    "address",
    "budget_usd",
    "budget_tokens",
    "human_notes",
    "fewshot_library",
    "name",
)


def commands() -> list[Command]:
    return [
        Command(
            "search",
            "LLM (or mutation) reward search with reflection: write, validate, train, reflect",
            _search_arguments,
            cmd_search,
        ),
        Command(
            "rank",
            "rank a search iteration's rollouts, most preferred first (ICPL feedback)",
            _rank_arguments,
            cmd_rank,
        ),
        Command(
            "replay", "re-train a search's best reward, no LLM", lambda p: add_options(p, ReplayConfig), cmd_replay
        ),
    ]


def _log(message: str) -> None:
    console.print(escape(str(message)))


def _search_arguments(p: argparse.ArgumentParser) -> None:
    add_options(p, SearchConfig, order=SEARCH_FLAGS)
    p.add_argument("--runs-dir", default=None)


def cmd_search(args: argparse.Namespace) -> int:
    cfg: SearchConfig = from_options(SearchConfig, args)
    try:
        st = search(cfg, runs_dir=args.runs_dir, log=_log)
    except SearchPaused as e:
        console.print(f"[bold yellow]paused:[/bold yellow] {escape(str(e))}")
        return 3
    except SearchError as e:
        raise CLIError(str(e)) from None
    table = Table(title=f"reward search on {cfg.task}: best candidate per iteration (score: {cfg.selection})")
    for col in ("iteration", "candidate", "score", "final fitness"):
        table.add_column(col)
    for b in st["best_per_iteration"]:
        table.add_row(str(b["iteration"]), str(b["candidate"]), num(b["score"]), num(b["final_fitness"]))
    console.print(table)
    fin = st.get("final") or {}
    for c in fin.get("candidates", []):
        console.print(
            f"re-trained {c['candidate']} on seeds {fin['seeds']}: fitness "
            f"{[round(x, 3) for x in c['retrain_fitness']]}, mean {num(c['retrain_mean'])}"
        )
    for p in fin.get("per_iteration", []):
        if p.get("retrain_fitness"):
            console.print(
                f"iteration {p['iteration']} best {p['candidate']} re-trained on seeds {fin['seeds']}: "
                f"fitness {[round(x, 3) for x in p['retrain_fitness']]}, mean {num(p['retrain_mean'])}"
            )
    for name, b in (fin.get("baselines") or {}).items():
        console.print(
            f"baseline {name} on seeds {fin['seeds']}: fitness {[round(x, 3) for x in b['fitness']]}, "
            f"mean {num(b['mean'])}"
        )
    usage = st.get("usage") or {}
    if usage:
        live, replayed, n = usage.get("live") or {}, usage.get("replayed") or {}, usage.get("invocations", 1)
        console.print(
            f"LLM usage over {n} invocation{'s' if n != 1 else ''} of this search: {live.get('calls', 0)} live "
            f"calls ({live.get('total_tokens', 0)} tokens, ${live.get('cost_usd', 0.0):.4f}), "
            f"{replayed.get('calls', 0)} replayed; per invocation in search.json -> invocations"
        )
    if fin.get("best"):
        console.print(
            f"best: {fin['best']}; replay with `rewardlab replay {Path(args.runs_dir or 'runs') / cfg.folder()}`"
        )
    return 0


def _rank_arguments(rk: argparse.ArgumentParser) -> None:
    rk.add_argument("search_dir")
    rk.add_argument("order", help="candidate numbers, most preferred first, e.g. 2,0,1")
    rk.add_argument("--iteration", type=int, required=True)
    rk.add_argument("--note", default=None, help="free-text comment passed to the next prompt")
    rk.add_argument("--preferences", default=None, help="rankings file (default SEARCH_DIR/preferences.json)")


def cmd_rank(args: argparse.Namespace) -> int:
    """Record a person's ranking of one search iteration's rollouts (ICPL feedback)."""
    try:
        path, order = record_ranking(Path(args.search_dir), args.iteration, args.order, args.note, args.preferences)
    except SearchError as e:
        raise CLIError(str(e)) from None
    console.print(
        f"ranking of iteration {args.iteration} saved to {path}: {' > '.join(f'cand_{j}' for j in order)}; "
        "re-run the search command to continue"
    )
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Re-train a search's best reward with no LLM involved."""
    try:
        rep = replay_best(from_options(ReplayConfig, args), log=lambda m: console.print(f"[red]{escape(m)}[/red]"))
    except SearchError as e:
        raise CLIError(str(e)) from None
    got = rep.result
    for seed, fit, succ in zip(got.seeds, got.fitness, got.success, strict=True):
        console.print(f"seed {seed}: fitness {num(fit)}, success {succ:.0%}")
    if not got.fitness:
        raise CLIError("no replay run finished")
    console.print(
        f"{rep.reward_file}: mean fitness {num(got.mean)} over seeds {rep.seeds} ({len(got.fitness)} finished)"
    )
    return 0
