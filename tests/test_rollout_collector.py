"""Every place outside training that steps a vector env goes through rewardlab.data.Collector, and the true
final observation / info of an episode is patched in one place (rewardlab.data.rollout)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from envs.registry import get_task
from llm_reward import context
from llm_reward.transitions import collect_transitions, rollout_arrays, transition_view
from rewardlab.analysis.distances import Transitions, sample_transitions
from rewardlab.data import Collector, Rollout, random_policy, rollout
from rewardlab.rewards.base import FunctionReward
from rewardlab.wrappers import make_vector_env

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]


def _collector_rollout(task, n_envs: int, T: int, seed: int) -> Rollout:
    venv = make_vector_env(task, n_envs)
    try:
        col = Collector(venv, tuple(task.info_keys))
        col.reset(seed=seed)
        return col.collect(random_policy(venv.action_space, seed), T, copy=True)
    finally:
        venv.close()


def _plain_episodes(task, n_envs: int, seed: int, actions: np.ndarray):
    """Step ``n_envs`` single envs one by one with ``actions`` ``(T, n_envs)``: per step and env the true
    next obs, its info, the info before, the episode step and the done flags (no vector env, no autoreset)."""
    keys = tuple(task.info_keys)
    envs = [task.make_env() for _ in range(n_envs)]
    T = len(actions)
    out = {
        "next_obs": [[None] * n_envs for _ in range(T)],
        "info": {k: np.zeros((T, n_envs)) for k in keys},
        "prev_info": {k: np.zeros((T, n_envs)) for k in keys},
        "step": np.zeros((T, n_envs), dtype=np.int64),
        "terminated": np.zeros((T, n_envs), dtype=bool),
        "truncated": np.zeros((T, n_envs), dtype=bool),
    }
    for i, env in enumerate(envs):
        _, info = env.reset(seed=seed + i)
        t_ep = 0
        for t in range(T):
            prev = info
            o, _, term, trunc, info = env.step(actions[t, i])
            t_ep += 1
            out["next_obs"][t][i] = np.asarray(o)
            for k in keys:
                out["info"][k][t, i] = info[k]
                out["prev_info"][k][t, i] = prev[k]
            out["step"][t, i], out["terminated"][t, i], out["truncated"][t, i] = t_ep, term, trunc
            if term or trunc:
                _, info = env.reset()
                t_ep = 0
        env.close()
    out["next_obs"] = np.array([np.stack(row) for row in out["next_obs"]])
    return out


@pytest.mark.parametrize("task_id", ["CartPole-v1", "MiniGrid-LavaGapS5-v0", "MiniGrid-MultiRoom-N2-S4-v0"])
def test_collector_true_final_obs_info_and_steps_match_plain_envs(task_id: str) -> None:
    task = get_task(task_id)
    n, T, seed = 3, 70, 4
    r = _collector_rollout(task, n, T, seed)
    assert r.done.any()  # terminations (CartPole, lava) or time limits (MultiRoom: 40 steps)
    plain = _plain_episodes(task, n, seed, r.action)
    np.testing.assert_allclose(r.next_obs, plain["next_obs"], atol=1e-6)
    np.testing.assert_array_equal(r.terminated, plain["terminated"])
    np.testing.assert_array_equal(r.truncated, plain["truncated"])
    np.testing.assert_array_equal(r.step, plain["step"])
    assert set(r.info) == set(r.prev_info) == set(task.info_keys)
    for k in task.info_keys:
        np.testing.assert_allclose(r.info[k], plain["info"][k], err_msg=k)
        np.testing.assert_allclose(r.prev_info[k], plain["prev_info"][k], err_msg=k)
    if task.info_keys:  # on done steps the state reached and the next state left differ: patching matters
        t, e = np.nonzero(r.done[:-1])
        assert any((r.info[k][t, e] != r.prev_info[k][t + 1, e]).any() for k in task.info_keys)


@pytest.mark.parametrize("task_id", ["CartPole-v1", "MiniGrid-LavaGapS5-v0"])
def test_every_site_gives_the_collectors_transitions(task_id: str) -> None:
    task = get_task(task_id)
    n, T, seed = 3, 60, 2
    r = _collector_rollout(task, n, T, seed)
    assert r.terminated.any()

    data = collect_transitions(task, n_steps=T, seed=seed, n_envs=n)
    ref = rollout_arrays(r)
    assert data.keys() == ref.keys()
    for k in ref:
        assert data[k].dtype == ref[k].dtype and np.array_equal(data[k], ref[k]), k

    tr = sample_transitions(task, n * T - 7, seed=seed, n_envs=n, float64=False)
    flat = Transitions.from_rollout(r).take(np.arange(n * T - 7))
    for f in dataclasses.fields(Transitions):
        a, b = getattr(tr, f.name), getattr(flat, f.name)
        if isinstance(a, dict):
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a), f.name
        else:
            assert np.array_equal(a, b), f.name

    context._PROBES.clear()
    p = context.probe(task, n_envs=n, seed=seed)
    row = r.slice(0, 1)
    np.testing.assert_array_equal(p.obs, row.obs[0])
    np.testing.assert_array_equal(p.next_obs, row.next_obs[0])
    np.testing.assert_array_equal(p.action, row.action[0])
    assert p.info.keys() == row.info.keys() and all(np.array_equal(p.info[k], row.info[k][0]) for k in p.info)
    context._PROBES.clear()


def test_sites_patch_final_obs_only_through_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spies on rollout.true_next_obs / true_next_info: each site calls them once per vector step; with
    them disabled the sites no longer see terminal observations (nothing else patches them)."""
    task = get_task("CartPole-v1")
    calls = {"obs": 0, "info": 0}
    real_obs, real_info = rollout.true_next_obs, rollout.true_next_info

    def spy_obs(*a, **k):
        calls["obs"] += 1
        return real_obs(*a, **k)

    def spy_info(*a, **k):
        calls["info"] += 1
        return real_info(*a, **k)

    monkeypatch.setattr(rollout, "true_next_obs", spy_obs)
    monkeypatch.setattr(rollout, "true_next_info", spy_info)
    collect_transitions(task, n_steps=30, seed=0, n_envs=2)
    assert calls == {"obs": 30, "info": 30}
    sample_transitions(task, 50, seed=0, n_envs=4)  # 13 vector steps
    assert calls == {"obs": 43, "info": 43}
    context._PROBES.clear()
    context.probe(task)
    assert calls == {"obs": 44, "info": 44}
    context._PROBES.clear()

    fell = lambda o: (np.abs(o[..., 0]) > 2.4) | (np.abs(o[..., 2]) > 0.2095)  # noqa: E731
    tr = sample_transitions(task, 400, seed=0, n_envs=4)
    assert tr.terminated.any() and np.array_equal(fell(tr.next_obs), tr.terminated)
    monkeypatch.setattr(rollout, "true_next_obs", lambda obs, info, done, mode: obs)
    tr = sample_transitions(task, 400, seed=0, n_envs=4)
    assert not fell(tr.next_obs).any()  # the reset obs: no site patches final_obs on its own
    data = collect_transitions(task, n_steps=100, seed=0, n_envs=4)
    assert data["terminated"].any() and not fell(data["next_obs"]).any()


