"""The native PPO agent (``ppo-native``): it learns, its advantages are GAE over the hooked rewards (with
truncation bootstrapping), it saves/loads/resumes exactly, trains exactly its budget, and runs on torch and
numpy envs, Discrete and Box actions, MiniGrid."""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.native import ppo
from envs.batched import make_batched
from envs.registry import get_task
from rewardlab.experiment.agents import AgentError, get_backend, resolve_agent
from rewardlab.experiment.hooks import TrainHooks
from rewardlab.rewards.base import RewardSource, RewardTerms
from rewardlab.rewards.registry import resolve_reward
from rewardlab.wrappers import make_vector_env

torch.set_num_threads(1)
BACKEND = get_backend("ppo-native")


def _build(task_id: str, overrides: list[str], source=None, seed: int = 0, **env_kw):
    task = get_task(task_id)
    spec = resolve_agent("ppo-native", task, overrides)
    venv = make_vector_env(task, spec.n_envs, source, **env_kw)
    agent = BACKEND.build(spec, venv.single_observation_space, venv.single_action_space, seed, "cpu")
    return task, spec, venv, agent


def _episode_lengths(agent, task_id: str, n: int = 8, seed: int = 1000) -> np.ndarray:
    """Deterministic episodes on fresh gymnasium envs, stepped with ``agent.act``."""
    venv = gym.vector.SyncVectorEnv([lambda: get_task(task_id).make_env() for _ in range(n)])
    obs, _ = venv.reset(seed=seed)
    length, out, alive = np.zeros(n, int), np.zeros(n, int), np.ones(n, bool)
    for _ in range(600):
        obs, _, term, trunc, _ = venv.step(agent.act(obs, deterministic=True))
        length += alive
        ended = (term | trunc) & alive
        out[ended] = length[ended]
        alive &= ~ended
        if not alive.any():
            break
    venv.close()
    return out


def test_learns_cartpole_far_beyond_random():
    t0 = time.perf_counter()
    _task, spec, venv, agent = _build("CartPole-v1", [], resolve_reward("env", get_task("CartPole-v1")))
    assert spec.source == "ppo_native.yml:CartPole-v1"
    before = _episode_lengths(agent, "CartPole-v1").mean()
    budget = 24 * spec.n_envs * spec.n_steps  # 24 rollouts; the learning rate decays to 0 over them
    agent.learn(venv, budget, TrainHooks(venv.source, seed=0))
    after = _episode_lengths(agent, "CartPole-v1")
    venv.close()
    assert agent.num_steps == budget and agent.updates == 24
    assert before < 60  # an untrained policy falls over (a random one lasts ~22 steps)
    assert after.mean() >= 200, after
    assert time.perf_counter() - t0 < 20


class _Hooked(RewardSource):
    """Env reward per step; a rollout-level term over (T, n) (+0.25 where the next cart velocity is positive);
    and an episode relabel moving each finished episode's whole (hooked) return onto its last step."""

    name = "hooked"
    needs_state = False

    def compute(self, batch):
        return RewardTerms(np.asarray(batch.env_reward, dtype=np.float64), {"env": batch.env_reward})

    def wants_rollout(self) -> bool:
        return True

    def on_rollout(self, rollout):
        b = 0.25 * (rollout.next_obs[..., 1] > 0)
        return RewardTerms(b, {"velocity_bonus": b})

    def wants_episodes(self) -> bool:
        return True

    def relabel(self, episodes):
        out = []
        for ep in episodes:
            r = np.zeros(ep.length)
            r[-1] = ep.reward.sum()
            out.append(r)
        return out


def _offline_gae(rewards, values, last_value, dones, gamma, lam):
    """GAE(lambda) from the paper in float64; ``dones[t]`` ends the episode after step t (SAME_STEP rows)."""
    T, n = rewards.shape
    adv = np.zeros((T, n))
    running = np.zeros(n)
    for t in range(T - 1, -1, -1):
        next_v = last_value if t == T - 1 else values[t + 1]
        delta = rewards[t] + gamma * next_v * (1.0 - dones[t]) - values[t]
        running = delta + gamma * lam * (1.0 - dones[t]) * running
        adv[t] = running
    return adv, adv + values


