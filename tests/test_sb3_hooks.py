"""The stable-baselines3 adapter honours the lab's hooks: rollout terms and episode relabels reach what
SB3 learns from (GAE recomputed after the hook; replay rows rewritten), and training stops at the budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import agents.sb3 as sb3_adapter
from envs.registry import get_task
from rewardlab.experiment.agents import get_backend, resolve_agent
from rewardlab.experiment.hooks import TrainHooks
from rewardlab.rewards.base import RewardSource, RewardTerms
from rewardlab.wrappers import make_vector_env

torch.set_num_threads(1)


class _Both(RewardSource):
    """Env reward per step, + a rollout-level term (0.25 where the next x-velocity is positive), + a relabel
    that moves each finished episode's whole return onto its last step."""

    name = "both"
    needs_state = False

    def __init__(self, rollout_term: bool = True, relabel: bool = True) -> None:
        self._rt, self._rl = rollout_term, relabel

    def compute(self, batch):
        return RewardTerms(np.asarray(batch.env_reward, dtype=np.float64), {"env": batch.env_reward})

    def wants_rollout(self) -> bool:
        return self._rt

    def on_rollout(self, rollout):
        b = 0.25 * (rollout.next_obs[..., 1] > 0)
        return RewardTerms(b, {"velocity_bonus": b})

    def wants_episodes(self) -> bool:
        return self._rl

    def relabel(self, episodes):
        out = []
        for ep in episodes:
            r = np.zeros(ep.length)
            r[-1] = ep.reward.sum()
            out.append(r)
        return out


def _offline_gae(rewards, values, last_values, dones, episode_starts, gamma, lam):
    """GAE(lambda) written from the paper, float64: SB3's done convention (episode_starts of the next row)."""
    T, n = rewards.shape
    adv = np.zeros((T, n))
    last = np.zeros(n)
    for t in reversed(range(T)):
        if t == T - 1:
            nonterminal, next_v = 1.0 - dones, last_values
        else:
            nonterminal, next_v = 1.0 - episode_starts[t + 1], values[t + 1]
        delta = rewards[t] + gamma * next_v * nonterminal - values[t]
        last = delta + gamma * lam * nonterminal * last
        adv[t] = last
    return adv, adv + values


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_on_policy_advantages_are_recomputed_from_the_hooked_rewards(algo, monkeypatch):
    task = get_task("MountainCar-v0")  # 200-step time limit: truncations, whose bootstrap must be kept
    src = _Both()
    spec = resolve_agent(algo, task, ["n_envs=4", "n_steps=64", "normalize=False"])
    venv = make_vector_env(task, spec.n_envs, src)
    agent = get_backend(algo).build(spec, venv.single_observation_space, venv.single_action_space, 0, "cpu")
    seen: list[dict] = []
    orig_rollout = TrainHooks.rollout
    orig_on_policy = sb3_adapter._LabCallback._on_policy

    def spy_rollout(self, rollout):
        out = orig_rollout(self, rollout)
        seen.append({"final": rollout.reward.copy(), "next_obs": rollout.next_obs.copy(),
                     "term": rollout.terminated.copy(), "trunc": rollout.truncated.copy(), "relabels": out})  # fmt: skip
        return out

    def spy_on_policy(self, buf, roll, norm_r, scale):
        orig_on_policy(self, buf, roll, norm_r, scale)
        policy = self.model.policy
        with torch.no_grad():
            v_final = policy.predict_values(torch.as_tensor(roll.next_obs.reshape(-1, 2), dtype=torch.float32))
        seen[-1].update(
            values=buf.values.astype(np.float64).copy(),
            starts=buf.episode_starts.astype(np.float64).copy(),
            adv=buf.advantages.copy(),
            ret=buf.returns.copy(),
            last_values=self.locals["values"].numpy().reshape(-1).astype(np.float64),
            dones=self.locals["dones"].astype(np.float64),
            v_final=v_final.numpy().reshape(roll.T, roll.n).astype(np.float64),
            gamma=buf.gamma,
            lam=buf.gae_lambda,
        )

    monkeypatch.setattr(TrainHooks, "rollout", spy_rollout)
    monkeypatch.setattr(sb3_adapter._LabCallback, "_on_policy", spy_on_policy)
    steps = []
    hooks = TrainHooks(src, [steps.append], seed=0)
    agent.learn(venv, 4 * 64 * 5, hooks)
    assert agent.num_steps == 4 * 64 * 5 and steps[-1] == agent.num_steps and len(steps) == 64 * 5
    checked_relabel = checked_trunc = 0
    for s in seen[:-1] if "adv" not in seen[-1] else seen:
        # the reward GAE sees: the hooked reward, plus gamma * V(final obs) on truncated-not-terminated steps
        boot = s["gamma"] * s["v_final"] * (s["trunc"] & ~s["term"])
        adv, ret = _offline_gae(
            s["final"] + boot, s["values"], s["last_values"], s["dones"], s["starts"], s["gamma"], s["lam"]
        )
        np.testing.assert_allclose(s["adv"], adv, atol=1e-5, rtol=1e-6)
        np.testing.assert_allclose(s["ret"], ret, atol=1e-5, rtol=1e-6)
        checked_trunc += int((s["trunc"] & ~s["term"]).sum())
        checked_relabel += len(s["relabels"])
    assert checked_trunc > 0 and checked_relabel > 0
    # the relabel moved whole episode returns onto their last step (-1 per step on MountainCar, + bonuses)
    s = next(s for s in seen if s["relabels"])
    rl = s["relabels"][0]
    assert rl.reward[-1] < -100 and np.all(rl.reward[:-1] == 0)
    venv.close()


