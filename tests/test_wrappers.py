"""Reward wrappers against hand computation on every vectorization path.

The reward under test reads the *next* state and the previous one, plus an info field, so a
wrapper that hands it the reset obs (or reset info) instead of the terminal one fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

from agents.sb3.vecenv import GymVecEnvToSB3, RewardVecEnvWrapper
from envs.classic import CARTPOLE_SCHEMA, cartpole_view
from envs.registry import Fitness, HandReward, Task
from envs.wrappers import InfoFields
from rewardlab.rewards import FunctionReward
from rewardlab.wrappers import RewardVectorWrapper

N_ENVS = 3
N_STEPS = 120
HORIZON = 15  # short time limit: both terminations and truncations happen


def make_env() -> gym.Env:
    env = gym.make("CartPole-v1", max_episode_steps=HORIZON)
    return InfoFields(env, lambda u: {"cart_x": float(u.state[0])})


def view(obs: np.ndarray, info: Any) -> dict[str, Any]:
    out = cartpole_view(obs, info)
    if "cart_x" in info:
        out["cart_x"] = np.asarray(info["cart_x"], dtype=np.float64)
    return out


TASK = Task(
    id="test/CartPoleInfo",
    family="classic",
    make_env=make_env,
    description="test task",
    obs_schema=CARTPOLE_SCHEMA,
    view=view,
    units={},
    fitness=Fitness(lambda s: s.x, "last", 0.0, "m", "final cart position"),
    rewards={"sparse": HandReward("x", components=lambda s: {"x": s.x})},
    info_keys=("cart_x",),
)


def reward_fn(s: Any) -> dict[str, Any]:
    return {"next_x": s.x, "prev_x": 10.0 * s.prev.x, "info_x": 100.0 * s.cart_x, "term": 1000.0 * s.terminated}


def hand_reward(obs: np.ndarray, next_obs: np.ndarray, next_info_x: float, terminated: bool) -> float:
    return float(next_obs[0] + 10.0 * obs[0] + 100.0 * next_info_x + 1000.0 * terminated)


def expected_stream(actions: np.ndarray, seeds: list[int], next_step: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rewards and dones replayed on independent single envs."""
    envs = [make_env() for _ in seeds]
    obs = [e.reset(seed=s)[0] for e, s in zip(envs, seeds, strict=True)]
    pending = [False] * len(envs)
    rewards = np.zeros(actions.shape)
    dones = np.zeros(actions.shape, dtype=bool)
    for t in range(actions.shape[0]):
        for i, e in enumerate(envs):
            if next_step and pending[i]:
                obs[i], _ = e.reset()
                pending[i] = False
                continue
            nobs, _, term, trunc, info = e.step(int(actions[t, i]))
            rewards[t, i] = hand_reward(obs[i], nobs, info["cart_x"], term)
            dones[t, i] = term or trunc
            if term or trunc:
                if next_step:
                    pending[i] = True
                    obs[i] = nobs
                else:
                    obs[i], _ = e.reset()
            else:
                obs[i] = nobs
    return rewards, dones


def _actions() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 2, size=(N_STEPS, N_ENVS))


GYM_PATHS: dict[str, tuple[Callable[..., Any], AutoresetMode]] = {
    "sync-next_step": (SyncVectorEnv, AutoresetMode.NEXT_STEP),
    "sync-same_step": (SyncVectorEnv, AutoresetMode.SAME_STEP),
    "async-next_step": (AsyncVectorEnv, AutoresetMode.NEXT_STEP),
    "async-same_step": (AsyncVectorEnv, AutoresetMode.SAME_STEP),
}


@pytest.mark.parametrize("path", list(GYM_PATHS))
def test_gym_vector_paths_match_hand_computation(path: str) -> None:
    cls, mode = GYM_PATHS[path]
    venv = cls([make_env] * N_ENVS, autoreset_mode=mode)
    w = RewardVectorWrapper(venv, FunctionReward(reward_fn, "r"), TASK)
    seeds = [11, 12, 13]
    w.reset(seed=seeds)
    actions = _actions()
    got = np.zeros(actions.shape)
    for t in range(N_STEPS):
        _, r, _, _, info = w.step(actions[t])
        got[t] = r
        assert np.array_equal(info["env_reward"] != 0, info["env_reward"] != 0)  # present every step
    w.close()
    want, dones = expected_stream(actions, seeds, next_step=mode == AutoresetMode.NEXT_STEP)
    assert dones.sum() >= 10, "the test needs many episode boundaries"
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("vec_cls", [DummyVecEnv, SubprocVecEnv])
def test_sb3_vecenv_wrapper_matches_hand_computation(vec_cls: Any) -> None:
    kwargs = {"start_method": "fork"} if vec_cls is SubprocVecEnv else {}
    venv = vec_cls([make_env] * N_ENVS, **kwargs)
    w = RewardVecEnvWrapper(venv, FunctionReward(reward_fn, "r"), TASK)
    w.seed(21)
    w.reset()
    actions = _actions()
    got = np.zeros(actions.shape)
    for t in range(N_STEPS):
        _, r, _, _ = w.step(actions[t])
        got[t] = r
    w.close()
    want, _ = expected_stream(actions, [21, 22, 23], next_step=False)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_lab_adapter_matches_hand_computation_and_records_episodes() -> None:
    gvenv = RewardVectorWrapper(
        SyncVectorEnv([make_env] * N_ENVS, autoreset_mode=AutoresetMode.SAME_STEP), FunctionReward(reward_fn, "r"), TASK
    )
    venv = GymVecEnvToSB3(gvenv)
    venv.seed(5)
    venv.reset()
    actions = _actions()
    got = np.zeros(actions.shape)
    n_done = 0
    for t in range(N_STEPS):
        _, r, dones, infos = venv.step(actions[t])
        got[t] = r
        for i in np.flatnonzero(dones):
            assert "terminal_observation" in infos[i] and "episode" in infos[i]
            n_done += 1
    want, dones = expected_stream(actions, [5, 6, 7], next_step=False)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    eps = gvenv.accountant.pop_episodes()
    assert sum(len(e.env_index) for e in eps) == n_done == dones.sum()
    # shaped return of each finished episode is the sum of its per-step rewards
    lengths = np.concatenate([e.length for e in eps])
    assert (lengths >= 1).all() and (lengths <= HORIZON).all()
    comp_total = sum(np.concatenate([e.components[k] for e in eps]) for k in eps[0].components)
    np.testing.assert_allclose(comp_total, np.concatenate([e.shaped_return for e in eps]), rtol=1e-6, atol=1e-6)


def test_episode_fitness_reduce_last_uses_terminal_state() -> None:
    venv = SyncVectorEnv([make_env] * 2, autoreset_mode=AutoresetMode.SAME_STEP)
    w = RewardVectorWrapper(venv, FunctionReward(reward_fn, "r"), TASK)
    w.reset(seed=[3, 4])
    finals = []
    for _ in range(40):
        _, _, term, trunc, info = w.step(np.array([1, 1]))
        for i in np.flatnonzero(term | trunc):
            finals.append(float(info["final_obs"][i][0]))
    fits = np.concatenate([e.fitness for e in w.accountant.pop_episodes()])
    np.testing.assert_allclose(sorted(fits), sorted(finals), rtol=1e-6)
