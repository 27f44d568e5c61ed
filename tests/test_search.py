"""The reward-search loop end to end: mutation backend offline, and a live OpenAI-compatible
server (through the real openai client) with injected faults, then resume from the cassette."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_reward.search import SearchConfig, SearchError, search
from llm_reward.testing import ScriptedChatServer

GOOD = """Here is a reward.
```python
import numpy as np

def compute_reward(s):
    upright = np.cos(s.theta)
    centered = -0.1 * s.x ** 2
    return upright + centered, {"upright": upright, "centered": centered}
```
"""
BROKEN = "```python\nimport os\ndef compute_reward(s):\n    return s.x, {'x': s.x}\n```"

SMALL = dict(
    task="CartPole-v1",
    iterations=2,
    samples=2,
    steps=1024,
    retrain_top=1,
    retrain_seeds=1,
    executor="serial",
    eval_every=-1,
    final_episodes=2,
    n_transitions=64,
)


@pytest.mark.data_safety
def test_mutation_search_persists_everything_and_resumes(tmp_path: Path) -> None:
    lib = tmp_path / "library.jsonl"
    st = search(SearchConfig(**SMALL, fewshot_library=str(lib)), runs_dir=tmp_path, log=lambda m: None)
    sdir = tmp_path / "search__CartPole-v1__mutation"
    entries = [json.loads(line) for line in lib.read_text().splitlines()]
    assert len(entries) == 1 and entries[0]["task_id"] == "CartPole-v1" and "compute_reward" in entries[0]["code"]
    assert st["next_iteration"] == 2 and len(st["candidates"]) == 4
    for c in st["candidates"]:
        d = sdir / c["dir"]
        for f in ("response.txt", "reward.py", "validation.json"):
            assert (d / f).is_file(), (d, f)
        if c["valid"]:
            assert (d / "reflection.json").is_file()
    assert all(c["parent"] is not None for c in st["candidates"] if c["iteration"] == 1)
    assert (sdir / "best_reward.py").is_file() and json.loads((sdir / "best.json").read_text())["retrain_fitness"]
    # each iteration's best is re-trained on the fresh seeds too, beside the top candidates
    per_it = st["final"]["per_iteration"]
    assert [p["iteration"] for p in per_it] == [0, 1]
    for p in per_it:
        assert len(p["retrain_fitness"]) == 1, p
        assert (sdir / f"{p['candidate'].replace('/', '_')}_retrain__s1000" / "summary.json").is_file()
        assert p["best_so_far"] is not None
    assert "Each iteration's best, re-trained" in (sdir / "search_report.md").read_text()
    # every re-trained candidate (top and iteration bests) competes on the fresh seeds for declared best
    final = st["final"]["candidates"]
    assert {c["candidate"] for c in final} >= {p["candidate"] for p in per_it}
    assert st["final"]["best"] == max(final, key=lambda c: c["retrain_mean"])["candidate"]
    n_runs = len([p for p in sdir.iterdir() if (p / "status.json").exists()])
    again = search(SearchConfig(**SMALL), runs_dir=tmp_path, log=lambda m: None)
    assert again["candidates"] == st["candidates"]
    assert len([p for p in sdir.iterdir() if (p / "status.json").exists()]) == n_runs


@pytest.mark.slow
def test_live_server_with_faults_then_replay_without_network(tmp_path: Path) -> None:
    faults = {1: "429", 2: "500", 3: "malformed", 5: "timeout"}
    with ScriptedChatServer([GOOD, BROKEN], faults=faults) as server:
        cfg = SearchConfig(
            **{**SMALL, "iterations": 1},
            backend="openai",
            model="scripted",
            base_url=server.url,
            api_key_env=None,
            timeout_s=1.0,
            max_repairs=1,
        )
        logs: list[str] = []
        st = search(cfg, runs_dir=tmp_path, log=logs.append)
        served = len(server.requests)
    labels = sorted(c["label"] for c in st["candidates"])
    assert "ok" in labels
    assert served >= 4  # the faults were really hit and retried
    retried = [m for m in logs if m.startswith("LLM call iter0") and "retrying in" in m]
    assert [m.split("failed (", 1)[1].split(":")[0].split(")")[0] for m in retried] == [
        "HTTP 429",
        "HTTP 500",
        "malformed response",
        "timeout",
    ], retried
    assert st["usage"]["retries"] == 4
    # server gone: the same search replays from its cassette and makes no request
    sdir = tmp_path / "search__CartPole-v1__openai"
    (sdir / "search.json").unlink()  # forget progress, keep the cassette: every call must be a replay
    cfg2 = SearchConfig(
        **{**SMALL, "iterations": 1},
        backend="openai",
        model="scripted",
        base_url=server.url,
        api_key_env=None,
        timeout_s=1.0,
        max_repairs=1,
        cassette_mode="replay",
    )
    st2 = search(cfg2, runs_dir=tmp_path, log=lambda m: None)
    assert [c["label"] for c in st2["candidates"]] == [c["label"] for c in st["candidates"]]


def test_relative_runs_dir_works(tmp_path: Path, monkeypatch) -> None:
    """The sandbox child runs in its own working directory, so relative paths must not leak into it."""
    monkeypatch.chdir(tmp_path)
    st = search(SearchConfig(**{**SMALL, "iterations": 1, "samples": 1}), runs_dir="rel_runs", log=lambda m: None)
    assert [c["valid"] for c in st["candidates"]] == [True]


def test_iteration_bests_retraining_can_be_switched_off(tmp_path: Path) -> None:
    st = search(
        SearchConfig(**SMALL, retrain_iteration_bests=False, hp=("n_epochs=2",)), runs_dir=tmp_path, log=lambda m: None
    )
    sdir = tmp_path / "search__CartPole-v1__mutation"
    # hyperparameter overrides reach every run: candidates, re-training and baselines
    runs = [p for p in sdir.iterdir() if (p / "config.json").is_file()]
    assert runs and all(json.loads((p / "config.json").read_text())["run"]["hp"] == ["n_epochs=2"] for p in runs)
    retrained = [p.name for p in sdir.iterdir() if "_retrain__" in p.name]
    assert len(retrained) == 1  # retrain_top=1, one seed
    # only the top candidate was re-trained; it shows in the per-iteration table only if it was an iteration's best
    top = st["final"]["candidates"][0]["candidate"]
    assert all(("retrain_fitness" in p) == (p["candidate"] == top) for p in st["final"]["per_iteration"])


def test_bad_hyperparameter_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(SearchError, match="unknown override"):
        search(SearchConfig(**SMALL, hp=("bogus=1",)), runs_dir=tmp_path, log=lambda m: None)
    assert not (tmp_path / "search__CartPole-v1__mutation").exists()


@pytest.mark.slow
def test_a_second_search_with_the_same_settings_reuses_the_baseline_runs(tmp_path: Path) -> None:
    one = {**SMALL, "iterations": 1, "samples": 1}
    a = search(SearchConfig(**one, name="a"), runs_dir=tmp_path, log=lambda m: None)
    logs: list[str] = []
    b = search(SearchConfig(**one, name="b"), runs_dir=tmp_path, log=logs.append)
    assert a["final"]["baselines"] == b["final"]["baselines"]
    for name in ("sparse", "hand"):
        reused = tmp_path / "b" / f"baseline_{name}__s1000" / "reused_from.txt"
        assert reused.read_text().strip() == str(tmp_path.resolve() / "a" / f"baseline_{name}__s1000")
    assert sum("reusing the identical finished run" in m for m in logs) == 2
    # different settings (another budget) train their own baselines
    c = search(SearchConfig(**{**one, "steps": 2048}, name="c"), runs_dir=tmp_path, log=lambda m: None)
    assert not list((tmp_path / "c").glob("baseline_*/reused_from.txt")) and c["final"]["baselines"]


def test_replay_retrains_the_best_reward_with_the_searchs_own_settings(tmp_path: Path) -> None:
    from rewardlab.cli import main

    search(
        SearchConfig(**{**SMALL, "iterations": 1}, hp=("n_epochs=2",), baselines=()),
        runs_dir=tmp_path,
        log=lambda m: None,
    )
    sdir = tmp_path / "search__CartPole-v1__mutation"
    assert main(["replay", str(sdir), "--seeds", "1", "--runs-dir", str(tmp_path), "--no-progress"]) == 0
    cfg = json.loads((tmp_path / "replay" / f"replay__{sdir.name}__s0" / "config.json").read_text())
    assert cfg["run"]["hp"] == ["n_epochs=2"] and cfg["steps"] == SMALL["steps"] and cfg["run"]["agent"] == "ppo"
    assert cfg["run"]["reward"] == f"llm:{sdir / 'best_reward.py'}"
    assert main(["replay", str(tmp_path / "nothing-here"), "--no-progress"]) == 2
    assert (
        main(
            [
                "replay",
                str(sdir),
                "--seeds",
                "1",
                "--first-seed",
                "2000",
                "--hp",
                "bogus=1",
                "--runs-dir",
                str(tmp_path),
                "--no-progress",
            ]
        )
        == 2
    )
    assert not (tmp_path / "replay" / f"replay__{sdir.name}__s2000").exists()
    # a finished replay is read back, not trained again
    assert main(["replay", str(sdir), "--seeds", "1", "--runs-dir", str(tmp_path), "--no-progress"]) == 0


def test_search_seeds_score_each_candidate_by_its_mean_over_seeds(tmp_path: Path) -> None:
    st = search(
        SearchConfig(**{**SMALL, "iterations": 1, "samples": 2}, search_seeds=2, retrain_iteration_bests=False),
        runs_dir=tmp_path,
        log=lambda m: None,
    )
    sdir = tmp_path / "search__CartPole-v1__mutation"
    for c in st["candidates"]:
        assert c["run_ids"] == [f"iter_0_cand_{c['index']}__s0", f"iter_0_cand_{c['index']}__s1"]
        fits = [json.loads((sdir / r / "summary.json").read_text())["fitness_mean"] for r in c["run_ids"]]
        assert c["final_fitness"] == pytest.approx(sum(fits) / 2)
        assert len(c["seed_scores"]) == 2
