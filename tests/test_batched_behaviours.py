"""The batched new-behaviour MuJoCo tasks (envs/batched/mujoco_behaviours.py) against the gymnasium envs of
envs/behaviours.py (``gym.make(task_id)``: the v5 env with the task's kwargs, ``ZeroEnvReward``, ``InfoFields``).

- Parity, tolerance 0, as ``tests/test_batched_mujoco.py`` checks the v5 envs: the gymnasium envs' states are
  loaded into the batched env (``reset(options=...)``, then ``load_state`` for each env gymnasium resets), both
  step with the same random actions, and observations, the (zero) rewards, terminated/truncated, the terminal
  observation and every ``info`` field (the v5 reward terms that ``ZeroEnvReward`` leaves in ``info``, and the
  ``x_position``/``y_position`` the tasks read) must be equal. The Hopper falls under random actions and one Ant
  starts 0.6 m above its v5 healthy band: neither may terminate. Time limits shorter than the run truncate.
- The lab's path: ``make_vector_env(..., vec="batched")`` and ``vec="gym"`` give the same first-episode fitness,
  returns and hand-reward components.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from _mujoco_pairs import first_episodes, paired_lab_envs, state_of

import envs  # noqa: F401  (registers the lab's tasks)
from envs.batched import BATCHED_TASKS, MUJOCO_TASKS, has_batched, make_batched
from envs.batched.mujoco_behaviours import BEHAVIOUR_CLASSES
from envs.registry import get_task

BACKFLIP, JUMP, CIRCLE = "rewardlab/HalfCheetahBackflip-v0", "rewardlab/HopperJump-v0", "rewardlab/AntCircle-v0"
# task -> (vector steps, time limit): two truncations per env in each run
RUNS: dict[str, tuple[int, int]] = {BACKFLIP: (130, 60), JUMP: (130, 60), CIRCLE: (90, 40)}
FALLS = {JUMP, CIRCLE}  # leave v5's healthy range (v5 would terminate them) in every run
N = 3


def test_registration_and_spaces():
    assert set(BEHAVIOUR_CLASSES) == {BACKFLIP, JUMP, CIRCLE}
    for task_id, cls in BEHAVIOUR_CLASSES.items():
        task = get_task(task_id)
        assert task_id in BATCHED_TASKS and task_id in MUJOCO_TASKS
        assert has_batched(task_id) and has_batched(task_id, "torch")
        ref: Any = gym.make(task_id)
        env = make_batched(task_id, 2)
        assert cls.default_max_episode_steps == ref.spec.max_episode_steps == task.max_episode_steps
        assert env.single_observation_space == ref.observation_space, task_id
        assert env.single_action_space == ref.action_space, task_id
        assert env.frame_skip == ref.unwrapped.frame_skip and env.dt == ref.unwrapped.dt
        assert set(task.info_keys) <= set(cls.info_keys) and set(task.info_keys) <= set(cls.reset_info_keys)
        ref.close()
        env.close()
    assert make_batched(CIRCLE, 2).single_observation_space.shape == (107,)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("task_id", list(RUNS))
def test_steps_match_the_gymnasium_behaviour_env(task_id: str, seed: int):
    steps, limit = RUNS[task_id]
    gyms = [gym.make(task_id, max_episode_steps=limit) for _ in range(N)]
    resets = [g.reset(seed=1000 * seed + i) for i, g in enumerate(gyms)]
    if task_id == CIRCLE:  # env 0 starts 0.6 m up, above v5's 0.2..1.0 m band, and drops through it
        qpos, qvel = state_of(gyms[0])
        qpos[2] += 0.6
        lifted: Any = gyms[0].unwrapped
        lifted.set_state(qpos, qvel)
        resets[0] = (lifted._get_obs(), resets[0][1])
    env = make_batched(task_id, N, max_episode_steps=limit)
    qpos, qvel = zip(*(state_of(g) for g in gyms), strict=True)
    obs, info = env.reset(options={"qpos": np.stack(qpos), "qvel": np.stack(qvel)})
    np.testing.assert_array_equal(obs, np.stack([o for o, _ in resets]))
    assert set(info) == set(resets[0][1])
    for k in info:  # the lifted Ant's x, y and distance from the origin are the ones it was reset to
        np.testing.assert_array_equal(info[k], [i[k] for _, i in resets], err_msg=k)
    rng = np.random.default_rng(seed)
    space = env.single_action_space
    dtype = np.float64 if seed else np.float32
    truncations, unhealthy = 0, np.zeros(N, dtype=np.int64)
    for t in range(steps):
        a = rng.uniform(space.low, space.high, size=(N, *space.shape)).astype(dtype)
        obs, reward, terminated, truncated, info = env.step(a)
        assert obs.dtype == np.float64 and reward.dtype == np.float64
        np.testing.assert_array_equal(reward, 0.0)
        assert not terminated.any()
        for i, g in enumerate(gyms):
            o, r, te, tr, gi = g.step(a[i])
            where = f"{task_id} step {t} env {i}"
            assert r == 0.0 and reward[i] == r, where
            assert (bool(terminated[i]), bool(truncated[i])) == (te, tr), where
            assert bool(info["_final_obs"][i]) == tr == bool(info["_final_info"][i]), where
            np.testing.assert_array_equal(info["final_obs"][i], o, err_msg=where)
            assert set(info["final_info"]) == set(gi), where
            for k, v in gi.items():
                assert info["final_info"][k][i] == v, f"{where}: final_info[{k!r}]"
            if task_id in FALLS:
                unhealthy[i] += gi["reward_survive"] == 0.0
            if tr:
                truncations += 1
                assert t + 1 in (limit, 2 * limit), where
                o, gi = g.reset()
                rows_obs = env.load_state(*state_of(g), rows=[i], elapsed_steps=0)
                np.testing.assert_array_equal(rows_obs[i], o, err_msg=where)
            else:
                np.testing.assert_array_equal(obs[i], o, err_msg=where)
                for k, v in gi.items():
                    assert info[k][i] == v, f"{where}: info[{k!r}]"
    assert truncations == N * (steps // limit)
    if task_id == JUMP:
        assert (unhealthy > 0).all(), unhealthy  # every Hopper fell and carried on
    if task_id == CIRCLE:
        assert unhealthy[0] > 0, unhealthy
    env.close()


def test_torch_backend_gives_the_numpy_values():
    a = np.random.default_rng(0).uniform(-1, 1, (6, 4, 8)).astype(np.float32)
    ref = make_batched(CIRCLE, 4, max_episode_steps=4)
    tch = make_batched(CIRCLE, 4, "torch", device="cpu", max_episode_steps=4, dtype=torch.float64)
    np.testing.assert_array_equal(tch.reset(seed=3)[0].numpy(), ref.reset(seed=3)[0])
    for t in range(6):
        o_ref, r_ref, te_ref, tr_ref, i_ref = ref.step(a[t])
        o_t, r_t, te_t, tr_t, i_t = tch.step(torch.from_numpy(a[t]))
        np.testing.assert_array_equal(o_t.numpy(), o_ref)
        np.testing.assert_array_equal(r_t.numpy(), r_ref.astype(np.float32))
        np.testing.assert_array_equal(r_t.numpy(), 0.0)
        np.testing.assert_array_equal(te_t.numpy(), te_ref)
        np.testing.assert_array_equal(tr_t.numpy(), tr_ref)
        np.testing.assert_array_equal(i_t["final_info"]["y_position"].numpy(), i_ref["final_info"]["y_position"])


@pytest.mark.parametrize(
    ("task_id", "reward"), [(BACKFLIP, "hand"), (JUMP, "hand"), (JUMP, "sparse"), (CIRCLE, "hand")]
)
def test_lab_fitness_and_rewards_match_the_gym_vector_env(task_id: str, reward: str):
    limit, n = 40, 4
    ref, bat = paired_lab_envs(task_id, reward, n, limit)
    rng = np.random.default_rng(0)
    space = bat.single_action_space
    for _ in range(limit):
        a = rng.uniform(space.low, space.high, size=(n, *space.shape)).astype(np.float32)
        _, r_ref, te_ref, tr_ref, _ = ref.step(a)
        _, r_bat, te_bat, tr_bat, _ = bat.step(a)
        np.testing.assert_array_equal(np.asarray(r_bat), np.asarray(r_ref))
        np.testing.assert_array_equal(te_bat, te_ref)
        np.testing.assert_array_equal(tr_bat, tr_ref)
    assert tr_ref.all() and not te_ref.any()
    first = {"ref": first_episodes(ref), "bat": first_episodes(bat)}
    assert set(first["ref"]) == set(first["bat"]) == set(range(n))
    for i in range(n):
        (rr, jr), (rb, jb) = first["ref"][i], first["bat"][i]
        for field in ("fitness", "env_return", "shaped_return", "length", "success"):
            assert getattr(rb, field)[jb] == getattr(rr, field)[jr], (task_id, i, field)
        assert rr.env_return[jr] == 0.0 and rr.length[jr] == limit
        assert set(rb.components) == set(rr.components) and rr.components
        for k in rr.components:
            assert rb.components[k][jb] == rr.components[k][jr], (task_id, i, k)
    ref.close()
    bat.close()