def test_advantages_are_gae_over_the_hooked_rewards_with_truncation_bootstrap(monkeypatch):
    # CartPole cut at 30 steps: random-ish episodes both terminate (fall) and truncate (time limit) in a rollout
    src = _Hooked()
    hp = ["n_envs=4", "n_steps=64", "norm_obs=false", "norm_reward=false", "gamma=0.97", "gae_lambda=0.9"]
    _task, _spec, venv, agent = _build("CartPole-v1", hp, src, max_episode_steps=30)
    seen = []
    orig = TrainHooks.rollout

    def spy(self, rollout):
        before = rollout.reward.copy()
        relabels = orig(self, rollout)
        with torch.no_grad():  # the critic as it was when the rollout was collected (before the update)
            flat = torch.as_tensor(rollout.next_obs.reshape(-1, 4), dtype=torch.float32)  # (T*n, 4), as one batch
            v_next = agent.net.value(flat).double().numpy().reshape(rollout.T, rollout.n)
            v_obs = agent.net.value(torch.as_tensor(rollout.obs, dtype=torch.float32)).numpy()
        seen.append(dict(before=before, final=rollout.reward.copy(), term=rollout.terminated.copy(),
                         trunc=rollout.truncated.copy(), next_obs=rollout.next_obs.copy(), v_next=v_next, v_obs=v_obs, relabels=relabels))  # fmt: skip
        return relabels

    monkeypatch.setattr(TrainHooks, "rollout", spy)
    agent.learn(venv, 4 * 64 * 3, TrainHooks(src, seed=3))
    venv.close()
    s, b = seen[-1], {k: v.numpy() for k, v in agent.last_batch.items()}
    assert len(seen) == 3 and agent.updates == 3
    term, trunc = s["term"], s["trunc"]
    assert (term & ~trunc).any() and (trunc & ~term).any()  # both kinds of episode end are in this rollout
    assert s["relabels"] and not np.allclose(s["final"], s["before"])  # the hooks changed the rewards
    # steps of episodes still running at the rollout's end keep the step reward plus the rollout term
    bonus = 0.25 * (s["next_obs"][..., 1] > 0)
    for e in range(4):
        ends = np.flatnonzero(s["term"][:, e] | s["trunc"][:, e])
        tail = slice(ends[-1] + 1 if ends.size else 0, None)
        np.testing.assert_allclose(s["final"][tail, e], s["before"][tail, e] + bonus[tail, e])
    assert bonus.any()
    # the batch learned from holds the final rewards and the critic's values of the collected observations
    np.testing.assert_allclose(b["rewards"], s["final"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(b["values"], s["v_obs"], rtol=0, atol=1e-6)
    gamma, lam = 0.97, 0.9
    r = s["final"].astype(np.float64) + gamma * s["v_next"] * (trunc & ~term)  # bootstrap only truncations
    adv, ret = _offline_gae(r, s["v_obs"].astype(np.float64), b["last_value"], (term | trunc).astype(float), gamma, lam)
    np.testing.assert_allclose(b["advantages"], adv, rtol=0, atol=1e-6)
    np.testing.assert_allclose(b["returns"], ret, rtol=0, atol=1e-6)
    # without the bootstrap the truncated steps' advantages would differ (the check above can fail)
    adv_nb, _ = _offline_gae(s["final"].astype(np.float64), s["v_obs"].astype(np.float64), b["last_value"],
                             (term | trunc).astype(float), gamma, lam)  # fmt: skip
    assert np.abs(adv_nb - adv)[trunc & ~term].min() > 1e-3


def test_save_load_round_trip_and_resume_to_an_exact_total(tmp_path):
    _task, _spec, venv, agent = _build("CartPole-v1", ["n_envs=16", "n_steps=16", "norm_obs=true", "norm_reward=true"])
    agent.learn(venv, 1000, TrainHooks(None, seed=0))
    assert agent.num_steps == 1008
    agent.save(tmp_path / "ck")
    import json

    doc = json.loads((tmp_path / "ck" / "agent.json").read_text())
    assert doc["name"] == "ppo-native" and doc["num_steps"] == 1008 and doc["spec"]["n_steps"] == 16
    again = BACKEND.load(tmp_path / "ck", None, venv.single_observation_space, venv.single_action_space, "cpu")
    assert again.num_steps == 1008 and again.spec == agent.spec
    obs = np.random.default_rng(0).normal(0, 1, (64, 4)).astype(np.float32)
    np.testing.assert_array_equal(again.act(obs), agent.act(obs))
    assert torch.equal(again.obs_rms.mean, agent.obs_rms.mean) and torch.equal(again.ret_rms.var, agent.ret_rms.var)
    assert agent.obs_rms.count > 1000  # observation statistics were gathered, and came back
    for k, v in agent.opt.state_dict()["state"].items():
        assert torch.equal(again.opt.state_dict()["state"][k]["exp_avg"], v["exp_avg"])
    steps = []
    again.learn(venv, 2003, TrainHooks(None, [steps.append], seed=0))
    assert again.num_steps == 2016 and steps[0] == 1024 and steps[-1] == 2016
    venv.close()


def test_learn_stops_at_the_exact_budget_and_calls_step_every_vector_step():
    _task, _spec, venv, agent = _build("CartPole-v1", ["n_envs=16", "n_steps=32"])
    steps = []
    agent.learn(venv, 1000, TrainHooks(None, [steps.append], seed=0))
    assert agent.num_steps == 1008
    assert steps == list(range(16, 1009, 16))
    assert agent.updates == 1  # one full rollout of 32 steps; the 31-step tail is counted, not learned from
    venv.close()


def test_torch_batched_env_through_the_reward_wrapper_keeps_tensors_on_the_device(monkeypatch):
    task = get_task("CartPole-v1")
    src = resolve_reward("hand", task)
    venv = make_vector_env(task, 16, src, vec="torch", device="cpu")
    spec = resolve_agent("ppo-native", task, ["n_envs=16", "n_steps=32", "norm_obs=true", "norm_reward=true"])
    agent = BACKEND.build(spec, venv.single_observation_space, venv.single_action_space, 0, "cpu")
    kinds = set()
    orig = ppo.PPOAgent._to_env

    def spy(self, a, like):
        out = orig(self, a, like)
        kinds.add((type(like).__name__, type(out).__name__))
        return out

    monkeypatch.setattr(ppo.PPOAgent, "_to_env", spy)
    steps = []
    agent.learn(venv, 16 * 32 * 3, TrainHooks(src, [steps.append], seed=0))
    assert agent.num_steps == 16 * 32 * 3 and len(steps) == 96 and agent.updates == 3
    assert kinds == {("Tensor", "Tensor")}  # the env gave tensors and got tensors, never numpy, every step
    assert all(isinstance(v, torch.Tensor) for v in agent.last_batch.values())
    assert agent.last_batch["rewards"].abs().sum() > 0 and agent.obs_rms.count > 1000
    obs, _ = venv.reset(seed=1)
    a = agent.act(obs)
    assert isinstance(a, torch.Tensor) and a.shape == (16,) and a.device == obs.device
    assert set(a.unique().tolist()) <= {0, 1}
    venv.close()
    # the bare torch batched env (no wrapper, no reward source) works too
    bare = make_batched("CartPole-v1", 16, "torch", device="cpu")
    agent.learn(bare, agent.num_steps + 16 * 32, TrainHooks(None, seed=0))
    assert agent.num_steps == 16 * 32 * 4 and agent.updates == 4
    bare.close()


def test_box_actions_pendulum_within_bounds():
    _task, _spec, venv, agent = _build(
        "Pendulum-v1", ["n_envs=8", "n_steps=32"], resolve_reward("env", get_task("Pendulum-v1"))
    )
    agent.learn(venv, 8 * 32 * 2, TrainHooks(venv.source, seed=0))
    assert agent.num_steps == 512 and agent.updates == 2
    assert agent.last_batch["truncated"].sum() == 0  # 200-step episodes: none ended within 64 steps
    obs = np.stack([venv.single_observation_space.sample() for _ in range(8)])
    for det in (True, False):
        a = agent.act(obs, deterministic=det)
        assert a.shape == (8, 1) and a.dtype == np.float32 and np.all(np.abs(a) <= 2.0)
    agent.net.log_std.data.fill_(3.0)  # a very wide Gaussian: samples are clipped at the env boundary
    a = agent.act(obs, deterministic=False)
    assert np.all(np.abs(a) <= 2.0) and np.any(np.abs(a) == 2.0)
    venv.close()


def test_minigrid_smoke():
    task = get_task("MiniGrid-Empty-8x8-v0")
    _, spec, venv, agent = _build("MiniGrid-Empty-8x8-v0", ["n_envs=4", "n_steps=32"], resolve_reward("hand", task))
    assert spec.source == "ppo_native.yml:family.minigrid"
    agent.learn(venv, 4 * 32 * 2, TrainHooks(venv.source, seed=0, state_view=task.transition_view))
    assert agent.num_steps == 256 and agent.updates == 2
    obs, _ = venv.reset(seed=0)
    a = agent.act(obs)
    assert a.shape == (4,) and np.all((a >= 0) & (a < venv.single_action_space.n))
    venv.close()


def test_presets_overrides_and_errors():
    cart = get_task("CartPole-v1")
    space = gym.spaces.Discrete(2)
    assert ppo.resolve("ppo-native", get_task("Acrobot-v1"), [], space).source == "ppo_native.yml:family.classic"
    hc = ppo.resolve("ppo-native", get_task("HalfCheetah-v5"), [], gym.spaces.Box(-1, 1, (6,)))
    assert hc.source == "ppo_native.yml:family.mujoco" and hc.norm_obs and hc.n_timesteps is None
    spec = ppo.resolve("ppo-native", cart, ["n_envs=8", "hidden=[32,32]", "target_kl=0.02", "anneal_lr=true"], space)
    assert (spec.n_envs, spec.hidden, spec.target_kl, spec.anneal_lr) == (8, (32, 32), 0.02, True)
    assert spec.overrides == {"n_envs": 8, "hidden": (32, 32), "target_kl": 0.02, "anneal_lr": True}
    assert ppo.PPOConfig.from_dict(spec.to_dict()) == spec
    with pytest.raises(AgentError, match=r"unknown key 'n_env'.*Did you mean n_envs"):
        ppo.resolve("ppo-native", cart, ["n_env=8"], space)
    with pytest.raises(AgentError, match="not a valid int"):
        ppo.resolve("ppo-native", cart, ["n_steps=1.5"], space)
    with pytest.raises(AgentError, match="not a valid bool"):
        ppo.resolve("ppo-native", cart, ["norm_obs=maybe"], space)
    with pytest.raises(AgentError, match="n_minibatches"):
        ppo.resolve("ppo-native", cart, ["n_minibatches=0"], space)
    with pytest.raises(AgentError, match="key=value"):
        ppo.resolve("ppo-native", cart, ["n_envs"], space)
    with pytest.raises(AgentError, match="MultiBinary"):
        ppo.resolve("ppo-native", cart, [], gym.spaces.MultiBinary(3))
    with pytest.raises(AgentError, match="unbounded"):
        ppo.resolve("ppo-native", cart, [], gym.spaces.Box(-np.inf, np.inf, (2,)))
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    nxt = SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2, autoreset_mode=AutoresetMode.NEXT_STEP)
    agent = BACKEND.build(
        ppo.resolve("ppo-native", cart, ["n_envs=2"], space), nxt.single_observation_space, space, 0, "cpu"
    )
    with pytest.raises(AgentError, match="SAME_STEP"):
        agent.learn(nxt, 100, TrainHooks(None, seed=0))
    d = BACKEND.describe("ppo-native")
    assert d["actions"] == "Discrete, Box"


def test_annealed_learning_rate_continues_over_a_resume(tmp_path, monkeypatch):
    """The linear decay runs over the whole budget: a run saved at half its budget and resumed uses the same
    learning rates as one that was never interrupted (it does not restart the decay at the resume point)."""
    lrs: list[float] = []
    orig = ppo.PPOAgent._learn_rollout
    monkeypatch.setattr(
        ppo.PPOAgent, "_learn_rollout", lambda self, roll, last, lr: (lrs.append(lr), orig(self, roll, last, lr))[1]
    )
    hp = ["n_envs=8", "n_steps=16", "anneal_lr=true", "learning_rate=1e-3"]
    _task, _spec, venv, agent = _build("CartPole-v1", hp)
    agent.learn(venv, 1024, TrainHooks(None, seed=0))
    whole, lrs[:] = list(lrs), []
    _task, _spec, venv2, first = _build("CartPole-v1", hp)
    first.learn(venv2, 512, TrainHooks(None, seed=0))  # the budget as far as the interrupted run got
    first.save(tmp_path / "ck")
    resumed = BACKEND.load(tmp_path / "ck", None, venv2.single_observation_space, venv2.single_action_space, "cpu")
    lrs[:] = []
    resumed.learn(venv2, 1024, TrainHooks(None, seed=0))
    assert len(whole) == 8 and len(lrs) == 4
    np.testing.assert_allclose(lrs, whole[4:], rtol=1e-12)
    assert whole[0] == pytest.approx(1e-3) and whole[-1] < 2e-4
    venv.close(), venv2.close()


def test_cnn_encoder_reads_the_minigrid_view_and_round_trips(tmp_path):
    """encoder=cnn:7x7x3: each head reads the first 147 features as MiniGrid's [x, y, channel] view through its own
    CNN; the 4 heading features join after it. It learns, saves and loads to the same actions."""
    from agents.native.ppo.networks import ImageEncoder

    task = get_task("MiniGrid-DoorKey-5x5-v0")
    src = resolve_reward("hand", task)
    _, _, venv, agent = _build(task.id, ["n_envs=8", "n_steps=16", "encoder=cnn:7x7x3"], src, vec="batched")
    enc = agent.net.actor[0]
    assert isinstance(enc, ImageEncoder) and isinstance(agent.net.critic[0], ImageEncoder)
    assert enc is not agent.net.critic[0] and enc.out_dim == 64 + venv.single_observation_space.shape[0] - 147
    x = torch.zeros(2, venv.single_observation_space.shape[0])
    x[1, (3 * 7 + 5) * 3 + 2] = 1.0  # cell x=3, y=5, channel 2 (state) of the flattened (7, 7, 3) view
    image = x[:, :147].reshape(-1, 7, 7, 3).permute(0, 3, 1, 2)
    assert image[1, 2, 3, 5] == 1.0 and image.sum() == 1.0
    assert torch.equal(enc(x)[:, :64], enc.conv(image))  # the encoder reads that layout
    tail = torch.randn(2, x.shape[1] - 147)
    out = enc(torch.cat([x[:, :147], tail], 1))
    assert torch.equal(out[:, 64:], tail)  # the heading passes through untouched
    agent.learn(venv, 8 * 16 * 2, TrainHooks(src, seed=0, state_view=task.transition_view))
    agent.save(tmp_path / "ck")
    again = BACKEND.load(tmp_path / "ck", None, venv.single_observation_space, venv.single_action_space, "cpu")
    obs, _ = venv.reset(seed=3)
    np.testing.assert_array_equal(again.act(obs), agent.act(obs))
    venv.close()
    for bad in ("cnn:7x7", "conv:7x7x3", "cnn:0x7x3"):
        with pytest.raises(AgentError, match="encoder = mlp or cnn:WxHxC"):
            resolve_agent("ppo-native", task, [f"encoder={bad}"])
    with pytest.raises(AgentError, match="needs 300 features"):
        _build(task.id, ["n_envs=2", "encoder=cnn:10x10x3"], vec="batched")


def test_running_mean_std_matches_sb3s_and_resumes_from_its_state_dict() -> None:
    from stable_baselines3.common.running_mean_std import RunningMeanStd as SB3RunningMeanStd

    from agents.native.running import RunningMeanStd

    rng = np.random.default_rng(0)
    ours, ref = RunningMeanStd((3,)), SB3RunningMeanStd(shape=(3,))
    for _ in range(200):
        x = rng.normal(2.0, 3.0, size=(int(rng.integers(1, 40)), 3))
        ours.update(torch.as_tensor(x))
        ref.update(x)
    np.testing.assert_allclose(ours.mean.numpy(), ref.mean, rtol=1e-12)
    np.testing.assert_allclose(ours.var.numpy(), ref.var, rtol=1e-12)
    assert float(ours.count) == pytest.approx(ref.count, rel=1e-15)
    again = RunningMeanStd((3,))
    again.load_state_dict(ours.state_dict())
    x = torch.as_tensor(rng.normal(size=(16, 3)))
    ours.update(x)
    again.update(x)
    assert torch.equal(ours.var, again.var) and torch.equal(ours.mean, again.mean)
