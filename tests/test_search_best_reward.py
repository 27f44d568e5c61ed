"""One reward file format: what a search writes as its best reward (``compute_reward(s)`` in ``best_reward.py``)
is what ``rewardlab run --reward best_reward.py`` takes next, run sandboxed as ``llm:best_reward.py`` would be."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import envs
from llm_reward.sandbox import SandboxedReward, kernel
from llm_reward.search import SearchConfig, search
from rewardlab.cli import main
from rewardlab.rewards.base import FunctionReward
from rewardlab.rewards.registry import RewardSpecError, is_llm_format, resolve_reward

SHIPPED = sorted((Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "search").glob("*.best_reward.py"))
TINY = dict(
    iterations=1,
    samples=1,
    steps=256,
    retrain_top=1,
    retrain_seeds=1,
    executor="serial",
    eval_every=-1,
    final_episodes=1,
    n_transitions=64,
    baselines=(),
)


def test_a_searchs_best_reward_trains_with_rewardlab_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    search(SearchConfig(task="CartPole-v1", **TINY), runs_dir=tmp_path, log=lambda m: None)
    best = tmp_path / "search__CartPole-v1__mutation" / "best_reward.py"
    assert "def compute_reward(s)" in best.read_text()
    capsys.readouterr()
    code = main(
        [
            "run",
            "--task",
            "CartPole-v1",
            "--reward",
            str(best),
            "--steps",
            "256",
            "--eval-episodes",
            "1",
            "--experiment",
            "next",
            "--runs-dir",
            str(tmp_path),
            "--no-progress",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    notice = [line for line in out.err.splitlines() if "sandboxed" in line]
    assert len(notice) == 1 and notice[0].endswith(f"as --reward llm:{best}"), out.err
    run_dir = tmp_path / "next" / "CartPole-v1__best_reward.py__ppo__s0"
    info = json.loads((run_dir / "reward.json").read_text())
    assert info["spec"] == str(best) and info["sandbox"]["limits"]["require_kernel"] is True
    assert (run_dir / "reward_source.py").read_text() == best.read_text()
    assert json.loads((run_dir / "summary.json").read_text())["steps"] >= 256


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_search_outputs_resolve_sandboxed(path: Path, tmp_path: Path) -> None:
    copy = tmp_path / "best_reward.py"
    copy.write_text(path.read_text())
    assert is_llm_format(copy.read_text())
    task_id = path.name.split("__")[1].replace("rewardlab_", "rewardlab/")
    src = resolve_reward(str(copy), envs.get_task(task_id))
    try:
        assert isinstance(src, SandboxedReward)
    finally:
        src.close()


def test_rewards_the_loader_takes_itself_still_load_in_process(tmp_path: Path) -> None:
    mc = envs.get_task("MountainCar-v0")
    both = tmp_path / "both.py"
    both.write_text(
        textwrap.dedent("""
        import numpy as np
        import rewardlab

        @rewardlab.reward("fmt_speed", tasks="MountainCar-v0")
        def speed(s):
            return {"speed": 10 * np.abs(s.v)}

        def compute_reward(s):
            return s.x, {"x": s.x}
    """)
    )
    named = tmp_path / "named.py"
    named.write_text("def reward(s):\n    return {'x': s.x}\n\ndef compute_reward(s):\n    return s.x, {'x': s.x}\n")
    assert not is_llm_format(both.read_text()) and not is_llm_format(named.read_text())
    assert resolve_reward(str(both), mc).name == "fmt_speed"
    assert isinstance(resolve_reward(str(named), mc), FunctionReward)
    explicit = resolve_reward(f"{named}:compute_reward", mc)  # an explicit function: the user's own, trusted code
    assert isinstance(explicit, FunctionReward) and explicit.name == "compute_reward"


def test_refusals_name_the_spec_that_runs_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mc = envs.get_task("MountainCar-v0")
    none = tmp_path / "none.py"
    none.write_text("x = 1\n")
    with pytest.raises(RewardSpecError, match="defines no reward") as err:
        resolve_reward(str(none), mc)
    assert f"'llm:{none}'" in str(err.value)
    llm = tmp_path / "best_reward.py"
    llm.write_text("import numpy as np\n\ndef compute_reward(s):\n    return -np.abs(s.x), {'x': -np.abs(s.x)}\n")
    monkeypatch.setattr("llm_reward.sandbox.probe", lambda: kernel.KernelSupport("darwin", 0, False, False))
    with pytest.raises(RewardSpecError, match="lacks Landlock") as err:
        resolve_reward(str(llm), mc)  # never run unsandboxed: refused, with the explicit weaker spec named
    assert f"llm-process:{llm}" in str(err.value)
