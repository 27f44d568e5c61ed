"""The training contract's pieces: the one collector, the rollout/episode hooks, the agent registry."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from envs.registry import get_task
from rewardlab.data import Collector, Rollout
from rewardlab.experiment.agents import AgentError, canonical_name, check_device, register_agent
from rewardlab.experiment.hooks import TrainHooks
from rewardlab.rewards.base import RewardSource, RewardTerms
from rewardlab.rewards.registry import resolve_reward
from rewardlab.wrappers import make_vector_env


def _random_policy(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return lambda obs: rng.integers(0, 2, size=n)


def test_collector_matches_manual_stepping_and_patches_final_obs():
    task = get_task("CartPole-v1")
    n, T = 4, 120
    src = resolve_reward("hand", task)
    venv = make_vector_env(task, n, src)
    col = Collector(venv, task.info_keys)
    col.reset(seed=3)
    r = col.collect(_random_policy(n), T, copy=True)
    assert r.obs.shape == (T, n, 4) and r.reward.shape == (T, n) and r.t0 == 0
    assert set(r.components) == {"alive", "upright", "centered"}
    # the next obs of a step is the obs of the following step, except where the episode ended
    same = ~r.done[:-1]
    np.testing.assert_array_equal(r.next_obs[:-1][same], r.obs[1:][same])
    # on done steps next_obs is the terminal state: a terminated CartPole is outside its bounds
    term = r.terminated
    assert term.any()
    tx, tth = np.abs(r.next_obs[term][:, 0]), np.abs(r.next_obs[term][:, 2])
    assert ((tx > 2.4) | (tth > 0.2095)).all()
    # and the reward is the hand source's total
    np.testing.assert_allclose(r.reward, sum(r.components.values()), rtol=1e-12)

    # an independent re-run from the same seed with plain gymnasium gives the same observations
    envs = [gym.make("CartPole-v1") for _ in range(n)]
    obs = np.stack([e.reset(seed=3 + i)[0] for i, e in enumerate(envs)])
    np.testing.assert_allclose(obs, r.obs[0])
    acts = r.action
    for t in range(T):
        for i, e in enumerate(envs):
            o, _, te, tr, _ = e.step(int(acts[t, i]))
            np.testing.assert_allclose(o, r.next_obs[t, i], atol=1e-6)
            assert te == r.terminated[t, i] and tr == r.truncated[t, i]
            if te or tr:
                o, _ = e.reset()
    venv.close()


def test_collector_marks_pseudo_steps_in_next_step_mode():
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    venv = SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(3)], autoreset_mode=AutoresetMode.NEXT_STEP)
    col = Collector(venv)
    col.reset(seed=0)
    r = col.collect(_random_policy(3), 100)
    assert r.valid is not None
    done_idx = np.argwhere(r.done[:-1])
    assert len(done_idx)
    for t, e in done_idx:
        assert not r.valid[t + 1, e]  # the step after a done is gymnasium's reset pseudo-step
    assert r.valid.sum() == r.valid.size - len(np.argwhere(r.done[:-1]))


class _RolloutBonus(RewardSource):
    """A synthetic rollout-level source: +1 on every step whose cart moves right, computed over (T, n) at once."""

    name = "bonus"
    needs_state = False

    def __init__(self) -> None:
        self.calls = 0

    def compute(self, batch):
        z = np.zeros(batch.n)
        return RewardTerms(z, {"bonus": z})

    def wants_rollout(self) -> bool:
        return True

    def on_rollout(self, rollout):
        self.calls += 1
        b = (rollout.next_obs[..., 1] > 0).astype(np.float64)
        return RewardTerms(b, {"bonus": b})

    def rollout_stats(self):
        return {"calls": float(self.calls)}


def test_rollout_terms_enter_once_per_rollout_with_weights():
    task = get_task("CartPole-v1")
    bonus = _RolloutBonus()
    src = resolve_reward("env", task) + 0.5 * bonus
    assert src.wants_rollout()
    venv = make_vector_env(task, 2, src)
    col = Collector(venv, task.info_keys)
    col.reset(seed=0)
    r = col.collect(_random_policy(2), 50)
    before = r.reward.copy()
    hooks = TrainHooks(src)
    assert hooks.wants_rollout and not hooks.wants_episodes
    assert hooks.rollout(r) == []
    expect = before + 0.5 * (r.next_obs[..., 1] > 0)
    np.testing.assert_allclose(r.reward, expect)
    assert bonus.calls == 1 and hooks.stats == {"calls": 1.0}
    venv.close()


class _ReturnAtEnd(RewardSource):
    """A synthetic episode source (IRCR-like): every step of a finished episode gets its env return / length."""

    name = "spread"
    needs_state = False

    def compute(self, batch):
        return RewardTerms(batch.env_reward, {"env": batch.env_reward})

    def wants_episodes(self) -> bool:
        return True

    def relabel(self, episodes):
        return [np.full(ep.length, ep.env_reward.sum() / ep.length + 100.0 * ep.env) for ep in episodes]


def test_episode_relabels_cover_whole_episodes_across_rollouts():
    task = get_task("CartPole-v1")
    src = _ReturnAtEnd()
    venv = make_vector_env(task, 3, src)
    col = Collector(venv, task.info_keys)
    col.reset(seed=1)
    hooks = TrainHooks(src)
    assert hooks.wants_episodes
    parts, relabels = [], []
    pol = _random_policy(3, 5)
    for _ in range(6):  # rollouts of 7 steps: most episodes span several
        r = col.collect(pol, 7, copy=True)
        relabels += hooks.rollout(r)
        parts.append(r)
    full = Rollout.concat(parts)
    done = full.done
    # every finished episode was relabelled exactly once, and its steps inside each rollout were rewritten
    ends = np.argwhere(done)
    assert len(relabels) == len(ends) > 3
    seen = set()
    for rl in relabels:
        L = len(rl.reward)
        t_end = rl.start + L - 1
        assert done[t_end, rl.env] and not done[rl.start : t_end, rl.env].any()
        assert rl.start == 0 or done[rl.start - 1, rl.env]
        np.testing.assert_allclose(rl.reward, 1.0 + 100.0 * rl.env)  # env return / length of CartPole = 1
        np.testing.assert_allclose(full.reward[t_end, rl.env], 1.0 + 100.0 * rl.env)
        seen.add((rl.env, rl.start))
    assert len(seen) == len(relabels)
    # steps of episodes not yet finished keep their step reward
    for e in range(3):
        last_end = np.flatnonzero(done[:, e])
        tail = full.reward[(last_end[-1] + 1 if last_end.size else 0) :, e]
        np.testing.assert_allclose(tail, 1.0)
    venv.close()


def test_registry_names_and_errors():
    assert canonical_name("PPO") == "ppo"
    with pytest.raises(AgentError, match="Did you mean ppo"):
        canonical_name("ppp")
    with pytest.raises(AgentError, match="module:attribute"):
        register_agent("mine", "no_colon")
    with pytest.raises(AgentError, match=r"CUDA is not available"):
        import torch

        if torch.cuda.is_available():
            pytest.skip("a CUDA machine")
        check_device("cuda")
    with pytest.raises(AgentError):
        check_device("tpu9")
    assert check_device("auto") in ("cpu", "cuda")


class _Learned(RewardSource):
    """A source with tensor state, like a reward network."""

    name = "learned"

    def __init__(self) -> None:
        import torch

        self.w = torch.zeros(4, 3)
        self.steps = 0

    def state_dict(self):
        return {"w": self.w, "steps": self.steps, "hist": [1.5, 2.5]}

    def load_state_dict(self, state):
        self.w, self.steps = state["w"], int(state["steps"])


def test_reward_state_is_torch_saved_and_restored(tmp_path):
    import torch

    from rewardlab.experiment.runner import REWARD_STATE, _load_reward_state, _save_reward_state

    src = _Learned()
    src.w = torch.randn(4, 3)
    src.steps = 17
    _save_reward_state(src, tmp_path)
    assert (tmp_path / REWARD_STATE).is_file() and not (tmp_path / (REWARD_STATE + ".tmp")).exists()
    back = _Learned()
    _load_reward_state(back, tmp_path)
    assert torch.equal(back.w, src.w) and back.steps == 17
    # a file that would run code when unpickled is refused (weights_only)
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / REWARD_STATE, "wb") as f:
        pickle.dump({"w": Evil()}, f)
    with pytest.raises(pickle.UnpicklingError):
        _load_reward_state(_Learned(), tmp_path)
