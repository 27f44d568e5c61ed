"""MiniGrid tasks: env checker, observation encoding, info fields, rewards and fitness."""

from __future__ import annotations

import itertools
import warnings
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from minigrid.core.constants import DIR_TO_VEC, OBJECT_TO_IDX

from envs import get_task, list_tasks
from envs.minigrid_tasks import OBS_DIMS

TASK_IDS = [
    "MiniGrid-Empty-8x8-v0",
    "MiniGrid-DoorKey-5x5-v0",
    "MiniGrid-DoorKey-8x8-v0",
    "MiniGrid-KeyCorridorS3R1-v0",
    "MiniGrid-MultiRoom-N2-S4-v0",
    "MiniGrid-LavaGapS5-v0",
]
LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE = 0, 1, 2, 3, 4, 5

# check_env warns about any env that is not its own `unwrapped`; a task's env is MiniGrid plus the
# obs and info wrappers by design, so this one warning is expected and nothing else is allowed.
WRAPPED_WARNING = "is different from the unwrapped version"


def test_all_tasks_registered() -> None:
    ids = {t.id for t in list_tasks("minigrid")}
    assert set(TASK_IDS) <= ids
    for tid in TASK_IDS:
        task = get_task(tid)
        assert task.family == "minigrid"
        assert {"sparse", "hand", "potential"} <= set(task.rewards)
        assert task.reward_names[0] == "env"
        assert task.fitness.reduce == "max" and task.fitness.threshold == 1.0
        assert task.budget("ppo") > 0 and task.budget("a2c") > 0 and task.budget("dqn") > 0
        assert set(task.info_keys) <= set(task.units)


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_check_env_no_warnings(task_id: str) -> None:
    env = get_task(task_id).make_env()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # human rendering opens a pygame window; rgb_array rendering is checked below
        check_env(env, skip_render_check=True)
    other = [str(w.message) for w in caught if WRAPPED_WARNING not in str(w.message)]
    assert other == []


@pytest.mark.parametrize("task_id", ["MiniGrid-DoorKey-5x5-v0", "MiniGrid-KeyCorridorS3R1-v0"])
def test_spec_rebuilds_wrappers_and_renders(task_id: str) -> None:
    env = get_task(task_id).make_env()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = env.spec.make(render_mode="rgb_array")
        obs, info = again.reset(seed=0)
        frame = again.render()
    assert [str(w.message) for w in caught] == []
    assert obs.shape == (OBS_DIMS,) and set(get_task(task_id).info_keys) <= set(info)
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_obs_matches_space_and_schema_covers_it(task_id: str) -> None:
    task = get_task(task_id)
    env = task.make_env()
    assert env.observation_space == gym.spaces.Box(0.0, 1.0, (OBS_DIMS,), np.float32)
    obs, info = env.reset(seed=3)
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    for _ in range(20):
        obs, *_rest, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        assert obs[147:].sum() == 1.0
    spans = sorted(f.index for f in task.obs_schema)
    assert spans[0][0] == 0 and spans[-1][1] == OBS_DIMS == 151
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    for k in task.info_keys:
        assert type(info[k]) is int, (k, type(info[k]))


def _batch(info: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray([v]) for k, v in info.items()}


def _cell_id(u: Any, pos: Any) -> int:
    obj = u.grid.get(int(pos[0]), int(pos[1]))
    return OBJECT_TO_IDX["empty"] if obj is None else OBJECT_TO_IDX[obj.type]


def test_view_front_and_left_cells_match_the_grid() -> None:
    """The documented layout: agent at view (3, 6) facing y = 0; view x grows to its right."""
    task = get_task("MiniGrid-DoorKey-8x8-v0")
    env = task.make_env()
    u = env.unwrapped
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=1)
    for _ in range(200):
        s = task.state(obs[None], _batch(info))
        d = np.asarray(DIR_TO_VEC[u.agent_dir])
        left = np.array([d[1], -d[0]])
        assert s.direction[0] == u.agent_dir == s.agent_dir[0]
        assert s.front_object[0] == _cell_id(u, np.asarray(u.agent_pos) + d)
        assert s.image[0, 2, 6, 0] == _cell_id(u, np.asarray(u.agent_pos) + left)
        assert s.image[0, 4, 6, 0] == _cell_id(u, np.asarray(u.agent_pos) - left)
        obs, _, term, trunc, info = env.step(int(rng.integers(0, 6)))
        if term or trunc:
            obs, info = env.reset()


