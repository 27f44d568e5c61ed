"""Experiment grids: spec validation, idempotent re-runs, failures, kill -9 and Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rewardlab.cli import main
from rewardlab.experiment.compare import compare
from rewardlab.experiment.grid import GridSpecError, expand, load_spec, parse_spec
from rewardlab.experiment.store import RunDir

BASE = {
    "name": "g",
    "tasks": ["CartPole-v1"],
    "rewards": ["sparse", "hand"],
    "seeds": 2,
    "steps": 1024,
    "eval": {"every": -1, "final_episodes": 2},
}


def write_spec(tmp_path: Path, body: str, name: str = "spec.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return p


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"taskz": ["x"]}, "unknown field(s) ['taskz']"),
        ({"seeds": "three"}, "field 'seeds'"),
        ({"rewards": [3]}, "field 'rewards[0]'"),
        ({"steps": -1}, "field 'steps'"),
        ({"eval": {"evry": 1}}, "field 'eval': unknown key(s) ['evry']"),
        ({"hp": {"sac": ["x=1"]}}, "field 'hp.sac'"),
        ({"steps_per_task": {"Acrobot-v1": 10}}, "field 'steps_per_task.Acrobot-v1'"),
        ({"vec": "envpool"}, "field 'vec'"),
    ],
)
def test_malformed_specs_name_the_field(patch: dict, message: str) -> None:
    with pytest.raises(GridSpecError) as e:
        parse_spec({**BASE, **patch})
    assert message in str(e.value)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"tasks": ["CartPole-v1", "CartPol-v1"]}, "field 'tasks[1]'"),
        ({"rewards": ["sparse", "handd"]}, "field 'rewards[1]' ('handd') for task CartPole-v1"),
        ({"agents": ["ppo", "sac"]}, "field 'agents[1]' ('sac') for task CartPole-v1"),
    ],
)
def test_unresolvable_names_name_the_field(patch: dict, message: str) -> None:
    with pytest.raises(GridSpecError) as e:
        expand(parse_spec({**BASE, **patch}))
    assert message in str(e.value)


def test_skip_incompatible_and_shipped_suites_expand() -> None:
    spec = parse_spec(
        {
            **BASE,
            "tasks": ["CartPole-v1", "rewardlab/CartPoleKeepLeft-v0"],
            "rewards": ["env", "hand"],
            "skip_incompatible": True,
        }
    )
    plan = expand(spec)
    assert len(plan.runs) == 2 * 2 + 1 * 2 and len(plan.skipped) == 1
    suites = sorted((Path(__file__).parents[1] / "rewardlab" / "suites").glob("*.toml"))
    assert len(suites) >= 3
    for s in suites:
        assert expand(load_spec(s)).runs


def test_vec_reaches_every_run_and_a_task_without_a_batched_env_names_the_field() -> None:
    assert parse_spec(BASE).hash == parse_spec({**BASE, "vec": "gym"}).hash  # older experiments keep their hash
    spec = parse_spec({**BASE, "vec": "batched"})
    assert spec.hash != parse_spec(BASE).hash
    assert {r.vec for r in expand(spec).runs} == {"batched"}
    mixed = {**BASE, "tasks": ["CartPole-v1", "rewardlab/CartPoleKeepLeft-v0"], "rewards": ["hand"], "vec": "batched"}
    with pytest.raises(GridSpecError, match=r"field 'vec' \('batched'\) for task rewardlab/CartPoleKeepLeft-v0"):
        expand(parse_spec(mixed))
    plan = expand(parse_spec({**mixed, "skip_incompatible": True}))
    assert [r.task for r in plan.runs] == ["CartPole-v1"] * 2 and plan.skipped[0][0] == "rewardlab/CartPoleKeepLeft-v0"


def test_grid_runs_once_and_is_idempotent(tmp_path: Path) -> None:
    spec = parse_spec(BASE)
    r1 = compare(spec, executor="serial", runs_dir=tmp_path, progress=False)
    assert [r.status for r in r1.results] == ["done"] * 4
    cfg = json.loads((tmp_path / "g" / "CartPole-v1__hand__ppo__s1" / "config.json").read_text())
    assert cfg["run"]["spec_hash"] == spec.hash
    r2 = compare(spec, executor="serial", runs_dir=tmp_path, progress=False)
    assert r2.already_done == 4 and r2.results == []
    changed = parse_spec({**BASE, "steps": 2048})
    with pytest.raises(GridSpecError, match="different spec"):
        compare(changed, executor="serial", runs_dir=tmp_path, progress=False)


@pytest.mark.data_safety
def test_a_crashing_run_is_recorded_and_the_grid_continues(tmp_path: Path) -> None:
    bad = tmp_path / "boom.py"
    bad.write_text("def reward(s):\n    raise RuntimeError('boom at step')\n")
    spec = parse_spec({**BASE, "rewards": ["sparse", str(bad)], "seeds": 1})
    res = compare(spec, executor="serial", runs_dir=tmp_path / "runs", progress=False)
    by_id = {r.run_id: r for r in res.results}
    assert by_id["CartPole-v1__sparse__ppo__s0"].status == "done"
    failed = by_id["CartPole-v1__boom.py__ppo__s0"]
    assert failed.status == "failed" and "boom at step" in failed.error
    st = RunDir(tmp_path / "runs" / "g" / "CartPole-v1__boom.py__ppo__s0").status()
    assert st["state"] == "failed" and "boom at step" in st["traceback"]
    again = compare(spec, executor="serial", runs_dir=tmp_path / "runs", progress=False)
    assert again.results == [] and again.left["failed"] == ["CartPole-v1__boom.py__ppo__s0"]
    retried = compare(spec, executor="serial", runs_dir=tmp_path / "runs", progress=False, retry=True)
    assert [r.status for r in retried.results] == ["failed"]


@pytest.mark.slow
def test_local_pool_runs_in_parallel_and_matches_serial(tmp_path: Path) -> None:
    spec = parse_spec({**BASE, "seeds": 1})
    serial = compare(spec, executor="serial", runs_dir=tmp_path / "s", progress=False)
    pool = compare(spec, executor="local", workers=2, runs_dir=tmp_path / "p", progress=False)
    fits = lambda res: {r.run_id: r.summary["eval_fitness"] for r in res.results}  # noqa: E731
    assert fits(serial) == fits(pool)


@pytest.mark.slow
@pytest.mark.data_safety
def test_kill_minus_9_mid_grid_then_rerun_gives_one_result_per_run(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        """
        name = "k9"
        tasks = ["CartPole-v1"]
        rewards = ["sparse", "hand", "env"]
        seeds = 2
        steps = 6000
        [eval]
        every = -1
        final_episodes = 2
    """,
    )
    runs = tmp_path / "runs"
    cmd = [
        sys.executable,
        "-m",
        "rewardlab.cli",
        "compare",
        str(spec),
        "--workers",
        "2",
        "--runs-dir",
        str(runs),
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    exp = runs / "k9"
    while time.time() < deadline:
        states = [json.loads(p.read_text())["state"] for p in exp.glob("*/status.json") if p.stat().st_size]
        if states.count("done") >= 1 and "running" in states:
            break
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.5)  # the pool workers notice their parent is gone and exit
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    dirs = sorted(p for p in exp.iterdir() if p.is_dir())
    assert len(dirs) == 6
    for d in dirs:
        assert RunDir(d).status()["state"] == "done"
        rows = RunDir(d).metrics()
        finals = [r for r in rows if r.get("final")]
        assert len(finals) == 1, d
        steps = [r["step"] for r in rows if r["kind"] == "train"]
        assert steps == sorted(set(steps)), d


@pytest.mark.slow
def test_ray_executor_matches_the_local_pool(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    spec = parse_spec({**BASE, "seeds": 1})
    local = compare(spec, executor="local", workers=2, runs_dir=tmp_path / "local", progress=False)
    ray_res = compare(spec, executor="ray", workers=2, runs_dir=tmp_path / "ray", progress=False)
    assert {r.status for r in ray_res.results} == {"done"}
    fits = lambda res: {r.run_id: r.summary["eval_fitness"] for r in res.results}  # noqa: E731
    assert fits(local) == fits(ray_res)
    a = RunDir(tmp_path / "local" / "g" / "CartPole-v1__hand__ppo__s0").metrics()
    b = RunDir(tmp_path / "ray" / "g" / "CartPole-v1__hand__ppo__s0").metrics()
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("wall_time", "sps")} for r in rows]  # noqa: E731
    assert strip(a) == strip(b)


def test_cli_compare_bad_spec_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write_spec(tmp_path, 'name = "x"\ntasks = ["CartPole-v1"]\nrewards = ["sparse"]\nseeds = "two"\n')
    assert main(["compare", str(p), "--runs-dir", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "field 'seeds'" in capsys.readouterr().err
    assert main(["compare", "no-such-suite", "--no-progress"]) == 2
