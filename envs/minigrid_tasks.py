"""MiniGrid tasks: Empty-8x8, DoorKey-5x5/8x8, KeyCorridorS3R1/S3R2, MultiRoom-N2-S4/N4-S5, LavaGapS5.

Observation (what the policy sees): MiniGrid's Dict observation flattened by
:class:`FlatMiniGridObs` into a ``float32`` vector of 151 entries in ``[0, 1]``:

- ``obs[0:147]``: the 7x7x3 egocentric view, ``index = (x * 7 + y) * 3 + channel`` where ``x`` is
  the view column (0 = far left of the agent, 6 = far right), ``y`` the view row (0 = farthest
  ahead, 6 = the agent's own row). The agent sits at ``x = 3, y = 6`` looking towards ``y = 0``,
  so the cell straight ahead is ``x = 3, y = 5``. Channels are object id / 10, colour id / 5 and
  state id / 2 (the id tables are in :data:`ID_TABLES`; unseen cells behind walls are object 0).
- ``obs[147:151]``: one-hot of the agent's heading (0 = +x/right, 1 = +y/down, 2 = -x/left,
  3 = -y/up, in grid coordinates).

The mission string is left out: each task has one mission, stated in its description.

Privileged state (what rewards and fitness read, never the policy): :class:`MiniGridInfo` puts
scalar fields read from ``env.unwrapped`` into ``info`` on reset and on every step. Grid
coordinates are cells, ``x`` right and ``y`` down, with the outer wall at 0.

- ``agent_x``, ``agent_y``, ``agent_dir``: agent cell and heading (0..3 as above).
- ``carrying_key``: 1 while the agent holds a key.
- ``door_open``: 1 when the door that blocks the way is open: the locked door where there is one
  (DoorKey, KeyCorridor), otherwise the only door (MultiRoom-N2). Tasks without a door report 1,
  so "the door is open" never blocks anything there.
- ``goal_x``, ``goal_y``: the green goal square; in KeyCorridor (whose mission is to pick up a
  ball) the ball's starting cell. Found once per episode, after reset.
- ``dist_to_goal``: Manhattan distance from the agent to the goal cell (0 once ``at_goal``).
- ``at_goal``: 1 on the step the agent enters the goal square (KeyCorridor: holds the ball).
- ``in_lava`` (LavaGap): 1 when the agent stepped into lava (the episode ends).
- ``key_x``, ``key_y`` (tasks with a key): the key's cell; the agent's cell while it is carried.
- ``door_x``, ``door_y`` (tasks with a door): the door's cell.

Every field is a Python ``int``, so gymnasium's vector envs stack each into an array ``(n,)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX, STATE_TO_IDX

from envs.registry import Fitness, HandReward, ObsField, Task, register_task
from envs.wrappers import InfoFields

VIEW = 7
IMAGE_DIMS = VIEW * VIEW * 3
OBS_DIMS = IMAGE_DIMS + 4
MAX_OBJECT = max(OBJECT_TO_IDX.values())
MAX_COLOR = max(COLOR_TO_IDX.values())
MAX_STATE = max(STATE_TO_IDX.values())
_SCALE = np.array([MAX_OBJECT, MAX_COLOR, MAX_STATE], dtype=np.float32)

ID_TABLES = (
    "object ids: "
    + ", ".join(f"{v} = {k}" for k, v in OBJECT_TO_IDX.items())
    + "; colour ids: "
    + ", ".join(f"{v} = {k}" for k, v in COLOR_TO_IDX.items())
    + "; state ids (doors; 0 for everything else): "
    + ", ".join(f"{v} = {k}" for k, v in STATE_TO_IDX.items())
)
"""minigrid.core.constants' index tables, as one line for prompts."""

BASE_INFO_KEYS = (
    "agent_x", "agent_y", "agent_dir", "carrying_key", "door_open",
    "goal_x", "goal_y", "dist_to_goal", "at_goal",
)  # fmt: skip
ALL_INFO_KEYS = (*BASE_INFO_KEYS, "in_lava", "key_x", "key_y", "door_x", "door_y")


