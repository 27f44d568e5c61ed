"""The native SAC agent (``sac-native``): learning, the replay buffer under rollout terms and episode relabels,
save/load, the exact budget, errors, and torch-batched envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.native import sac
from envs.registry import get_task
from rewardlab.experiment.agents import AgentError, get_backend
from rewardlab.experiment.hooks import TrainHooks
from rewardlab.rewards.base import RewardSource, RewardTerms
from rewardlab.rewards.registry import resolve_reward
from rewardlab.wrappers import make_vector_env

torch.set_num_threads(1)

PENDULUM = get_task("Pendulum-v1")


def _agent(n: int, overrides: list[str], seed: int = 0, task=PENDULUM) -> sac.SACAgent:
    env = task.make_env()
    spec = sac.resolve("sac-native", task, [f"n_envs={n}", *overrides], env.action_space)
    agent = sac.build(spec, env.observation_space, env.action_space, seed, "cpu")
    env.close()
    return agent


def _eval(agent: sac.SACAgent, episodes: int = 5) -> float:
    venv = gym.vector.SyncVectorEnv([lambda: gym.make("Pendulum-v1") for _ in range(episodes)])
    obs, _ = venv.reset(seed=[1000 + i for i in range(episodes)])
    ret, done = np.zeros(episodes), np.zeros(episodes, dtype=bool)
    while not done.all():
        obs, r, term, trunc, _ = venv.step(agent.act(obs))
        ret += r * ~done
        done |= term | trunc
    venv.close()
    return float(ret.mean())


def _pendulum_reward(obs: np.ndarray, torque: np.ndarray) -> np.ndarray:
    """Gymnasium's Pendulum reward from the observation before the step and the torque."""
    th = np.arctan2(obs[..., 1], obs[..., 0])
    return -(th**2 + 0.1 * obs[..., 2] ** 2 + 0.001 * torque**2)


# --- learning ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_pendulum_improves_quickly():
    agent = _agent(8, [])
    before = _eval(agent)
    venv = make_vector_env(PENDULUM, 8, resolve_reward("env", PENDULUM))
    agent.learn(venv, 8_000, TrainHooks(None, seed=0))
    after = _eval(agent)
    venv.close()
    assert agent.num_steps == 8_000 and agent.grad_steps > 3_000
    assert after > before + 300 and after > -900, (before, after)


@pytest.mark.slow
def test_pendulum_learns_within_20k_steps():
    agent = _agent(8, [])
    venv = make_vector_env(PENDULUM, 8, resolve_reward("env", PENDULUM))
    agent.learn(venv, 20_000, TrainHooks(None, seed=0))
    venv.close()
    assert _eval(agent, 10) > -400


# --- the replay buffer under the lab's reward hooks ----------------------------------------------


class _RewardAtEnd(RewardSource):
    """Episode source: the whole env return on the last step of each finished episode (plus 1000 * env)."""

    name = "at_end"
    needs_state = False

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, int]] = []  # (env, start, length)

    def compute(self, batch):
        return RewardTerms(batch.env_reward, {"env": batch.env_reward})

    def wants_episodes(self) -> bool:
        return True

    def relabel(self, episodes):
        out = []
        for ep in episodes:
            self.seen.append((ep.env, ep.start, ep.length))
            r = np.zeros(ep.length)
            r[-1] = ep.env_reward.sum() + 1000.0 * ep.env
            out.append(r)
        return out


def test_episode_relabels_overwrite_the_replay_buffer_across_chunks_and_wraparound():
    n, cap, steps = 3, 150, 430  # Pendulum episodes are 200 vector steps; the buffer keeps the last 150
    src = _RewardAtEnd()
    venv = make_vector_env(PENDULUM, n, src)
    # no learning (learning_starts beyond the budget): the test is about what is stored; chunks of 7 steps
    agent = _agent(n, [f"buffer_size={cap * n}", "learning_starts=100000", "train_freq=7"])
    agent.learn(venv, steps * n, TrainHooks(src, seed=0))
    venv.close()
    buf = agent.buffer
    assert buf.t == steps and buf.oldest == steps - cap and len(buf) == cap * n
    # two episodes per env finished: [0, 200) and [200, 400); each spans many 7-step chunks
    assert sorted(src.seen) == sorted((e, s, 200) for e in range(n) for s in (0, 200))
    rows = np.arange(buf.oldest, buf.t)
    r = buf.rewards[rows % cap].numpy()  # (cap, n) in global-step order
    obs, act = buf.obs[rows % cap].numpy(), buf.actions[rows % cap].numpy()
    true = _pendulum_reward(obs, 2.0 * act[..., 0])  # Pendulum's torque bound is 2
    in_second = (rows >= 200) & (rows < 400)
    for e in range(n):
        # the second episode's stored steps (280..399) were relabelled: zero, and the return on its last step
        np.testing.assert_allclose(r[in_second & (rows != 399), e], 0.0)
        # its return covers steps no longer stored (200..279): it equals the env return of the whole episode
        last = r[rows == 399, e][0]
        assert last < 1000.0 * e - 200 and last > 1000.0 * e - 200 * 17
        # steps of the unfinished third episode keep the step reward (the env's own)
        np.testing.assert_allclose(r[rows >= 400, e], true[rows >= 400, e], atol=1e-4)
        assert (r[rows >= 400, e] < 0).all()
    # the first episode ended before the oldest stored step: nothing of it may have landed on newer rows
    assert buf.oldest > 200
    # what the learner samples are these rewards
    _, _, rs, _, _ = buf.sample(4096, torch.Generator().manual_seed(0))
    stored = set(np.round(r.reshape(-1), 4).tolist())
    assert set(np.round(rs.numpy(), 4).tolist()) <= stored
    assert (rs == 0).float().mean() > 0.5  # most stored steps are relabelled zeros


