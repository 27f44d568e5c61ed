"""Level generators: minigrid's layout distributions, drawn for ``k`` levels at once.

Each generator takes a numpy ``Generator`` and ``k`` and returns a :class:`Layout` of ``k``
levels. The layouts follow the same distribution as minigrid's ``_gen_grid`` (the same
draws, rejection rules and placement order), not the same random stream: a uniform draw over
the cells a rejection loop would accept is made in one step over all ``k`` levels
(:func:`choice`). Empty, DoorKey, LavaGap and KeyCorridor are vectorised here; MultiRoom's
recursive room placement is a per-level routine (:mod:`envs.batched.grid.multiroom`) that the env
draws from a pool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from envs.batched.grid.codes import (
    BALL,
    CLOSED,
    COLOR_NAMES,
    DIR_VEC,
    DOOR,
    EMPTY,
    GOAL,
    GOAL_CODE,
    KEY,
    LAVA_CODE,
    LOCKED,
    OBJ_MASK,
    WALL,
    code,
    color_idx,
)


@dataclass
class Layout:
    """``k`` levels: ``grid`` ``(k, W, H)`` int64 cell codes (minigrid's ``grid.encode()`` packed,
    indexed ``[x, y]``), agent cell ``ax``, ``ay`` and heading ``dir`` ``(k,)``."""

    grid: np.ndarray
    ax: np.ndarray
    ay: np.ndarray
    dir: np.ndarray

    def __len__(self) -> int:
        return int(self.grid.shape[0])

    def take(self, idx: np.ndarray) -> Layout:
        return Layout(self.grid[idx], self.ax[idx], self.ay[idx], self.dir[idx])

    @staticmethod
    def concat(parts: list[Layout]) -> Layout:
        return Layout(
            np.concatenate([p.grid for p in parts]),
            np.concatenate([p.ax for p in parts]),
            np.concatenate([p.ay for p in parts]),
            np.concatenate([p.dir for p in parts]),
        )


Generator = Callable[[np.random.Generator, int], Layout]
"""``(rng, k) -> Layout``."""

_COLOR_CODES = np.array([color_idx(c) for c in COLOR_NAMES], dtype=np.int64)


def rand_color(rng: np.random.Generator, k: int) -> np.ndarray:
    """``(k,)`` colour ids, uniform over minigrid's ``COLOR_NAMES`` (``_rand_color``)."""
    return _COLOR_CODES[rng.integers(0, len(COLOR_NAMES), size=k)]


