"""The search's parts on their own: the typed candidate and ``search.json`` keep their stored format, the backend's
kind decides what it is asked, selection ranks as documented, and the train-and-read-back helper that the search
and ``rewardlab replay`` share skips finished runs, logs failed ones and takes the means."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

import envs
from llm_reward.search import BackendKind, Candidate, CandidateStore, SearchConfig, SearchState, make_backend
from llm_reward.search.replay import finished, train
from llm_reward.search.selection import best_of, rank_key, top
from llm_reward.search.validation import Outcome, Validator
from rewardlab.experiment.runner import RunConfig
from rewardlab.experiment.store import RunDir

STORED_KEYS = [
    "id",
    "iteration",
    "index",
    "parent",
    "valid",
    "label",
    "message",
    "repairs",
    "run_id",
    "score",
    "final_fitness",
    "success_rate",
    "dropped",
    "failed_attempts",
    "dir",
]


def _cand(j: int, score: float | None, fitness: float | None = None) -> Candidate:
    return Candidate(f"iter_0/cand_{j}", 0, j, None, True, "ok", "fine", 0, score=score, final_fitness=fitness)


def test_a_candidate_keeps_the_stored_format() -> None:
    c = _cand(1, 3.0, 2.0)
    assert list(c.to_json()) == STORED_KEYS and c.dir == "iter_0/cand_1"
    c.run_ids, c.seed_scores = ["a__s0", "a__s1"], [1.0, 2.0]
    assert list(c.to_json()) == [*STORED_KEYS, "run_ids", "seed_scores"]  # only with several search seeds
    assert Candidate.from_json(json.loads(json.dumps(c.to_json()))) == c
    legacy = {k: v for k, v in _cand(2, None).to_json().items() if k not in ("dropped", "failed_attempts")}
    assert Candidate.from_json(legacy).dropped == []  # saved before those fields existed
    with pytest.raises(ValueError, match="unknown keys"):
        Candidate.from_json({**c.to_json(), "surprise": 1})


def test_search_state_round_trips_through_json() -> None:
    st = SearchState(
        config={"task": "T"}, candidates=CandidateStore([_cand(0, 1.0), _cand(1, None)]), best="iter_0/cand_0"
    )
    d = st.to_json()
    assert list(d) == [
        "config",
        "next_iteration",
        "candidates",
        "best",
        "best_per_iteration",
        "final",
        "usage",
        "invocations",
    ]
    assert [c["id"] for c in d["candidates"]] == ["iter_0/cand_0", "iter_0/cand_1"]
    back = SearchState.from_json(json.loads(json.dumps(d)))
    assert back.to_json() == d and back.candidates["iter_0/cand_0"].score == 1.0


def test_selection_ranks_by_score_then_final_fitness() -> None:
    a, b, c, d = _cand(0, 5.0, 1.0), _cand(1, 5.0, 2.0), _cand(2, None, 9.0), _cand(3, 5.0, 2.0)
    assert rank_key(b) > rank_key(a) > rank_key(c)
    assert best_of([a, b, c, d]) is b  # the first of equals
    assert best_of([]) is None
    assert top([a, b, c, d], 2) == [b, d] and top([c], 3) == []


def test_the_mutation_backend_is_offline_and_never_asked_for_a_review(tmp_path: Path) -> None:
    task = envs.get_task("CartPole-v1")
    backend = make_backend(SearchConfig(task=task.id), task, tmp_path)
    assert backend.kind is BackendKind.MUTATION and not backend.asks_a_model and backend.accounts() is None
    calls: list[str] = []
    backend.generator = SimpleNamespace(generate=lambda *a, **k: calls.append("asked"))  # type: ignore[assignment]
    v = Validator(backend, task, None, None, (1,), 1, lambda m: None)  # type: ignore[arg-type]
    out = Outcome(SimpleNamespace(ok=True))
    assert v.review(out, [{"role": "user", "content": "x"}], tmp_path, 0, 0) is out and calls == []


class _Executor:
    def __init__(self, root: Path, fail: set[str]) -> None:
        self.root, self.fail, self.mapped = root, fail, []

    def map(self, jobs, runs_dir, on_event):
        out = []
        for rc in jobs:
            self.mapped.append(rc.run_id)
            rd = RunDir(self.root / rc.experiment / rc.run_id)
            rd.path.mkdir(parents=True, exist_ok=True)
            if rc.run_id in self.fail:
                rd.set_status("failed", error="RuntimeError: boom\ntraceback ...")
                out.append(SimpleNamespace(run_id=rc.run_id, status="failed", error="RuntimeError: boom\nmore"))
            else:
                rd.write_json("summary.json", {"fitness_mean": float(rc.seed), "success_rate": 0.5})
                rd.set_status("done")
                out.append(SimpleNamespace(run_id=rc.run_id, status="done", error=None))
        return out


def test_train_and_read_back_skip_finished_runs_and_take_the_means(tmp_path: Path) -> None:
    jobs = [RunConfig(task="CartPole-v1", reward="hand", seed=s, experiment="e", run_id=f"r__s{s}") for s in (1, 2, 3)]
    ex = _Executor(tmp_path, fail={"r__s2"})
    logs: list[str] = []
    train(ex, jobs, tmp_path, logs.append, what="baseline run")
    assert logs == ["baseline run r__s2 failed: RuntimeError: boom"]
    got = finished(tmp_path, jobs)
    assert (got.seeds, got.fitness, got.mean, got.success_mean) == ([1, 3], [1.0, 3.0], 2.0, 0.5)
    train(ex, jobs, tmp_path, logs.append)
    assert ex.mapped == ["r__s1", "r__s2", "r__s3", "r__s2"]  # finished runs are read back, the failed one retried
    assert finished(tmp_path, []).mean is None
