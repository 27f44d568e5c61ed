"""MultiRoom levels, one at a time: a port of minigrid's ``MultiRoomEnv._gen_grid``.

Room placement is a recursive search with rejection (a chain of rooms, each entered through a
door in the previous room's wall, retried from a fresh entry point until the chain is long
enough), which does not vectorise well; this routine builds one level in plain Python and the
batched env draws from a pool of them. It makes minigrid's random draws in minigrid's order, so
``multiroom_level(np.random.default_rng(s), ...)`` is the level ``MultiRoomEnv.reset(seed=s)``
builds (``tests/test_batched_grid.py`` checks this).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.batched.grid.codes import CLOSED, COLOR_NAMES, DOOR, EMPTY, GOAL_CODE, WALL, code, color_idx
from envs.batched.grid.levels import Generator, Layout


@dataclass
class _Room:
    top: tuple[int, int]
    size: tuple[int, int]
    entry: tuple[int, int]


def multiroom_level(
    rng: np.random.Generator, min_rooms: int, max_rooms: int, max_size: int, width: int = 25, height: int = 25
) -> tuple[np.ndarray, int, int, int]:
    """One level: ``(grid (W, H) codes, agent x, agent y, agent heading)``."""

    def rand(lo: int, hi: int) -> int:
        return int(rng.integers(lo, hi))

    def place_room(num_left: int, rooms: list[_Room], wall: int, entry: tuple[int, int]) -> bool:
        sx, sy = rand(4, max_size + 1), rand(4, max_size + 1)
        if not rooms:
            tx, ty = entry
        elif wall == 0:
            tx, ty = entry[0] - sx + 1, rand(entry[1] - sy + 2, entry[1])
        elif wall == 1:
            tx, ty = rand(entry[0] - sx + 2, entry[0]), entry[1] - sy + 1
        elif wall == 2:
            tx, ty = entry[0], rand(entry[1] - sy + 2, entry[1])
        else:
            tx, ty = rand(entry[0] - sx + 2, entry[0]), entry[1]
        if tx < 0 or ty < 0 or tx + sx > width or ty + sy >= height:
            return False
        for r in rooms[:-1]:
            apart = tx + sx < r.top[0] or r.top[0] + r.size[0] <= tx or ty + sy < r.top[1] or r.top[1] + r.size[1] <= ty
            if not apart:
                return False
        rooms.append(_Room((tx, ty), (sx, sy), entry))
        if num_left == 1:
            return True
        for _ in range(8):
            walls = sorted({0, 1, 2, 3} - {wall})
            exit_wall = walls[rand(0, len(walls))]
            if exit_wall == 0:
                exit_pos = (tx + sx - 1, ty + rand(1, sy - 1))
            elif exit_wall == 1:
                exit_pos = (tx + rand(1, sx - 1), ty + sy - 1)
            elif exit_wall == 2:
                exit_pos = (tx, ty + rand(1, sy - 1))
            else:
                exit_pos = (tx + rand(1, sx - 1), ty)
            if place_room(num_left - 1, rooms, (exit_wall + 2) % 4, exit_pos):
                break
        return True  # minigrid keeps a room even when no next room fits after it

    num_rooms = rand(min_rooms, max_rooms + 1)
    rooms: list[_Room] = []
    while len(rooms) < num_rooms:
        attempt: list[_Room] = []
        entry = (rand(0, width - 2), rand(0, width - 2))
        place_room(num_rooms, attempt, 2, entry)
        if len(attempt) > len(rooms):
            rooms = attempt
    grid = np.full((width, height), EMPTY, dtype=np.int64)
    prev_color: str | None = None
    for idx, room in enumerate(rooms):
        (tx, ty), (sx, sy) = room.top, room.size
        grid[tx : tx + sx, ty] = WALL
        grid[tx : tx + sx, ty + sy - 1] = WALL
        grid[tx, ty : ty + sy] = WALL
        grid[tx + sx - 1, ty : ty + sy] = WALL
        if idx > 0:
            colors = sorted(set(COLOR_NAMES) - {prev_color} if prev_color else set(COLOR_NAMES))
            prev_color = colors[rand(0, len(colors))]
            grid[room.entry] = code(DOOR, color_idx(prev_color), CLOSED)

    def place(top: tuple[int, int], size: tuple[int, int], agent: tuple[int, int]) -> tuple[int, int]:
        x0, y0 = max(top[0], 0), max(top[1], 0)
        while True:
            pos = (rand(x0, min(x0 + size[0], width)), rand(y0, min(y0 + size[1], height)))
            if grid[pos] == EMPTY and pos != agent:
                return pos

    ax, ay = place(rooms[0].top, rooms[0].size, (-1, -1))
    agent_dir = rand(0, 4)
    grid[place(rooms[-1].top, rooms[-1].size, (ax, ay))] = GOAL_CODE
    return grid, ax, ay, agent_dir


def multi_room(min_rooms: int, max_rooms: int, max_size: int, width: int = 25, height: int = 25) -> Generator:
    """``MultiRoomEnv``'s layouts as a :data:`~envs.batched.grid.levels.Generator` (a loop over levels)."""

    def gen(rng: np.random.Generator, k: int) -> Layout:
        grid = np.empty((k, width, height), dtype=np.int64)
        ax, ay, d = (np.empty(k, dtype=np.int64) for _ in range(3))
        for i in range(k):
            grid[i], ax[i], ay[i], d[i] = multiroom_level(rng, min_rooms, max_rooms, max_size, width, height)
        return Layout(grid, ax, ay, d)

    return gen
