"""The batched MuJoCo envs (envs/batched/mujoco_*.py) against gymnasium's v5 envs.

- Parity: gymnasium envs are reset with their own seeds, their ``qpos``/``qvel`` loaded into the
  batched env (``reset(options=...)``, then ``load_state`` for each env gymnasium resets after an
  episode ends), and both stepped with the same random actions. Observations, rewards,
  terminated/truncated flags, the terminal observation and every ``info`` field must be
  **bit-identical** (tolerance 0: the same ``mj_step`` sequence with the same warmstart runs in
  both, and the reward arithmetic is gymnasium's, operation for operation). Random actions
  make Hopper, Walker2d and InvertedPendulum fall (termination events; the Ant too, on some seeds); short time limits give
  truncations; HalfCheetah and Reacher never terminate.
- The lab's path: a ``make_vector_env(..., vec="batched")`` run and a ``vec="gym"`` run from the same
  states give the same first-episode fitness, returns, lengths and reward components (the task's
  state view and fitness read the batched ``info`` unchanged).
- Reset noise: over many envs, ``qpos - init_qpos`` and ``qvel - init_qvel`` have gymnasium's
  distribution (uniform +-scale: mean 0, std scale/sqrt(3); normal: std scale).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from _mujoco_pairs import first_episodes, paired_lab_envs, state_of

import envs  # noqa: F401  (registers the lab's tasks)
from envs.batched import BATCHED_TASKS, MUJOCO_TASKS, has_batched, make_batched
from envs.batched.mujoco_envs import MUJOCO_CLASSES
from envs.registry import get_task

# task -> (vector steps, time limit); limits below gymnasium's make truncations happen in a short test
RUNS: dict[str, tuple[int, int]] = {
    "HalfCheetah-v5": (160, 70),
    "Hopper-v5": (220, 1000),
    "Walker2d-v5": (220, 1000),
    "Ant-v5": (100, 40),
    "InvertedPendulum-v5": (120, 1000),
    "Reacher-v5": (120, 50),
}
TERMINATES = {"Hopper-v5", "Walker2d-v5", "InvertedPendulum-v5"}  # under random actions, on every seed
NEVER_TERMINATES = {"HalfCheetah-v5", "Reacher-v5"}  # the Ant sometimes flips out of its height band
N = 3


def _gym_envs(task_id: str, limit: int) -> list[gym.Env]:
    return [gym.make(task_id, max_episode_steps=limit) for _ in range(N)]


def test_registration_spaces_and_info_keys():
    for task_id, cls in MUJOCO_CLASSES.items():
        assert task_id in BATCHED_TASKS and task_id in MUJOCO_TASKS
        assert has_batched(task_id) and has_batched(task_id, "torch")
        ref: Any = gym.make(task_id)
        env = make_batched(task_id, 4)
        assert cls.default_max_episode_steps == ref.spec.max_episode_steps == get_task(task_id).max_episode_steps
        assert env.single_observation_space == ref.observation_space, task_id
        assert env.single_action_space == ref.action_space, task_id
        assert env.frame_skip == ref.unwrapped.frame_skip and env.dt == ref.unwrapped.dt
        assert set(get_task(task_id).info_keys) <= set(cls.info_keys) and set(get_task(task_id).info_keys) <= set(
            cls.reset_info_keys
        )
        env.close()
    env = make_batched("HalfCheetah-v5", 32)
    assert env.num_envs == 32 and env.observation_space.shape == (32, 17)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("task_id", list(RUNS))
def test_steps_match_gymnasium(task_id: str, seed: int):
    steps, limit = RUNS[task_id]
    gyms = _gym_envs(task_id, limit)
    resets = [g.reset(seed=1000 * seed + i) for i, g in enumerate(gyms)]
    env = make_batched(task_id, N, max_episode_steps=limit)
    qpos, qvel = zip(*(state_of(g) for g in gyms), strict=True)
    obs, info = env.reset(options={"qpos": np.stack(qpos), "qvel": np.stack(qvel)})
    np.testing.assert_array_equal(obs, np.stack([o for o, _ in resets]))
    assert set(info) == set(resets[0][1])
    for k in info:
        np.testing.assert_array_equal(info[k], [i[k] for _, i in resets], err_msg=k)
    rng = np.random.default_rng(seed)
    space = env.single_action_space
    dtype = np.float64 if seed else np.float32  # gymnasium's control cost is in the action's dtype
    events = {"terminated": 0, "truncated": 0}
    for t in range(steps):
        a = rng.uniform(space.low, space.high, size=(N, *space.shape)).astype(dtype)
        obs, reward, terminated, truncated, info = env.step(a)
        assert obs.dtype == np.float64 and reward.dtype == np.float64
        for i, g in enumerate(gyms):
            o, r, te, tr, gi = g.step(a[i])
            where = f"{task_id} step {t} env {i}"
            assert reward[i] == r, where
            assert (bool(terminated[i]), bool(truncated[i])) == (te, tr), where
            assert bool(info["_final_obs"][i]) == (te or tr) == bool(info["_final_info"][i]), where
            np.testing.assert_array_equal(info["final_obs"][i], o, err_msg=where)
            assert set(info["final_info"]) == set(gi), where
            for k, v in gi.items():
                assert info["final_info"][k][i] == v, f"{where}: final_info[{k!r}]"
            if te or tr:
                events["terminated"] += te
                events["truncated"] += tr
                o, gi = g.reset()
                rows_obs = env.load_state(*state_of(g), rows=[i], elapsed_steps=0)
                np.testing.assert_array_equal(rows_obs[i], o, err_msg=where)
                for k in gi:  # the row's reset fields: of the batched env's own draw
                    assert np.isfinite(info[k][i]), where
            else:
                np.testing.assert_array_equal(obs[i], o, err_msg=where)
                for k, v in gi.items():
                    assert info[k][i] == v, f"{where}: info[{k!r}]"
    if task_id in TERMINATES:
        assert events["terminated"] > 0, events
    if task_id in NEVER_TERMINATES:
        assert events["terminated"] == 0
    if limit < steps:
        assert events["truncated"] > 0, events
    env.close()


def test_autoreset_rows_and_info_of_finished_envs():
    env = make_batched("Hopper-v5", 6, max_episode_steps=5)
    env.reset(seed=3)
    a = np.zeros((6, 3), dtype=np.float32)
    for _ in range(4):
        _, _, _, truncated, info = env.step(a)
        assert not truncated.any()
    before = env.get_state()
    obs, _, terminated, truncated, info = env.step(a)
    assert truncated.all() and not terminated.any()
    assert not np.array_equal(info["final_obs"], obs)
    np.testing.assert_array_equal(env.elapsed_steps, 0)
    # the next episode's first state: reset fields from the fresh state, 0 for step-only fields
    np.testing.assert_array_equal(info["x_position"], env.get_state()[:, 0])
    np.testing.assert_array_equal(info["x_velocity"], 0.0)
    assert (info["final_info"]["x_velocity"] != 0).all()
    assert np.abs(info["final_info"]["x_position"] - before[:, 0]).max() < 0.1


@pytest.mark.parametrize("task_id", list(RUNS))
def test_reset_noise_distribution(task_id: str):
    n = 3000
    env = make_batched(task_id, n)
    env.reset(seed=11)
    st = env.get_state()
    dq, dv = st[:, : env.nq] - env.init_qpos, st[:, env.nq :] - env.init_qvel
    if task_id == "Reacher-v5":  # arm angles U(+-0.1), target uniform in the 0.2 disc, target at rest
        _check_uniform(dq[:, :2], 0.1, n)
        assert (np.hypot(st[:, 2], st[:, 3]) < 0.2).all() and np.hypot(st[:, 2], st[:, 3]).max() > 0.19
        _check_uniform(dv[:, :2], 0.005, n)
        np.testing.assert_array_equal(dv[:, 2:], 0.0)
        return
    cls = MUJOCO_CLASSES[task_id]
    s = cls.default_reset_noise_scale
    _check_uniform(dq, s, n)
    if cls.qvel_noise == "normal":
        assert np.abs(dv.mean(axis=0)).max() < 5 * s / np.sqrt(n)
        np.testing.assert_allclose(dv.std(axis=0), s, rtol=0.1)
    else:
        _check_uniform(dv, s, n)
    env.reset(seed=11)
    np.testing.assert_array_equal(env.get_state(), st)  # seeded resets repeat
    env.close()


def _check_uniform(x: np.ndarray, s: float, n: int) -> None:
    assert np.abs(x).max() <= s
    assert np.abs(x.mean(axis=0)).max() < 5 * s / np.sqrt(3 * n)
    np.testing.assert_allclose(x.std(axis=0), s / np.sqrt(3), rtol=0.1)


@pytest.mark.parametrize(
    ("task_id", "reward"), [("Hopper-v5", "sparse"), ("HalfCheetah-v5", "hand"), ("Ant-v5", "hand")]
)
def test_lab_fitness_and_rewards_match_the_gym_vector_env(task_id: str, reward: str):
    limit, n = 40, 4
    ref, bat = paired_lab_envs(task_id, reward, n, limit)
    rng = np.random.default_rng(0)
    space = bat.single_action_space
    finished = np.zeros(n, dtype=bool)
    for _ in range(limit):
        a = rng.uniform(space.low, space.high, size=(n, *space.shape)).astype(np.float32)
        _, r_ref, te_ref, tr_ref, _ = ref.step(a)
        _, r_bat, te_bat, tr_bat, _ = bat.step(a)
        live = ~finished  # after an env's first episode the two draw different resets
        np.testing.assert_array_equal(np.asarray(r_bat)[live], np.asarray(r_ref)[live])
        np.testing.assert_array_equal((te_bat | tr_bat)[live], (te_ref | tr_ref)[live])
        finished |= te_ref | tr_ref
    assert finished.all()
    first = {"ref": first_episodes(ref), "bat": first_episodes(bat)}
    for i in range(n):
        (rr, jr), (rb, jb) = first["ref"][i], first["bat"][i]
        for field in ("fitness", "env_return", "shaped_return", "length", "success"):
            assert getattr(rb, field)[jb] == getattr(rr, field)[jr], (task_id, i, field)
        for k in rr.components:
            assert rb.components[k][jb] == rr.components[k][jr], (task_id, i, k)
    ref.close()
    bat.close()


def test_torch_backend_hands_out_the_numpy_physics_as_tensors():
    a = np.random.default_rng(0).uniform(-1, 1, (8, 20, 6)).astype(np.float32)
    ref = make_batched("HalfCheetah-v5", 20, max_episode_steps=5)
    tch = make_batched("HalfCheetah-v5", 20, "torch", device="cpu", max_episode_steps=5, dtype=torch.float64)
    o_ref, _ = ref.reset(seed=2)
    o_t, _ = tch.reset(seed=2)
    assert isinstance(o_t, torch.Tensor) and o_t.dtype == torch.float64
    np.testing.assert_array_equal(o_t.numpy(), o_ref)
    for t in range(8):
        o_ref, r_ref, _, tr_ref, i_ref = ref.step(a[t])
        o_t, r_t, _, tr_t, i_t = tch.step(torch.from_numpy(a[t]))
        np.testing.assert_array_equal(o_t.numpy(), o_ref)
        np.testing.assert_array_equal(r_t.numpy(), r_ref.astype(np.float32))
        np.testing.assert_array_equal(tr_t.numpy(), tr_ref)
        np.testing.assert_array_equal(i_t["final_info"]["x_position"].numpy(), i_ref["final_info"]["x_position"])
    f32 = make_batched("Hopper-v5", 4, "torch", device="cpu")
    o, _ = f32.reset(seed=0)
    assert o.dtype == torch.float32 and f32.single_observation_space.dtype == np.float32


def test_invalid_arguments_are_refused():
    env = make_batched("Hopper-v5", 4)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="qpos"):
        env.reset(options={"qpos": np.zeros((4, env.nq))})
    with pytest.raises(ValueError, match="num_envs"):
        make_batched("Hopper-v5", 0)
    with pytest.raises(ValueError, match="dtype"):
        make_batched("Hopper-v5", 2, dtype="float32")
    with pytest.raises(ValueError, match="simulator kind 'batch'"):
        make_batched("Ant-v5", 2, simulator="batch")


def test_data_simulator_matches_the_batch_simulator():
    a = np.random.default_rng(1).uniform(-1, 1, (30, 5, 3)).astype(np.float32)
    envs_ = [make_batched("Hopper-v5", 5, simulator=k, num_threads=2) for k in ("batch", "data")]
    outs = [e.reset(seed=4)[0] for e in envs_]
    np.testing.assert_array_equal(*outs)
    for t in range(30):
        (o1, r1, te1, _, _), (o2, r2, te2, _, _) = (e.step(a[t]) for e in envs_)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(te1, te2)


def _vm_kib() -> int:
    for line in open(f"/proc/{os.getpid()}/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1])
    raise AssertionError("no VmSize")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("task_id", ["Ant-v5", "Hopper-v5"])  # DataSim, BatchSim
def test_a_large_batch_keeps_memory_per_thread_and_the_process_can_fork(task_id: str):
    """Thousands of copies hold no MjData each: DataSim (the Ant) keeps one per thread, BatchSim state rows.
    3000 Ant MjData arenas made one 44 GB mapping, and every fork of the process (a subprocess, a sandbox
    worker) then failed with ENOMEM on this 24 GB machine."""
    before = _vm_kib()
    env = make_batched(task_id, 3000)
    env.reset(seed=0)
    env.step(np.zeros((3000, env.single_action_space.shape[0])))
    grown_gib = (_vm_kib() - before) / 2**20
    assert grown_gib < 2, f"the batch took {grown_gib:.1f} GiB of address space"
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    env.close()
