"""MuJoCo benchmark tasks and new-behaviour tasks: env checks, schemas, batched views, fitness."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import (
    check_env,
    check_reset_options,
    check_reset_return_type,
    check_reset_seed_determinism,
    check_returned_data_not_reused,
    check_step_determinism,
)
from gymnasium.utils.passive_env_checker import env_reset_passive_checker, env_step_passive_checker

import envs
from envs.behaviours import completed_backflips

MUJOCO_IDS = ["InvertedPendulum-v5", "Reacher-v5", "Hopper-v5", "HalfCheetah-v5", "Walker2d-v5", "Ant-v5"]
BEHAVIOUR_IDS = ["rewardlab/HalfCheetahBackflip-v0", "rewardlab/HopperJump-v0", "rewardlab/AntCircle-v0"]
ALL_IDS = MUJOCO_IDS + BEHAVIOUR_IDS

# Warnings check_env raises about how *gymnasium itself* declares the v5 spaces, not about our code.
# MuJoCo states are unbounded (positions, velocities, the cheetah's unwrapped pitch), so v5 declares
# Box(-inf, inf) observations, and InvertedPendulum-v5's action is a force in [-3, 3] by its spec.
# Each is accepted only where the space really has that property (see _upstream_spec_warning).
_INF_LOW = "observation space minimum value is -infinity"
_INF_HIGH = "observation space maximum value is infinity"
_UNNORMALISED_ACTION = "we recommend using a symmetric and normalized space"


def _upstream_spec_warning(message: str, env: gym.Env) -> bool:
    obs, act = env.observation_space, env.action_space
    if _INF_LOW in message:
        return bool(np.any(np.isneginf(obs.low)))
    if _INF_HIGH in message:
        return bool(np.any(np.isposinf(obs.high)))
    if _UNNORMALISED_ACTION in message:
        return env.spec is not None and env.spec.id == "InvertedPendulum-v5" and float(act.high.max()) == 3.0
    return False


@pytest.mark.parametrize("task_id", ALL_IDS)
def test_registered(task_id: str) -> None:
    task = envs.get_task(task_id)
    assert task.id == task_id
    assert task.family == ("mujoco" if task_id in MUJOCO_IDS else "behaviour")
    assert task.has_env_reward == (task_id in MUJOCO_IDS)
    assert "sparse" in task.rewards and "hand" in task.rewards
    assert task.max_episode_steps == (50 if task_id == "Reacher-v5" else 1000)
    assert task.budget("ppo") > 0 and task.budget("sac") > 0 and task.budget("default") > 0
    assert task.description and task.action_doc


@pytest.mark.parametrize("task_id", ALL_IDS)
def test_env_checker(task_id: str) -> None:
    """gymnasium's checker on the raw env, and its API/determinism checks through our wrappers."""
    task = envs.get_task(task_id)
    env = task.make_env()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # render checks need a display / GL context, which CI machines do not have
        check_env(env.unwrapped, skip_render_check=True)
    unexpected = [str(w.message) for w in caught if not _upstream_spec_warning(str(w.message), env.unwrapped)]
    assert unexpected == []

    # The wrapped env (InfoFields, ZeroEnvReward, TimeLimit): check_env itself objects to any
    # wrapper, so run its API and determinism checks directly -- with no warnings at all.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_reset_return_type(env)
        check_reset_seed_determinism(env)
        check_reset_options(env)
        env_reset_passive_checker(env)
        env_step_passive_checker(env, env.action_space.sample())
        check_step_determinism(env)
        check_returned_data_not_reused(env)
    assert [str(w.message) for w in caught] == []

    _, info = env.reset(seed=0)
    for key in task.info_keys:
        assert isinstance(info[key], float), key
    _, reward, *_, info = env.step(env.action_space.sample())
    for key in task.info_keys:
        assert isinstance(info[key], float), key
    if not task.has_env_reward:
        assert reward == 0.0
    env.close()