def test_view_without_info_has_obs_fields_only() -> None:
    task = get_task("MiniGrid-Empty-8x8-v0")
    obs, _ = task.make_env().reset(seed=0)
    s = task.state(np.stack([obs, obs]), {})
    assert s.image.shape == (2, 7, 7, 3) and s.direction.shape == (2,)
    assert "agent_x" not in s


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_vector_rollout_rewards_and_fitness_are_batched(task_id: str) -> None:
    task = get_task(task_id)
    n = 3
    venv = gym.vector.SyncVectorEnv([task.make_env for _ in range(n)])
    venv.action_space.seed(0)
    obs, info = venv.reset(seed=0)
    steps = np.zeros(n, dtype=np.int64)
    for _ in range(100):
        action = venv.action_space.sample()
        next_obs, rew, term, trunc, next_info = venv.step(action)
        steps += 1
        for k in task.info_keys:
            assert next_info[k].shape == (n,) and np.issubdtype(next_info[k].dtype, np.number), k
        s = task.transition_view(obs, action, next_obs, rew, term, trunc, next_info, info, steps)
        assert s.image.shape == (n, 7, 7, 3)
        for name, hand in task.rewards.items():
            if hand.components is not None:
                comps = hand.components(s)
                assert comps, name
                for c, v in comps.items():
                    v = np.asarray(v)
                    assert v.shape == (n,) and np.isfinite(v).all(), (name, c, v)
            else:
                for phi in (hand.potential(s), hand.potential(s.prev)):
                    phi = np.asarray(phi)
                    assert phi.shape == (n,) and np.isfinite(phi).all(), (name, phi)
                    assert ((phi <= 0) & (phi >= -1)).all(), (name, phi)
        fit = np.asarray(task.fitness.step(s))
        assert fit.shape == (n,) and np.isin(fit, (0.0, 1.0)).all()
        steps[term | trunc] = 0
        obs, info = next_obs, next_info
    venv.close()


class _Runner:
    """Steps one env and keeps the transition views, batched as (1, ...)."""

    def __init__(self, task_id: str, seed: int) -> None:
        self.task = get_task(task_id)
        self.env = self.task.make_env()
        self.u = self.env.unwrapped
        self.obs, self.info = self.env.reset(seed=seed)
        self.t = 0
        self.views: list[Any] = []
        self.rewards: list[float] = []
        self.done = False

    def step(self, action: int) -> Any:
        assert not self.done
        obs, rew, term, trunc, info = self.env.step(action)
        self.t += 1
        s = self.task.transition_view(
            self.obs[None], np.array([action]), obs[None], np.array([rew]), np.array([term]),
            np.array([trunc]), _batch(info), _batch(self.info), np.array([self.t]),
        )  # fmt: skip
        self.obs, self.info, self.done = obs, info, term or trunc
        self.views.append(s)
        self.rewards.append(float(rew))
        return s

    def run(self, actions: list[int]) -> Any:
        s = None
        for a in actions:
            s = self.step(a)
        return s

    def face(self, target: tuple[int, int]) -> Any:
        """Walk (shortest path, no lava) until the cell ahead is ``target``."""
        return self.run(_plan_to_face(self.u, tuple(int(c) for c in target)))

    def values(self, reward: str) -> np.ndarray:
        hand = self.task.rewards[reward]
        return np.array([sum(np.asarray(v)[0] for v in hand.components(s).values()) for s in self.views])

    def component(self, reward: str, name: str) -> np.ndarray:
        return np.array([np.asarray(self.task.rewards[reward].components(s)[name])[0] for s in self.views])

    def potentials(self) -> np.ndarray:
        phi = self.task.rewards["potential"].potential
        return np.array([phi(s)[0] for s in self.views])

    def fitness(self) -> np.ndarray:
        return np.array([self.task.fitness.step(s)[0] for s in self.views])


