"""A run's config.json holds everything that changes its result, the reward settings the spec does not show too.

``llm:`` rewards take their sandbox mode (``REWARDLAB_LLM_SANDBOX``) and call timeout
(``REWARDLAB_LLM_CALL_TIMEOUT_S``) from the environment; the resolved values reach ``config.json``
(``reward.settings``, from :meth:`RewardSource.config`), and a run resumes only with the same ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_reward.loader import SANDBOX_ENV, TIMEOUT_ENV
from llm_reward.sandbox import probe
from rewardlab.experiment.runner import RunConfig, run_config
from rewardlab.experiment.store import RunDir, RunExistsError
from rewardlab.rewards.base import EnvReward, FunctionReward

ENERGY = """
import numpy as np


def compute_reward(s):
    gain = 400.0 * ((0.0025 * np.sin(3.0 * s.x) + 1.5 * s.v**2) - (0.0025 * np.sin(3.0 * s.prev.x) + 1.5 * s.prev.v**2))
    return gain, {"energy_gain": gain}
"""

kernel_sandbox = pytest.mark.skipif(
    not probe().sufficient, reason="llm: runs only in the kernel sandbox (Landlock and seccomp), missing here"
)


def _reward_file(tmp_path: Path) -> Path:
    d = tmp_path / "candidates" / "energy"
    d.mkdir(parents=True)
    (d / "reward.py").write_text(ENERGY)
    return d / "reward.py"


def _run(tmp_path: Path, reward: str, run_id: str) -> dict:
    cfg = RunConfig(
        task="MountainCar-v0",
        reward=reward,
        agent="ppo",
        steps=256,
        hp=["n_steps=16"],
        eval_every=-1,
        n_eval_episodes=1,
        run_id=run_id,
    )
    res = run_config(cfg, runs_dir=tmp_path / "runs")
    assert res.status == "done"
    return json.loads((res.path / "config.json").read_text())


def _sandbox(config: dict) -> dict:
    return config["reward"]["settings"]["llm_sandbox"]


@kernel_sandbox
def test_the_sandbox_mode_and_timeout_of_an_llm_run_are_in_its_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _reward_file(tmp_path)
    monkeypatch.delenv(SANDBOX_ENV, raising=False)
    monkeypatch.setenv(TIMEOUT_ENV, "3")
    first = _run(tmp_path, f"llm:{path}", "first")
    assert first["reward"]["spec"] == f"llm:{path}" and first["reward"]["name"] == "energy"
    sandbox = _sandbox(first)
    assert sandbox["mode"] == "process" and sandbox["require_kernel"] is True
    assert sandbox["call_timeout_s"] == 3.0
    assert sandbox["limits"]["cpu_s"] > 0

    monkeypatch.setenv(TIMEOUT_ENV, "4.5")  # the same spec, another timeout: another recorded value
    assert _sandbox(_run(tmp_path, f"llm:{path}", "second"))["call_timeout_s"] == 4.5

    monkeypatch.setenv(SANDBOX_ENV, "inproc")  # the same spec, run in this process: recorded too
    inproc = _sandbox(_run(tmp_path, f"llm:{path}", "third"))
    assert inproc == {"mode": "inproc", "chosen_by": f"{SANDBOX_ENV}=inproc", "call_timeout_s": None}


@kernel_sandbox
def test_an_unfinished_llm_run_resumes_only_with_the_same_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _reward_file(tmp_path)
    monkeypatch.delenv(SANDBOX_ENV, raising=False)
    monkeypatch.setenv(TIMEOUT_ENV, "3")
    _run(tmp_path, f"llm:{path}", "r")
    rd = RunDir(tmp_path / "runs" / "default" / "r")
    rd.set_status("interrupted")  # as if stopped before the end
    monkeypatch.setenv(TIMEOUT_ENV, "7")
    cfg = RunConfig(task="MountainCar-v0", reward=f"llm:{path}", agent="ppo", steps=256, hp=["n_steps=16"], run_id="r")
    with pytest.raises(RunExistsError, match=r"reward_settings: .*'call_timeout_s': 3\.0.* there, .*7\.0.* asked"):
        run_config(cfg, runs_dir=tmp_path / "runs")


def test_sources_report_their_settings() -> None:
    assert EnvReward().config() == {}
    plain = FunctionReward(lambda s: s.x, "x")
    assert plain.config() == {} and plain.source_file is None
    llm = FunctionReward(lambda s: s.x, "llm", source_file="/x/reward.py", settings={"llm_sandbox": {"mode": "inproc"}})
    assert llm.source_file == "/x/reward.py"
    composed = EnvReward() + 0.5 * llm  # settings of every part reach the run's config
    assert composed.config() == {"llm_sandbox": {"mode": "inproc"}}
