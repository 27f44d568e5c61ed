"""Cell codes and lookup tables of the batched gridworld.

A cell is one integer, ``object | colour << 4 | state << 7``, packing minigrid's
``WorldObj.encode()`` triple (``OBJECT_TO_IDX``, ``COLOR_TO_IDX``, ``STATE_TO_IDX``), so
``minigrid``'s ``grid.encode()`` maps one to one onto a code array (an empty cell is
``(1, 0, 0)``, code 1; an unseen view cell is ``(0, 0, 0)``, code 0). Every per-cell property the
dynamics need (can the agent stand on it, see through it, pick it up) is a table indexed by code.

The egocentric view is laid out as minigrid's ``gen_obs`` returns it: view cell ``(vx, vy)``
(column, row; the agent at ``(3, 6)`` looking towards ``vy = 0``) is entry ``vx * 7 + vy``.
"""

from __future__ import annotations

import numpy as np
from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX, STATE_TO_IDX

VIEW = 7
VIEW_CELLS = VIEW * VIEW
AGENT_VIEW_CELL = (VIEW // 2) * VIEW + VIEW - 1
"""Index of the agent's own cell ``(3, 6)`` in the flattened view."""
PAD = VIEW - 1
"""Wall cells added around every grid, so a view never reads outside the array (minigrid's
``Grid.slice`` reads walls there too)."""

UNSEEN, EMPTY, WALL_OBJ, FLOOR, DOOR, KEY, BALL, BOX, GOAL, LAVA = (
    OBJECT_TO_IDX[k] for k in ("unseen", "empty", "wall", "floor", "door", "key", "ball", "box", "goal", "lava")
)
OPEN, CLOSED, LOCKED = STATE_TO_IDX["open"], STATE_TO_IDX["closed"], STATE_TO_IDX["locked"]
COLOR_NAMES = tuple(sorted(COLOR_TO_IDX))
"""minigrid's ``COLOR_NAMES`` (sorted), the order its generators draw colours in."""
NUM_CODES = 1 << 9


def code(obj: int, color: int = 0, state: int = 0) -> int:
    """The packed code of one cell."""
    return obj | color << 4 | state << 7


def color_idx(name: str) -> int:
    return COLOR_TO_IDX[name]


WALL = code(WALL_OBJ, COLOR_TO_IDX["grey"])
GOAL_CODE = code(GOAL, COLOR_TO_IDX["green"])
LAVA_CODE = code(LAVA, COLOR_TO_IDX["red"])
OBJ_MASK, CARRY_MASK = 15, 127
"""``code & OBJ_MASK`` is the object id; ``code & CARRY_MASK`` drops the state (what a carried
object keeps: keys, balls and boxes have state 0)."""


def pack(encoded: np.ndarray) -> np.ndarray:
    """``(..., 3)`` minigrid encodings -> ``(...)`` int64 codes."""
    e = np.asarray(encoded).astype(np.int64)
    return e[..., 0] | e[..., 1] << 4 | e[..., 2] << 7


def unpack(codes: np.ndarray) -> np.ndarray:
    """``(...)`` codes -> ``(...,  3)`` uint8 minigrid encodings."""
    c = np.asarray(codes).astype(np.int64)
    return np.stack([c & OBJ_MASK, (c >> 4) & 7, c >> 7], axis=-1).astype(np.uint8)


def _tables() -> dict[str, np.ndarray]:
    c = np.arange(NUM_CODES)
    obj, state = c & OBJ_MASK, c >> 7
    door_open = (obj == DOOR) & (state == OPEN)
    scale = np.array(
        [max(OBJECT_TO_IDX.values()), max(COLOR_TO_IDX.values()), max(STATE_TO_IDX.values())], dtype=np.float32
    )
    return {
        # WorldObj.can_overlap: empty, goal, floor, lava, open doors
        "overlap": np.isin(obj, (EMPTY, GOAL, FLOOR, LAVA)) | door_open,
        # WorldObj.see_behind: all but walls and closed or locked doors
        "transparent": ~((obj == WALL_OBJ) | ((obj == DOOR) & ~door_open)),
        "pickup": np.isin(obj, (KEY, BALL, BOX)),
        # FlatMiniGridObs: ids / max ids in float32 (division, as the wrapper does it)
        "obs": unpack(c).astype(np.float32) / scale,
    }


TABLES = _tables()
"""Per-code tables: ``overlap``, ``transparent``, ``pickup`` (bool ``(512,)``) and ``obs``
(float32 ``(512, 3)``, the scaled ids :class:`envs.minigrid_tasks.FlatMiniGridObs` feeds agents)."""

DIR_VEC = np.array([(1, 0), (0, 1), (-1, 0), (0, -1)], dtype=np.int64)
"""minigrid's ``DIR_TO_VEC``: 0 = +x, 1 = +y, 2 = -x, 3 = -y."""


def view_offsets() -> np.ndarray:
    """``(4, 49)`` world ``(dx, dy)`` of each view cell per heading, as ``(4, 49, 2)`` int64.

    Cell ``(vx, vy)`` lies ``6 - vy`` cells ahead and ``vx - 3`` to the right of the agent:
    minigrid's ``get_view_exts`` + ``slice`` + ``rotate_left`` (``agent_dir + 1`` times).
    """
    out = np.zeros((4, VIEW_CELLS, 2), dtype=np.int64)
    vx, vy = np.divmod(np.arange(VIEW_CELLS), VIEW)
    for d in range(4):
        f = DIR_VEC[d]
        r = np.array([-f[1], f[0]])
        out[d] = f[None] * (VIEW - 1 - vy)[:, None] + r[None] * (vx - VIEW // 2)[:, None]
    return out


def _row_tables() -> tuple[np.ndarray, np.ndarray]:
    """minigrid's ``Grid.process_vis`` for one view row, as two tables over ``mask | transparent << 7``.

    ``process_vis`` sweeps each row (from the agent's row up) left to right, then right to left:
    a visible, see-through cell makes its side neighbour visible and the two cells above it.
    A row is 7 bits, so the whole sweep is a lookup: ``ROW_MASK[key]`` is the row's final mask and
    ``ROW_UP[key]`` the mask it hands to the row above (which nothing else writes to).
    """
    keys = np.arange(1 << (2 * VIEW))
    m, t = keys & ((1 << VIEW) - 1), keys >> VIEW
    up = np.zeros_like(keys)
    for i in range(VIEW - 1):
        go = (m >> i) & (t >> i) & 1
        m = m | go << (i + 1)
        up = up | go << (i + 1) | go << i
    for i in range(VIEW - 1, 0, -1):
        go = (m >> i) & (t >> i) & 1
        m = m | go << (i - 1)
        up = up | go << (i - 1) | go << i
    return m, up


ROW_MASK, ROW_UP = _row_tables()
