"""Experiment reports over a fake experiment tree written in the run-directory format of real runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from rewardlab.analysis.aggregate import load_runs
from rewardlab.cli import main
from rewardlab.experiment.store import RunDir
from rewardlab.report import fmt, fmt_ci, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TASKS = {"TaskA": ("reached (0/1)", 1.0), "TaskB": ("m", 150.0)}
STEPS, WINDOW, EVAL_EVERY = 120_000, 2_000, 20_000


def _curves(task: str, reward: str, seed: int, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(fitness, shaped, components)`` per window; TaskB/hand seed 2 is hacked."""
    rng = np.random.default_rng(100 * seed + len(task + reward))
    x = steps / STEPS
    noise = rng.normal(0.0, 1.0, steps.size)
    if task == "TaskA":
        if reward == "sparse":
            fit = np.zeros_like(x)
            return fit, fit.copy(), {"goal": fit.copy()}
        fit = np.clip(1 / (1 + np.exp(-12 * (x - 0.3 - 0.05 * seed))) + 0.05 * noise, 0, 1)
        progress = 20 * x + noise
        return fit, progress + 10 * fit, {"progress": progress, "goal": 10 * fit}
    if reward == "sparse":
        fit = 60 * x + 5 * noise
        return fit, fit / 100, {"distance": fit / 100}
    if seed == 2:  # reward hacking: the bonus grows, the distance travelled collapses after a good start
        fit = 120 * np.exp(-((x - 0.25) ** 2) / 0.03) + 10 + 6 * noise
        bonus = 800 * x + 20 * rng.normal(size=x.size)
        return fit, fit + bonus, {"distance": fit, "bonus": bonus}
    fit = 210 * (1 - np.exp(-4 * x)) + 6 * noise
    bonus = 5 * rng.normal(size=x.size)
    return fit, fit + bonus, {"distance": fit, "bonus": bonus}


def write_fake_run(root: Path, task: str, reward: str, seed: int, *, agent: str = "ppo") -> Path:
    """One finished run laid out like ``runs/demo/<run>`` (config, reward, metrics, summary, status)."""
    unit, threshold = TASKS[task]
    rd = RunDir(root / f"{task}__{reward}__{agent}__s{seed}")
    rd.write_json(
        "config.json",
        {
            "run": {"task": task, "reward": reward, "agent": agent, "steps": None, "seed": seed, "experiment": "fake"},
            "steps": STEPS,
            "agent": {"algo": agent, "task_id": task, "n_envs": 4},
            "versions": {"python": "3.11"},
        },
    )
    rd.write_json("reward.json", {"spec": reward, "name": reward, "description": f"{reward}: fake"})
    steps = np.arange(WINDOW, STEPS + 1, WINDOW, dtype=np.float64)
    fit, shaped, comps = _curves(task, reward, seed, steps)
    rows: list[dict] = []
    for i, st in enumerate(steps):
        row = {
            "kind": "train",
            "step": int(st),
            "wall_time": round(st / 3000, 3),
            "episodes": 4,
            "fitness": float(fit[i]),
            "success_rate": float(fit[i] >= threshold),
            "env_return": float(fit[i]),
            "shaped_return": float(shaped[i]),
            "length": 200.0,
            "sps": 3000.0,
        }
        row.update({f"reward/{k}": float(v[i]) for k, v in comps.items()})
        rows.append(row)
        if int(st) % EVAL_EVERY == 0:
            rows.append(
                {
                    "kind": "eval",
                    "step": int(st),
                    "wall_time": round(st / 3000, 3),
                    "episodes": 5,
                    "fitness": float(fit[i]),
                    "success_rate": float(fit[i] >= threshold),
                    "env_return": float(fit[i]),
                }
            )
    final = float(fit[-1])
    rows.append(
        {
            "kind": "eval",
            "step": STEPS + 96,
            "wall_time": STEPS / 3000 + 0.3,
            "episodes": 10,
            "fitness": final,
            "success_rate": float(final >= threshold),
            "env_return": final,
            "final": True,
        }
    )
    rd.append_metrics(rows)
    rd.write_json(
        "summary.json",
        {
            "task": task,
            "reward": reward,
            "agent": agent,
            "seed": seed,
            "steps": STEPS + 96,
            "fitness_mean": final,
            "fitness_std": 0.0,
            "fitness_ci95": [final, final],
            "fitness_unit": unit,
            "success_threshold": threshold,
            "success_rate": float(final >= threshold),
            "eval_episodes": 10,
            "eval_fitness": [final] * 10,
            "steps_per_second": 3000.0,
            "wall_time_s": STEPS / 3000 + 0.3,
        },
    )
    rd.set_status("done", steps_done=STEPS + 96)
    return rd.path