def _plan_to_face(u: Any, target: tuple[int, int]) -> list[int]:
    def free(x: int, y: int) -> bool:
        obj = u.grid.get(x, y)
        return obj is None or (obj.can_overlap() and obj.type not in ("lava", "goal"))

    start = (int(u.agent_pos[0]), int(u.agent_pos[1]), int(u.agent_dir))
    parent: dict[tuple[int, int, int], tuple[tuple[int, int, int], int] | None] = {start: None}
    queue = deque([start])
    while queue:
        x, y, d = state = queue.popleft()
        dx, dy = DIR_TO_VEC[d]
        if (x + dx, y + dy) == target:
            actions = []
            while parent[state] is not None:
                state, a = parent[state]
                actions.append(a)
            return actions[::-1]
        moves = [((x, y, (d - 1) % 4), LEFT), ((x, y, (d + 1) % 4), RIGHT)]
        if free(x + dx, y + dy):
            moves.append(((x + dx, y + dy, d), FORWARD))
        for nxt, a in moves:
            if nxt not in parent:
                parent[nxt] = (state, a)
                queue.append(nxt)
    raise AssertionError(f"no path to face {target}")


def test_empty_scripted_run_reaches_goal_exactly_on_last_step() -> None:
    r = _Runner("MiniGrid-Empty-8x8-v0", seed=0)
    assert (tuple(r.u.agent_pos), r.u.agent_dir) == ((1, 1), 0)
    s = r.run([FORWARD] * 5 + [RIGHT] + [FORWARD] * 5)
    assert r.done and bool(s.terminated[0]) and r.t == 11
    assert (s.agent_x[0], s.agent_y[0], s.dist_to_goal[0]) == (6, 6, 0)
    fit, sparse = r.fitness(), r.values("sparse")
    assert fit[-1] == 1.0 and sparse[-1] == 1.0
    assert (fit[:-1] == 0).all() and (sparse[:-1] == 0).all()
    assert r.rewards[-1] == pytest.approx(1 - 0.9 * 11 / 256)
    dist = [v.dist_to_goal[0] for v in r.views]
    assert dist == [9, 8, 7, 6, 5, 5, 4, 3, 2, 1, 0]
    assert (r.component("hand", "progress")[[0, 1, 2, 3, 4, 6, 7, 8, 9, 10]] == 0.05).all()
    # shaped return on the goal step: sparse 1 + gamma * 0 - phi(one cell away) > 1
    phi_prev = r.task.rewards["potential"].potential(s.prev)[0]
    assert phi_prev == pytest.approx(-1 / 12)


def test_empty_teleport_next_to_goal() -> None:
    r = _Runner("MiniGrid-Empty-8x8-v0", seed=5)
    r.u.agent_pos, r.u.agent_dir = (6, 5), 1  # facing down, the goal (6, 6) ahead
    s = r.step(RIGHT)  # turning does not reach it
    assert s.at_goal[0] == 0 and r.values("sparse")[-1] == 0
    s = r.step(LEFT)
    s = r.step(FORWARD)
    assert s.at_goal[0] == 1 and bool(s.terminated[0])
    assert r.fitness()[-1] == 1.0 and r.values("sparse")[-1] == 1.0


def test_doorkey_scripted_solution_stages_and_milestones() -> None:
    r = _Runner("MiniGrid-DoorKey-5x5-v0", seed=0)
    key_pos = (r.info["key_x"], r.info["key_y"])
    door_pos = (r.info["door_x"], r.info["door_y"])
    assert r.info["carrying_key"] == 0 and r.info["door_open"] == 0

    r.face(key_pos)
    s = r.step(PICKUP)
    assert s.carrying_key[0] == 1 and s.prev.carrying_key[0] == 0
    assert (s.key_x[0], s.key_y[0]) == (s.agent_x[0], s.agent_y[0])
    assert s.stage[0] == 1 and s.prev.stage[0] == 0
    i_pick = r.t - 1

    s = r.step(DROP)  # dropping and re-taking the key earns nothing overall
    assert s.carrying_key[0] == 0 and (s.key_x[0], s.key_y[0]) == key_pos
    s = r.step(PICKUP)
    assert s.carrying_key[0] == 1
    milestones = r.component("hand", "picked_key")
    assert milestones[i_pick] == pytest.approx(0.2) and milestones[i_pick + 1 : i_pick + 3].sum() == 0

    r.face(door_pos)
    s = r.step(TOGGLE)
    assert s.door_open[0] == 1 and s.prev.door_open[0] == 0 and s.stage[0] == 2
    i_door = r.t - 1
    assert r.component("hand", "opened_door")[i_door] == pytest.approx(0.2)

    goal = (r.info["goal_x"], r.info["goal_y"])
    r.face(goal)
    s = r.step(FORWARD)
    assert r.done and s.at_goal[0] == 1 and s.terminated[0]
    fit, sparse = r.fitness(), r.values("sparse")
    assert fit[-1] == 1.0 and (fit[:-1] == 0).all()
    assert sparse[-1] == 1.0 and (sparse[:-1] == 0).all()
    assert r.rewards[-1] > 0

    phi = r.potentials()
    phi_prev = np.array([r.task.rewards["potential"].potential(v.prev)[0] for v in r.views])
    assert phi[i_pick] > phi_prev[i_pick] and phi[i_door] > phi_prev[i_door]
    assert (phi <= 0).all() and (phi >= -1).all()
    assert phi_prev[-1] == pytest.approx(-(1 / 6) / 3)  # one cell from the goal, no stages left