_ALLOWED_READERS = {
    "rewardlab/wrappers/vector.py": "the reward wrapper (being moved onto rewardlab.data.true_next_obs)",
    "agents/sb3/vecenv.py": "converts final_obs into SB3's terminal_observation",
    "agents/sb3/__init__.py": "SB3 rollout recorder, not yet on rewardlab.data.true_next_info",
}


def _final_reads(path: Path) -> list[int]:
    """Lines of ``path`` that read ``final_obs`` / ``final_info`` from a mapping (writes don't count)."""
    names = {"final_obs", "final_info"}

    def is_name(node: ast.AST | None) -> bool:
        return isinstance(node, ast.Constant) and node.value in names

    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and is_name(node.slice):
            lines.append(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            if node.func.attr in ("get", "pop", "__getitem__") and is_name(node.args[0]):
                lines.append(node.lineno)
        elif isinstance(node, ast.Compare) and is_name(node.left):
            if any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
                lines.append(node.lineno)
    return lines


def test_final_obs_is_read_in_one_place() -> None:
    readers = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith((".venv/", "tests/", "rewardlab/data/")) or "/." in f"/{rel}":
            continue
        lines = _final_reads(path)
        if lines:
            readers[rel] = lines
    assert _final_reads(ROOT / "rewardlab/data/rollout.py")  # the scan does see the one place
    stray = {k: v for k, v in readers.items() if k not in _ALLOWED_READERS}
    assert not stray, f"modules that patch the final obs/info themselves (use rewardlab.data.Collector): {stray}"


def test_collector_step_and_info_equal_what_the_reward_wrapper_gives_the_state_view() -> None:
    task = get_task("MiniGrid-LavaGapS5-v0")
    seen = []

    def record(s):
        seen.append({"step": np.array(s.step), "agent_x": np.array(s.agent_x), "prev_x": np.array(s.prev.agent_x)})
        return {"zero": np.zeros(len(s.step))}

    venv = make_vector_env(task, 3, FunctionReward(record, "record"))
    col = Collector(venv, tuple(task.info_keys))
    col.reset(seed=1)
    r = col.collect(random_policy(venv.action_space, 1), 60)
    venv.close()
    assert r.done.any()
    state = r.flat_batch(task.transition_view).state
    np.testing.assert_array_equal(state.step, np.concatenate([d["step"] for d in seen]))
    np.testing.assert_array_equal(state.agent_x, np.concatenate([d["agent_x"] for d in seen]))
    np.testing.assert_array_equal(state.prev.agent_x, np.concatenate([d["prev_x"] for d in seen]))
    # the stored form rebuilds the same view
    view = transition_view(task, rollout_arrays(r))
    np.testing.assert_array_equal(view.prev.agent_x, state.prev.agent_x)


def test_step_counts_in_next_step_mode() -> None:
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    venv = SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(3)], autoreset_mode=AutoresetMode.NEXT_STEP)
    col = Collector(venv)
    col.reset(seed=0)
    r = col.collect(random_policy(venv.action_space, 0), 120)
    venv.close()
    assert (~r.valid).any()
    assert (r.step[~r.valid] == 0).all()  # reset pseudo-steps belong to no episode
    assert (r.step[0] == 1).all()
    after = np.zeros_like(r.valid)
    after[1:] = ~r.valid[:-1]
    assert (r.step[after] == 1).all()  # the first real step of the next episode
    same = r.valid[1:] & r.valid[:-1]
    assert (r.step[1:][same] == r.step[:-1][same] + 1).all()


