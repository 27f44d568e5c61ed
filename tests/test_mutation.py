"""The LLM-free mutation backend: canonical programs, guided mutations, determinism."""

from __future__ import annotations

import json

import numpy as np

from envs import get_task
from llm_reward.mutation import MutationBackend, Term, parse, read_prompt, render
from rewardlab.rewards import FunctionReward
from rewardlab.wrappers import make_vector_env


def _run_program(code: str) -> dict:
    ns: dict = {}
    exec(compile(code, "<candidate>", "exec"), ns)
    task = get_task("MountainCar-v0")
    venv = make_vector_env(task, 4, FunctionReward(ns["compute_reward"], "cand"))
    venv.reset(seed=0)
    for _ in range(5):
        _, r, *_ = venv.step(venv.action_space.sample())
        assert r.shape == (4,) and np.isfinite(r).all()
    return venv.accountant.last_components


def test_fresh_programs_are_valid_and_parse_back() -> None:
    be = MutationBackend(["x", "v", "height"], seed=1)
    outs = be.generate([{"role": "user", "content": "write a reward"}], 6, tag="iter0")
    assert len(outs) == 6 and len({o.text for o in outs}) > 1
    for o in outs:
        code, _ = read_prompt([{"role": "user", "content": o.text}])
        terms = parse(code)
        assert terms and all(isinstance(t, Term) for t in terms)
        comps = _run_program(code)
        assert set(comps) == {t.name for t in terms}


def test_mutations_follow_the_reflection_and_are_deterministic() -> None:
    best = [Term("dead_one", "s.x", 1.0), Term("bad", "s.v", 2.0), Term("good", "s.height", 1.0)]
    stats = {"components": {"dead_one": {"dead": True}, "bad": {"corr_fitness": -0.9}, "good": {"corr_fitness": 0.9}}}
    prompt = [{"role": "user", "content": f"```python\n{render(best)}```\n```json\n{json.dumps(stats)}\n```"}]
    be = MutationBackend(["x", "v", "height"], seed=3)
    outs = be.generate(prompt, 20, tag="iter1")
    *mutants, immigrant = outs  # the last sample of a round is a fresh program
    assert "good" not in {t.name for t in parse(read_prompt([{"role": "user", "content": immigrant.text}])[0])}
    dropped = good_up = bad_down = 0
    for o in mutants:
        terms = {t.name: t for t in parse(read_prompt([{"role": "user", "content": o.text}])[0])}
        dropped += "dead_one" not in terms
        good_up += terms["good"].weight > 1.0
        bad_down += terms["bad"].weight < 2.0
    assert dropped >= 11 and good_up == 19 and bad_down == 19
    again = MutationBackend(["x", "v", "height"], seed=3).generate(prompt, 20, tag="iter1")
    assert [o.text for o in outs] == [o.text for o in again]


def test_field_relevance_prefers_fields_the_task_description_talks_about() -> None:
    from envs.registry import get_task
    from llm_reward import prompts
    from llm_reward.mutation import field_relevance

    task = get_task("rewardlab/HopperJump-v0")
    fields = ["torso_z", "foot_velocity", "thigh_angle"]
    w = field_relevance(prompts.build_messages(task, "state_class"), fields)
    assert w[0] == w.max() and w[0] > w[1]
    assert (field_relevance([{"role": "user", "content": "no task line"}], fields) == 1.0).all()