@pytest.mark.parametrize("task_id", ALL_IDS)
def test_schema_covers_observation(task_id: str) -> None:
    task = envs.get_task(task_id)
    env = task.make_env()
    (dim,) = env.observation_space.shape
    covered: list[int] = []
    for f in task.obs_schema:
        assert f.unit and f.description, f.name
        covered += list(range(*f.index)) if isinstance(f.index, tuple) else [f.index]
    assert sorted(covered) == list(range(dim))
    assert len({f.name for f in task.obs_schema}) == len(task.obs_schema)

    # a raw, state-only view (info={}) gives every schema field, each with a unit
    obs, info = env.reset(seed=0)
    s = task.state(obs[None])
    for f in task.obs_schema:
        assert f.name in s and s.unit(f.name) == f.unit
    for key in s.keys():
        assert s.unit(key), f"field {key!r} has no unit"
    assert not set(task.info_keys) & (set(s.keys()) - {f.name for f in task.obs_schema})
    # with the info fields
    s = task.state(obs[None], {k: np.array([v]) for k, v in info.items()})
    for key in [*s.keys(), *task.info_keys]:
        assert key in s and s.unit(key), key
    env.close()


@pytest.mark.parametrize("task_id", ALL_IDS)
def test_vector_rollout_views(task_id: str) -> None:
    """50 random steps over 3 envs: every reward component, potential and fitness step is (3,) finite."""
    task = envs.get_task(task_id)
    n = 3
    venv = gym.vector.SyncVectorEnv([task.make_env] * n)
    venv.action_space.seed(0)
    obs, info = venv.reset(seed=0)
    steps = np.zeros(n, dtype=np.int64)
    for _ in range(50):
        action = venv.action_space.sample()
        next_obs, reward, terminated, truncated, next_info = venv.step(action)
        steps += 1
        for key in task.info_keys:
            assert np.asarray(next_info[key]).shape == (n,), key
        s = task.transition_view(obs, action, next_obs, reward, terminated, truncated, next_info, info, steps)
        for name, hand in task.rewards.items():
            if hand.components is not None:
                comps = hand.components(s)
                assert comps, name
                for key, value in comps.items():
                    value = np.asarray(value, dtype=np.float64)
                    assert value.shape == (n,) and np.isfinite(value).all(), (name, key)
            else:
                for view in (s, s.prev):
                    phi = np.asarray(hand.potential(view), dtype=np.float64)
                    assert phi.shape == (n,) and np.isfinite(phi).all(), name
        fit = np.asarray(task.fitness.step(s), dtype=np.float64)
        assert fit.shape == (n,) and np.isfinite(fit).all()
        if not task.has_env_reward:
            assert np.all(reward == 0.0)
        steps = np.where(terminated | truncated, 0, steps)
        obs, info = next_obs, next_info
    venv.close()


@pytest.mark.parametrize("task_id", BEHAVIOUR_IDS)
def test_gymnasium_make_behaviour(task_id: str) -> None:
    env = gym.make(task_id)
    assert env.spec is not None and env.spec.max_episode_steps == 1000
    obs, _ = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    _, reward, *_ = env.step(env.action_space.sample())
    assert reward == 0.0
    env.close()


def _step_at(env: gym.Env, qpos: np.ndarray, qvel: np.ndarray) -> tuple[np.ndarray, bool, dict]:
    """Put the simulator in (qpos, qvel) and take one zero-torque step."""
    env.unwrapped.set_state(qpos, qvel)
    obs, _, terminated, _, info = env.step(np.zeros(env.action_space.shape))
    return obs, terminated, info


def _batch1(info: dict) -> dict:
    """One env's info as a batch of one."""
    return {k: np.array([v]) for k, v in info.items() if np.isscalar(v)}


def test_backflip_sign_is_nose_up() -> None:
    """A negative root pitch lifts the cheetah's head: rotating further negative is a backflip."""
    env = gym.make("rewardlab/HalfCheetahBackflip-v0")
    env.reset(seed=0)
    u = env.unwrapped
    q = u.init_qpos.copy()
    q[2] = -0.5
    u.set_state(q, u.init_qvel)
    assert u.data.geom("head").xpos[2] > u.data.body("fthigh").xpos[2] > u.data.body("bthigh").xpos[2]
    env.close()


