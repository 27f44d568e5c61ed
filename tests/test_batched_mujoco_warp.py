"""The batched MuJoCo envs on MuJoCo Warp (``simulator="warp"``, envs/batched/mujoco_warp_sim.py) against
gymnasium's v5 envs, on Warp's CPU device.

MuJoCo Warp is float32 with its own collision and solver kernels, so, unlike the CPU simulators
(``tests/test_batched_mujoco.py``, tolerance 0), its trajectories only track gymnasium's, and the
tolerances here are measured (docs/mujoco_warp.md): from the same states and the same random
actions, HalfCheetah's observations drift by up to ~1e-3 within 5 steps and ~2e-2 within 10 (then
chaotically to order 1 by step 20-50); Hopper's stay within ~1e-5 until it falls (9-74 steps under
random actions), and its terminations come on the same step as gymnasium's. The bounds below are
those maxima times ~5-15.

Skipped when ``mujoco_warp`` (the ``warp`` extra) is not installed. The first run compiles Warp's CPU
kernels (~30 s per model, cached in ``~/.cache/warp``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("mujoco_warp", reason="MuJoCo Warp is the optional 'warp' extra: pip install 'rewardlab[warp]'")

import envs  # noqa: F401  (registers the lab's tasks)
from envs.batched import make_batched
from envs.batched.mujoco_sim import make_simulator
from envs.batched.mujoco_warp_sim import WarpSim

N = 3
# task -> (steps compared, max |obs - gymnasium obs|, max |reward - gymnasium reward|). Measured
# (docs/mujoco_warp.md) over 40 trajectories, seeds 0-9 of this test's scheme x 4 envs:
TRACK: dict[str, tuple[int, float, float]] = {
    "HalfCheetah-v5": (10, 1e-1, 5e-3),  # measured max 1.8e-2 obs, 3.8e-4 reward within 10 steps
    "Hopper-v5": (100, 2e-4, 5e-5),  # measured max 1.5e-5 obs, 4.8e-6 reward; every env falls by step 75
    # a derived field (xpos: fingertip - target) in the observation; one 50-step episode; seeds 0-2
    "Reacher-v5": (50, 1e-3, 1e-5),  # measured max 6.4e-5 obs, 2.3e-7 reward
}
RETURN_RTOL = 1e-4  # Hopper's first-episode returns: measured max relative deviation 1.1e-6


def _state(env: gym.Env) -> tuple[np.ndarray, np.ndarray]:
    u: Any = env.unwrapped
    return u.data.qpos.copy(), u.data.qvel.copy()


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("task_id", list(TRACK))
def test_trajectories_track_gymnasium(task_id: str, seed: int):
    steps, obs_tol, rew_tol = TRACK[task_id]
    gyms = [gym.make(task_id) for _ in range(N)]
    resets = [g.reset(seed=1000 * seed + i) for i, g in enumerate(gyms)]
    env = make_batched(task_id, N, simulator="warp:cpu")
    qpos, qvel = (np.stack(x) for x in zip(*(_state(g) for g in gyms), strict=True))
    obs, _ = env.reset(options={"qpos": qpos, "qvel": qvel})
    # the loaded state reads back rounded to float32
    np.testing.assert_allclose(obs, np.stack([o for o, _ in resets]), rtol=1e-7, atol=1e-7)
    rng = np.random.default_rng(seed)
    space = env.single_action_space
    live = np.ones(N, dtype=bool)  # until an env's first episode ends
    returns, gym_returns = np.zeros(N), np.zeros(N)
    worst = {"obs": 0.0, "reward": 0.0}
    for t in range(steps):
        a = rng.uniform(space.low, space.high, size=(N, *space.shape)).astype(np.float32)
        _, reward, terminated, truncated, info = env.step(a)
        for i, g in enumerate(gyms):
            if not live[i]:
                continue
            o, r, te, tr, gi = g.step(a[i])
            where = f"{task_id} seed {seed} step {t} env {i}"
            worst["obs"] = max(worst["obs"], float(np.abs(info["final_obs"][i] - o).max()))
            worst["reward"] = max(worst["reward"], abs(float(reward[i]) - float(r)))
            np.testing.assert_allclose(info["final_obs"][i], o, rtol=0, atol=obs_tol, err_msg=where)
            assert abs(reward[i] - r) <= rew_tol, where
            for k, v in gi.items():
                assert abs(info["final_info"][k][i] - v) <= max(obs_tol, 10 * rew_tol), f"{where}: {k}"
            assert (bool(terminated[i]), bool(truncated[i])) == (te, tr), where
            returns[i] += reward[i]
            gym_returns[i] += r
            live[i] = not (te or tr)
        if not live.any():
            break
    if task_id == "Hopper-v5":
        assert not live.any(), "every Hopper should fall under random actions within the horizon"
    np.testing.assert_allclose(returns, gym_returns, rtol=RETURN_RTOL, atol=steps * rew_tol)
    print(f"{task_id} seed {seed}: max deviations over {steps} steps {worst}")
    env.close()


def test_partial_load_resets_only_those_rows():
    env = make_batched("Hopper-v5", 4, simulator="warp:cpu")
    env.reset(seed=0)
    a = np.random.default_rng(0).uniform(-1, 1, (5, 4, 3)).astype(np.float32)
    for t in range(5):
        env.step(a[t])
    before = env.get_state()
    q = env.init_qpos + 1e-3
    v = np.full(env.nv, 0.1)
    env.load_state(q, v, rows=[1, 3])
    after = env.get_state()
    np.testing.assert_array_equal(after[[0, 2]], before[[0, 2]])
    np.testing.assert_array_equal(after[[1, 3], : env.nq], np.broadcast_to(q.astype(np.float32), (2, env.nq)))
    np.testing.assert_array_equal(after[[1, 3], env.nq :], np.broadcast_to(np.float32(0.1), (2, env.nv)))
    # the two loaded rows are one state, reset alike (zero warmstart): they step identically
    obs, *_ = env.step(np.zeros((4, 3), dtype=np.float32))
    np.testing.assert_array_equal(obs[1], obs[3])
    env.close()


def test_make_simulator_kind_warp_and_torch_views():
    import torch

    env = make_batched("Hopper-v5", 2, simulator="warp:cpu")
    sim = env.sim
    assert isinstance(sim, WarpSim) and str(sim.device) == "cpu"
    qpos_t, qvel_t = sim.torch_state()
    assert isinstance(qpos_t, torch.Tensor) and qpos_t.dtype == torch.float32 and qpos_t.shape == (2, env.nq)
    env.reset(seed=1)
    env.step(np.zeros((2, 3), dtype=np.float32))
    # the tensors alias the device arrays: they already hold the new state
    np.testing.assert_array_equal(qpos_t.numpy(), sim.qpos.astype(np.float32))
    np.testing.assert_array_equal(qvel_t.numpy(), sim.qvel.astype(np.float32))
    with pytest.raises(ValueError, match="warp:<device>"):
        make_simulator(env.model, 2, kind="nope")
    env.close()


def test_overflowing_the_constraint_buffer_raises():
    env = make_batched("Hopper-v5", 2)  # only for its model
    sim = WarpSim(env.model, 2, device="cpu", njmax=1)
    with pytest.raises(RuntimeError, match="overflowed"):
        for _ in range(200):  # the foot meets the floor within a few steps
            sim.step(np.zeros((2, 3)), 4)
    env.close()
