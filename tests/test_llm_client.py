"""LLM access through the real openai client against a local scripted server: sampling, retries, malformed answers,
accounting and budgets, and record/replay."""

from __future__ import annotations

import json
import time

import pytest

from llm_reward.backend import Backend, BudgetExceeded, Usage
from llm_reward.cassette import Cassette, CassetteMiss, cassette_key
from llm_reward.client import LLMError, OpenAIBackend
from llm_reward.testing import Fault, ScriptedChatServer

KEY_ENV = "REWARDLAB_TEST_LLM_KEY"
MESSAGES = [
    {"role": "system", "content": "You write reward functions."},
    {"role": "user", "content": "Write a reward for MountainCar.\nThe car must reach the flag."},
]
PROMPT_WORDS = 4 + 11  # the scripted server counts whitespace-separated words as tokens


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-123")
    return "sk-test-123"


def make(server: ScriptedChatServer, **kw) -> OpenAIBackend:
    kw.setdefault("api_key_env", KEY_ENV)
    kw.setdefault("timeout_s", 5.0)  # generous: the machine may be loaded; timeout tests set their own
    kw.setdefault("sleep", lambda s: None)
    return OpenAIBackend(kw.pop("model", "test-model"), base_url=server.url, **kw)


def test_n_samples_in_one_request_with_params_forwarded(key):
    with ScriptedChatServer(["alpha one", "beta two", "gamma three"]) as server:
        backend = make(server, temperature=0.7, seed=11, max_tokens=64, model="coder-7b")
        assert isinstance(backend, Backend)
        out = backend.generate(MESSAGES, 3, tag="iter0/cand0")
    assert [c.text for c in out] == ["alpha one", "beta two", "gamma three"]
    assert [c.sample_index for c in out] == [0, 1, 2]
    assert len({c.key for c in out}) == 3
    assert all(not c.cached and not c.usage_estimated and c.model == "coder-7b" for c in out)
    [request] = server.requests
    body = request.body
    assert body["model"] == "coder-7b" and body["messages"] == MESSAGES
    assert (body["n"], body["temperature"], body["seed"], body["max_tokens"]) == (3, 0.7, 11, 64)
    assert request.headers["authorization"] == f"Bearer {key}"
    assert backend.http_requests == 1 and backend.retries == 0


@pytest.mark.parametrize(
    ("honour_n", "max_choices", "expected_n"), [(False, None, [3, 2, None]), (True, 2, [5, 3, None])]
)
def test_server_returning_fewer_choices_is_topped_up(key, honour_n, max_choices, expected_n):
    n = 3 if not honour_n else 5
    texts = [f"sample {i}" for i in range(n)]
    with ScriptedChatServer(texts, honour_n=honour_n, max_choices=max_choices) as server:
        out = make(server, seed=100).generate(MESSAGES, n, tag="t")
    assert [c.text for c in out] == texts
    assert [c.sample_index for c in out] == list(range(n))
    assert [r.body.get("n") for r in server.requests] == expected_n
    # each request starts at a later sample index and gets its own seed, so top-ups are new samples
    starts = [0]
    for got in [min(r.body.get("n") or 1, max_choices or 1) for r in server.requests][:-1]:
        starts.append(starts[-1] + got)
    assert [r.body["seed"] for r in server.requests] == [100 + s for s in starts]


def test_server_rejecting_n_is_asked_one_choice_at_a_time(key):
    with ScriptedChatServer(["a", "b", "c", "d"], reject_n=True) as server:
        backend = make(server, seed=5)
        out = backend.generate(MESSAGES, 3, tag="t")
        assert [c.text for c in out] == ["a", "b", "c"]
        assert [(r.body.get("n"), r.body["seed"]) for r in server.requests] == [(3, 5), (None, 5), (None, 6), (None, 7)]
        assert backend.max_n_per_request == 1
        backend.generate(MESSAGES, 2, tag="t", first_index=3)  # remembered: no second rejection
    assert [r.body.get("n") for r in server.requests[4:]] == [None, None]


