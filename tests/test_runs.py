"""Runs end to end: the run directory, bad input, interruption and resume, determinism."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _util import wait_for

import rewardlab
from rewardlab.cli import main
from rewardlab.experiment.store import RunDir, RunExistsError
from rewardlab.rewards import RewardError

FAST = {"n_eval_episodes": 3, "eval_every": -1}


def _digest(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def test_run_writes_the_full_run_directory(tmp_path: Path) -> None:
    res = rewardlab.run(
        "CartPole-v1",
        reward="hand",
        agent="ppo",
        steps=2048,
        seed=0,
        runs_dir=tmp_path,
        eval_every=1024,
        n_eval_episodes=3,
    )
    d = res.path
    assert d == tmp_path / "default" / "CartPole-v1__hand__ppo__s0"
    for f in (
        "config.json",
        "reward.json",
        "metrics.jsonl",
        "metrics.csv",
        "policy.zip",
        "summary.json",
        "status.json",
    ):
        assert (d / f).is_file(), f
    assert any((d / "tb").glob("events.out.tfevents.*"))
    assert not (d / "checkpoint").exists()
    status = json.loads((d / "status.json").read_text())
    assert status["state"] == "done"
    s = json.loads((d / "summary.json").read_text())
    assert s["eval_episodes"] == 3 and len(s["eval_fitness"]) == 3
    assert 0 <= s["success_rate"] <= 1 and s["steps"] == 2048 and s["steps_per_second"] > 0
    rows = RunDir(d).metrics()
    train = [r for r in rows if r["kind"] == "train"]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert train and {"reward/alive", "reward/upright", "reward/centered"} <= set(train[0])
    assert len(evals) >= 2 and evals[-1].get("final")
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["agent"]["source"].startswith("rl-zoo3") and cfg["run"]["reward"] == "hand"
    # TensorBoard holds fitness, env/shaped return and every component
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for ev in (d / "tb").glob("events.out.tfevents.*"):
        acc = EventAccumulator(str(ev))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    assert {"fitness/train", "return/env", "return/shaped", "reward/upright", "fitness/eval"} <= tags


@pytest.mark.data_safety
def test_finished_run_is_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rewardlab.run("CartPole-v1", reward="env", agent="ppo", steps=512, seed=1, runs_dir=tmp_path, **FAST)
    d = tmp_path / "default" / "CartPole-v1__env__ppo__s1"
    before = _digest(d)
    with pytest.raises(RunExistsError, match="already holds a finished run"):
        rewardlab.run("CartPole-v1", reward="env", agent="ppo", steps=512, seed=1, runs_dir=tmp_path, **FAST)
    code = main(
        [
            "run",
            "--task",
            "CartPole-v1",
            "--reward",
            "env",
            "--steps",
            "512",
            "--seed",
            "1",
            "--runs-dir",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert code == 2
    assert "already holds a finished run" in capsys.readouterr().err
    assert _digest(d) == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--task", "CartPol-v1"], "unknown task 'CartPol-v1'. Did you mean CartPole-v1"),
        (["--task", "CartPole-v1", "--reward", "shaped"], "Valid rewards: env, sparse, hand, potential"),
        (["--task", "CartPole-v1", "--agent", "ppo2"], "ppo, a2c, dqn, sac, td3"),
        (["--task", "CartPole-v1", "--agent", "sac"], "dqn"),
        (["--task", "CartPole-v1", "--hp", "n_stepz=3"], "n_stepz"),
        (["--task", "CartPole-v1", "--steps", "-5"], "--steps must be positive"),
        (["--task", "rewardlab/CartPoleKeepLeft-v0", "--reward", "env"], "no built-in reward"),
    ],
)
def test_bad_input_gets_one_clear_message_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code = main(["run", *argv, "--runs-dir", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in " ".join(err.split()), err
    assert not any(tmp_path.iterdir())


def test_nan_reward_fails_the_run_with_a_clear_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "nan_reward.py"
    f.write_text(
        textwrap.dedent("""
        import numpy as np
        def reward(s):
            return {"bad": np.where(s.x > 0, np.nan, 0.0), "ok": 1.0}
    """)
    )
    with pytest.raises(RewardError, match="NaN or inf in component"):
        rewardlab.run("CartPole-v1", reward=str(f), steps=512, runs_dir=tmp_path / "runs", **FAST)
    d = tmp_path / "runs" / "default" / "CartPole-v1__nan_reward.py__ppo__s0"
    st = json.loads((d / "status.json").read_text())
    assert st["state"] == "failed" and "NaN" in st["error"] and "Traceback" in st["traceback"]
    assert (d / "reward_source.py").read_text() == f.read_text()
    code = main(
        [
            "run",
            "--task",
            "CartPole-v1",
            "--reward",
            str(f),
            "--steps",
            "512",
            "--runs-dir",
            str(tmp_path / "r2"),
            "--no-progress",
        ]
    )
    assert code == 2 and "NaN or inf" in capsys.readouterr().err


def test_wrong_shape_reward_is_reported(tmp_path: Path) -> None:
    f = tmp_path / "shape.py"
    f.write_text("import numpy as np\ndef reward(s):\n    return np.ones(3)\n")
    with pytest.raises(RewardError, match=r"shape \(3,\); expected \(8,\)"):
        rewardlab.run("CartPole-v1", reward=str(f), steps=512, runs_dir=tmp_path, **FAST)


def test_same_seed_same_results(tmp_path: Path) -> None:
    a = rewardlab.run("CartPole-v1", reward="hand", steps=1024, seed=3, runs_dir=tmp_path / "a", **FAST)
    b = rewardlab.run("CartPole-v1", reward="hand", steps=1024, seed=3, runs_dir=tmp_path / "b", **FAST)
    c = rewardlab.run("CartPole-v1", reward="hand", steps=1024, seed=4, runs_dir=tmp_path / "c", **FAST)
    drop = {"wall_time", "sps"}
    rows = [[{k: v for k, v in r.items() if k not in drop} for r in RunDir(x.path).metrics()] for x in (a, b, c)]
    assert rows[0] == rows[1]
    assert rows[0] != rows[2]
    assert a.summary["eval_fitness"] == b.summary["eval_fitness"]


def test_runs_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REWARDLAB_RUNS", str(tmp_path / "envroot"))
    res = rewardlab.run("CartPole-v1", reward="sparse", steps=256, experiment="exp1", **FAST)
    assert res.path == tmp_path / "envroot" / "exp1" / "CartPole-v1__sparse__ppo__s0"


@pytest.mark.slow
@pytest.mark.data_safety
def test_ctrl_c_leaves_a_resumable_run(tmp_path: Path) -> None:
    """SIGINT mid-run: exit 130, status interrupted with a checkpoint; the same command resumes."""
    cmd = [
        sys.executable,
        "-m",
        "rewardlab.cli",
        "run",
        "--task",
        "CartPole-v1",
        "--reward",
        "hand",
        "--steps",
        "40000",
        "--runs-dir",
        str(tmp_path),
        "--no-progress",
        "--eval-every",
        "-1",
        "--eval-episodes",
        "3",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    d = tmp_path / "default" / "CartPole-v1__hand__ppo__s0"
    # (the runner handles SIGINT itself, even when this test runs under a shell that ignores it)
    assert wait_for(lambda: (d / "checkpoint" / "state.json").exists() or proc.poll() is not None, 120)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    st = json.loads((d / "status.json").read_text())
    assert st["state"] == "interrupted"
    steps_at_stop = json.loads((d / "checkpoint" / "state.json").read_text())["steps"]
    assert 0 < steps_at_stop < 40000
    rows_before = RunDir(d).metrics()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    st = json.loads((d / "status.json").read_text())
    assert st["state"] == "done"
    rows = RunDir(d).metrics()
    train_steps = [r["step"] for r in rows if r["kind"] == "train"]
    assert train_steps == sorted(train_steps) and len(set(train_steps)) == len(train_steps)
    assert len(rows) > len([r for r in rows_before if r["step"] <= steps_at_stop])
    s = json.loads((d / "summary.json").read_text())
    assert s["steps"] == 40000  # a resumed run trains exactly its budget


@pytest.mark.data_safety
def test_crash_between_final_eval_and_summary_resumes_to_one_final_row(tmp_path: Path) -> None:
    """kill -9 (os._exit) right after the final evaluation row is written, before the summary: the re-run
    resumes from the checkpoint taken at the last step (2040 = 10 x 204) and ends with exactly one final evaluation and exactly its budget."""
    code = (
        "import os, rewardlab.experiment.runner as r\n"
        "r._write_metrics_csv = lambda run_dir: os._exit(137)\n"
        f"r.run('CartPole-v1', reward='hand', agent='ppo', steps=2040, seed=0, runs_dir={str(tmp_path)!r}, "
        "eval_every=-1, n_eval_episodes=2)\n"
    )
    crashed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert crashed.returncode == 137, crashed.stderr
    d = tmp_path / "default" / "CartPole-v1__hand__ppo__s0"
    assert not (d / "summary.json").exists()
    assert sum(1 for r in RunDir(d).metrics() if r.get("final")) == 1
    res = rewardlab.run(
        "CartPole-v1",
        reward="hand",
        agent="ppo",
        steps=2040,
        seed=0,
        runs_dir=tmp_path,
        eval_every=-1,
        n_eval_episodes=2,
    )
    assert res.status == "done" and res.summary["steps"] == 2040
    finals = [r for r in RunDir(d).metrics() if r.get("final")]
    assert len(finals) == 1 and finals[0]["step"] == 2040
