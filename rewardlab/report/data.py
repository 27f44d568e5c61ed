"""The numbers behind a report, computed once from the run directories, and their JSON form (``report.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardlab.analysis.aggregate import cross_task, summarize
from rewardlab.analysis.hacking import HackingConfig, RunHacking, analyze_runs
from rewardlab.analysis.records import GroupKey, RunProblem, RunRecord, SkippedRun, group_records, load_runs


@dataclass
class ReportData:
    """Everything the writers need, computed once."""

    root: Path
    records: list[RunRecord]
    problems: list[RunProblem]
    skipped: list[SkippedRun]
    group_errors: list[tuple[GroupKey, str]]
    rows: list[dict[str, Any]]
    cross: dict[str, Any]
    hacking: list[RunHacking]
    ci_level: float


def collect(
    root: Path, *, reps: int, seed: int, baseline: str, reference: str, cfg: HackingConfig | None
) -> ReportData:
    records, problems, skipped = load_runs(root)
    rows: list[dict[str, Any]] = []
    good: list[RunRecord] = []
    errors: list[tuple[GroupKey, str]] = []
    # one group at a time, so a group whose runs disagree (fitness unit, threshold) is reported, not fatal
    for key, runs in group_records(records).items():
        try:
            rows.extend(summarize(runs, reps=reps, seed=seed))
        except ValueError as e:
            errors.append((key, str(e)))
        else:
            good.extend(runs)
    cross = cross_task(good, baseline=baseline, reference=reference, reps=reps, seed=seed)
    hacking = analyze_runs(good, cfg)
    return ReportData(root, good, problems, skipped, errors, rows, cross, hacking, 0.95)


def tasks_of(rep: ReportData) -> list[str]:
    return sorted({r.task for r in rep.records})


def report_json(rep: ReportData) -> dict[str, Any]:
    return {
        "root": str(rep.root),
        "groups": rep.rows,
        "cross_task": rep.cross,
        "hacking": [
            {
                "path": str(h.path),
                "task": h.task,
                "reward": h.reward,
                "agent": h.agent,
                "seed": h.seed,
                **h.result.as_dict(),
            }
            for h in rep.hacking
        ],
        "problems": [{"path": str(p.path), "reason": p.reason} for p in rep.problems],
        "group_errors": [{"task": k[0], "reward": k[1], "agent": k[2], "reason": e} for k, e in rep.group_errors],
        "skipped": [{"path": str(s.path), "state": s.state} for s in rep.skipped],
    }