@pytest.mark.parametrize(
    "fault",
    ["429", "500", "503", "timeout", "malformed", "non_json", "empty_choices", "null_content"],
)
def test_retries_then_succeeds(key, fault):
    with ScriptedChatServer(["fine"], faults={1: Fault(fault, delay_s=4.0)}) as server:
        backend = make(server, timeout_s=1.0, max_retries=2)
        [c] = backend.generate(MESSAGES, 1, tag="t")
    assert c.text == "fine"
    assert [r.fault for r in server.requests] == [fault, None]
    assert backend.retries == 1


def test_every_fault_in_a_row_then_success_honouring_retry_after(key):
    faults = {
        1: Fault("429", retry_after=0.25),
        2: "500",
        3: Fault("503", retry_after=0.5),
        4: Fault("timeout", delay_s=4.0),
        5: "malformed",
        6: "non_json",
        7: "empty_choices",
        8: "null_content",
    }
    slept: list[float] = []
    with ScriptedChatServer(["x y", "z"], faults=faults) as server:
        backend = make(server, timeout_s=1.0, max_retries=8, sleep=slept.append, backoff_s=0.01, max_backoff_s=0.05)
        start = time.monotonic()
        out = backend.generate(MESSAGES, 2, tag="t")
    assert time.monotonic() - start < 8
    assert [c.text for c in out] == ["x y", "z"]
    assert len(server.requests) == 9 and backend.retries == 8
    assert slept[0] == 0.25 and slept[2] == 0.5  # Retry-After honoured exactly
    assert all(0.0 < s <= 0.05 for i, s in enumerate(slept) if i not in (0, 2))  # backoff with jitter, capped


def test_every_retry_is_reported_with_its_reason_and_wait(key):
    faults = {1: Fault("429", retry_after=0.25), 2: "500", 3: Fault("timeout", delay_s=3.0), 4: "malformed"}
    slept: list[float] = []
    notices = []
    with ScriptedChatServer(["fine"], faults=faults) as server:
        backend = make(
            server,
            timeout_s=0.5,
            max_retries=4,
            sleep=slept.append,
            backoff_s=0.01,
            max_backoff_s=0.05,
            on_retry=notices.append,
        )
        [c] = backend.generate(MESSAGES, 1, tag="iter0/cand1/repair1")
    assert c.text == "fine"
    assert [n.attempt for n in notices] == [1, 2, 3, 4] and {n.max_attempts for n in notices} == {5}
    assert [n.wait_s for n in notices] == slept  # the wait reported is the wait taken
    assert notices[0].status == 429 and notices[0].retry_after and notices[0].reason.startswith("HTTP 429: Rate limit")
    assert notices[1].status == 500 and notices[1].reason.startswith("HTTP 500") and not notices[1].retry_after
    assert notices[2].reason == "timeout" and notices[2].status is None
    assert notices[3].reason.startswith("malformed response")
    line = str(notices[0])
    assert line == (
        "LLM call iter0/cand1/repair1: attempt 1 of 5 failed (HTTP 429: Rate limit reached (injected)); "
        "retrying in 0.25 s (the server's Retry-After)"
    )
    # a failing callback does not fail the call; no callback, no notices, same behaviour
    with ScriptedChatServer(["fine"], faults={1: "500"}) as server:

        def boom(notice):
            raise RuntimeError("log is broken")

        assert make(server, on_retry=boom).generate(MESSAGES, 1, tag="t")[0].text == "fine"


def test_exponential_backoff_grows_and_is_jittered(key):
    slept: list[float] = []
    with ScriptedChatServer(["ok"], faults=dict.fromkeys(range(1, 5), "500")) as server:
        make(server, max_retries=4, sleep=slept.append, backoff_s=0.1, max_backoff_s=10, jitter_seed=0).generate(
            MESSAGES, 1, tag="t"
        )
    assert len(slept) == 4
    for attempt, s in enumerate(slept):
        assert 0.5 * 0.1 * 2**attempt <= s < 0.1 * 2**attempt


def test_gives_up_after_max_retries_with_a_clear_error(key):
    with ScriptedChatServer(["never"], faults=dict.fromkeys(range(1, 20), "500")) as server:
        backend = make(server, max_retries=2)
        with pytest.raises(LLMError) as info:
            backend.generate(MESSAGES, 1, tag="t")
    assert len(server.requests) == 3
    err = info.value
    assert err.attempts == 3 and err.status == 500
    assert "test-model" in str(err) and server.url in str(err) and "3 attempts" in str(err) and "500" in str(err)