def make_experiment(root: Path) -> Path:
    """2 tasks x 2 rewards x 3 seeds, plus a run with a corrupted summary.json and an unfinished run."""
    for task in TASKS:
        for reward in ("sparse", "hand"):
            for seed in range(3):
                write_fake_run(root, task, reward, seed)
    bad = write_fake_run(root, "TaskA", "hand", 7)
    (bad / "summary.json").write_text('{"fitness_mean": 1.0, "fitn')
    running = write_fake_run(root, "TaskB", "hand", 8)
    RunDir(running).set_status("running")
    return root


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    return make_experiment(tmp_path / "fake")


def _strict_json(text: str) -> object:
    def refuse(c: str) -> object:
        raise ValueError(f"non-strict JSON constant {c}")

    return json.loads(text, parse_constant=refuse)


def test_write_report_creates_every_file(experiment: Path) -> None:
    paths = write_report(experiment)
    assert set(paths) == {"learning_curves", "aggregate", "reward_vs_fitness", "html", "markdown", "json"}
    for key in ("learning_curves", "aggregate", "reward_vs_fitness"):
        data = paths[key].read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, key
        assert paths[key].parent == experiment / "report"
    # the report folder is not mistaken for a run directory next time
    records, problems, skipped = load_runs(experiment)
    assert len(records) == 12 and len(problems) == 1 and len(skipped) == 1


