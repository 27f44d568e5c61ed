"""Evaluation on the numpy batched env runs gymnasium's evaluation episodes, all at once.

A ``--vec batched`` (or ``torch``) run of a task whose batched env reproduces gymnasium's episodes bit for bit
(``BatchedEnv.same_episodes``) evaluates there: every episode's starting state is read off a gymnasium env reset
as the gymnasium path resets it. Checked here against the gymnasium path, episode by episode, for policies that
act on every observation (a wrong starting state or a diverging step changes lengths and returns).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import envs
from envs.batched import BATCHED_TASKS, GRID_TASKS, batched_class, make_batched
from rewardlab.experiment.agents import load_agent
from rewardlab.experiment.evaluate import evaluate
from rewardlab.experiment.runner import RunConfig, run_config


class Heuristic:
    """A deterministic feedback policy over raw observations (numpy or torch in, the same kind out)."""

    def __init__(self, fn) -> None:
        self.fn = fn

    def act(self, obs, deterministic: bool = True):
        return self.fn(np.asarray(obs))


POLICIES = {
    "CartPole-v1": Heuristic(lambda o: (o[:, 2] + 0.5 * o[:, 3] > 0).astype(np.int64)),
    "MountainCar-v0": Heuristic(lambda o: np.where(o[:, 1] > 0, 2, 0).astype(np.int64)),
    "Acrobot-v1": Heuristic(lambda o: np.where(o[:, 5] > 0, 2, 0).astype(np.int64)),
    "Pendulum-v1": Heuristic(lambda o: np.clip(-2 * o[:, 2:3] - 0.5 * o[:, 1:2], -2, 2).astype(np.float32)),
    "MountainCarContinuous-v0": Heuristic(lambda o: np.where(o[:, 1:2] > 0, 1.0, -1.0).astype(np.float32)),
}


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=0, err_msg=k)


@pytest.mark.parametrize("task_id", sorted(POLICIES))
@pytest.mark.parametrize("n", [3, 10, 17])
def test_batched_evaluation_is_gymnasiums_episode_by_episode(task_id: str, n: int) -> None:
    task = envs.get_task(task_id)
    want = evaluate(POLICIES[task_id], task, n, seed=3)
    assert want["fitness"].shape == (n,)
    for vec in ("batched", "torch"):
        _same(want, evaluate(POLICIES[task_id], task, n, seed=3, vec=vec))


def test_the_episodes_depend_on_the_seed_and_which_tasks_run_batched() -> None:
    task = envs.get_task("CartPole-v1")
    a = evaluate(POLICIES["CartPole-v1"], task, 10, seed=0, vec="batched")
    b = evaluate(POLICIES["MountainCar-v0"], envs.get_task("MountainCar-v0"), 10, seed=0, vec="batched")
    c = evaluate(POLICIES["MountainCar-v0"], envs.get_task("MountainCar-v0"), 10, seed=1, vec="batched")
    assert a["length"].size == 10
    assert not np.array_equal(b["length"], c["length"])  # other seeds, other starting positions
    same = {t for t in BATCHED_TASKS if batched_class(t).same_episodes}
    multiroom = {t for t in GRID_TASKS if "MultiRoom" in t}
    assert same == (set(POLICIES) - {"Acrobot-v1"}) | (set(GRID_TASKS) - multiroom)


class GridPolicy:
    """Deterministic in the observation: mostly forward, else a turn, pick-up, drop or toggle from a hash of it."""

    def act(self, obs, deterministic: bool = True):
        o = np.asarray(obs)
        h = (o * np.arange(1, o.shape[1] + 1)).sum(1)
        return np.where(np.floor(h * 13.7) % 5 < 3, 2, np.floor(h * 3.1) % 7).astype(np.int64)


@pytest.mark.parametrize("task_id", [t for t in GRID_TASKS if batched_class(t).same_episodes])
def test_batched_evaluation_of_a_minigrid_task_is_minigrids(task_id: str) -> None:
    task = envs.get_task(task_id)
    want = evaluate(GridPolicy(), task, 10, seed=1)
    _same(want, evaluate(GridPolicy(), task, 10, seed=1, vec="batched"))


def test_a_minigrid_start_is_minigrids_level() -> None:
    task = envs.get_task("MiniGrid-DoorKey-8x8-v0")
    ref = [task.make_env() for _ in range(3)]
    obs, infos = zip(*(r.reset(seed=40 + i) for i, r in enumerate(ref)), strict=True)
    cls = batched_class(task.id)
    env = make_batched(task.id, 3)
    got, info = env.reset(seed=0, options=cls.start_options([cls.starting_state(r) for r in ref]))
    np.testing.assert_array_equal(got, np.stack(obs))
    for key in task.info_keys:  # the goal, key and door the reward and fitness read
        np.testing.assert_array_equal(np.asarray(info[key]), [i[key] for i in infos], err_msg=key)
    with pytest.raises(ValueError, match="expected num_envs"):
        env.reset(options=cls.start_options([cls.starting_state(ref[0])]))


def test_reset_to_given_states() -> None:
    env = make_batched("MountainCar-v0", 3)
    env.reset(seed=0)
    env.step(np.array([2, 2, 2]))
    start = np.array([[-0.5, 0.0], [-0.45, 0.01], [0.1, -0.02]])
    obs, _ = env.reset(seed=1, options={"state": start})
    np.testing.assert_array_equal(env.get_state(), start)
    np.testing.assert_array_equal(obs, start.astype(np.float32))
    np.testing.assert_array_equal(env.elapsed_steps, 0)
    with pytest.raises(ValueError, match="state must have shape"):
        env.reset(options={"state": start[:2]})


def test_a_batched_runs_evaluations_are_those_of_its_agent_on_gymnasium(tmp_path) -> None:
    cfg = RunConfig(task="MountainCar-v0", reward="hand", agent="ppo-native", steps=6144, seed=2, vec="batched",
                    n_eval_episodes=10, eval_every=3072, eval_episodes=5)  # fmt: skip
    res = run_config(cfg, runs_dir=str(tmp_path), progress=False)
    summary = json.loads((res.path / "summary.json").read_text())
    task = envs.get_task("MountainCar-v0")
    env = task.make_env()
    agent = load_agent(res.path, "ppo-native", env.observation_space, env.action_space)
    env.close()
    gym_eval = evaluate(agent, task, 10, seed=2)
    np.testing.assert_allclose(summary["eval_fitness"], gym_eval["fitness"], rtol=1e-12)
    assert summary["eval_env_return_mean"] == pytest.approx(float(gym_eval["env_return"].mean()), rel=1e-12)