def test_backflip_fitness_counts_flips_of_the_root_joint() -> None:
    task = envs.get_task("rewardlab/HalfCheetahBackflip-v0")
    env = task.make_env()
    obs, _ = env.reset(seed=0)
    u = env.unwrapped
    # turn the root joint by hand: half a flip back, one and a bit, then two and a bit, upside down
    angles = [-np.pi, -2 * np.pi - 0.3, -3 * np.pi, -4 * np.pi - 0.3]
    fits, flips = [], []
    for angle in angles:
        q = u.init_qpos.copy()
        q[1] = 0.5  # in the air, so contacts do not spin it back within the step
        q[2] = angle
        next_obs, terminated, _ = _step_at(env, q, np.zeros(u.model.nv))
        assert not terminated  # the cheetah may be upside down
        s = task.transition_view(
            obs[None], np.zeros((1, 6)), next_obs[None], np.zeros(1), np.array([False]), np.array([False]), {}, {}
        )
        fits.append(float(task.fitness.step(s)[0]))
        flips.append(float(task.rewards["sparse"].components(s)["flip"][0]))
        obs = next_obs
    assert fits == [0.0, 1.0, 1.0, 2.0]
    assert max(fits) == 2.0  # the fitness reduction is "max"
    assert task.fitness.reduce == "max"
    assert sum(flips) == 2.0
    # forward rotation is not a backflip
    assert completed_backflips(np.array([2 * np.pi + 0.3, 4.5 * np.pi])).tolist() == [0.0, 0.0]
    env.close()


def test_hopper_jump_height_and_no_termination() -> None:
    task = envs.get_task("rewardlab/HopperJump-v0")
    env = task.make_env()
    env.reset(seed=0)
    u = env.unwrapped
    q = u.init_qpos.copy()
    q[1] = 2.0
    obs, _, _ = _step_at(env, q, np.zeros(u.model.nv))
    assert task.fitness.step(task.state(obs[None]))[0] == pytest.approx(2.0, abs=0.01)
    q[1], q[2] = 0.5, 1.2  # fallen: v5's default would terminate here
    _, terminated, _ = _step_at(env, q, np.zeros(u.model.nv))
    assert not terminated
    env.close()


def test_ant_circle_fitness_one_lap() -> None:
    task = envs.get_task("rewardlab/AntCircle-v0")
    env = task.make_env()
    obs, _ = env.reset(seed=0)
    dim = obs.shape[0]

    def states(radius: float, angles: np.ndarray) -> np.ndarray:
        o = np.zeros((angles.size, dim))
        o[:, 0], o[:, 1], o[:, 2], o[:, 3] = radius * np.cos(angles), radius * np.sin(angles), 0.55, 1.0
        return o

    def episode_fitness(o: np.ndarray) -> float:
        s = task.transition_view(o[:-1], None, o[1:], None, np.zeros(len(o) - 1, bool), None, {}, {})
        return float(np.sum(task.fitness.step(s)))

    lap = np.linspace(0.0, 2 * np.pi, 201)
    assert episode_fitness(states(3.0, lap)) == pytest.approx(2 * np.pi)
    assert episode_fitness(states(3.0, -lap)) == pytest.approx(-2 * np.pi)  # clockwise undoes progress
    assert episode_fitness(states(1.0, lap)) == 0.0  # outside the ring
    assert episode_fitness(states(5.0, lap)) == 0.0
    o = states(3.0, np.linspace(0.1, 2 * np.pi + 0.2, 201))  # crosses all four quarter lines once
    s = task.transition_view(o[:-1], None, o[1:], None, np.zeros(200, bool), None, {}, {})
    assert task.rewards["sparse"].components(s)["quarter"].sum() == 4.0
    env.close()


@pytest.mark.parametrize("task_id", ["Hopper-v5", "HalfCheetah-v5", "Walker2d-v5", "Ant-v5"])
def test_forward_fitness_tracks_the_torso(task_id: str) -> None:
    """Fitness (last x) and the sparse milestones agree with the simulator's x position."""
    task = envs.get_task(task_id)
    env = task.make_env()
    obs, info = env.reset(seed=0)
    u = env.unwrapped
    q = u.data.qpos.copy()
    q[0] = 3.4
    next_obs, _, next_info = _step_at(env, q, u.data.qvel.copy())
    s = task.transition_view(
        obs[None], None, next_obs[None], None, np.array([False]), None, _batch1(next_info), _batch1(info)
    )
    assert next_info["x_position"] == u.data.qpos[0]  # read from the simulator after the step
    assert task.fitness.step(s)[0] == pytest.approx(u.data.qpos[0])
    milestone = task.rewards["sparse"].components(s)["milestone"][0]
    assert milestone == np.floor(u.data.qpos[0]) - np.floor(info["x_position"]) >= 3.0
    env.close()
