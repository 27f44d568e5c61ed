"""Every step of finishing a run is safe to crash in.

The worker is killed (``os._exit(137)``: no cleanup, no ``finally``, as kill -9 or the OOM killer) at each
point between the end of training and ``status: done``; running the same command again must end with a
finished run that trained exactly its budget, holds exactly one final evaluation, and no duplicated rows.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import rewardlab
from rewardlab.experiment.store import RunDir, RunExistsError

BUDGET = 2040  # 255 vector steps of CartPole's 8 envs; checkpoints every 204 steps
ARGS = "'CartPole-v1', reward='hand', agent='ppo', steps=2040, seed=0, eval_every=-1, n_eval_episodes=2"

# name -> code installed before the run: each kills the process at one point of finishing
CRASHES = {
    "checkpoint_swap": (  # between moving the old checkpoint aside and moving the new one in
        "_rep = os.replace\n"
        "def rep(a, b, *k):\n"
        "    if str(a).endswith('checkpoint.tmp') and Path(b).name == 'checkpoint' and STATE['n'] >= 3: os._exit(137)\n"
        "    if str(a).endswith('checkpoint.tmp'): STATE['n'] += 1\n"
        "    return _rep(a, b, *k)\n"
        "os.replace = rep\n"
    ),
    "final_policy_saved": (
        "import agents.sb3 as a\n_save = a.SB3Agent.save\n"
        "def save(self, path):\n"
        "    _save(self, path)\n"
        "    if Path(path).name != 'checkpoint.tmp': os._exit(137)\n"
        "a.SB3Agent.save = save\n"
    ),
    "final_eval_started": "r.evaluate = lambda *a, **k: os._exit(137)\n",
    "final_row_written": (
        "from rewardlab.experiment.store import RunDir\n_app = RunDir.append_metrics\n"
        "def app(self, rows):\n"
        "    _app(self, rows)\n"
        "    if any(x.get('final') for x in rows): os._exit(137)\n"
        "RunDir.append_metrics = app\n"
    ),
    "before_csv": "r._write_metrics_csv = lambda run_dir: os._exit(137)\n",
    "summary_written": (
        "from rewardlab.experiment.store import RunDir\n_w = RunDir.write_json\n"
        "def w(self, name, obj):\n"
        "    _w(self, name, obj)\n"
        "    if name == 'summary.json': os._exit(137)\n"
        "RunDir.write_json = w\n"
    ),
    "done_before_checkpoint_removed": (
        "from rewardlab.experiment.store import RunDir\n_s = RunDir.set_status\n"
        "def s(self, state, **k):\n"
        "    _s(self, state, **k)\n"
        "    if state == 'done': os._exit(137)\n"
        "RunDir.set_status = s\n"
    ),
}


@pytest.mark.slow
@pytest.mark.data_safety
@pytest.mark.parametrize("point", list(CRASHES))
def test_a_crash_at_each_finishing_point_resumes_to_one_clean_finished_run(tmp_path: Path, point: str) -> None:
    code = (
        "import os\nfrom pathlib import Path\nimport rewardlab.experiment.runner as r\nSTATE = {'n': 0}\n"
        + CRASHES[point]
        + f"r.run({ARGS}, runs_dir={str(tmp_path)!r})\n"
    )
    crashed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert crashed.returncode == 137, crashed.stderr[-3000:]
    d = tmp_path / "default" / "CartPole-v1__hand__ppo__s0"
    try:
        res = rewardlab.run(
            "CartPole-v1", reward="hand", agent="ppo", steps=BUDGET, seed=0, runs_dir=tmp_path,
            eval_every=-1, n_eval_episodes=2,
        )  # fmt: skip
        assert res.status == "done"
    except RunExistsError:  # the crash came after the run was marked done: it is finished
        assert point == "done_before_checkpoint_removed"
    rd = RunDir(d)
    assert rd.status()["state"] == "done"
    summary = json.loads((d / "summary.json").read_text())
    assert summary["steps"] == BUDGET
    rows = rd.metrics()
    finals = [r for r in rows if r.get("final")]
    assert len(finals) == 1 and finals[0]["step"] == BUDGET
    assert finals[0]["fitness"] == pytest.approx(summary["fitness_mean"])
    train = [r["step"] for r in rows if r["kind"] == "train"]
    assert train == sorted(train) and len(set(train)) == len(train)
    assert (d / "policy.zip").exists() and json.loads((d / "agent.json").read_text())["num_steps"] == BUDGET
    assert not (d / "checkpoint.tmp").exists() and not (d / "checkpoint.old").exists()
    csv_rows = (d / "metrics.csv").read_text().strip().splitlines()
    assert len(csv_rows) == len(rows) + 1