class FlatMiniGridObs(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """MiniGrid's Dict obs -> ``float32`` vector ``(151,)`` in ``[0, 1]`` (see the module docstring)."""

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (OBS_DIMS,), np.float32)

    def observation(self, observation: Mapping[str, Any]) -> np.ndarray:
        out = np.zeros(OBS_DIMS, dtype=np.float32)
        out[:IMAGE_DIMS] = (np.asarray(observation["image"], dtype=np.float32) / _SCALE).reshape(-1)
        out[IMAGE_DIMS + int(observation["direction"])] = 1.0
        return out


class MiniGridInfo(InfoFields, gym.utils.RecordConstructorArgs):
    """:class:`~envs.wrappers.InfoFields` with MiniGrid's privileged state (module docstring).

    The goal, key, door and target object are located once per episode, on the first call
    after reset, and cached; every later call reads only the agent and the cached objects.

    :param keys: the fields to report (the task's ``info_keys``).
    :param target: ``"goal"`` (success = stand on the green goal) or ``"object"`` (success =
        hold ``env.unwrapped.obj``, the object the mission names, as in KeyCorridor).
    """

    def __init__(self, env: gym.Env, keys: tuple[str, ...], target: str = "goal") -> None:
        gym.utils.RecordConstructorArgs.__init__(self, keys=tuple(keys), target=target)
        if target not in ("goal", "object"):
            raise ValueError(f"target must be 'goal' or 'object', got {target!r}")
        unknown = set(keys) - set(ALL_INFO_KEYS)
        if unknown:
            raise ValueError(f"unknown MiniGrid info fields {sorted(unknown)}; known: {ALL_INFO_KEYS}")
        self.keys, self.target = tuple(keys), target
        self._scene: dict[str, Any] | None = None
        InfoFields.__init__(self, env, self._read)

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self._scene = None  # the grid is regenerated on reset
        return super().reset(**kwargs)

    def _locate(self, u: Any) -> dict[str, Any]:
        grid = u.grid
        goal: tuple[int, ...] | None = None
        key: tuple[Any, tuple[int, int]] | None = None
        doors: list[tuple[Any, tuple[int, int]]] = []
        for i, obj in enumerate(grid.grid):
            if obj is None:
                continue
            pos = (i % grid.width, i // grid.width)
            if obj.type == "goal" and goal is None:
                goal = pos
            elif obj.type == "key" and key is None:
                key = (obj, pos)
            elif obj.type == "door":
                doors.append((obj, pos))
        target_obj = None
        if self.target == "object":
            target_obj = u.obj
            goal = tuple(int(c) for c in target_obj.cur_pos)
        if goal is None:
            raise RuntimeError(f"{u.spec.id if u.spec else type(u).__name__}: no goal square in the grid")
        locked = [d for d in doors if d[0].is_locked]
        door = locked[0] if locked else (doors[0] if doors else None)
        return {"goal": goal, "key": key, "door": door, "target": target_obj}

    def _read(self, u: Any) -> dict[str, int]:
        if self._scene is None:
            self._scene = self._locate(u)
        scene = self._scene
        ax, ay = int(u.agent_pos[0]), int(u.agent_pos[1])
        gx, gy = scene["goal"]
        carrying = u.carrying
        if self.target == "object":
            at_goal = carrying is not None and carrying is scene["target"]
        else:
            at_goal = (ax, ay) == (gx, gy)
        fields = {
            "agent_x": ax,
            "agent_y": ay,
            "agent_dir": int(u.agent_dir),
            "carrying_key": int(carrying is not None and carrying.type == "key"),
            "door_open": 1 if scene["door"] is None else int(scene["door"][0].is_open),
            "goal_x": gx,
            "goal_y": gy,
            "dist_to_goal": 0 if at_goal else abs(ax - gx) + abs(ay - gy),
            "at_goal": int(at_goal),
        }
        if "in_lava" in self.keys:
            cell = u.grid.get(ax, ay)
            fields["in_lava"] = int(cell is not None and cell.type == "lava")
        if "key_x" in self.keys:
            if scene["key"] is None:
                raise RuntimeError("task declares key_x/key_y but its grid has no key")
            key, start = scene["key"]
            if carrying is key:
                fields["key_x"], fields["key_y"] = ax, ay
            else:
                pos = key.cur_pos if key.cur_pos is not None else start
                fields["key_x"], fields["key_y"] = int(pos[0]), int(pos[1])
        if "door_x" in self.keys:
            if scene["door"] is None:
                raise RuntimeError("task declares door_x/door_y but its grid has no door")
            fields["door_x"], fields["door_y"] = scene["door"][1]
        return {k: fields[k] for k in self.keys}


# -- observation schema and state view --------------------------------------------------------

OBS_SCHEMA = (
    ObsField(
        "image",
        (0, IMAGE_DIMS),
        "scaled ids",
        "7x7x3 egocentric view, index = (x*7 + y)*3 + channel; x = view column (0 far left .. 6 far "
        "right), y = view row (0 farthest ahead .. 6 the agent's row); the agent is at x=3, y=6 facing "
        "y=0, so the cell ahead is x=3, y=5. Channel 0 = object id / 10, 1 = colour id / 5, "
        f"2 = state id / 2; {ID_TABLES}. Cells hidden behind walls read as object 0 (unseen).",
        0.0,
        1.0,
    ),
    ObsField(
        "direction_onehot",
        (IMAGE_DIMS, OBS_DIMS),
        "one-hot",
        "agent heading in the grid: 0 = right (+x), 1 = down (+y), 2 = left (-x), 3 = up (-y)",
        0.0,
        1.0,
    ),
)

UNITS = {
    "image": "ids",
    "direction": "0..3",
    "front_object": "id",
    "front_color": "id",
    "front_state": "id",
    "agent_x": "cells",
    "agent_y": "cells",
    "agent_dir": "0..3",
    "carrying_key": "0/1",
    "door_open": "0/1",
    "goal_x": "cells",
    "goal_y": "cells",
    "dist_to_goal": "cells",
    "at_goal": "0/1",
    "in_lava": "0/1",
    "key_x": "cells",
    "key_y": "cells",
    "door_x": "cells",
    "door_y": "cells",
    "dist_to_key": "cells",
    "dist_to_door": "cells",
    "stage": "stages",
    "stages_left": "stages",
    "dist_to_subgoal": "cells",
    "step": "steps",
}


def minigrid_view(obs: Any, info: Mapping[str, Any]) -> dict[str, Any]:
    """Fields of a batch: obs ``(n, 151)`` and info arrays ``(n,)`` -> named arrays ``(n, ...)``.

    From the obs: ``image`` ``(n, 7, 7, 3)`` integer ids indexed ``[x, y, channel]``,
    ``direction`` ``(n,)``, and ``front_object``/``front_color``/``front_state`` (the cell ahead).
    From ``info`` (when present): the privileged fields as ``float64``, plus derived
    ``dist_to_key``, ``dist_to_door``, and the subgoal chain ``stage`` / ``stages_left`` /
    ``dist_to_subgoal``: with a key, key (stage 0) -> locked door (1) -> goal (2); with only a
    door, door (0) -> goal (1); otherwise the goal alone (stage 0).
    """
    obs = np.asarray(obs)
    ids = np.rint(obs[:, :IMAGE_DIMS].reshape(-1, VIEW, VIEW, 3) * _SCALE).astype(np.int64)
    out: dict[str, Any] = {
        "image": ids,
        "direction": np.argmax(obs[:, IMAGE_DIMS:OBS_DIMS], axis=1),
        "front_object": ids[:, VIEW // 2, VIEW - 2, 0],
        "front_color": ids[:, VIEW // 2, VIEW - 2, 1],
        "front_state": ids[:, VIEW // 2, VIEW - 2, 2],
    }
    for k in ALL_INFO_KEYS:
        if k in info:
            out[k] = np.asarray(info[k], dtype=np.float64)
    if "agent_x" not in out or "dist_to_goal" not in out:
        return out
    ax, ay = out["agent_x"], out["agent_y"]
    subgoal = out["dist_to_goal"]
    if "key_x" in out:
        out["dist_to_key"] = np.abs(ax - out["key_x"]) + np.abs(ay - out["key_y"])
    if "door_x" in out:
        out["dist_to_door"] = np.abs(ax - out["door_x"]) + np.abs(ay - out["door_y"])
    if "dist_to_key" in out and "dist_to_door" in out:
        has_key = np.maximum(out["carrying_key"], out["door_open"])  # stays 1 once the door is open
        stage = has_key + out["door_open"]
        out["stages_left"] = 2.0 - stage
        subgoal = np.select([stage == 0, stage == 1], [out["dist_to_key"], out["dist_to_door"]], subgoal)
    elif "dist_to_door" in out:
        stage = out["door_open"].copy()
        out["stages_left"] = 1.0 - stage
        subgoal = np.where(stage == 0, out["dist_to_door"], subgoal)
    else:
        stage = np.zeros_like(subgoal)
        out["stages_left"] = np.zeros_like(subgoal)
    out["stage"] = stage
    out["dist_to_subgoal"] = subgoal
    return out


# -- fitness and rewards --------------------------------------------------------------------


def _at_goal(s: Any) -> Any:
    return s.at_goal.astype(np.float64)


FITNESS = Fitness(_at_goal, "max", 1.0, "reached (0/1)", "reached the goal (KeyCorridor: picked up the ball)")


def _potential(dist_scale: float, n_stages: int) -> Any:
    """phi = -(subgoal stages left + min(dist_to_subgoal / dist_scale, 1)) / (n_stages + 1), in [-1, 0].

    Each finished stage is worth more than any distance within a stage, so phi rises on
    picking up the key and on opening the door; phi <= 0 keeps the last step onto the goal
    (where phi(terminal) = 0) rewarding. Keeping |phi| <= 1 keeps the per-step drift
    ``(gamma - 1) * phi`` below 0.01: on DoorKey-8x8 (PPO, 1 seed) the same potential spread
    over [-3, 0] reached the goal in 30% of episodes after 250k steps, this one in 100%.
    """

    def phi(s: Any) -> Any:
        return -(s.stages_left + np.minimum(s.dist_to_subgoal / dist_scale, 1.0)) / (n_stages + 1)

    return phi


def _hand(max_steps: int, *, key: bool = False, door: bool = False, lava: bool = False) -> Any:
    """Goal bonus, progress towards the current subgoal, key/door milestones, lava, time cost.

    Milestones are differences of 0/1 flags (``+0.2`` on gaining, ``-0.2`` on losing), so
    dropping and re-taking the key or closing and re-opening the door earns nothing.
    """

    def components(s: Any) -> dict[str, Any]:
        same_stage = s.stage == s.prev.stage  # a new subgoal makes the distance jump
        comps = {
            "goal": s.at_goal.astype(np.float64),
            "progress": np.where(same_stage, 0.05 * (s.prev.dist_to_subgoal - s.dist_to_subgoal), 0.0),
            "time": np.full(s.at_goal.shape, -0.5 / max_steps),
        }
        if key:
            has_key = np.maximum(s.carrying_key, s.door_open)
            prev_has_key = np.maximum(s.prev.carrying_key, s.prev.door_open)
            comps["picked_key"] = 0.2 * (has_key - prev_has_key)
        if door:
            comps["opened_door"] = 0.2 * (s.door_open - s.prev.door_open)
        if lava:
            comps["lava"] = -1.0 * s.in_lava
        return comps

    return components


def _make(task_id: str, info_keys: tuple[str, ...], target: str) -> Any:
    def make_env(**kw: Any) -> gym.Env:
        env = gym.make(task_id, **kw)
        return MiniGridInfo(FlatMiniGridObs(env), keys=info_keys, target=target)

    return make_env


ACTION_DOC = (
    "Discrete(7): 0 = turn left, 1 = turn right, 2 = move forward, 3 = pick up the object ahead, "
    "4 = drop the carried object ahead, 5 = toggle (open/close/unlock) the door ahead, 6 = done (no-op)."
)


def _task(
    task_id: str,
    description: str,
    *,
    max_steps: int,
    dist_scale: float,
    budgets: Mapping[str, int],
    key: bool = False,
    door: bool = False,
    lava: bool = False,
    target: str = "goal",
) -> Task:
    info_keys: tuple[str, ...] = BASE_INFO_KEYS
    if lava:
        info_keys += ("in_lava",)
    if key:
        info_keys += ("key_x", "key_y")
    if door:
        info_keys += ("door_x", "door_y")
    goal_word = "picking up the ball" if target == "object" else "reaching the goal"
    stages = "key -> door -> goal" if key else ("door -> goal" if door else "goal")
    n_stages = stages.count("->")
    return Task(
        id=task_id,
        family="minigrid",
        make_env=_make(task_id, info_keys, target),
        description=description,
        action_doc=ACTION_DOC,
        obs_schema=OBS_SCHEMA,
        view=minigrid_view,
        units=UNITS,
        fitness=FITNESS,
        rewards={
            "sparse": HandReward(f"1 on {goal_word}, else 0", components=lambda s: {"goal": _at_goal(s)}),
            "hand": HandReward(
                "goal bonus + progress towards the current subgoal + "
                + ("key/door milestones + " if key else ("door milestone + " if door else ""))
                + ("lava penalty + " if lava else "")
                + "small time cost",
                components=_hand(max_steps, key=key, door=door, lava=lava),
            ),
            "potential": HandReward(
                f"sparse shaped with phi = -(subgoal stages left + distance to the current subgoal "
                f"({stages}) / {dist_scale:g}) / {n_stages + 1}, in [-1, 0]",
                potential=_potential(dist_scale, n_stages),
                base="sparse",
            ),
        },
        has_env_reward=True,
        info_keys=info_keys,
        budgets=budgets,
        max_episode_steps=max_steps,
    )


EMPTY_8X8 = _task(
    "MiniGrid-Empty-8x8-v0",
    "An 8x8 room (6x6 free cells inside the walls) with no obstacles. The agent starts in the top-left "
    "corner and must get to the green goal square in the bottom-right corner. MiniGrid's own reward is "
    "1 - 0.9 * steps / 256 on reaching the goal.",
    max_steps=256,
    dist_scale=12,
    budgets={"default": 50_000, "ppo": 50_000, "a2c": 100_000, "dqn": 100_000},
)

DOORKEY_5X5 = _task(
    "MiniGrid-DoorKey-5x5-v0",
    "A 5x5 grid split by a wall with a locked yellow door. The agent must pick up the key on its side, "
    "use it on the door (toggle while facing the door, holding the key), then walk to the green goal "
    "square. MiniGrid's own reward is 1 - 0.9 * steps / 250 on reaching the goal.",
    max_steps=250,
    dist_scale=6,
    budgets={"default": 150_000, "ppo": 150_000, "a2c": 300_000, "dqn": 300_000},
    key=True,
    door=True,
)

DOORKEY_8X8 = _task(
    "MiniGrid-DoorKey-8x8-v0",
    "An 8x8 grid split by a wall with a locked door. The agent must pick up the key on its side, use it "
    "on the door (toggle while facing the door, holding the key), then walk to the green goal square. "
    "MiniGrid's own reward is 1 - 0.9 * steps / 640 on reaching the goal.",
    max_steps=640,
    dist_scale=12,
    budgets={"default": 1_000_000, "ppo": 1_000_000, "a2c": 2_000_000, "dqn": 2_000_000},
    key=True,
    door=True,
)

KEYCORRIDOR_S3R1 = _task(
    "MiniGrid-KeyCorridorS3R1-v0",
    "Three one-cell rooms in a row: the agent starts in the middle one. The left room, behind a closed "
    "door, holds a key; the right room, behind a door locked in the key's colour, holds a ball. The agent "
    "must fetch the key, unlock the door, drop the key (it can carry one object) and pick up the ball. "
    "Here 'goal' means the ball: goal_x/goal_y is its cell and at_goal is 1 once the agent holds it; "
    "door_open is the locked door. MiniGrid's own reward is 1 - 0.9 * steps / 270 on picking up the ball.",
    max_steps=270,
    dist_scale=6,
    budgets={"default": 300_000, "ppo": 300_000, "a2c": 600_000, "dqn": 600_000},
    key=True,
    door=True,
    target="object",
)

MULTIROOM_N2_S4 = _task(
    "MiniGrid-MultiRoom-N2-S4-v0",
    "Two rooms of 2x2 free cells (4x4 with their walls) joined by a closed, unlocked door, placed at "
    "random in a 25x25 grid. The agent starts in the first room and must open the door (toggle while facing "
    "it) and reach the green goal square in the second room within 40 steps. MiniGrid's own reward is "
    "1 - 0.9 * steps / 40 on reaching the goal.",
    max_steps=40,
    dist_scale=10,
    budgets={"default": 200_000, "ppo": 200_000, "a2c": 400_000, "dqn": 400_000},
    door=True,
)

KEYCORRIDOR_S3R2 = _task(
    "MiniGrid-KeyCorridorS3R2-v0",
    "A 7x5 grid: a corridor of two cells down the middle, where the agent starts, with two rows of one-cell "
    "rooms on each side behind closed doors. One side room holds a key; another, behind a door locked in the "
    "key's colour, holds a ball. The agent must find the key, unlock the door, drop the key (it can carry one object) and "
    "pick up the ball. Here 'goal' means the ball: goal_x/goal_y is its cell and at_goal is 1 once the agent "
    "holds it; door_open is the locked door. MiniGrid's own reward is 1 - 0.9 * steps / 270 on picking up "
    "the ball.",
    max_steps=270,
    dist_scale=8,
    budgets={"default": 2_000_000, "ppo": 2_000_000, "a2c": 4_000_000, "dqn": 4_000_000},
    key=True,
    door=True,
    target="object",
)

MULTIROOM_N4_S5 = _task(
    "MiniGrid-MultiRoom-N4-S5-v0",
    "A chain of six rooms of up to 3x3 free cells (5x5 with their walls; the installed minigrid's legacy "
    "id, -v1 has four) joined by closed, unlocked doors, placed at random in a 25x25 grid. The agent starts "
    "in the first room and must open each door in turn (toggle while facing it) and reach the green goal "
    "square in the last room within 120 steps. No door is a subgoal here (there are five): the shaping "
    "reads the distance to the goal. MiniGrid's own reward is 1 - 0.9 * steps / 120 on reaching the goal.",
    max_steps=120,
    dist_scale=24,
    budgets={"default": 2_000_000, "ppo": 2_000_000, "a2c": 4_000_000, "dqn": 4_000_000},
)

LAVAGAP_S5 = _task(
    "MiniGrid-LavaGapS5-v0",
    "A 5x5 grid (3x3 free cells) crossed by a vertical strip of lava with a single gap. The agent starts "
    "in the top-left corner and must cross through the gap to the green goal square in the bottom-right "
    "corner; stepping into lava ends the episode with no reward. MiniGrid's own reward is "
    "1 - 0.9 * steps / 100 on reaching the goal.",
    max_steps=100,
    dist_scale=6,
    budgets={"default": 150_000, "ppo": 150_000, "a2c": 300_000, "dqn": 300_000},
    lava=True,
)

TASKS = (
    EMPTY_8X8,
    DOORKEY_5X5,
    DOORKEY_8X8,
    KEYCORRIDOR_S3R1,
    KEYCORRIDOR_S3R2,
    MULTIROOM_N2_S4,
    MULTIROOM_N4_S5,
    LAVAGAP_S5,
)

for _t in TASKS:
    register_task(_t)