def test_html_is_self_contained_with_tables_and_images(experiment: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    paths = write_report(experiment, out)
    assert paths["html"].parent == out
    page = paths["html"].read_text()
    assert page.count('src="data:image/png;base64,') == 3
    assert 'src="http' not in page and "<link" not in page  # nothing fetched from outside
    for title in ("Per-method summary", "Cross-task normalised score", "Probability of improvement", "Reward hacking"):
        assert f"<h2>{title}</h2>" in page
    row = '<tr><td>TaskA</td><td>hand</td><td>ppo</td><td class="num">3</td><td>reached (0/1)</td>'
    assert page.count(row) == 1  # summary table
    assert page.count("<tr><td>TaskA</td><td>hand</td><td>ppo</td>") == 4  # + one hacking verdict per seed
    # the hacked run is flagged, first in its table and highlighted
    assert '<tr class="flag"><td>TaskB</td><td>hand</td><td>ppo</td><td class="num">2</td>' in page
    # the corrupted run is listed with its reason and not aggregated
    assert "TaskA__hand__ppo__s7" in page and "summary.json is corrupted" in page
    assert "TaskB__hand__ppo__s8" in page and "running" in page


def test_markdown_has_the_table_rows_and_references_the_pngs(experiment: Path) -> None:
    paths = write_report(experiment)
    md = paths["markdown"].read_text()
    for name in ("learning_curves.png", "aggregate.png", "reward_vs_fitness.png"):
        assert f"]({name})" in md
        assert (paths["markdown"].parent / name).is_file()
    summary_rows = [line for line in md.splitlines() if line.startswith(("| TaskA | ", "| TaskB | "))]
    assert any(line.startswith("| TaskA | hand | ppo | 3 | reached (0/1) | 1.00 |") for line in summary_rows)
    assert any(line.startswith("| TaskB | sparse | ppo | 3 | m | 150 |") for line in summary_rows)
    assert "steps to threshold (last ≥20 episodes)" in md  # the rule, in the header and the note
    assert "the most recent episodes, at least 20 of them" in md
    assert "| ppo | hand | 2 | 6 |" in md  # normalised score over both tasks
    assert "| ppo | hand | sparse | TaskA, TaskB |" in md  # probability of improvement
    assert "| TaskA__hand__ppo__s7 | summary.json is corrupted" in md
    hacking = [line for line in md.splitlines() if "| hacking (fitness falling) |" in line]
    assert len(hacking) == 1 and hacking[0].startswith("| TaskB | hand | ppo | 2 |")


def test_report_json_is_strict_and_holds_the_verdicts(experiment: Path) -> None:
    paths = write_report(experiment)
    data = _strict_json(paths["json"].read_text())
    assert isinstance(data, dict)
    assert len(data["groups"]) == 4
    flagged = [h for h in data["hacking"] if h["verdict"] == "hacking"]
    assert [(h["task"], h["reward"], h["seed"]) for h in flagged] == [("TaskB", "hand", 2)]
    assert [Path(p["path"]).name for p in data["problems"]] == ["TaskA__hand__ppo__s7"]


def test_report_is_reproducible(experiment: Path, tmp_path: Path) -> None:
    a = write_report(experiment, tmp_path / "a")
    b = write_report(experiment, tmp_path / "b")
    assert a["markdown"].read_text() == b["markdown"].read_text()
    assert a["json"].read_text() == b["json"].read_text()


def test_groups_that_disagree_and_experiments_without_finished_runs_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "odd"
    for seed in range(2):
        write_fake_run(root, "TaskA", "hand", seed)
    other = root / "TaskA__hand__ppo__s1" / "summary.json"
    other.write_text(json.dumps({**json.loads(other.read_text()), "fitness_unit": "flags"}))
    write_fake_run(root, "TaskB", "sparse", 0)
    md = write_report(root)["markdown"].read_text()
    assert "| TaskA / hand / ppo | group left out: runs of (TaskA, hand, ppo) disagree on fitness_unit" in md
    assert "| TaskB | sparse | ppo | 1 |" in md

    broken = tmp_path / "broken"
    (broken / "r0").mkdir(parents=True)
    (broken / "r0" / "status.json").write_text("{not json")
    paths = write_report(broken)
    for key in ("learning_curves", "aggregate", "reward_vs_fitness"):
        assert paths[key].read_bytes().startswith(PNG_MAGIC)
    page = paths["html"].read_text()
    assert "status.json is corrupted" in page and "no finished runs" in page


def test_number_formatting() -> None:
    assert [fmt(x) for x in (0.0, 1.0, 0.8531, 255.45, 1604.0, 123456.0, 0.9996, 2.5e-5, None, math.nan)] == [
        "0",
        "1.00",
        "0.853",
        "255",
        "1600",
        "123000",
        "1.00",
        "2.5e-05",
        "–",
        "–",
    ]
    assert fmt_ci(0.5, [0.25, 0.75]) == "0.500 [0.250, 0.750]"
    assert fmt_ci(0.5, [None, None]) == "0.500"


def test_report_on_the_demo_experiment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The report of a real experiment the test makes: `rewardlab demo` (its three rewards) at a tiny budget."""
    runs = tmp_path / "runs"
    assert main(["demo", "--steps", "512", "--seeds", "1", "--no-progress", "--runs-dir", str(runs)]) == 0
    assert "runs written under" in capsys.readouterr().out
    paths = write_report(runs / "demo", tmp_path / "report")
    for key in ("learning_curves", "aggregate", "reward_vs_fitness"):
        assert paths[key].read_bytes().startswith(PNG_MAGIC)
    md = paths["markdown"].read_text()
    for reward in ("sparse", "env", "hand"):
        assert f"| MountainCar-v0 | {reward} | ppo |" in md
    _strict_json(paths["json"].read_text())
