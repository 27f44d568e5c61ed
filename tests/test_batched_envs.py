"""The batched classic-control envs against gymnasium's own, and the classic tasks on torch.

Tolerances (from identical states and identical actions, gymnasium's env re-synchronised only
when an episode ends and both sides reset):

- observations (float32) and ``final_obs``: ``atol = 1e-6`` -- in practice they are bit-identical,
  because the batched dynamics repeat gymnasium's float operations in the same order and dtype;
- physical state: ``atol = 1e-9`` against ``gym_env.unwrapped.state`` (float64; float32 for
  MountainCarContinuous, which gymnasium stores in float32);
- rewards: ``atol = 1e-9`` for numpy (float64; Pendulum's ``0.001 u^2`` differs by ~1e-11 because
  gymnasium squares a float32 scalar with ``powf``), ``atol = 1e-5`` for torch (float32 rewards);
- terminated and truncated flags: exactly equal on every step.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, VectorEnv

import envs  # noqa: F401  (registers the tasks)
from envs.batched import CLASSIC_TASKS, has_batched, make_batched
from envs.batched.bench import step_rate
from envs.registry import get_task

BACKENDS = ("numpy", "torch")
OBS_ATOL, STATE_ATOL = 1e-6, 1e-9
REWARD_ATOL = {"numpy": 1e-9, "torch": 1e-5}
FLOAT32_STATE = ("MountainCarContinuous-v0", "Acrobot-v1")  # gymnasium's reset state is float32


def _np(x):
    return x.cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _actions(env, rng, n):
    space = env.single_action_space
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(0, space.n, size=n)
    return rng.uniform(space.low, space.high, size=(n, 1)).astype(np.float32)


def _to_backend(env, a):
    return torch.as_tensor(a, device=env.device) if env.backend == "torch" else a


def _sync(gym_env, task_id, state_row):
    dtype = np.float32 if task_id in FLOAT32_STATE else np.float64
    gym_env.unwrapped.state = np.array(state_row, dtype=dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task_id", CLASSIC_TASKS)
def test_trajectories_match_gymnasium(task_id, backend):
    n, steps = 6, 250
    env = make_batched(task_id, n, backend)
    env.reset(seed=3)
    gyms = [gym.make(task_id) for _ in range(n)]
    for i, g in enumerate(gyms):
        g.reset(seed=i)
        _sync(g, task_id, _np(env.get_state())[i])
    rng = np.random.default_rng(7)
    ep_ret, ep_len = np.zeros(n), np.zeros(n, dtype=int)
    gym_ret, gym_len = np.zeros(n), np.zeros(n, dtype=int)
    episodes, gym_episodes = [], []
    for _ in range(steps):
        a = _actions(env, rng, n)
        obs, rew, term, trunc, info = env.step(_to_backend(env, a))
        obs, rew, term, trunc = _np(obs), _np(rew), _np(term), _np(trunc)
        final, mask, state = _np(info["final_obs"]), _np(info["_final_obs"]), _np(env.get_state())
        np.testing.assert_array_equal(mask, term | trunc)
        ep_ret += rew
        ep_len += 1
        for i, g in enumerate(gyms):
            act = int(a[i]) if env._discrete else a[i]
            g_obs, g_rew, g_term, g_trunc, _ = g.step(act)
            np.testing.assert_allclose(final[i], g_obs, rtol=0, atol=OBS_ATOL)
            assert (bool(term[i]), bool(trunc[i])) == (g_term, g_trunc)
            assert abs(rew[i] - g_rew) <= REWARD_ATOL[backend]
            gym_ret[i] += g_rew
            gym_len[i] += 1
            if g_term or g_trunc:
                gym_episodes.append((i, gym_len[i], gym_ret[i]))
                episodes.append((i, ep_len[i], ep_ret[i]))
                gym_ret[i] = ep_ret[i] = 0.0
                gym_len[i] = ep_len[i] = 0
                g.reset()
                _sync(g, task_id, state[i])  # both sides start the next episode from our reset state
            else:
                np.testing.assert_allclose(final[i], obs[i], rtol=0, atol=0)
                gym_state = np.asarray(g.unwrapped.state, dtype=np.float64)
                np.testing.assert_allclose(state[i], gym_state, rtol=0, atol=STATE_ATOL)
    # episode statistics from matched states: same lengths, same returns
    assert [(i, L) for i, L, _ in episodes] == [(i, L) for i, L, _ in gym_episodes]
    np.testing.assert_allclose([r for *_, r in episodes], [r for *_, r in gym_episodes], atol=1e-3)
    if task_id in ("MountainCar-v0", "Pendulum-v1"):
        assert episodes, "a random policy truncates these tasks within 250 steps"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task_id", CLASSIC_TASKS)
def test_time_limit_truncates_like_timelimit(task_id, backend):
    limit, n = 7, 4
    env = make_batched(task_id, n, backend, max_episode_steps=limit)
    env.reset(seed=0)
    ref = gym.make(task_id, max_episode_steps=limit)
    ref.reset(seed=0)
    # near-rest states where no task terminates within the limit
    state = _np(env.get_state()) * 0.0
    if task_id.startswith("MountainCar"):
        state[:, 0] = -0.5
    elif task_id == "Pendulum-v1":
        state[:, 0] = 3.0
    env.set_state(state, elapsed_steps=np.arange(n))  # env i has already taken i steps
    rng = np.random.default_rng(0)
    for t in range(1, limit + 1):
        _, _, term, trunc, _ = env.step(_to_backend(env, _actions(env, rng, n)))
        assert not _np(term).any()
        np.testing.assert_array_equal(_np(trunc), np.arange(n) + t == limit)
    _sync(ref.unwrapped, task_id, state[0])
    flags = [ref.step(ref.action_space.sample())[3] for _ in range(limit)]
    assert flags == [False] * (limit - 1) + [True]


@pytest.mark.parametrize("backend", BACKENDS)
def test_cartpole_episode_lengths_match_gymnasium_distribution(backend):
    """Random-policy episode lengths: batched resets vs gymnasium's own (two-sample KS, alpha 0.001)."""
    # The first episode of each of 600 envs: taking the first 600 completions across fewer envs would
    # over-sample short episodes (they finish first) and bias the comparison.
    n = 600
    env = make_batched("CartPole-v1", n, backend)
    env.reset(seed=1)
    rng = np.random.default_rng(1)
    first, t = np.zeros(n, dtype=int), 0
    while (first == 0).any():
        _, _, term, trunc, _ = env.step(_to_backend(env, _actions(env, rng, n)))
        t += 1
        done = _np(term | trunc) & (first == 0)
        first[done] = t
    lengths = first.tolist()
    ref = gym.make("CartPole-v1")
    ref.reset(seed=2)
    ref.action_space.seed(2)
    ref_lengths, k = [], 0
    while len(ref_lengths) < 600:
        _, _, te, tr, _ = ref.step(ref.action_space.sample())
        k += 1
        if te or tr:
            ref_lengths.append(k)
            k = 0
            ref.reset()
    a, b = np.sort(lengths), np.sort(ref_lengths)
    grid = np.union1d(a, b)
    ks = np.abs(np.searchsorted(a, grid, "right") / a.size - np.searchsorted(b, grid, "right") / b.size).max()
    assert ks < 1.95 * np.sqrt((a.size + b.size) / (a.size * b.size)), ks
    assert 15 < np.mean(lengths) < 30


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task_id", CLASSIC_TASKS)
def test_autoreset_in_array(task_id, backend):
    n = 64
    env = make_batched(task_id, n, backend, max_episode_steps=5)
    obs0, _ = env.reset(seed=0)
    lo, hi = _np(env._low)[:, 0], _np(env._high)[:, 0]
    rng = np.random.default_rng(0)
    for t in range(5):
        prev_state = _np(env.get_state())
        a = _actions(env, rng, n)
        obs, _, term, trunc, info = env.step(_to_backend(env, a))
        done = _np(term | trunc)
        final = _np(info["final_obs"])
        assert isinstance(info["final_obs"], torch.Tensor if backend == "torch" else np.ndarray)
        assert final.shape == (n, env.obs_dim) and final.dtype == np.float32
        np.testing.assert_array_equal(_np(info["_final_obs"]), done)
        np.testing.assert_array_equal(final[~done], _np(obs)[~done])
        state = _np(env.get_state())
        if done.any():
            # the step after a done starts a fresh episode: state inside the reset box, counter 0
            assert np.all((state[done] >= lo - 1e-7) & (state[done] <= hi + 1e-7))
            assert np.all(_np(env.elapsed_steps)[done] == 0)
            # final_obs is the terminal state: one step of the dynamics from the previous state
            check = make_batched(task_id, n, "numpy")
            check.set_state(prev_state)
            np.testing.assert_allclose(final[done], check.step(a)[4]["final_obs"][done])
        assert t < 4 or done.all()
    assert not np.shares_memory(_np(obs0), _np(obs))


