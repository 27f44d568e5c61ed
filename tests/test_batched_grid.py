"""The batched gridworld (envs/batched/grid) against minigrid's own envs.

- Parity: minigrid envs are reset with many seeds, their state (``grid.encode()``, agent cell and
  heading, carried object, step count) loaded into the batched env, and both stepped with the
  same action sequences (biased towards pickup/toggle in front of keys, balls and doors, so
  doors open, unlock and close and keys are carried and dropped). Observations (flat, and the
  raw image and heading), rewards (1e-6), terminated/truncated flags and the task's info
  fields must agree on every step; a finished episode is replaced by a fresh minigrid reset.
- Levels: every generator's levels are valid (goal reachable, keys and doors where minigrid
  puts them), MultiRoom's per-level routine rebuilds minigrid's exact level per seed, and the
  vectorised generators' layout histograms match minigrid's over a few hundred seeds (chi-square).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import gymnasium as gym
import minigrid  # noqa: F401  (registers the MiniGrid ids)
import numpy as np
import pytest
import torch

import envs  # noqa: F401  (registers the lab's tasks)
from envs.batched import BATCHED_TASKS, has_batched, make_batched
from envs.batched.grid import GRID_CLASSES, BatchedGrid, minigrid_state
from envs.batched.grid import codes as C
from envs.batched.grid.multiroom import multiroom_level
from envs.minigrid_tasks import FlatMiniGridObs, MiniGridInfo
from envs.registry import get_task

TASKS = tuple(GRID_CLASSES)
BACKENDS = ("numpy", "torch")
DEVICES = [("numpy", None), ("torch", "cpu")] + ([("torch", "cuda")] if torch.cuda.is_available() else [])
SCALE = np.array([10, 5, 2], dtype=np.float32)
STEPS = {"MiniGrid-DoorKey-8x8-v0": 300, "MiniGrid-KeyCorridorS3R1-v0": 300, "MiniGrid-KeyCorridorS3R2-v0": 300}
SEEDS = 24


def _np(x: Any) -> np.ndarray:
    return x.cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _reference(task_id: str) -> gym.Env:
    cls = GRID_CLASSES[task_id]
    return MiniGridInfo(FlatMiniGridObs(gym.make(task_id)), keys=cls.info_keys, target=cls.target)


def _policy(env: gym.Env, rng: np.random.Generator) -> int:
    """Random, but mostly acting on what is ahead: pick up keys and balls, toggle doors, drop sometimes."""
    u: Any = env.unwrapped
    front = u.grid.get(*u.front_pos)
    u_carry = u.carrying
    if front is not None and front.type in ("key", "ball", "box") and u_carry is None and rng.random() < 0.7:
        return 3
    if front is not None and front.type == "door" and rng.random() < 0.6:
        return 5
    if front is None and u_carry is not None:
        # a key is dead weight once no door is locked (KeyCorridor: the ball needs empty hands)
        spent = u_carry.type == "key" and not any(
            o is not None and o.type == "door" and o.is_locked for o in u.grid.grid
        )
        if rng.random() < (0.6 if spent else 0.15):
            return 4
    return int(rng.choice(7, p=[0.15, 0.15, 0.45, 0.08, 0.06, 0.08, 0.03]))


def test_registration_and_info_keys_match_the_lab_tasks():
    for task_id, cls in GRID_CLASSES.items():
        assert task_id in BATCHED_TASKS and has_batched(task_id) and has_batched(task_id, "torch")
        try:
            task = get_task(task_id)
        except KeyError:
            continue
        assert cls.info_keys == task.info_keys, task_id
        assert cls.default_max_episode_steps == task.max_episode_steps
        assert gym.make(task_id).unwrapped.max_steps == cls.default_max_episode_steps
    env = make_batched("MiniGrid-DoorKey-8x8-v0", 4096)
    assert env.num_envs == 4096 and env.single_observation_space.shape == (151,)


@pytest.mark.parametrize(("backend", "device"), DEVICES)
@pytest.mark.parametrize("task_id", TASKS)
def test_steps_match_minigrid(task_id, backend, device):
    _check_parity(make_batched(task_id, SEEDS, backend, device=device, pool_size=32), task_id)


@pytest.mark.parametrize("task_id", ["MiniGrid-DoorKey-5x5-v0", "MiniGrid-KeyCorridorS3R1-v0", "MiniGrid-LavaGapS5-v0"])
def test_accelerator_path_matches_minigrid_on_the_cpu(task_id):
    """The accelerator code path (levels from a device pool, masked autoreset, no host sync), forced on the CPU."""
    env = make_batched(task_id, SEEDS, "torch", device="cpu", pool_size=32)
    env._sync_free = env._on_device = True
    _check_parity(env, task_id)
    assert env._pool is not None and isinstance(env._pool["grid"], torch.Tensor)
    empty = make_batched("MiniGrid-Empty-8x8-v0", 3, "torch", device="cpu", max_episode_steps=2)
    empty._sync_free = empty._on_device = True
    obs0, _ = empty.reset(seed=0)
    for _ in range(2):
        obs, _, _, trunc, info = empty.step(torch.tensor([2, 2, 1]))
    assert trunc.all() and torch.equal(obs, obs0) and info["agent_x"].tolist() == [1, 1, 1]
    assert info["final_info"]["agent_x"].tolist() == [3, 3, 1]


def _check_parity(env: Any, task_id: str) -> None:
    n, rng, backend = SEEDS, np.random.default_rng(11), env.backend
    assert isinstance(env, BatchedGrid)
    env.reset(seed=0)
    refs = [_reference(task_id) for _ in range(n)]
    next_seed = 1000
    first = []
    for r in refs:
        first.append(r.reset(seed=next_seed))
        next_seed += 1
    obs = _np(env.load_minigrid(refs))
    np.testing.assert_array_equal(obs, np.stack([o for o, _ in first]))
    events: Counter[str] = Counter()
    for _ in range(STEPS.get(task_id, 200)):
        actions = np.array([_policy(r, rng) for r in refs])
        a = torch.as_tensor(actions, device=env.device) if backend == "torch" else actions
        _, rew, term, trunc, info = env.step(a)
        rew, term, trunc = _np(rew), _np(term), _np(trunc)
        final, final_info = _np(info["final_obs"]), {k: _np(v) for k, v in info["final_info"].items()}
        np.testing.assert_array_equal(_np(info["_final_obs"]), term | trunc)
        reload = []
        for i, ref in enumerate(refs):
            was_locked = any(o is not None and o.type == "door" and o.is_locked for o in ref.unwrapped.grid.grid)
            g_obs, g_rew, g_term, g_trunc, g_info = ref.step(int(actions[i]))
            raw = ref.unwrapped.gen_obs()
            np.testing.assert_array_equal(final[i], g_obs, err_msg=f"{task_id} env {i}")
            np.testing.assert_array_equal(np.rint(final[i][:147].reshape(7, 7, 3) * SCALE), raw["image"])
            assert int(np.argmax(final[i][147:])) == raw["direction"]
            assert abs(rew[i] - g_rew) <= 1e-6 and (bool(term[i]), bool(trunc[i])) == (g_term, g_trunc)
            assert {k: int(final_info[k][i]) for k in g_info} == g_info, f"{task_id} env {i}"
            carrying = ref.unwrapped.carrying
            events["carry"] += carrying is not None
            events["unlock"] += was_locked and g_info.get("door_open", 0) == 1
            events["success"] += g_rew > 0
            events["terminated"] += g_term
            if g_term or g_trunc:
                ref.reset(seed=next_seed)
                next_seed += 1
                reload.append(i)
        if reload:
            env.load_minigrid([refs[i] for i in reload], rows=reload)
    # every task but six-room MultiRoom sees successes (rewards) under this policy within the steps
    assert events["success"] or task_id == "MiniGrid-MultiRoom-N4-S5-v0", events
    if "key_x" in GRID_CLASSES[task_id].info_keys:
        assert events["carry"] and events["unlock"], events


@pytest.mark.parametrize("backend", BACKENDS)
def test_autoreset_and_agent_state(backend):
    env = make_batched("MiniGrid-Empty-8x8-v0", 3, backend, max_episode_steps=5)
    obs0, _ = env.reset(seed=1)
    for _ in range(5):
        obs, _, term, trunc, info = env.step(np.array([2, 1, 6]))  # forward, turn right, done
    assert _np(trunc).all() and not _np(term).any()
    np.testing.assert_array_equal(_np(obs), _np(obs0))  # a fresh episode: Empty has one level
    assert not np.array_equal(_np(info["final_obs"]), _np(obs0))
    assert _np(info["final_info"]["agent_x"]).tolist() == [6, 1, 1] and _np(info["agent_x"]).tolist() == [1, 1, 1]
    state = env.agent_state()
    assert _np(state["x"]).tolist() == [1, 1, 1] and _np(state["carrying"]).tolist() == [0, 0, 0]
    np.testing.assert_array_equal(_np(env.elapsed_steps), 0)
    got = env.get_state()
    assert _np(got["grid"]).shape == (3, 8, 8)
    np.testing.assert_array_equal(_np(env.set_state(got, elapsed_steps=0)), _np(obs0))


def test_reaching_the_goal_pays_minigrids_reward():
    env = make_batched("MiniGrid-Empty-8x8-v0", 1)
    env.reset(seed=0)
    ref = gym.make("MiniGrid-Empty-8x8-v0")
    ref.reset(seed=0)
    plan = [2] * 5 + [1] + [2] * 5
    for a in plan:
        _, rew, term, _, info = env.step(np.array([a]))
        _, g_rew, g_term, _, _ = ref.step(a)
        assert (float(rew[0]), bool(term[0])) == (pytest.approx(g_rew, abs=1e-12), g_term)
    assert term[0] and rew[0] == pytest.approx(1 - 0.9 * 11 / 256) and info["final_info"]["at_goal"][0] == 1


# -- levels --------------------------------------------------------------------------------


def _reachable(grid: np.ndarray, start: tuple[int, int], passable: Any) -> np.ndarray:
    w, h = grid.shape
    seen = np.zeros((w, h), dtype=bool)
    stack = [start]
    while stack:
        x, y = stack.pop()
        if seen[x, y]:
            continue
        seen[x, y] = True
        for dx, dy in C.DIR_VEC:
            nx, ny = x + dx, y + dy
            if 0 <= nx < w and 0 <= ny < h and not seen[nx, ny] and passable(grid[nx, ny]):
                stack.append((nx, ny))
    return seen


def _objects(grid: np.ndarray, obj: int) -> list[tuple[int, int, int]]:
    xs, ys = np.nonzero((grid & C.OBJ_MASK) == obj)
    return [(int(x), int(y), int(grid[x, y])) for x, y in zip(xs, ys, strict=True)]


@pytest.mark.parametrize("task_id", TASKS)
def test_generated_levels_are_valid(task_id):
    cls = GRID_CLASSES[task_id]
    k = 100 if cls.pooled else 1000
    lay = cls.level_generator()(np.random.default_rng(5), k)
    floor = (C.EMPTY, C.GOAL, C.KEY, C.BALL)
    for i in range(k):
        g, start = lay.grid[i], (int(lay.ax[i]), int(lay.ay[i]))
        assert g[start] == C.EMPTY and 0 <= lay.dir[i] < 4
        if not cls.pooled:  # MultiRoom's rooms float in an open grid
            assert (g[0, :] == C.WALL).all() and (g[:, 0] == C.WALL).all() and (g[-1, :] == C.WALL).all()
        doors, keys = _objects(g, C.DOOR), _objects(g, C.KEY)
        open_all = _reachable(g, start, lambda c: (c & C.OBJ_MASK) in (*floor, C.DOOR))
        no_locked = _reachable(g, start, lambda c: (c & C.OBJ_MASK) in floor or ((c & 15) == C.DOOR and c >> 7 != 2))
        target = _objects(g, C.BALL if cls.target == "object" else C.GOAL)
        assert len(target) == 1 and open_all[target[0][:2]]
        locked = [d for d in doors if d[2] >> 7 == C.LOCKED]
        if "key_x" in cls.info_keys:  # DoorKey, KeyCorridor: one locked door, its key reachable before it
            assert len(locked) == 1 and len(keys) == 1 and (keys[0][2] >> 4) == (locked[0][2] >> 4) & 7
            assert no_locked[keys[0][:2]] and not no_locked[target[0][:2]]
        else:
            assert not locked and not keys
        if task_id.startswith("MiniGrid-DoorKey"):
            (dx, dy, _), (kx, _, _) = locked[0], keys[0]
            assert (g[dx, :] & 15 != C.EMPTY).all() and 1 <= dy <= g.shape[1] - 3 and kx < dx and start[0] < dx
        if task_id.startswith("MiniGrid-KeyCorridor"):
            assert open_all[1::2, 1::2].all()  # connect_all: every room reachable
        if task_id.startswith("MiniGrid-MultiRoom"):
            assert doors and all(d[2] >> 7 == C.CLOSED for d in doors)
        if task_id == "MiniGrid-LavaGapS5-v0":
            lava_col = _objects(g, C.LAVA)
            assert len(lava_col) == 2 and len({x for x, _, _ in lava_col}) == 1


@pytest.mark.parametrize("task_id", ["MiniGrid-MultiRoom-N2-S4-v0", "MiniGrid-MultiRoom-N4-S5-v0"])
def test_multiroom_levels_are_minigrids(task_id):
    ref = gym.make(task_id).unwrapped
    args = {"MiniGrid-MultiRoom-N2-S4-v0": (2, 2, 4), "MiniGrid-MultiRoom-N4-S5-v0": (6, 6, 5)}[task_id]
    for seed in range(60):
        ref.reset(seed=seed)
        grid, ax, ay, d = multiroom_level(np.random.default_rng(seed), *args)
        st = minigrid_state(ref)
        np.testing.assert_array_equal(grid, C.pack(st["grid"]))
        assert (ax, ay, d) == (*st["agent_pos"].tolist(), st["agent_dir"])


def test_empty_level_is_minigrids():
    ref = gym.make("MiniGrid-Empty-8x8-v0")
    ref.reset(seed=0)
    st = minigrid_state(ref)
    lay = GRID_CLASSES["MiniGrid-Empty-8x8-v0"].level_generator()(np.random.default_rng(0), 1)
    np.testing.assert_array_equal(lay.grid[0], C.pack(st["grid"]))
    assert (int(lay.ax[0]), int(lay.ay[0]), int(lay.dir[0])) == (*st["agent_pos"].tolist(), st["agent_dir"])


def _features(task_id: str, grid: np.ndarray, ax: int, ay: int, d: int) -> dict[str, Any]:
    """Categorical layout features whose histograms are compared."""
    doors = _objects(grid, C.DOOR)
    locked = [x for x in doors if x[2] >> 7 == C.LOCKED]
    keys, balls = _objects(grid, C.KEY), _objects(grid, C.BALL)
    f: dict[str, Any] = {"agent": (ax, ay, d)}
    if task_id.startswith("MiniGrid-DoorKey"):
        f.update(door=locked[0][:2], key=keys[0][:2], agent_cell=(ax, ay), dir=d)
    elif task_id.startswith("MiniGrid-KeyCorridor"):
        closed = tuple(sorted(x[:2] for x in doors if x[2] >> 7 == C.CLOSED))
        f.update(
            locked=locked[0][:2],
            key=keys[0][:2],
            locked_color=locked[0][2] >> 4 & 7,
            ball_color=balls[0][2] >> 4 & 7,
            closed_doors=closed,
            closed_colors=tuple(sorted(x[2] >> 4 & 7 for x in doors if x[2] >> 7 == C.CLOSED)),
        )
    elif task_id == "MiniGrid-LavaGapS5-v0":
        f.update(gap=tuple(int(v) for v in np.argwhere((grid[2] & 15) == C.EMPTY)[:, 0]))
    return f


def _chi2_ok(ref: Counter[Any], probs: dict[Any, float], n: int) -> tuple[bool, float, float]:
    """Goodness of fit of ``ref`` (n draws) to ``probs``: bins with expected count < 5 pooled;
    critical value at p = 1e-3 (Wilson-Hilferty)."""
    bins, pooled_exp, pooled_obs = [], 0.0, 0
    for key, p in probs.items():
        if n * p >= 5:
            bins.append((ref.get(key, 0), n * p))
        else:
            pooled_exp += n * p
            pooled_obs += ref.get(key, 0)
    pooled_obs += sum(v for key, v in ref.items() if key not in probs)
    if pooled_exp > 0 or pooled_obs:
        bins.append((pooled_obs, max(pooled_exp, 1e-9)))
    df = len(bins) - 1
    if df < 1:
        return True, 0.0, 0.0
    stat = sum((o - e) ** 2 / e for o, e in bins)
    z = 3.09
    crit = df * (1 - 2 / (9 * df) + z * np.sqrt(2 / (9 * df))) ** 3
    return stat <= crit, stat, crit


@pytest.mark.parametrize(
    "task_id",
    [
        "MiniGrid-DoorKey-5x5-v0",
        "MiniGrid-DoorKey-8x8-v0",
        "MiniGrid-KeyCorridorS3R1-v0",
        "MiniGrid-KeyCorridorS3R2-v0",
        "MiniGrid-LavaGapS5-v0",
    ],
)
def test_layout_distribution_matches_minigrid(task_id):
    n_ref, n_ours = 400, 40_000
    lay = GRID_CLASSES[task_id].level_generator()(np.random.default_rng(123), n_ours)
    ours = [_features(task_id, lay.grid[i], int(lay.ax[i]), int(lay.ay[i]), int(lay.dir[i])) for i in range(n_ours)]
    ref_env = gym.make(task_id).unwrapped
    theirs = []
    for seed in range(n_ref):
        ref_env.reset(seed=seed)
        st = minigrid_state(ref_env)
        theirs.append(_features(task_id, C.pack(st["grid"]), *st["agent_pos"].tolist(), st["agent_dir"]))
    for name in ours[0]:
        counts = Counter(f[name] for f in ours)
        probs = {key: c / n_ours for key, c in counts.items()}
        ref_counts = Counter(f[name] for f in theirs)
        assert set(ref_counts) <= set(probs), f"{task_id} {name}: minigrid makes layouts we never do"
        ok, stat, crit = _chi2_ok(ref_counts, probs, n_ref)
        assert ok, f"{task_id} {name}: chi2 {stat:.1f} > {crit:.1f}"


@pytest.mark.parametrize("vec", ["batched", "torch"])
def test_lab_rewards_and_fitness_run_on_the_batched_grid(vec):
    from rewardlab.rewards.registry import resolve_reward
    from rewardlab.wrappers import make_vector_env

    task = get_task("MiniGrid-DoorKey-5x5-v0")
    env = make_vector_env(task, 32, resolve_reward("hand", task), vec=vec, device="cpu")
    env.reset(seed=0)
    rng, episodes = np.random.default_rng(0), []
    for _ in range(300):
        a = rng.integers(0, 7, 32)
        _, _, _, _, info = env.step(torch.as_tensor(a) if vec == "torch" else a)
        episodes += env.accountant.pop_episodes()
    assert {"goal", "progress", "picked_key", "opened_door", "time"} <= set(info["reward_components"])
    fitness = np.concatenate([e.fitness for e in episodes])
    assert fitness.size and set(np.unique(fitness)) <= {0.0, 1.0}
    # fitness (reached the goal) agrees with the env's own reward being paid
    env_return = np.concatenate([e.env_return for e in episodes])
    np.testing.assert_array_equal(fitness == 1.0, env_return > 0)