def test_keycorridor_success_is_holding_the_ball() -> None:
    r = _Runner("MiniGrid-KeyCorridorS3R1-v0", seed=0)
    key_pos = (r.info["key_x"], r.info["key_y"])
    locked = (r.info["door_x"], r.info["door_y"])
    ball = (r.info["goal_x"], r.info["goal_y"])
    assert r.u.grid.get(*ball).type == "ball" and r.u.grid.get(*locked).is_locked

    first_door = (key_pos[0] + 1, key_pos[1])  # the key room's plain door
    r.face(first_door)
    r.step(TOGGLE)
    r.face(key_pos)
    assert r.step(PICKUP).carrying_key[0] == 1
    r.face(locked)
    s = r.step(TOGGLE)
    assert s.door_open[0] == 1 and s.stage[0] == 2
    r.face(ball)
    s = r.run([LEFT, LEFT, DROP])  # one hand: put the key down first
    assert s.carrying_key[0] == 0 and s.stage[0] == 2
    assert r.component("hand", "picked_key")[-1] == 0  # dropping after the door is open is free
    s = r.run([LEFT, LEFT, PICKUP])
    assert r.done and s.at_goal[0] == 1 and s.dist_to_goal[0] == 0
    assert r.fitness()[-1] == 1.0 and (r.fitness()[:-1] == 0).all()
    assert r.values("sparse")[-1] == 1.0 and r.rewards[-1] > 0


def test_multiroom_door_then_goal() -> None:
    r = _Runner("MiniGrid-MultiRoom-N2-S4-v0", seed=0)
    assert r.info["door_open"] == 0
    r.face((r.info["door_x"], r.info["door_y"]))
    s = r.step(TOGGLE)
    assert s.door_open[0] == 1 and s.stage[0] == 1 and s.stages_left[0] == 0
    r.face((r.info["goal_x"], r.info["goal_y"]))
    s = r.step(FORWARD)
    assert s.at_goal[0] == 1 and r.fitness()[-1] == 1.0


def test_lava_ends_the_episode_with_penalty_and_no_fitness() -> None:
    r = _Runner("MiniGrid-LavaGapS5-v0", seed=0)
    g = r.u.grid
    lava = next((i % g.width, i // g.width) for i, o in enumerate(g.grid) if o is not None and o.type == "lava")
    r.u.agent_pos, r.u.agent_dir = (lava[0] - 1, lava[1]), 0
    s = r.step(FORWARD)
    assert s.in_lava[0] == 1 and s.terminated[0] and s.at_goal[0] == 0
    assert r.component("hand", "lava")[-1] == -1.0
    assert r.fitness()[-1] == 0.0 and r.values("sparse")[-1] == 0.0 and r.rewards[-1] == 0.0


@pytest.mark.parametrize("task_id", ["MiniGrid-Empty-8x8-v0", "MiniGrid-DoorKey-5x5-v0"])
def test_goal_is_relocated_after_every_reset(task_id: str) -> None:
    task = get_task(task_id)
    env = task.make_env()
    for seed in range(5):
        _, info = env.reset(seed=seed)
        g = env.unwrapped.grid
        goal = next((i % g.width, i // g.width) for i, o in enumerate(g.grid) if o is not None and o.type == "goal")
        assert (info["goal_x"], info["goal_y"]) == goal
        if "key_x" in info:
            assert g.get(info["key_x"], info["key_y"]).type == "key"
            assert g.get(info["door_x"], info["door_y"]).type == "door"
