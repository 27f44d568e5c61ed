"""The episodic count bonus (``count``): against a per-env dictionary reference, numpy and torch, through the
reward spec grammar and the reward wrapper on minigrid's envs and the batched gridworld."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from envs.registry import get_task
from rewardlab.rewards.base import RewardError, TransitionBatch
from rewardlab.rewards.counts import EpisodicCountBonus
from rewardlab.rewards.registry import RewardSpecError, available_rewards, resolve_reward
from rewardlab.wrappers import make_vector_env


def _trajectory(n: int, T: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 5, size=(T, n))  # a small grid, so cells repeat often
    y = rng.integers(1, 4, size=(T, n))
    d = rng.integers(0, 4, size=(T, n))
    done = rng.random((T, n)) < 0.05
    return x, y, d, done


def _reference(x: np.ndarray, y: np.ndarray, d: np.ndarray, done: np.ndarray, beta: float) -> np.ndarray:
    """One dictionary per env, a Python loop over steps and envs: the obvious implementation."""
    T, n = x.shape
    out = np.zeros((T, n))
    counts: list[dict[tuple[int, int, int], int]] = [{} for _ in range(n)]
    for t in range(T):
        for e in range(n):
            key = (int(x[t, e]), int(y[t, e]), int(d[t, e]))
            counts[e][key] = counts[e].get(key, 0) + 1
            out[t, e] = beta / np.sqrt(counts[e][key])
            if done[t, e]:
                counts[e] = {}
    return out


def _batch(x: object, y: object, d: object, done: object, zeros: object) -> TransitionBatch:
    state = SimpleNamespace(agent_x=x, agent_y=y, agent_dir=d)
    return TransitionBatch(zeros, zeros, zeros, zeros, done, done & False, {}, state)  # type: ignore[arg-type,operator]


def test_the_bonus_equals_a_per_env_dictionary_count_and_resets_with_each_episode() -> None:
    x, y, d, done = _trajectory(n=6, T=300, seed=0)
    src = EpisodicCountBonus(beta=0.5)
    got = np.stack([src.compute(_batch(x[t], y[t], d[t], done[t], np.zeros(6))).total for t in range(len(x))])
    np.testing.assert_allclose(got, _reference(x, y, d, done, 0.5), rtol=0, atol=1e-12)
    assert got.max() == 0.5 and got.min() <= 0.5 / 3  # first visits score beta, repeats decay


def test_the_torch_path_matches_numpy() -> None:
    torch = pytest.importorskip("torch")
    x, y, d, done = _trajectory(n=5, T=200, seed=1)
    a, b = EpisodicCountBonus(), EpisodicCountBonus()
    for t in range(len(x)):
        ref = a.compute(_batch(x[t], y[t], d[t], done[t], np.zeros(5))).total
        tt = [torch.as_tensor(v) for v in (x[t], y[t], d[t], done[t])]
        got = b.compute(_batch(*tt, torch.zeros(5))).total
        assert torch.is_tensor(got)
        np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=1e-12)


def test_a_cell_outside_the_table_and_a_state_without_the_fields_are_errors() -> None:
    src = EpisodicCountBonus()
    z = np.zeros(2)
    with pytest.raises(RewardError, match="outside"):
        src.compute(_batch(np.array([1, 40]), np.array([1, 1]), np.array([0, 0]), np.zeros(2, bool), z))
    batch = TransitionBatch(z, z, z, z, np.zeros(2, bool), np.zeros(2, bool), {}, SimpleNamespace(x=z))  # type: ignore[arg-type]
    with pytest.raises(RewardError, match="agent_x"):
        src.compute(batch)
    with pytest.raises(ValueError, match="positive"):
        EpisodicCountBonus(beta=0)


def test_count_is_offered_only_where_the_state_view_has_the_agent_cell() -> None:
    assert "count" in available_rewards(get_task("MiniGrid-DoorKey-8x8-v0"))
    assert "count" not in available_rewards(get_task("CartPole-v1"))
    with pytest.raises(RewardSpecError, match="agent's grid state"):
        resolve_reward("env + 0.1*count", get_task("CartPole-v1"))


@pytest.mark.parametrize("vec", ["gym", "batched"])
def test_env_plus_count_through_the_wrapper(vec: str) -> None:
    task = get_task("MiniGrid-DoorKey-5x5-v0")
    venv = make_vector_env(task, 4, resolve_reward("env + 0.1*count", task), **({} if vec == "gym" else {"vec": vec}))
    venv.reset(seed=[0, 1, 2, 3])
    rng = np.random.default_rng(0)
    firsts = None
    bonuses = []
    for t in range(400):
        _, reward, _, _, info = venv.step(rng.integers(0, 7, size=4))
        c = np.asarray(info["reward_components"]["count"]) / 0.1  # components arrive scaled, as in the total
        if t == 0:
            firsts = c
        bonuses.append(c)
        np.testing.assert_allclose(reward, np.asarray(info["env_reward"]) + 0.1 * c, atol=1e-9)
    venv.reset(seed=[0, 1, 2, 3])  # a reset mid-episode restarts the counts too
    _, _, _, _, info = venv.step(rng.integers(0, 7, size=4))
    np.testing.assert_allclose(np.asarray(info["reward_components"]["count"]), 0.1)
    venv.close()
    b = np.concatenate(bonuses)
    assert firsts is not None and np.all(firsts == 1.0)  # every env's first step is a first visit
    assert np.all((b > 0) & (b <= 1.0))
    assert np.allclose(1.0 / b**2, np.round(1.0 / b**2))  # 1/sqrt(N) for whole N
    eps = venv.accountant.pop_episodes()
    assert eps and all("count" in ep.components for ep in eps)


def test_reset_envs_restarts_only_the_named_envs_numpy_and_torch() -> None:
    torch = pytest.importorskip("torch")
    for lib in (np, torch):
        src = EpisodicCountBonus()
        x, y, d = (lib.ones(3, dtype=lib.int64) for _ in range(3))
        done = lib.zeros(3, dtype=lib.bool_ if lib is np else torch.bool)
        zeros = lib.zeros(3)
        for _ in range(3):
            src.compute(_batch(x, y, d, done, zeros))
        src.reset_envs(lib.as_tensor([1]) if lib is torch else np.array([1]))
        got = np.asarray(src.compute(_batch(x, y, d, done, zeros)).total)
        np.testing.assert_allclose(got, [0.5, 1.0, 0.5])  # envs 0 and 2: 4th visit; env 1: first again
