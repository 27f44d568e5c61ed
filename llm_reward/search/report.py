"""``search_report.md``: the search in one page (best per iteration, the re-trained top candidates beside the
baselines, each iteration's best on the fresh seeds, and the LLM bill over every invocation)."""

from __future__ import annotations

from typing import Any

from envs.registry import Task


def report_markdown(st: dict[str, Any], task: Task) -> str:
    """The search in one page: best per iteration, the re-trained top candidates, and the baselines."""
    cfg = st["config"]
    unit = task.fitness.unit
    lines = [
        f"# Reward search on {task.id} ({cfg['backend']} backend)",
        "",
        f"{cfg['samples']} samples per iteration, {cfg.get('steps') or 'task budget'} steps per run, "
        f"{cfg['agent']}, selection `{cfg['selection']}`. Fitness: {unit}.",
        "",
        "## Best candidate per iteration (training seed)",
        "",
        "| iteration | candidate | selection score | final fitness |",
        "|---|---|---|---|",
    ]
    for b in st["best_per_iteration"]:
        lines.append(f"| {b['iteration']} | {b['candidate']} | {_fmt(b['score'])} | {_fmt(b['final_fitness'])} |")
    fin = st.get("final") or {}
    lines += [
        "",
        f"## Re-trained on fresh seeds {fin.get('seeds')}, beside the baselines",
        "",
        "| reward | fitness per seed | mean |",
        "|---|---|---|",
    ]
    for c in fin.get("candidates", []):
        best = " (declared best)" if c["candidate"] == fin.get("best") else ""
        lines.append(
            f"| `{c['candidate']}`{best} | {', '.join(_fmt(x) for x in c['retrain_fitness'])} | {_fmt(c['retrain_mean'])} |"
        )
    for name, b in (fin.get("baselines") or {}).items():
        lines.append(f"| `{name}` (baseline) | {', '.join(_fmt(x) for x in b['fitness'])} | {_fmt(b['mean'])} |")
    per_it = [p for p in fin.get("per_iteration", []) if p.get("retrain_fitness")]
    if per_it:
        bests = {p["candidate"]: p for p in per_it}
        lines += [
            "",
            f"## Each iteration's best, re-trained on the same fresh seeds {fin.get('seeds')}",
            "",
            "| iteration | best of the iteration | fitness per seed | mean | success | best so far | its mean |",
            "|---|---|---|---|---|---|---|",
        ]
        for p in per_it:
            sofar = bests.get(p.get("best_so_far") or "", {})
            lines.append(
                f"| {p['iteration']} | `{p['candidate']}` | {', '.join(_fmt(x) for x in p['retrain_fitness'])} | "
                f"{_fmt(p['retrain_mean'])} | {_fmt(p.get('retrain_success'))} | `{p.get('best_so_far')}` | "
                f"{_fmt(sofar.get('retrain_mean'))} |"
            )
    usage = st.get("usage") or {}
    invocations = st.get("invocations") or []
    n_inv = len(invocations) or 1
    if usage:
        lines += [
            "",
            "## LLM usage",
            "",
            f"Totals over all {n_inv} invocation{'s' if n_inv != 1 else ''} of this search command (each one is "
            "in `search.json` -> `invocations`; per-iteration totals in `usage.by_tag`).",
            "",
            "| | calls | samples | prompt tokens | completion tokens | cost (USD) |",
            "|---|---|---|---|---|---|",
        ]
        for kind in ("live", "replayed"):
            u = usage.get(kind) or {}
            lines.append(
                f"| {kind} | {u.get('calls', 0)} | {u.get('samples', 0)} | {u.get('prompt_tokens', 0)} | "
                f"{u.get('completion_tokens', 0)} | {u.get('cost_usd', 0.0):.4f} |"
            )
        cas = usage.get("cassette") or usage.get("cassette_this_session")
        if cas:
            lines += [
                "",
                f"Cassette `{cas.get('directory')}`, all invocations: {cas.get('hits', 0)} hits "
                f"({cas.get('fixture_hits', 0)} hand-written fixtures), {cas.get('misses', 0)} misses, "
                f"{cas.get('recorded', 0)} recorded.",
            ]
        if usage.get("retries"):
            lines += ["", f"{usage['retries']} of {usage.get('http_requests', 0)} HTTP requests were retries."]
        if invocations:
            lines += [
                "",
                "| invocation | started (UTC) | outcome | iterations | candidates | live calls | live tokens "
                "| cost (USD) | replayed calls | cassette hits / misses |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            for k, inv in enumerate(invocations):
                u = inv.get("usage") or {}
                live, rep, c = u.get("live") or {}, u.get("replayed") or {}, u.get("cassette") or {}
                its = f"{inv['from_iteration']} -> {inv['to_iteration']}" if "from_iteration" in inv else "-"
                lines.append(
                    f"| {k + 1} | {inv.get('started') or '-'} | {inv.get('outcome', '-')} | {its} | "
                    f"{inv.get('candidates_validated', '-')} | {live.get('calls', 0)} | "
                    f"{live.get('total_tokens', 0)} | {live.get('cost_usd', 0.0):.4f} | {rep.get('calls', 0)} | "
                    f"{c.get('hits', 0)} / {c.get('misses', 0)} |"
                )
    elif invocations:
        lines += [
            "",
            f"The search ran in {n_inv} invocation{'s' if n_inv != 1 else ''} of its command "
            "(`search.json` -> `invocations`).",
        ]
    return "\n".join(lines) + "\n"


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.3g}"
