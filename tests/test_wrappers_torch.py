"""The reward wrapper and episode accounting on the lab's batched envs, numpy and torch.

The same actions from the same states run through three vector envs -- gymnasium's
SyncVectorEnv, the numpy batched env and the torch batched env -- each under
RewardVectorWrapper. Resets draw from different generators, so after every step the numpy
batched env's state (with its fresh reset rows) is copied into the other two and into the
wrappers' remembered observation; from then on the three must agree on rewards, components,
fitness and every finished episode.

Tolerances: numpy batched vs gymnasium: rewards and returns within 1e-9 (both integrate in
float64 and read float32 observations); torch vs numpy: 1e-5 (the torch env returns float32
rewards and the hand rewards compute in float32 either way; per-episode sums are kept in float64).
Lengths, env indices and success flags must be equal.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from envs.batched import BATCHED_TASKS, make_batched
from envs.registry import get_task
from rewardlab.rewards.registry import resolve_reward
from rewardlab.wrappers import RewardVectorWrapper, TorchRewardAccountant, check_vec, make_vector_env

torch.set_num_threads(1)

N, STEPS, HORIZON = 6, 90, 25  # a short time limit: terminations and truncations both happen
TASKS = ("CartPole-v1", "MountainCar-v0", "Pendulum-v1")  # fitness reduces sum, max, mean
FIELDS = ("fitness", "env_return", "shaped_return")


def _np(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _actions(space, rng):
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(0, space.n, size=N)
    return rng.uniform(space.low, space.high, size=(N, 1)).astype(np.float32)


def _three(task_id, reward="hand", drain_every=4):
    task = get_task(task_id)
    gym_env = SyncVectorEnv(
        [lambda: task.make_env(max_episode_steps=HORIZON) for _ in range(N)], autoreset_mode=AutoresetMode.SAME_STEP
    )
    wg = RewardVectorWrapper(gym_env, resolve_reward(reward, task), task)
    wb = RewardVectorWrapper(make_batched(task_id, N, max_episode_steps=HORIZON), resolve_reward(reward, task), task)
    wt = RewardVectorWrapper(
        make_batched(task_id, N, "torch", device="cpu", max_episode_steps=HORIZON),
        resolve_reward(reward, task),
        task,
        drain_every=drain_every,
    )
    wg.reset(seed=list(range(N)))
    wb.reset(seed=0)
    wt.reset(seed=1)
    return task, wg, wb, wt


def _sync(wg, wb, wt):
    """Copy the numpy batched env's state (and the obs its wrapper holds) into the other two."""
    state, elapsed = wb.env.get_state(), wb.env.elapsed_steps
    wt._obs = wt.env.set_state(torch.as_tensor(state), torch.as_tensor(elapsed))
    for i, e in enumerate(wg.env.envs):
        e.unwrapped.state = state[i].copy()
        e._elapsed_steps = int(elapsed[i])  # TimeLimit's counter
    wg._obs = wb._obs.copy()


def _concat(eps, name):
    return np.concatenate([getattr(e, name) for e in eps]) if eps else np.zeros(0)


