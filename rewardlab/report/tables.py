"""The report's tables as one model (title, note, header, rows), rendered to HTML and Markdown alike."""

from __future__ import annotations

from dataclasses import dataclass

from rewardlab.analysis.hacking import HackingConfig
from rewardlab.analysis.stats import MIN_EPISODES, steps_to_level_rule
from rewardlab.report.data import ReportData, tasks_of
from rewardlab.report.format import fmt, fmt_ci, fmt_steps, plural, rel_path


@dataclass(frozen=True)
class Table:
    title: str
    note: str
    header: list[str]
    rows: list[list[str]]
    empty: str = "none"
    highlight: frozenset[int] = frozenset()
    """Indices of rows to highlight (flagged runs)."""


def build_tables(rep: ReportData) -> list[Table]:
    level = f"{rep.ci_level:.0%}"
    summary = Table(
        "Per-method summary",
        f"Final fitness: the final deterministic evaluation of each seed; [{level} stratified-bootstrap interval "
        "over seeds]. Success: fraction of final evaluation episodes at or above the threshold. AUC: mean height "
        "of the training-episode fitness curve (sample efficiency, fitness units). Steps to threshold: median over "
        f"seeds of the {steps_to_level_rule('the threshold')}, on training-episode fitness "
        "(seeds reaching it / seeds).",
        [
            "task",
            "reward",
            "agent",
            "seeds",
            "unit",
            "threshold",
            "final fitness mean",
            "final fitness IQM",
            "success rate",
            "AUC",
            f"steps to threshold (last ≥{MIN_EPISODES} episodes)",
            "wall time / run [s]",
        ],
        [
            [
                r["task"],
                r["reward"],
                r["agent"],
                str(r["n_seeds"]),
                r["fitness_unit"],
                fmt(r["success_threshold"]),
                fmt_ci(r["final_fitness_mean"], r["final_fitness_mean_ci"]),
                fmt_ci(r["final_fitness_iqm"], r["final_fitness_iqm_ci"]),
                fmt_ci(r["success_rate_mean"], r["success_rate_mean_ci"]),
                fmt_ci(r["auc_mean"], r["auc_mean_ci"]),
                f"{fmt_steps(r['steps_to_threshold_median'])} ({r['steps_to_threshold_n_reached']}/{r['n_seeds']})",
                fmt(r["wall_time_s_mean"]),
            ]
            for r in rep.rows
        ],
        "no finished runs",
    )
    cross = rep.cross
    b, h = cross["baseline"], cross["reference"]
    norm = Table(
        "Cross-task normalised score",
        f"(fitness − mean {b}) / |mean {h} − mean {b}| per task, so {b} ≈ 0 and {h} ≈ 1; IQM and mean over all "
        f"runs of all tasks with [{level} stratified-bootstrap interval].",
        ["agent", "reward", "tasks", "runs", "IQM", "mean", "mean per task"],
        [
            [
                r["agent"],
                r["reward"],
                str(r["n_tasks"]),
                str(r["n_runs"]),
                fmt_ci(r["iqm"], r["iqm_ci"]),
                fmt_ci(r["mean"], r["mean_ci"]),
                ", ".join(f"{t}: {fmt(v)}" for t, v in r["per_task"].items()),
            ]
            for r in cross["normalized_score"]
        ],
        f"no task has both {b} and {h} runs with different mean fitness",
    )
    excluded = Table(
        "Tasks left out of the normalised score",
        "",
        ["task", "agent", "reason"],
        [[e["task"], e["agent"], e["reason"]] for e in cross["excluded"]],
    )
    poi = Table(
        "Probability of improvement",
        f"P(a run of X beats a run of Y on final fitness), averaged over the tasks both ran; [{level} "
        "stratified-bootstrap interval]. 0.5: no difference.",
        ["agent", "X", "Y", "tasks", "P(X > Y)"],
        [
            [r["agent"], r["x"], r["y"], ", ".join(r["tasks"]), fmt_ci(r["value"], r["ci"])]
            for r in cross["probability_of_improvement"]
        ],
        "fewer than two rewards ran on a common task",
    )
    cfg = rep.hacking[0].result.config if rep.hacking else HackingConfig()
    verdicts = sorted(rep.hacking, key=lambda x: (not x.result.flagged, x.task, x.reward, x.agent, x.seed))
    n_flag = sum(x.result.flagged for x in verdicts)
    hack = Table(
        "Reward hacking",
        f"{n_flag} of {len(rep.hacking)} runs flagged. Training windows split into thirds; early vs late third "
        f"by a one-sided Mann–Whitney test. Flagged when the shaped return rises (p < {cfg.alpha:g} and ≥ "
        f"{cfg.min_effect:g} robust sd) while fitness does not rise (p ≥ {cfg.fitness_alpha:g}): it falls, or "
        "stays flat below the success threshold. ρ: Spearman correlation across windows.",
        [
            "task",
            "reward",
            "agent",
            "seed",
            "verdict",
            "windows",
            "ρ(shaped, fitness)",
            "ρ(component, fitness)",
            "explanation",
        ],
        [
            [
                x.task,
                x.reward,
                x.agent,
                str(x.seed),
                x.result.verdict + (f" ({x.result.kind})" if x.result.kind else ""),
                str(x.result.n_windows),
                fmt(x.result.spearman_shaped_fitness),
                ", ".join(f"{k}: {fmt(v)}" for k, v in x.result.spearman_components.items()) or "–",
                x.result.explanation,
            ]
            for x in verdicts
        ],
        "no finished runs",
        frozenset(i for i, x in enumerate(verdicts) if x.result.flagged),
    )
    problems = Table(
        "Problem runs (not aggregated)",
        "Run directories with missing, corrupted or inconsistent files, duplicates, and groups whose runs disagree.",
        ["run", "reason"],
        [[rel_path(p.path, rep.root), p.reason] for p in rep.problems]
        + [[" / ".join(k), f"group left out: {e}"] for k, e in rep.group_errors],
    )
    skipped = Table(
        "Unfinished runs (not aggregated)",
        "",
        ["run", "state"],
        [[rel_path(s.path, rep.root), s.state] for s in rep.skipped],
    )
    return [summary, norm, excluded, poi, hack, problems, skipped]


def overview_lines(rep: ReportData) -> list[str]:
    return [
        f"Experiment: {rep.root}",
        f"Runs aggregated: {len(rep.records)} in {plural(len(rep.rows), 'group')} "
        f"over {plural(len(tasks_of(rep)), 'task')}",
        f"Problem runs: {len(rep.problems)}; groups left out: {len(rep.group_errors)}; unfinished runs: {len(rep.skipped)}",
        f"Runs flagged for reward hacking: {sum(h.result.flagged for h in rep.hacking)}",
    ]


def is_num(cell: str) -> bool:
    head = cell.split(" ", 1)[0].replace(",", "").replace("−", "-")
    try:
        float(head)
    except ValueError:
        return head in ("–", "∞", "-∞")
    return True