def test_final_obs_is_terminal_state_on_termination():
    env = make_batched("CartPole-v1", 2)
    env.reset(seed=0)
    obs = env.set_state(np.array([[2.39, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]))
    new_obs, rew, term, _trunc, info = env.step(np.array([1, 1]))
    assert term.tolist() == [True, False] and rew.tolist() == [1.0, 1.0]
    assert info["final_obs"][0, 0] > 2.4  # the cart left the track
    assert np.all(np.abs(new_obs[0]) <= 0.05)  # ... and the returned obs is a fresh start
    np.testing.assert_array_equal(info["final_obs"][1], new_obs[1])
    assert obs.shape == (2, 4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task_id", CLASSIC_TASKS)
def test_same_seed_same_trajectory(task_id, backend):
    def rollout(seed):
        env = make_batched(task_id, 32, backend, max_episode_steps=20)
        out = [_np(env.reset(seed=seed)[0])]
        rng = np.random.default_rng(0)
        for _ in range(60):
            out.append(_np(env.step(_to_backend(env, _actions(env, rng, 32)))[0]))
        return np.stack(out)

    a, b, c = rollout(5), rollout(5), rollout(6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_lists_and_unseeded_resets(backend):
    env = make_batched("Pendulum-v1", 3, backend)
    a = _np(env.reset(seed=[1, 2, 3])[0])
    np.testing.assert_array_equal(a, _np(env.reset(seed=[1, 2, 3])[0]))
    assert not np.array_equal(a, _np(env.reset(seed=[1, 2, 4])[0]))
    env.reset(seed=9)
    b1 = _np(env.reset()[0])  # an unseeded reset continues the seeded stream
    env.reset(seed=9)
    np.testing.assert_array_equal(b1, _np(env.reset()[0]))
    with pytest.raises(ValueError, match="num_envs = 3"):
        env.reset(seed=[1, 2])
    with pytest.raises(ValueError, match="seed"):
        env.reset(seed="abc")
    with pytest.raises(ValueError, match="non-negative"):
        env.reset(seed=-1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_reset_options_set_bounds(backend):
    env = make_batched("CartPole-v1", 500, backend)
    obs = _np(env.reset(seed=0, options={"low": -0.01, "high": 0.01})[0])
    assert np.abs(obs).max() <= 0.01 and np.abs(obs).max() > 0.005
    pend = make_batched("Pendulum-v1", 500, backend)
    obs = _np(pend.reset(seed=0, options={"x_init": 0.1, "y_init": 0.2})[0])
    assert np.all(obs[:, 0] >= np.cos(0.1) - 1e-6) and np.abs(obs[:, 2]).max() <= 0.2
    with pytest.raises(ValueError, match="low"):
        env.reset(options={"low": 1.0, "high": 0.0})


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task_id", CLASSIC_TASKS)
def test_vector_env_api(task_id, backend):
    n = 5
    env = make_batched(task_id, n, backend)
    ref = gym.make(task_id)
    assert isinstance(env, VectorEnv) and env.num_envs == n
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert env.single_observation_space == ref.observation_space
    assert env.single_action_space == ref.action_space
    assert env.observation_space.shape == (n, *ref.observation_space.shape)
    assert env.max_episode_steps == ref.spec.max_episode_steps
    obs, info = env.reset(seed=0)
    assert info == {}
    assert env.observation_space.contains(_np(obs))
    acts = env.action_space.sample()
    obs, rew, term, trunc, info = env.step(_to_backend(env, acts))
    assert env.observation_space.contains(_np(obs))
    types = {type(x) for x in (obs, rew, term, trunc, info["final_obs"], info["_final_obs"])}
    assert types == {torch.Tensor if backend == "torch" else np.ndarray}
    assert _np(obs).dtype == np.float32 and _np(term).dtype == bool and _np(trunc).dtype == bool
    assert _np(rew).dtype == (np.float32 if backend == "torch" else np.float64)
    assert tuple(rew.shape) == tuple(term.shape) == (n,)
    env.close()


def test_bad_inputs():
    with pytest.raises(ValueError, match="CartPole-v1"):
        make_batched("rewardlab/CartPoleKeepLeft-v0", 4)
    with pytest.raises(ValueError, match="numpy, torch"):
        make_batched("CartPole-v1", 4, backend="jax")
    with pytest.raises(ValueError, match="num_envs"):
        make_batched("CartPole-v1", 0)
    with pytest.raises(ValueError, match="max_episode_steps"):
        make_batched("CartPole-v1", 4, max_episode_steps=0)
    with pytest.raises(ValueError, match="backend='torch'"):
        make_batched("CartPole-v1", 4, device="cuda")
    with pytest.raises(ValueError, match="invalid torch device"):
        make_batched("CartPole-v1", 4, "torch", device="warp-drive")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            make_batched("CartPole-v1", 4, "torch", device="cuda")
    with pytest.raises(ValueError, match="dtype"):
        make_batched("CartPole-v1", 4, "torch", device="cpu", dtype="int32")
    assert has_batched("Acrobot-v1", "torch") and not has_batched("Acrobot-v1", "jax")
    assert not has_batched("rewardlab/CartPoleKeepLeft-v0")

    for backend in BACKENDS:
        env = make_batched("CartPole-v1", 4, backend, device="cpu" if backend == "torch" else None)
        env.reset(seed=0)
        with pytest.raises(ValueError, match=r"shape \(4,\)"):
            env.step(_to_backend(env, np.zeros(3, dtype=np.int64)))
        with pytest.raises(ValueError, match=r"\[0, 2\)"):
            env.step(_to_backend(env, np.array([0, 1, 2, 0])))
        with pytest.raises(ValueError, match="integers"):
            env.step(_to_backend(env, np.array([0.5, 1, 0, 0])))
        with pytest.raises(ValueError, match=r"shape \(4, 4\)"):
            env.set_state(np.zeros((3, 4)))
        cont = make_batched("Pendulum-v1", 4, backend, device="cpu" if backend == "torch" else None)
        cont.reset(seed=0)
        with pytest.raises(ValueError, match=r"shape \(4, 1\)"):
            cont.step(_to_backend(cont, np.zeros((4, 2), dtype=np.float32)))
        cont.step(_to_backend(cont, np.zeros(4, dtype=np.float32)))  # (n,) is accepted for Box(1)


def test_acrobot_wrap_matches_gymnasium_for_several_turns():
    from gymnasium.envs.classic_control.acrobot import wrap

    env = make_batched("Acrobot-v1", 1)
    xs = np.array([-20.0, -7.0, -np.pi - 1e-9, -1.0, 0.0, np.pi, np.pi + 1e-12, 4.0, 9.5, 30.0])
    got = env._wrap(xs, -np.pi, np.pi)
    want = np.array([wrap(x, -np.pi, np.pi) for x in xs])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.all((got >= -np.pi) & (got <= np.pi))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("task_id", CLASSIC_TASKS)
def test_torch_on_cuda_stays_on_device(task_id):
    env = make_batched(task_id, 1024, "torch", device="cuda")
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    cpu = make_batched(task_id, 1024, "numpy")
    cpu.set_state(_np(env.get_state()))
    for _ in range(300):
        a = _actions(env, rng, 1024)
        obs, rew, term, trunc, info = env.step(torch.as_tensor(a, device="cuda"))
        ref = cpu.step(a)
        done = ref[2] | ref[3]
        for x in (obs, rew, term, trunc, info["final_obs"], info["_final_obs"]):
            assert x.device.type == "cuda"
        np.testing.assert_allclose(_np(info["final_obs"]), ref[4]["final_obs"], atol=1e-4)
        np.testing.assert_array_equal(_np(term), ref[2])
        cpu.set_state(_np(env.get_state()))  # resets draw from different generators
        assert done.shape == (1024,)


# -- the classic tasks' views, fitness and hand rewards on torch tensors -------------------


def _transition_batch(task_id, n=257, seed=0):
    env = make_batched(task_id, n, max_episode_steps=30)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(rng.integers(5, 40)):
        obs = env.step(_actions(env, rng, n))[0]
    action = _actions(env, rng, n)
    next_obs, rew, term, trunc, info = env.step(action)
    next_obs = info["final_obs"]
    step = rng.integers(1, 501, size=n)
    step[:10] = 500
    term[:5] = True
    return {
        "obs": obs,
        "action": action,
        "next_obs": next_obs,
        "env_reward": rew,
        "terminated": term,
        "truncated": trunc,
        "step": step,
    }


def _values(task, b):
    s = task.transition_view(
        b["obs"], b["action"], b["next_obs"], b["env_reward"], b["terminated"], b["truncated"], {}, step=b["step"]
    )
    out = {f"view.{k}": s[k] for k in s.keys()}
    out["fitness"] = task.fitness.step(s)
    for name, hand in task.rewards.items():
        if hand.components is not None:
            for k, v in hand.components(s).items():
                out[f"{name}.{k}"] = v
        else:
            out[f"{name}.phi"] = hand.potential(s)
            out[f"{name}.phi_prev"] = hand.potential(s.prev)
    return out


@pytest.mark.parametrize("task_id", CLASSIC_TASKS)
def test_task_views_fitness_and_hand_rewards_run_on_torch(task_id):
    task = get_task(task_id)
    b = _transition_batch(task_id)
    ref = _values(task, b)
    got = _values(task, {k: torch.as_tensor(v) for k, v in b.items()})
    assert ref.keys() == got.keys()
    for k, v in got.items():
        assert isinstance(v, torch.Tensor), f"{k} left torch: {type(v)}"
        r = ref[k]
        assert tuple(v.shape) == r.shape, k
        if r.dtype.kind == "f":
            assert v.dtype in (torch.float32, torch.float64), k
        np.testing.assert_allclose(v.double().numpy(), r.astype(np.float64), rtol=1e-5, atol=1e-5, err_msg=k)
    assert ref["fitness"].dtype.kind == "f" and ref["fitness"].shape == (257,)


def test_step_rate_smoke():
    assert step_rate("CartPole-v1", 64, "numpy", steps=20) > 0
    assert step_rate("Pendulum-v1", 64, "torch", device="cpu", steps=20) > 0