@pytest.mark.parametrize("task_id", TASKS)
def test_torch_numpy_and_gym_agree_step_by_step(task_id):
    _, wg, wb, wt = _three(task_id)
    _sync(wg, wb, wt)
    rng = np.random.default_rng(3)
    eps = {"gym": [], "batched": [], "torch": []}
    for _ in range(STEPS):
        a = _actions(wb.single_action_space, rng)
        _, rg, teg, trg, ig = wg.step(a)
        _, rb, teb, trb, ib = wb.step(a)
        _, rt, tet, trt, it = wt.step(torch.as_tensor(a))
        assert isinstance(rt, torch.Tensor) and isinstance(it["fitness_step"], torch.Tensor)
        np.testing.assert_array_equal(teb, teg)
        np.testing.assert_array_equal(trb, trg)
        np.testing.assert_array_equal(_np(tet), teb)
        np.testing.assert_array_equal(_np(trt), trb)
        np.testing.assert_allclose(rb, rg, rtol=0, atol=1e-9)
        np.testing.assert_allclose(_np(rt), rb, rtol=0, atol=1e-5)
        assert ib["reward_components"].keys() == ig["reward_components"].keys() == it["reward_components"].keys()
        for k, v in ib["reward_components"].items():
            np.testing.assert_allclose(v, ig["reward_components"][k], rtol=0, atol=1e-9)
            np.testing.assert_allclose(_np(it["reward_components"][k]), v, rtol=0, atol=1e-5)
        np.testing.assert_allclose(_np(it["fitness_step"]), ib["fitness_step"], rtol=0, atol=1e-5)
        for name, w in (("gym", wg), ("batched", wb), ("torch", wt)):
            eps[name] += w.accountant.pop_episodes()
        _sync(wg, wb, wt)
    eps["torch"] += wt.accountant.pop_episodes(force=True)  # the last partly filled queue
    assert len(_concat(eps["batched"], "length")) >= 2 * N
    if task_id == "CartPole-v1":  # random actions end CartPole by termination, the others by the limit
        assert (_concat(eps["batched"], "length") < HORIZON).any()
    assert (_concat(eps["batched"], "length") == HORIZON).any()
    for other in ("gym", "torch"):
        tol = 1e-9 if other == "gym" else 1e-5
        for name in ("env_index", "length", "success"):
            np.testing.assert_array_equal(_concat(eps[other], name), _concat(eps["batched"], name))
        for name in FIELDS:
            np.testing.assert_allclose(_concat(eps[other], name), _concat(eps["batched"], name), rtol=0, atol=tol)
        for k in eps["batched"][0].components:
            got = np.concatenate([e.components[k] for e in eps[other]])
            want = np.concatenate([e.components[k] for e in eps["batched"]])
            np.testing.assert_allclose(got, want, rtol=0, atol=tol)
    # numpy fields, one record per vector step with finished episodes, like the numpy accountant's
    rec = eps["torch"][0]
    assert all(isinstance(getattr(rec, f), np.ndarray) for f in ("env_index", "length", *FIELDS))
    assert rec.length.dtype == np.int64 and rec.env_index.dtype == np.int64
    assert [len(e.env_index) for e in eps["torch"]] == [len(e.env_index) for e in eps["batched"]]
    for w in (wg, wb, wt):
        w.close()


def test_drain_every_batches_host_transfers_and_force_flushes():
    task = get_task("CartPole-v1")
    venv = make_vector_env(task, 8, resolve_reward("hand", task), vec="torch", device="cpu", max_episode_steps=5)
    acc = venv.accountant
    assert isinstance(acc, TorchRewardAccountant) and acc.drain_every == 1  # CPU default: at once
    acc2 = TorchRewardAccountant(resolve_reward("hand", task), task, 8, "cpu", drain_every=3)
    venv.close()
    venv = RewardVectorWrapper(make_batched(task.id, 8, "torch", max_episode_steps=5), acc2.source, task, drain_every=3)
    acc = venv.accountant
    venv.reset(seed=0)
    zeros = torch.zeros(8, dtype=torch.int64)
    got = []
    for t in range(1, 11):
        venv.step(zeros)
        eps = acc.pop_episodes()
        if t % 3:
            assert eps == [] and acc.episodes_ready() == 0  # nothing reaches the host between drains
        got += eps
    got += acc.pop_episodes(force=True)
    lengths = np.concatenate([e.length for e in got])
    assert lengths.sum() == 8 * 10 and (lengths <= 5).all()  # every step of every finished episode counted
    venv.close()