def test_malformed_forever_gives_up(key):
    with ScriptedChatServer(["never"], faults=dict.fromkeys(range(1, 20), "malformed")) as server:
        with pytest.raises(LLMError, match=r"malformed response.*not JSON"):
            make(server, max_retries=1).generate(MESSAGES, 1, tag="t")
    assert len(server.requests) == 2


@pytest.mark.parametrize("fault", ["400", "401"])
def test_client_errors_are_not_retried(key, fault):
    with ScriptedChatServer(["never"], faults={1: fault}) as server:
        with pytest.raises(LLMError, match=f"HTTP {fault}") as info:
            make(server, max_retries=5).generate(MESSAGES, 1, tag="t")
    assert len(server.requests) == 1 and info.value.status == int(fault)
    if fault == "401":
        assert KEY_ENV in str(info.value)


def test_unreachable_server_gives_up(key):
    server = ScriptedChatServer().start()
    url = server.url
    server.stop()
    backend = OpenAIBackend("m", base_url=url, api_key_env=KEY_ENV, timeout_s=0.5, max_retries=1, sleep=lambda s: None)
    with pytest.raises(LLMError, match="APIConnectionError"):
        backend.generate(MESSAGES, 1, tag="t")
    assert backend.http_requests == 2


def test_missing_usage_is_estimated_and_flagged(key):
    with ScriptedChatServer(["twelve chars"], faults={1: "no_usage"}) as server:
        usage = Usage()
        [c] = make(server, usage=usage, prices=(1.0, 1.0)).generate(MESSAGES, 1, tag="t")
    assert c.text == "twelve chars" and c.usage_estimated
    assert c.completion_tokens == 3 and c.prompt_tokens > 0 and c.cost_usd > 0
    assert usage.totals().estimated_calls == 1


def test_missing_key_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with ScriptedChatServer(["ok"]) as server:
        with pytest.raises(LLMError, match=KEY_ENV):
            make(server).generate(MESSAGES, 1, tag="t")
        assert server.requests == []
        # a keyless local server (vLLM, Ollama, ...) needs none
        [c] = make(server, api_key_env=None).generate(MESSAGES, 1, tag="t")
    assert c.text == "ok"


def test_token_and_cost_accounting_per_call_tag_and_run(key):
    prices = (1.0, 2.0)  # USD per 1k prompt / completion tokens
    usage = Usage()
    with ScriptedChatServer(["a b", "c d e", "f"]) as server:
        backend = make(server, prices=prices, usage=usage)
        first = backend.generate(MESSAGES, 2, tag="iter0/cand0")
        second = backend.generate([*MESSAGES, {"role": "user", "content": "again"}], 1, tag="iter1/cand0")
    # request 1: prompt once (15 words), completions 2 + 3
    assert [c.completion_tokens for c in first] == [2, 3]
    assert sum(c.prompt_tokens for c in first) == PROMPT_WORDS
    assert sum(c.cost_usd for c in first) == pytest.approx((15 * 1.0 + 5 * 2.0) / 1000)
    assert second[0].prompt_tokens == PROMPT_WORDS + 1 and second[0].completion_tokens == 1
    calls = usage.records
    assert [(r.tag, r.samples, r.prompt_tokens, r.completion_tokens) for r in calls] == [
        ("iter0/cand0", 2, 15, 5),
        ("iter1/cand0", 1, 16, 1),
    ]
    run = usage.totals()
    assert (run.calls, run.samples, run.total_tokens) == (2, 3, 37)
    assert run.cost_usd == pytest.approx((31 * 1.0 + 6 * 2.0) / 1000)
    assert usage.totals("iter0").total_tokens == 20 and usage.totals("iter1").total_tokens == 17
    assert usage.totals("iter0/cand0") == usage.by_tag()["iter0/cand0"]
    assert usage.totals("iter").calls == 0  # a prefix matches whole tag parts only
    json.dumps(usage.to_dict())