def choice(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """One uniformly drawn True entry per row of ``mask`` ``(k, ...)``, as flat indices into ``mask[0]``.

    This is the distribution of minigrid's rejection loops (``place_obj``, ``place_agent``):
    uniform proposals, retried until accepted, land uniformly on the accepted set.
    """
    k = mask.shape[0]
    flat = mask.reshape(k, -1)
    if not flat.any(axis=1).all():
        raise RuntimeError("a level has no free cell to place an object in")
    scores = np.where(flat, rng.random(flat.shape), -1.0)
    return np.asarray(scores.argmax(axis=1))


def walled(k: int, width: int, height: int) -> np.ndarray:
    """``(k, W, H)`` empty grids inside an outer wall (``grid.wall_rect(0, 0, W, H)``)."""
    g = np.full((k, width, height), EMPTY, dtype=np.int64)
    g[:, 0, :] = g[:, -1, :] = g[:, :, 0] = g[:, :, -1] = WALL
    return g


def _consts(k: int, x: int, y: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.full(k, x, dtype=np.int64), np.full(k, y, dtype=np.int64), np.full(k, d, dtype=np.int64)


def empty(size: int = 8) -> Generator:
    """``EmptyEnv(size)``: the agent at ``(1, 1)`` facing right, the goal in the far corner."""

    def gen(rng: np.random.Generator, k: int) -> Layout:
        g = walled(k, size, size)
        g[:, size - 2, size - 2] = GOAL_CODE
        return Layout(g, *_consts(k, 1, 1, 0))

    return gen


def door_key(size: int) -> Generator:
    """``DoorKeyEnv(size)``: a wall at a random column with a locked yellow door at a random row;
    the agent (random cell and heading) and the yellow key left of it, the goal in the corner."""

    def gen(rng: np.random.Generator, k: int) -> Layout:
        g = walled(k, size, size)
        rows = np.arange(k)
        g[:, size - 2, size - 2] = GOAL_CODE
        split = rng.integers(2, size - 2, size=k)
        x = np.arange(size)[None, :, None]
        g = np.where(x == split[:, None, None], WALL, g)
        left = (x < split[:, None, None]) & (g == EMPTY)
        pos = choice(rng, left)
        ax, ay = np.divmod(pos, size)
        agent_dir = rng.integers(0, 4, size=k)
        door_y = rng.integers(1, size - 2, size=k)
        g[rows, split, door_y] = code(DOOR, color_idx("yellow"), LOCKED)
        left[rows, ax, ay] = False
        kx, ky = np.divmod(choice(rng, left), size)
        g[rows, kx, ky] = code(KEY, color_idx("yellow"))
        return Layout(g, ax, ay, agent_dir)

    return gen


def lava_gap(size: int) -> Generator:
    """``LavaGapEnv(size)``: a column of lava at a random ``x`` with a gap at a random ``y``."""

    def gen(rng: np.random.Generator, k: int) -> Layout:
        g = walled(k, size, size)
        rows = np.arange(k)
        g[:, size - 2, size - 2] = GOAL_CODE
        gx = rng.integers(2, size - 2, size=k)
        gy = rng.integers(1, size - 1, size=k)
        for y in range(1, size - 1):
            g[rows, gx, y] = LAVA_CODE
        g[rows, gx, gy] = EMPTY
        return Layout(g, *_consts(k, 1, 1, 0))

    return gen


def _front_ok(g: np.ndarray) -> np.ndarray:
    """``(k, W, H, 4)``: the cell ahead in each heading is empty or a wall (RoomGrid.place_agent's test)."""
    k, w, h = g.shape
    padded = np.full((k, w + 2, h + 2), WALL, dtype=np.int64)
    padded[:, 1:-1, 1:-1] = g
    out = np.zeros((k, w, h, 4), dtype=bool)
    for d, (dx, dy) in enumerate(DIR_VEC):
        front = padded[:, 1 + dx : 1 + dx + w, 1 + dy : 1 + dy + h]
        out[..., d] = (front == EMPTY) | (front == WALL)
    return out


def key_corridor(num_rows: int, room_size: int = 3) -> Generator:
    """``KeyCorridorEnv(num_rows, room_size=3)``: a 3-column room grid whose middle column is a hallway.

    A door locked in a random colour leads from the hallway into a random right-hand room holding a
    ball of a random colour; a key of the door's colour lies in a random left-hand room; the agent
    starts in the middle room of the hallway (a random free cell and heading, never facing an
    object); then ``connect_all`` adds closed doors of random colours between random unlocked
    neighbours until every room is reachable.
    """
    if room_size != 3:
        raise ValueError("only room_size=3 (the S3 tasks) is implemented")
    cols, rows_n = 3, num_rows
    w, h = 2 * cols + 1, 2 * rows_n + 1
    mid = rows_n // 2

    def gen(rng: np.random.Generator, k: int) -> Layout:
        rows = np.arange(k)
        x, y = np.arange(w)[None, :, None], np.arange(h)[None, None, :]
        g = np.where((x % 2 == 1) & (y % 2 == 1), EMPTY, WALL) + np.zeros((k, 1, 1), dtype=np.int64)
        g[:, 3, 2 : h - 1 : 2] = EMPTY  # remove_wall: the middle column becomes a hallway
        room = rng.integers(0, rows_n, size=k)
        door_color = rand_color(rng, k)
        g[rows, 4, 2 * room + 1] = DOOR | door_color << 4 | LOCKED << 7
        g[rows, 5, 2 * room + 1] = BALL | rand_color(rng, k) << 4
        g[rows, 1, 2 * rng.integers(0, rows_n, size=k) + 1] = KEY | door_color << 4
        # place_agent(1, num_rows // 2): a free cell of the room's 3x3 rect, a heading facing no object
        in_rect = (x >= 2) & (x <= 4) & (y >= 2 * mid) & (y <= 2 * mid + 2)
        ok = (in_rect & (g == EMPTY))[..., None] & _front_ok(g)
        ax, rest = np.divmod(choice(rng, ok), h * 4)
        ay, agent_dir = np.divmod(rest, 4)
        _connect_all(rng, g, room)
        return Layout(g, ax, ay, agent_dir)

    def _connect_all(rng: np.random.Generator, g: np.ndarray, room: np.ndarray) -> None:
        k = g.shape[0]
        rows = np.arange(k)
        # hor[:, i, j]: a way between rooms (i, j) and (i+1, j); ver[:, i, j]: between (i, j) and (i, j+1)
        hor = np.zeros((k, cols - 1, rows_n), dtype=bool)
        ver = np.zeros((k, cols, max(rows_n - 1, 0)), dtype=bool)
        ver[:, 1, :] = True
        hor[rows, 1, room] = True
        locked = np.zeros((k, cols, rows_n), dtype=bool)
        locked[rows, 2, room] = True
        for _ in range(5001):  # connect_all's max_itrs
            reach = np.zeros((k, cols, rows_n), dtype=bool)
            reach[:, 1, mid] = True
            for _ in range(cols * rows_n):
                grow = reach.copy()
                grow[:, 1:] |= reach[:, :-1] & hor
                grow[:, :-1] |= reach[:, 1:] & hor
                grow[:, :, 1:] |= reach[:, :, :-1] & ver
                grow[:, :, :-1] |= reach[:, :, 1:] & ver
                reach = grow
            todo = ~reach.reshape(k, -1).all(axis=1)
            if not todo.any():
                return
            i, j = rng.integers(0, cols, size=k), rng.integers(0, rows_n, size=k)
            side = rng.integers(0, 4, size=k)
            color = rand_color(rng, k)
            ni = np.clip(i + DIR_VEC[side, 0], 0, cols - 1)
            nj = np.clip(j + DIR_VEC[side, 1], 0, rows_n - 1)
            exists = (i + DIR_VEC[side, 0] == ni) & (j + DIR_VEC[side, 1] == nj)
            is_hor = side % 2 == 0
            ei = np.minimum(i, ni).clip(0, cols - 2)
            ej = np.minimum(j, nj).clip(0, max(rows_n - 2, 0))
            has = np.where(is_hor, hor[rows, ei, j], ver[rows, i, ej] if rows_n > 1 else True)
            add = todo & exists & ~has & ~locked[rows, i, j] & ~locked[rows, ni, nj]
            hor[rows, ei, j] |= add & is_hor
            if rows_n > 1:
                ver[rows, i, ej] |= add & ~is_hor
            # the new door sits between the two rooms: x = i + ni + 1 (odd walls), y = j + nj + 1
            dx, dy = i + ni + 1, j + nj + 1
            door = DOOR | color << 4 | CLOSED << 7
            g[rows, dx, dy] = np.where(add, door, g[rows, dx, dy])
        raise RuntimeError("connect_all failed")

    return gen


def locate(grid: np.ndarray, target: str = "goal") -> dict[str, np.ndarray]:
    """The objects :class:`envs.minigrid_tasks.MiniGridInfo` reads, found as it finds them.

    First hits in minigrid's row-major cell order (``y * W + x``): the goal (``target="object"``:
    the ball), the key, and the door that blocks the way -- the first locked door, else the first
    door. Returns ``(k,)`` int64 arrays ``gx, gy, kx, ky, door_x, door_y`` (``-1`` where absent)
    and ``target_color`` (the ball's colour id; ``-1`` for goal targets).
    """
    k, w, h = grid.shape
    order = (np.arange(h)[None, :] * w + np.arange(w)[:, None])[None]  # (1, W, H) row-major rank
    big = 2 * w * h
    obj = grid & OBJ_MASK

    def first(rank: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        flat = rank.reshape(k, -1)
        i = flat.argmin(axis=1)
        found = flat[np.arange(k), i] < big
        x, y = np.divmod(i, h)
        return np.where(found, x, -1), np.where(found, y, -1), found

    goal_obj = BALL if target == "object" else GOAL
    gx, gy, found = first(np.where(obj == goal_obj, order, big))
    if not found.all():
        raise RuntimeError(f"a level has no {'ball' if target == 'object' else 'goal square'}")
    kx, ky, _ = first(np.where(obj == KEY, order, big))
    is_door = obj == DOOR
    door_rank = np.where(is_door & (grid >> 7 == LOCKED), order, np.where(is_door, w * h + order, big))
    dx, dy, _ = first(door_rank)
    rows = np.arange(k)
    target_color = (grid[rows, gx, gy] >> 4) & 7 if target == "object" else np.full(k, -1)
    return {"gx": gx, "gy": gy, "kx": kx, "ky": ky, "door_x": dx, "door_y": dy, "target_color": target_color}