def test_torch_step_does_no_host_sync(monkeypatch):
    """N wrapped steps without pop_episodes: no .cpu/.item/.numpy/bool/int/float/nonzero/boolean indexing."""
    task = get_task("CartPole-v1")
    venv = make_vector_env(task, 64, resolve_reward("hand", task), vec="torch", device="cpu", max_episode_steps=10)
    venv.accountant.drain_every = 1000  # the queue would never fill during the test...
    venv.accountant._alloc_stats(())  # ...re-sized to it
    venv.env._sync_free = True  # the env's accelerator path (its CPU path checks action values on the host)
    venv.reset(seed=0)
    actions = [torch.randint(0, 2, (64,), generator=torch.Generator().manual_seed(i)) for i in range(40)]
    venv.step(actions[0])  # the first step fixes the component names
    calls: list[str] = []

    def counting(name, orig):
        def f(self, *a, **k):
            calls.append(name)
            return orig(self, *a, **k)

        return f

    for name in ("cpu", "item", "numpy", "tolist", "nonzero", "__bool__", "__int__", "__float__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))
    get, put = torch.Tensor.__getitem__, torch.Tensor.__setitem__

    def bool_index(idx):
        parts = idx if isinstance(idx, tuple) else (idx,)
        return any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts)

    def getitem(self, idx):
        if bool_index(idx):
            calls.append("bool-index")
        return get(self, idx)

    def setitem(self, idx, v):
        if bool_index(idx):
            calls.append("bool-index")
        return put(self, idx, v)

    monkeypatch.setattr(torch.Tensor, "__getitem__", getitem)
    monkeypatch.setattr(torch.Tensor, "__setitem__", setitem)
    for a in actions[1:]:
        _, reward, *_ = venv.step(a)
    monkeypatch.undo()
    assert calls == []
    assert isinstance(reward, torch.Tensor) and reward.shape == (64,)
    eps = venv.accountant.pop_episodes(force=True)  # now one drain hands everything over
    assert sum(len(e.env_index) for e in eps) >= 64 * 3  # 40 steps, episodes of at most 10
    venv.close()


def test_torch_nan_reward_is_raised_at_the_drain():
    from rewardlab.rewards import FunctionReward
    from rewardlab.rewards.base import RewardError

    task = get_task("CartPole-v1")
    src = FunctionReward(lambda s: {"bad": s.x / 0.0 * 0.0}, "bad")
    venv = RewardVectorWrapper(make_batched(task.id, 4, "torch"), src, task, drain_every=2)
    venv.reset(seed=0)
    venv.step(torch.zeros(4, dtype=torch.int64))
    with pytest.raises(RewardError, match="NaN or inf"):
        venv.step(torch.zeros(4, dtype=torch.int64))  # the queue fills: the drain checks the flag


@pytest.mark.parametrize("vec", ["batched", "torch"])
def test_make_vector_env_builds_the_batched_envs(vec):
    task = get_task("Pendulum-v1")
    venv = make_vector_env(task, 5, resolve_reward("hand", task), vec=vec, device="cpu")
    ref = task.make_env()
    assert venv.single_observation_space == ref.observation_space
    assert venv.single_action_space == ref.action_space
    assert venv.unwrapped.max_episode_steps == task.max_episode_steps
    obs, _ = venv.reset(seed=0)
    assert isinstance(obs, torch.Tensor) == (vec == "torch")
    # the task's state view and fitness read the batched env's observations unchanged
    view = task.state(obs)
    for f in task.obs_schema:
        np.testing.assert_array_equal(_np(view[f.name]), _np(obs)[:, f.index])
    a = torch.zeros(5, 1) if vec == "torch" else np.zeros((5, 1), np.float32)
    _, r, *_, info = venv.step(a)
    assert tuple(r.shape) == (5,) and tuple(info["fitness_step"].shape) == (5,)
    venv.close()
    ref.close()


def test_make_vector_env_gym_is_unchanged():
    task = get_task("CartPole-v1")
    venv = make_vector_env(task, 3, resolve_reward("hand", task))
    assert isinstance(venv.env, SyncVectorEnv) and venv.env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    venv.close()


def test_vec_for_a_task_without_a_batched_env_is_a_clear_error():
    task = get_task("CartPole-v1")
    other = "rewardlab/CartPoleKeepLeft-v0"  # a CartPole variant, but no batched env of its own
    for vec in ("batched", "torch"):
        with pytest.raises(ValueError) as e:
            make_vector_env(get_task(other), 2, vec=vec)
        msg = str(e.value)
        assert other in msg and all(t in msg for t in BATCHED_TASKS) and "vec='gym'" in msg
    with pytest.raises(ValueError, match="unknown vec"):
        make_vector_env(task, 2, vec="jax")
    with pytest.raises(ValueError, match="render_mode"):
        make_vector_env(task, 2, vec="batched", render_mode="rgb_array")
    with pytest.raises(ValueError, match="SAME_STEP"):
        make_vector_env(task, 2, None, AutoresetMode.NEXT_STEP, vec="batched")
    check_vec("gym", other)  # every task has the gym path
