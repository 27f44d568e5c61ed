"""Search feedback and offline operation: ICPL rankings (synthetic and human, with rollout videos), the LLM
critic, the shipped fixture cassettes, and a search killed with SIGKILL that resumes without repeating a call."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llm_reward.cassette import shipped_cassette
from llm_reward.search import SearchConfig, SearchError, SearchPaused, search
from llm_reward.testing import ScriptedChatServer
from rewardlab.cli import main as cli_main

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
    baselines=(),
)
QUIET = dict(log=lambda m: None)

GOOD = """A reward for staying upright near the centre.
```python
import numpy as np

def compute_reward(s):
    upright = np.cos(s.theta)
    centered = -0.1 * s.x ** 2
    return upright + centered, {"upright": upright, "centered": centered}
```
"""
REVISED = """The centring term is too weak relative to the upright term; here is a rescaled version.
```python
import numpy as np

def compute_reward(s):
    upright = np.cos(s.theta)
    centered = -0.5 * s.x ** 2
    return upright + centered, {"upright": upright, "centered": centered}
```
"""


def _runs(sdir: Path) -> list[str]:
    return sorted(p.name for p in sdir.iterdir() if (p / "status.json").exists())


def test_synthetic_ranker_orders_by_fitness_and_feeds_the_next_prompt(tmp_path: Path) -> None:
    st = search(SearchConfig(**SMALL, ranker="synthetic"), runs_dir=tmp_path, **QUIET)
    sdir = tmp_path / "search__CartPole-v1__mutation"
    prefs = json.loads((sdir / "preferences.json").read_text())
    order = prefs["iter_0"]["order"]
    assert sorted(order) == [0, 1] and prefs["iter_0"]["source"].startswith("synthetic")
    cands = {c["id"]: c for c in st["candidates"]}
    fits = [cands[f"iter_0/cand_{j}"]["final_fitness"] for j in order]
    assert fits[0] >= fits[1]
    assert st["best_per_iteration"][0]["candidate"] == f"iter_0/cand_{order[0]}"
    prompt = json.loads((sdir / "iter_1" / "prompt.json").read_text())[-1]["content"]
    assert "ranked them, most preferred first" in prompt
    worst = (sdir / "iter_0" / f"cand_{order[-1]}" / "reward.py").read_text().strip()
    assert worst in prompt  # the least preferred reward is shown
    assert all(c["parent"] == f"iter_0/cand_{order[0]}" for c in st["candidates"] if c["iteration"] == 1)


def test_human_ranker_pauses_with_videos_and_resumes_after_rank(tmp_path: Path) -> None:
    cfg = SearchConfig(**SMALL, ranker="human")
    with pytest.raises(SearchPaused, match="rewardlab rank"):
        search(cfg, runs_dir=tmp_path, **QUIET)
    sdir = tmp_path / "search__CartPole-v1__mutation"
    rank_me = (sdir / "iter_0" / "RANK_ME.md").read_text()
    gifs = sorted(sdir.glob("iter_0/cand_*/rollout.gif"))
    assert len(gifs) == 2 and all(g.stat().st_size > 1000 for g in gifs)
    assert all(str(g) in rank_me for g in gifs)
    runs_before = _runs(sdir)

    # bad rankings are refused with a clear message, and nothing is written
    assert cli_main(["rank", str(sdir), "0,0", "--iteration", "0"]) == 2
    assert cli_main(["rank", str(sdir), "x", "--iteration", "0"]) == 2
    assert not (sdir / "preferences.json").exists()
    assert cli_main(["rank", str(sdir), "1,0", "--iteration", "0", "--note", "cand 1 wobbles less"]) == 0

    with pytest.raises(SearchPaused):  # iteration 1 waits for its own ranking
        search(cfg, runs_dir=tmp_path, **QUIET)
    st = json.loads((sdir / "search.json").read_text())
    assert st["best_per_iteration"][0]["candidate"] == "iter_0/cand_1"
    prompt = json.loads((sdir / "iter_1" / "prompt.json").read_text())[-1]["content"]
    assert "cand 1 wobbles less" in prompt
    assert set(runs_before) <= set(_runs(sdir)) and len(_runs(sdir)) == len(runs_before) + 2  # nothing re-trained
    assert cli_main(["rank", str(sdir), "0,1", "--iteration", "1"]) == 0
    final = search(cfg, runs_dir=tmp_path, **QUIET)
    assert final["final"]["best"] is not None and final["next_iteration"] == 2


def test_critic_revision_replaces_the_candidate_only_when_valid(tmp_path: Path) -> None:
    def respond(body: dict) -> str:
        last = body["messages"][-1]["content"]
        return REVISED if last.startswith("Before any training, review") else GOOD

    with ScriptedChatServer(respond) as server:
        cfg = SearchConfig(
            **{**SMALL, "iterations": 1, "samples": 1},
            backend="openai",
            model="scripted",
            base_url=server.url,
            api_key_env=None,
            critic=True,
        )
        st = search(cfg, runs_dir=tmp_path, **QUIET)
        critic_reqs = [r for r in server.chat_requests if "review this reward" in json.dumps(r.body)]
    cdir = tmp_path / "search__CartPole-v1__openai" / "iter_0" / "cand_0"
    assert len(critic_reqs) == 1
    assert "-0.5 * s.x ** 2" in (cdir / "reward.py").read_text()
    assert "-0.1 * s.x ** 2" in (cdir / "reward_before_critic.py").read_text()
    assert (cdir / "critic.txt").read_text() == REVISED
    assert st["candidates"][0]["valid"]
    prompt = json.dumps(critic_reqs[0].body)
    assert "475" not in prompt  # the fitness threshold of CartPole never reaches the critic either


def test_shipped_fixture_cassette_runs_offline_and_is_labelled(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cas = shipped_cassette("mountaincar-fixture")
    assert cas.manifest()["fixture"] is True and cas.manifest()["task"] == "MountainCar-v0"
    cfg = SearchConfig(
        task="MountainCar-v0",
        iterations=1,
        samples=3,
        steps=512,
        retrain_top=1,
        retrain_seeds=1,
        executor="serial",
        eval_every=-1,
        final_episodes=1,
        n_transitions=64,
        baselines=(),
        backend="openai",
        cassette="shipped:mountaincar-fixture",
    )
    st = search(cfg, runs_dir=tmp_path, **QUIET)
    assert [c["valid"] for c in st["candidates"]] == [True, True, True]
    assert [c["repairs"] for c in st["candidates"]] == [0, 1, 1]  # two broken fixtures, repaired from the cassette
    assert st["usage"]["live"]["calls"] == 0  # nothing went to a network
    assert (
        st["usage"]["cassette_this_session"]["fixture_hits"] == 5
        and st["usage"]["cassette_this_session"]["misses"] == 0
    )
    # re-running the finished search changes nothing and keeps its bill (it used to be overwritten with zeros)
    again = search(cfg, runs_dir=tmp_path, **QUIET)
    assert again["candidates"] == st["candidates"] and len(again["invocations"]) == 2
    assert (
        again["usage"]["replayed"] == st["usage"]["replayed"] and again["usage"]["replayed"]["calls"] == 3
    )  # 5 samples
    assert again["usage"]["cassette"]["fixture_hits"] == 5 and again["usage"]["cassette_this_session"]["hits"] == 0
    # a fixture cassette for another task, or more samples than it holds, fails clearly
    with pytest.raises(SearchError, match="written for MountainCar-v0"):
        search(
            SearchConfig(**{**SMALL, "iterations": 1}, backend="openai", cassette="shipped:mountaincar-fixture"),
            runs_dir=tmp_path,
            **QUIET,
        )
    with pytest.raises(SearchError, match="cassette miss"):
        search(SearchConfig(**{**cfg.__dict__, "samples": 4, "name": "more"}), runs_dir=tmp_path, **QUIET)
    with pytest.raises(SearchError, match=r"no shipped cassette 'nope'.*mountaincar-fixture"):
        search(SearchConfig(**{**cfg.__dict__, "cassette": "shipped:nope", "name": "x"}), runs_dir=tmp_path, **QUIET)


@pytest.mark.slow
@pytest.mark.data_safety
def test_kill_9_mid_search_resumes_without_repeating_a_call(tmp_path: Path) -> None:
    """SIGKILL while iteration 1 trains; the re-run asks the server nothing it asked before (the cassette has
    every earlier answer, and validated candidates are not regenerated), and every candidate has one run."""
    with ScriptedChatServer([GOOD]) as server:
        cmd = [
            sys.executable,
            "-m",
            "rewardlab.cli",
            "search",
            "--task",
            "CartPole-v1",
            "--iterations",
            "3",
            "--samples",
            "2",
            "--steps",
            "4096",
            "--backend",
            "openai",
            "--model",
            "scripted",
            "--base-url",
            server.url,
            "--api-key-env",
            "",
            "--executor",
            "local",
            "--workers",
            "2",
            "--retrain-top",
            "1",
            "--retrain-seeds",
            "1",
            "--baselines",
            "",
            "--runs-dir",
            str(tmp_path),
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        sdir = tmp_path / "search__CartPole-v1__openai"
        deadline = time.time() + 240
        while not (sdir / "iter_1_cand_0__s0").exists():
            assert proc.poll() is None and time.time() < deadline, "search ended or stalled before iteration 1"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)  # the search and its pool workers, mid-training
        proc.wait()
        first = [json.dumps(r.body["messages"], sort_keys=True) for r in server.chat_requests]
        assert len(first) >= 2
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        second = [json.dumps(r.body["messages"], sort_keys=True) for r in server.chat_requests][len(first) :]
    assert not set(first) & set(second), "a call made before the kill was made again"
    assert len(second) == len(set(second))
    st = json.loads((sdir / "search.json").read_text())
    ids = [c["id"] for c in st["candidates"]]
    assert len(ids) == len(set(ids)) == 6
    # the killed invocation's bill survives: every request the server answered is on it, once
    assert [inv["outcome"] for inv in st["invocations"]] == ["running", "finished"]  # SIGKILL records no ending
    assert st["usage"]["live"]["calls"] == len(first) + len(second) and st["usage"]["invocations"] == 2
    assert "LLM usage over 2 invocations" in done.stdout
    runs = _runs(sdir)
    for c in st["candidates"]:
        assert runs.count(c["run_id"]) == 1
        assert json.loads((sdir / c["run_id"] / "status.json").read_text())["state"] == "done"
    retrained = {c["candidate"] for c in st["final"]["candidates"]} | {
        p["candidate"] for p in st["final"]["per_iteration"]
    }
    assert len(runs) == 6 + len(
        retrained
    )  # one run per candidate, plus one re-training (1 seed) per top or iteration best
    # the cassette holds each distinct call once: everything the server answered, nothing twice
    cassette_entries = [p for p in (sdir / "cassette").rglob("*.json") if p.name != "manifest.json"]
    prompts = {(sdir / f"iter_{i}" / "prompt.json").read_text() for i in range(3)}  # equal prompts share entries
    assert len(cassette_entries) == len(prompts) * 2  # 2 samples per prompt; every candidate valid: no repairs


def test_budget_stop_ends_the_search_cleanly(tmp_path: Path) -> None:
    logs: list[str] = []
    with ScriptedChatServer([GOOD]) as server:
        cfg = SearchConfig(
            **SMALL, backend="openai", model="scripted", base_url=server.url, api_key_env=None, budget_tokens=1
        )
        st = search(cfg, runs_dir=tmp_path, log=logs.append)
        assert server.chat_requests == []  # refused before sending: the prompt alone is over the budget
    assert any("budget reached before iteration 0" in m for m in logs)
    assert st["candidates"] == [] and st["final"]["best"] is None
    assert (tmp_path / "search__CartPole-v1__openai" / "search_report.md").is_file()