def test_budget_stops_before_the_call_that_would_exceed_it(key):
    # each call costs 15 prompt + 2 completion tokens; the estimate is 30 (characters / 4) + max_tokens (2)
    usage = Usage(max_tokens=60)
    with ScriptedChatServer(["a b"]) as server:
        backend = make(server, usage=usage, max_tokens=2)
        backend.generate(MESSAGES, 1, tag="i0")
        backend.generate(MESSAGES, 1, tag="i1")
        with pytest.raises(BudgetExceeded) as info:
            backend.generate(MESSAGES, 1, tag="i2")
    assert info.value.before_call and info.value.completions == []
    assert "34 spent + 32 estimated > max_tokens 60" in str(info.value)
    assert len(server.requests) == 2 and usage.spent().total_tokens == 34


def test_budget_exceeded_after_a_call_keeps_what_was_paid(key, tmp_path):
    usage = Usage(max_usd=0.01)
    cassette = Cassette(tmp_path / "cassette")
    with ScriptedChatServer(["one two three four five"]) as server:
        backend = make(server, usage=usage, prices=(0.0, 1.0), cassette=cassette)  # no max_tokens: estimate is low
        with pytest.raises(BudgetExceeded) as info:
            backend.generate(MESSAGES, 3, tag="i0")
    assert not info.value.before_call
    assert [c.text for c in info.value.completions] == ["one two three four five"] * 3
    assert usage.spent().cost_usd == pytest.approx(0.015)
    assert cassette.recorded == 3  # paid samples are kept for a resumed run


def test_usd_budget_needs_prices(key):
    with ScriptedChatServer(["ok"]) as server:
        with pytest.raises(ValueError, match="prices"):
            make(server, usage=Usage(max_usd=1.0)).generate(MESSAGES, 1, tag="t")
        assert server.requests == []


def test_record_then_replay_with_the_server_shut_down(key, tmp_path, monkeypatch):
    directory = tmp_path / "cassette"
    with ScriptedChatServer(["r0", "r1", "r2"]) as server:
        recorder = make(server, cassette=Cassette(directory, mode="record"), seed=3, prices=(1.0, 1.0))
        recorded = recorder.generate(MESSAGES, 3, tag="i0")
    assert len(server.requests) == 1 and recorder.cassette.recorded == 3
    entry = json.loads(next(directory.glob("??/*.json")).read_text())
    assert {"request", "response", "usage", "latency_s", "created", "fixture"} <= set(entry)
    assert entry["fixture"] is False and entry["request"]["params"]["seed"] == 3

    monkeypatch.delenv(KEY_ENV)  # replay needs no key
    cassette = Cassette(directory, mode="replay")
    usage = Usage()
    replayer = make(server, cassette=cassette, seed=3, prices=(1.0, 1.0), usage=usage)
    replayed = replayer.generate(MESSAGES, 3, tag="i0")
    assert replayer.http_requests == 0 and len(server.requests) == 1
    assert [c.text for c in replayed] == [c.text for c in recorded]
    assert [c.key for c in replayed] == [c.key for c in recorded]
    assert all(c.cached for c in replayed)
    assert [(c.prompt_tokens, c.completion_tokens, c.cost_usd) for c in replayed] == [
        (c.prompt_tokens, c.completion_tokens, c.cost_usd) for c in recorded
    ]
    assert cassette.counters() == {"hits": 3, "fixture_hits": 0, "misses": 0, "recorded": 0}
    assert usage.totals().calls == 0 and usage.totals(cached=True).samples == 3


def test_replay_miss_names_the_key_and_prompt(key, tmp_path):
    with ScriptedChatServer(["ok"]) as server:
        backend = make(server, cassette=Cassette(tmp_path, mode="replay"), temperature=0.5)
        with pytest.raises(CassetteMiss) as info:
            backend.generate(MESSAGES, 1, tag="t")
    expected = cassette_key("test-model", MESSAGES, {"temperature": 0.5}, 0)
    assert info.value.key == expected
    assert expected in str(info.value) and "Write a reward for MountainCar." in str(info.value)
    assert "The car must reach" not in str(info.value)  # first line only
    assert server.requests == []