def test_episode_relabels_match_the_returns_of_the_steps_stored():
    n = 2
    src = _RewardAtEnd()
    venv = make_vector_env(PENDULUM, n, src)
    agent = _agent(n, ["buffer_size=2000", "learning_starts=100000", "train_freq=9"])
    agent.learn(venv, 230 * n, TrainHooks(src, seed=1))
    venv.close()
    buf = agent.buffer
    obs, act, r = buf.obs[:230].numpy(), buf.actions[:230].numpy(), buf.rewards[:230].numpy()
    true = _pendulum_reward(obs, 2.0 * act[..., 0])
    for e in range(n):
        np.testing.assert_allclose(r[:199, e], 0.0)
        np.testing.assert_allclose(r[199, e], true[:200, e].sum() + 1000.0 * e, rtol=1e-4)
        np.testing.assert_allclose(r[200:, e], true[200:, e], atol=1e-4)
    # terminated is the done flag: Pendulum only truncates, so no stored step stops bootstrapping
    assert float(buf.dones[:230].sum()) == 0.0
    # the true final observation is stored on the truncated step (not the next episode's first)
    assert not torch.allclose(buf.next_obs[199], buf.obs[200])
    torch.testing.assert_close(buf.next_obs[198], buf.obs[199])


class _SpinBonus(RewardSource):
    """Rollout-level source: +10 on every step whose next angular velocity is positive, over (T, n) at once."""

    name = "spin"
    needs_state = False

    def __init__(self) -> None:
        self.calls = 0

    def compute(self, batch):
        z = np.zeros(batch.n)
        return RewardTerms(z, {"spin": z})

    def wants_rollout(self) -> bool:
        return True

    def on_rollout(self, rollout):
        self.calls += 1
        b = 10.0 * (rollout.next_obs[..., 2] > 0)
        return RewardTerms(b, {"spin": b})


def test_rollout_terms_reach_the_replay_buffer():
    n = 4
    bonus = _SpinBonus()
    src = resolve_reward("env", PENDULUM) + bonus
    venv = make_vector_env(PENDULUM, n, src)
    agent = _agent(n, ["learning_starts=600", "train_freq=5", "batch_size=64"])
    agent.learn(venv, 1200, TrainHooks(src, seed=0))
    venv.close()
    assert bonus.calls == 1200 // n // 5
    buf = agent.buffer
    obs, act, nxt, r = (x[:300].numpy() for x in (buf.obs, buf.actions, buf.next_obs, buf.rewards))
    expect = _pendulum_reward(obs, 2.0 * act[..., 0]) + 10.0 * (nxt[..., 2] > 0)
    np.testing.assert_allclose(r, expect, atol=1e-4)
    assert (r > 5).mean() > 0.2


# --- persistence, budget, errors, torch envs -----------------------------------------------------


def test_save_load_round_trip_and_resume(tmp_path):
    n = 4
    venv = make_vector_env(PENDULUM, n, resolve_reward("env", PENDULUM))
    agent = _agent(n, ["learning_starts=200", "norm_obs=true", "batch_size=64"])
    agent.learn(venv, 600, TrainHooks(None, seed=0))
    agent.save(tmp_path)
    back = get_backend("sac-native").load(
        tmp_path, None, venv.single_observation_space, venv.single_action_space, "cpu"
    )
    assert isinstance(back, sac.SACAgent) and back.num_steps == agent.num_steps == 600
    assert back.spec == agent.spec and back.spec.source == "sac_native.yml:Pendulum-v1"
    obs = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    np.testing.assert_array_equal(back.act(obs), agent.act(obs))
    assert back.act(obs).dtype == np.float32 and back.act(obs).shape == (16, 1)
    torch.testing.assert_close(back.obs_norm.mean, agent.obs_norm.mean)
    assert float(agent.obs_norm.count) > 600
    for k in ("exp_avg", "exp_avg_sq"):
        s0 = agent.critic_opt.state_dict()["state"][0][k]
        torch.testing.assert_close(back.critic_opt.state_dict()["state"][0][k], s0)
    # the replay buffer is not saved by default: the loaded agent refills it (save_buffer=true keeps it)
    assert len(back.buffer) == 0 and not (tmp_path / sac.BUFFER_FILE).exists()
    back.learn(venv, 1000, TrainHooks(None, seed=0))
    assert back.num_steps == 1000 and back.buffer.t == 250 and len(back.buffer) == 100 * n
    agent.spec.save_buffer = True
    agent.save(tmp_path / "full")
    full = sac.load(tmp_path / "full", None, venv.single_observation_space, venv.single_action_space, "cpu")
    assert full.spec.save_buffer and len(full.buffer) == len(agent.buffer) == 600
    torch.testing.assert_close(full.buffer.rewards[:150], agent.buffer.rewards[:150])
    venv.close()