@pytest.mark.parametrize(("algo", "task_id"), [("sac", "Pendulum-v1"), ("dqn", "CartPole-v1")])
def test_off_policy_replay_buffer_holds_the_relabelled_rewards(algo, task_id, monkeypatch):
    task = get_task(task_id)
    src = _Both(rollout_term=True, relabel=True)
    hp = ["n_envs=2", "learning_starts=50", "train_freq=16", "gradient_steps=1"]
    if algo == "sac":
        hp.append("batch_size=32")
    spec = resolve_agent(algo, task, hp)
    venv = make_vector_env(task, spec.n_envs, src)
    agent = get_backend(algo).build(spec, venv.single_observation_space, venv.single_action_space, 0, "cpu")
    finals, relabels = [], []
    orig = TrainHooks.rollout

    def spy(self, rollout):
        out = orig(self, rollout)
        finals.append((rollout.t0, rollout.reward.copy()))
        relabels.extend(out)
        return out

    monkeypatch.setattr(TrainHooks, "rollout", spy)
    total = 2 * 16 * 40 if algo == "sac" else 2 * 16 * 30  # Pendulum: 200-step episodes; a few finish
    agent.learn(venv, total, TrainHooks(src, seed=1))
    buf = agent.model.replay_buffer
    assert agent.num_steps == total and relabels
    row = lambda t: (agent._row0 + t) % buf.buffer_size  # noqa: E731
    # every stored step holds the rollout's final reward, or its episode's relabel where one came later
    expect = {}
    for t0, r in finals:
        for t in range(r.shape[0]):
            for e in range(r.shape[1]):
                expect[(t0 + t, e)] = r[t, e]
    for rl in relabels:
        for k, v in enumerate(rl.reward):
            expect[(rl.start + k, rl.env)] = v
    got = np.array([buf.rewards[row(t), e] for (t, e) in expect])
    np.testing.assert_allclose(got, np.array(list(expect.values())), rtol=1e-5, atol=1e-5)
    # and the relabelled ones are really different from the step rewards (all on the last step)
    last = [(rl.start + len(rl.reward) - 1, rl.env) for rl in relabels]
    assert all(abs(buf.rewards[row(t), e]) > 1.5 for t, e in last)
    # what SAC/DQN sample is drawn from those rows
    sample = buf.sample(64)
    stored = {round(float(x), 4) for x in buf.rewards[: buf.pos].reshape(-1)}
    assert {round(float(x), 4) for x in sample.rewards.reshape(-1)} <= stored
    venv.close()


def test_sb3_stops_at_the_budget_and_resumes_to_it(tmp_path):
    task = get_task("CartPole-v1")
    spec = resolve_agent("ppo", task, [])
    backend = get_backend("ppo")
    venv = make_vector_env(task, spec.n_envs, None)
    agent = backend.build(spec, venv.single_observation_space, venv.single_action_space, 0, "cpu")
    agent.learn(venv, 1000, TrainHooks(None, seed=0))
    assert agent.num_steps == 1000  # 8 envs: 125 vector steps, not the next 256-step rollout boundary
    agent.save(tmp_path / "ck")
    again = backend.load(tmp_path / "ck", None, venv.single_observation_space, venv.single_action_space, "cpu")
    assert again.num_steps == 1000
    obs = np.stack([venv.single_observation_space.sample() for _ in range(8)])
    np.testing.assert_array_equal(again.act(obs), agent.act(obs))
    again.learn(venv, 2504, TrainHooks(None, seed=0))
    assert again.num_steps == 2504
    venv.close()