def test_auto_mode_resumes_without_repeating_calls(key, tmp_path):
    with ScriptedChatServer([f"s{i}" for i in range(10)]) as server:
        first = make(server, cassette=Cassette(tmp_path), seed=0).generate(MESSAGES, 2, tag="i0")
        # a re-run (e.g. after kill -9) asks for more samples of the same prompt: only the new ones are requested
        cassette = Cassette(tmp_path)
        again = make(server, cassette=cassette, seed=0).generate(MESSAGES, 4, tag="i0")
    assert [c.text for c in again[:2]] == [c.text for c in first]
    assert [c.cached for c in again] == [True, True, False, False]
    assert cassette.counters() == {"hits": 2, "fixture_hits": 0, "misses": 2, "recorded": 2}
    assert [(r.body.get("n"), r.body["seed"]) for r in server.requests] == [(2, 0), (2, 2)]
    # changing a sampling parameter changes the key: nothing is replayed
    with ScriptedChatServer(["other"]) as server:
        changed = make(server, cassette=Cassette(tmp_path), seed=0, temperature=0.2).generate(MESSAGES, 1, tag="i0")
    assert not changed[0].cached and len(server.requests) == 1


def test_hand_written_fixture_is_labelled(tmp_path):
    cassette = Cassette(tmp_path, mode="replay")
    params = {"temperature": 1.0, "max_tokens": None, "seed": None}
    k = cassette_key("fixture-model", MESSAGES, params, 0)
    cassette.store(
        k,
        model="fixture-model",
        messages=MESSAGES,
        params=params,
        sample_index=0,
        text="def compute_reward(s):\n    return s.x, {}",
        prompt_tokens=0,
        completion_tokens=0,
        latency_s=0.0,
        fixture=True,
    )
    with pytest.raises(ValueError, match="does not match"):
        cassette.store(
            k,
            model="fixture-model",
            messages=MESSAGES,
            params=params,
            sample_index=1,
            text="x",
            prompt_tokens=0,
            completion_tokens=0,
            latency_s=0.0,
        )
    backend = OpenAIBackend("fixture-model", api_key_env="REWARDLAB_UNSET_KEY_VAR", cassette=cassette)
    [c] = backend.generate(MESSAGES, 1, tag="t")
    assert c.fixture and c.cached and c.text.startswith("def compute_reward")


def test_corrupt_cassette_entry_is_reported(tmp_path):
    cassette = Cassette(tmp_path, mode="replay")
    k = cassette_key("m", MESSAGES, {"temperature": 1.0}, 0)
    path = cassette.path(k)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    backend = OpenAIBackend("m", api_key_env=None, cassette=cassette)
    with pytest.raises(ValueError, match="corrupt cassette entry"):
        backend.generate(MESSAGES, 1, tag="t")


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match="messages"):
        OpenAIBackend("m", api_key_env=None).generate([], 1, tag="t")
    with pytest.raises(ValueError, match="n must be"):
        OpenAIBackend("m", api_key_env=None).generate(MESSAGES, 0, tag="t")
    with pytest.raises(ValueError, match="extra_params"):
        OpenAIBackend("m", extra_params={"seed": 1})
    with pytest.raises(ValueError, match="cassette mode"):
        Cassette("x", mode="playback")  # type: ignore[arg-type]


def test_extra_params_are_sent_and_keyed(key):
    with ScriptedChatServer(["{}"]) as server:
        backend = make(server, extra_params={"response_format": {"type": "json_object"}, "top_p": 0.9})
        [c] = backend.generate(MESSAGES, 1, tag="t")
    body = server.requests[0].body
    assert body["response_format"] == {"type": "json_object"} and body["top_p"] == 0.9 and "n" not in body
    assert c.key != cassette_key("test-model", MESSAGES, {"temperature": 1.0}, 0)


def test_server_stops_promptly_with_a_delayed_request_in_flight(key):
    server = ScriptedChatServer(["late"], faults={1: Fault("timeout", delay_s=30)}).start()
    backend = make(server, timeout_s=0.2, max_retries=0)
    with pytest.raises(LLMError, match="APITimeoutError"):
        backend.generate(MESSAGES, 1, tag="t")
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 3