def test_exact_budget_and_interrupt():
    n = 4
    venv = make_vector_env(PENDULUM, n, resolve_reward("env", PENDULUM))
    agent = _agent(n, ["learning_starts=100", "train_freq=3", "batch_size=32"])
    calls: list[int] = []
    agent.learn(venv, 1003, TrainHooks(None, [calls.append], seed=0))
    assert agent.num_steps == 1004 and calls == list(range(4, 1005, 4))
    agent.learn(venv, 1500, TrainHooks(None, [calls.append], seed=0))
    assert agent.num_steps == 1500 and calls[-1] == 1500 and len(calls) == 375

    def stop(step: int) -> None:
        if step == 1600:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        agent.learn(venv, 4000, TrainHooks(None, [stop], seed=0))
    assert agent.num_steps == 1600  # consistent at the step the callback stopped
    agent.learn(venv, 1700, TrainHooks(None, seed=0))  # and able to go on
    assert agent.num_steps == 1700
    venv.close()


def test_errors_for_discrete_actions_and_bad_overrides():
    cart = get_task("CartPole-v1")
    with pytest.raises(AgentError, match="Box"):
        get_backend("sac-native").resolve("sac-native", cart, [], gym.spaces.Discrete(2))
    box = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    with pytest.raises(AgentError, match=r"unknown key 'batchsize'.*Did you mean batch_size.*Valid keys:.*utd"):
        sac.resolve("sac-native", PENDULUM, ["batchsize=3"], box)
    with pytest.raises(AgentError, match="utd"):
        sac.resolve("sac-native", PENDULUM, ["utd=fast"], box)
    with pytest.raises(AgentError, match="tau"):
        sac.resolve("sac-native", PENDULUM, ["tau=0"], box)
    with pytest.raises(AgentError, match="key=value"):
        sac.resolve("sac-native", PENDULUM, ["utd"], box)
    spec = sac.resolve("sac-native", PENDULUM, ["hidden=[32,32]", "batch_size=1e3", "norm_obs=true"], box)
    assert spec.hidden == (32, 32) and spec.batch_size == 1000 and spec.norm_obs is True
    assert spec.overrides == {"hidden": (32, 32), "batch_size": 1000, "norm_obs": True}
    assert sac.SACConfig.from_dict(spec.to_dict()) == spec
    # presets by task id, then family, then default
    assert spec.source == "sac_native.yml:Pendulum-v1"
    cheetah = get_task("HalfCheetah-v5")
    assert sac.resolve("sac-native", cheetah, [], box).source == "sac_native.yml:family.mujoco"
    assert get_backend("sac-native").describe("sac-native")["actions"] == "Box"


def test_torch_batched_env():
    from envs.batched import make_batched

    n = 16
    venv = make_batched("Pendulum-v1", n, "torch", device="cpu")
    agent = _agent(n, ["learning_starts=320", "batch_size=64", "norm_obs=true"])
    calls: list[int] = []
    agent.learn(venv, 960, TrainHooks(None, [calls.append], seed=0))
    assert agent.num_steps == 960 and len(calls) == 60 and agent.grad_steps > 0
    assert len(agent.buffer) == 960 and torch.isfinite(agent.buffer.rewards[:60]).all()
    assert (agent.buffer.rewards[:60] < 0).all()  # Pendulum's own reward, stored from tensors
    obs, _ = venv.reset(seed=0)
    a = agent.act(obs)
    assert isinstance(a, torch.Tensor) and a.shape == (n, 1) and (a.abs() <= 2.0).all()
    np.testing.assert_allclose(agent.act(obs.numpy()), a.numpy(), rtol=1e-6)


def test_bf16_autocast_trains_and_keeps_fp32_heads():
    n = 4
    venv = make_vector_env(PENDULUM, n, resolve_reward("env", PENDULUM))
    agent = _agent(n, ["learning_starts=200", "batch_size=64", "bf16=true"])
    agent.learn(venv, 600, TrainHooks(None, seed=0))
    venv.close()
    assert agent.grad_steps > 100
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in agent.critic.parameters())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        q = agent.critic(agent.buffer.obs[:10, 0], agent.buffer.actions[:10, 0])
        mu, _ = agent.actor(agent.buffer.obs[:10, 0])
    assert q.dtype == torch.float32 and mu.dtype == torch.float32 and q.shape == (2, 10)


def test_next_step_autoreset_is_refused():
    from gymnasium.vector import AutoresetMode

    venv = make_vector_env(PENDULUM, 2, None, autoreset_mode=AutoresetMode.NEXT_STEP)
    with pytest.raises(AgentError, match="SAME_STEP"):
        _agent(2, []).learn(venv, 100, TrainHooks(None, seed=0))
    venv.close()