def test_rollout_slice_concat_copy_keep_prev_info_and_steps() -> None:
    task = get_task("MiniGrid-MultiRoom-N2-S4-v0")
    venv = make_vector_env(task, 2)
    col = Collector(venv, tuple(task.info_keys))
    col.reset(seed=0)
    pol = random_policy(venv.action_space, 0)
    parts = [col.collect(pol, 9, copy=True) for _ in range(3)]
    venv.close()
    full = Rollout.concat(parts)
    assert full.T == 27 and full.step.shape == (27, 2) and full.prev_info.keys() == set(task.info_keys)
    mid = full.slice(9, 18)
    np.testing.assert_array_equal(mid.step, parts[1].step)
    for k in task.info_keys:
        np.testing.assert_array_equal(mid.prev_info[k], parts[1].prev_info[k])
    # prev_info of a step is the info left by the last one, except after a done (then: the reset state)
    keep = ~full.done[:-1]
    for k in task.info_keys:
        np.testing.assert_array_equal(full.prev_info[k][1:][keep], full.info[k][:-1][keep])
    # a rollout built without the new fields still works as before
    old = Rollout(full.obs, full.action, full.next_obs, full.env_reward, full.terminated, full.truncated, full.reward)
    assert old.step is None and old.prev_info == {} and old.slice(0, 3).step is None
    assert old.flat_batch(task.transition_view).state is not None


def test_collector_on_torch_batched_env_counts_steps_on_device() -> None:
    from envs.batched import make_batched

    n, T = 16, 80
    venv = make_batched("CartPole-v1", n, "torch", "cpu")
    col = Collector(venv)
    col.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    r = col.collect(lambda obs: torch.randint(0, 2, (n,), generator=gen), T)
    assert torch.is_tensor(r.step) and r.step.dtype == torch.int64 and torch.is_tensor(r.next_obs)
    done = r.done.numpy()
    assert done.any()
    expect, prev = np.zeros((T, n), dtype=np.int64), np.zeros(n, dtype=np.int64)
    for t in range(T):
        expect[t] = prev + 1
        prev = np.where(done[t], 0, expect[t])
    np.testing.assert_array_equal(r.step.numpy(), expect)
    # a terminated CartPole's next_obs is the terminal state, outside the bounds
    nxt = r.next_obs.numpy()[r.terminated.numpy()]
    assert ((np.abs(nxt[:, 0]) > 2.4) | (np.abs(nxt[:, 2]) > 0.2095)).all()
