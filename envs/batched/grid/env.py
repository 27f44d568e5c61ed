"""The batched gridworld: minigrid's mechanics as array programs over ``num_envs`` copies.

State (one row per env, numpy or torch): the grid of cell codes (:mod:`envs.batched.grid.codes`;
``(n, (W + 12) * (H + 12))``, padded with walls so a view never leaves the array), the agent's cell
and heading, the carried object's code (0 = nothing), and the objects the task's info fields
track (goal, key, door; located as :class:`envs.minigrid_tasks.MiniGridInfo` locates them).

``step`` applies minigrid's ``MiniGridEnv.step`` to every env with array operations (no loop
over envs): turn, move (walls and closed doors block; lava ends the episode with reward 0; the
goal ends it with ``1 - 0.9 * steps / max_steps``), pick up, drop, toggle (doors open and
close; a locked door opens for a key of its colour; a box becomes empty -- boxes' contents are
not modelled), done. KeyCorridor-style tasks (``target = "object"``) end with the same reward
when the agent picks up the ball. The observation is minigrid's ``gen_obs`` -- the 7x7x3 view,
occlusion (``Grid.process_vis``, as a per-row lookup), the carried object drawn at the agent's
cell -- flattened as :class:`~envs.minigrid_tasks.FlatMiniGridObs` flattens it, ``(n, 151)``
float32. ``max_episode_steps`` is minigrid's ``max_steps``: the reward's denominator and the
truncation step.

Vector API as :mod:`envs.batched.core`: ``AutoresetMode.SAME_STEP``, ``info["final_obs"]``
``(n, 151)`` and ``info["_final_obs"]``; plus the task's info fields as ``(n,)`` int64 arrays,
with their terminal values in ``info["final_info"]`` (full arrays; rows of unfinished envs
equal ``info``) and ``info["_final_info"]`` (the done mask).

New levels: with numpy, or torch on the CPU, the finished envs get levels drawn for them on the
host (vectorised generators; MultiRoom from a pool, see :attr:`BatchedGrid.pooled`). On an
accelerator every level comes from a pool of ``pool_size`` levels kept on the device (drawn
anew on every seeded reset), so ``step`` never waits for the host.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from envs.batched.core import BatchedEnv
from envs.batched.grid import codes as C
from envs.batched.grid.levels import Generator, Layout, locate
from envs.batched.grid.loading import minigrid_state

OBS_DIMS = C.VIEW_CELLS * 3 + 4
FIELDS = ("grid", "ax", "ay", "dir", "carry", "kx", "ky", "gx", "gy", "door_x", "door_y", "target_color")
"""Per-env state arrays (int64; numpy keeps the grid in int16): see :meth:`BatchedGrid.get_state`."""
BASE_INFO_KEYS = (
    "agent_x", "agent_y", "agent_dir", "carrying_key", "door_open",
    "goal_x", "goal_y", "dist_to_goal", "at_goal",
)  # fmt: skip


class BatchedGrid(BatchedEnv):
    """``num_envs`` copies of one MiniGrid task (see the module docstring).

    Subclasses set the geometry, the task's flags and :meth:`level_generator`.

    :param num_envs: number of copies ``n``.
    :param backend: ``"numpy"`` or ``"torch"``.
    :param device: torch device; torch only.
    :param dtype: accepted for the common batched-env signature; the grid has no float state.
    :param max_episode_steps: minigrid's ``max_steps`` (default: the task's).
    :param pool_size: levels in the pool (pooled tasks, and every task on an accelerator;
        default ``max(4096, num_envs)``).
    """

    width: ClassVar[int] = 0
    height: ClassVar[int] = 0
    see_through_walls: ClassVar[bool] = False
    target: ClassVar[str] = "goal"
    """``"goal"``: success is stepping onto the goal; ``"object"``: picking up the ball (KeyCorridor)."""
    info_keys: ClassVar[tuple[str, ...]] = BASE_INFO_KEYS
    pooled: ClassVar[bool] = False
    """Levels come from a pool of per-level draws (MultiRoom) rather than a vectorised generator."""
    same_episodes = True  # minigrid's step draws nothing; tests/test_batched_grid.py steps every task against it
    obs_dim = OBS_DIMS
    gym_single_observation_space = gym.spaces.Box(0.0, 1.0, (OBS_DIMS,), np.float32)
    gym_single_action_space = gym.spaces.Discrete(7)

    @classmethod
    def level_generator(cls) -> Generator:
        raise NotImplementedError

    def __init__(
        self,
        num_envs: int,
        backend: str = "numpy",
        device: str | Any | None = None,
        dtype: Any = None,
        max_episode_steps: int | None = None,
        pool_size: int | None = None,
    ) -> None:
        super().__init__(num_envs, backend=backend, device=device, dtype=dtype, max_episode_steps=max_episode_steps)
        self._generate = self.level_generator()
        self.pool_size = max(4096, self.num_envs) if pool_size is None else int(pool_size)
        if self.pool_size < 1:
            raise ValueError(f"pool_size must be positive, got {pool_size!r}")
        self._host_rng: np.random.Generator = self._rng if backend == "numpy" else np.random.default_rng()
        self._on_device = backend == "torch" and self._sync_free
        self._pool: dict[str, Any] | None = None
        self._hp = self.height + 2 * C.PAD
        self._s: dict[str, Any] = {}
        hp = self._hp
        view = C.view_offsets()
        t = C.TABLES
        view = view.reshape(4, C.VIEW, C.VIEW, 2).transpose(0, 2, 1, 3).reshape(4, C.VIEW_CELLS, 2)  # [vy, vx]
        self._view = self._arr(view[..., 0] * hp + view[..., 1])
        self._dflat = self._arr(C.DIR_VEC[:, 0] * hp + C.DIR_VEC[:, 1])
        self._dx, self._dy = self._arr(C.DIR_VEC[:, 0]), self._arr(C.DIR_VEC[:, 1])
        self._overlap, self._pickup = self._arr(t["overlap"]), self._arr(t["pickup"])
        self._transparent = self._arr(t["transparent"].astype(np.uint8 if backend == "numpy" else np.int64))
        self._obs_lut = self._arr(t["obs"])
        self._row_mask, self._row_up = self._arr(C.ROW_MASK), self._arr(C.ROW_UP)
        self._bits = self._arr(np.arange(C.VIEW, dtype=np.int64))
        self._weights = (1 << np.arange(C.VIEW)).astype(np.uint8)  # numpy: row bits by a uint8 matmul
        row_bits = (np.arange(1 << C.VIEW)[:, None] >> np.arange(C.VIEW)) & 1  # (128, vx): a row mask unpacked
        self._row_bits = self._arr(row_bits.astype(np.uint8 if backend == "numpy" else np.int64))
        self._onehot = self._arr(np.eye(4, dtype=np.float32))
        self._off = np.arange(self.num_envs)[:, None] * (self.width + 2 * C.PAD) * hp
        self._scratch = np.empty((self.num_envs, C.VIEW, C.VIEW, 3), np.float32)  # numpy's observation buffer
        # numpy keeps the grid in int16 (half the memory traffic of the gathers); torch indexes with int64
        self._grid_dtype = np.int16 if backend == "numpy" else np.int64

    def _reset_bounds(self, options: dict[str, Any] | None) -> tuple[Sequence[float], Sequence[float]]:
        return (), ()

    # -- backend helpers ---------------------------------------------------------------------

    def _arr(self, x: np.ndarray) -> Any:
        """A host array in the backend (on the env's device)."""
        if self.backend == "numpy":
            return x
        import torch

        return torch.from_numpy(np.ascontiguousarray(x)).to(self.device)

    def _host(self, x: Any) -> np.ndarray:
        return x if isinstance(x, np.ndarray) else x.cpu().numpy()

    def _int(self, x: Any) -> Any:
        return x.astype(np.int64) if self.backend == "numpy" else x.long()

    def _take(self, a: Any, idx: Any) -> Any:
        """``a[i, idx[i, j]]`` for ``a`` ``(k, L)``, ``idx`` ``(k, j)``: a gather along axis 1."""
        if self.backend == "numpy":
            k, length = a.shape
            off = self._off if k == self.num_envs else np.arange(k)[:, None] * length
            return np.take(a, idx + off)  # a flat take: several times faster than take_along_axis
        import torch

        return torch.gather(a, 1, idx)

    def _lookup(self, table: Any, idx: Any) -> Any:
        """``table[idx]`` for a 1-D table (``take``: faster than fancy indexing in both libraries)."""
        if self.backend == "numpy":
            return np.take(table, idx)
        import torch

        return torch.take(table, idx)

    def _copy(self, x: Any) -> Any:
        return x.copy() if self.backend == "numpy" else x.clone()

    # -- levels ------------------------------------------------------------------------------

    def layout_state(self, layout: Layout) -> dict[str, np.ndarray]:
        """Host state rows (:data:`FIELDS`) of freshly generated or loaded levels."""
        k, w, h = layout.grid.shape
        if (w, h) != (self.width, self.height):
            raise ValueError(f"{self.task_id}: levels must be {self.width}x{self.height}, got {w}x{h}")
        padded = np.full((k, w + 2 * C.PAD, h + 2 * C.PAD), C.WALL, dtype=np.int64)
        padded[:, C.PAD : C.PAD + w, C.PAD : C.PAD + h] = layout.grid
        scene = locate(layout.grid, self.target)
        return {
            "grid": padded.reshape(k, -1).astype(self._grid_dtype),
            "ax": layout.ax.astype(np.int64),
            "ay": layout.ay.astype(np.int64),
            "dir": layout.dir.astype(np.int64),
            "carry": np.zeros(k, dtype=np.int64),
            **scene,
        }

    def _refill_pool(self) -> None:
        pool = self.layout_state(self._generate(self._host_rng, self.pool_size))
        self._pool = {f: self._arr(v) for f, v in pool.items()} if self._on_device else pool

    def _fresh(self, k: int) -> dict[str, np.ndarray]:
        """``k`` new levels' state rows, on the host."""
        if self._pool is None:
            return self.layout_state(self._generate(self._host_rng, k))
        idx = self._host_rng.integers(0, self.pool_size, size=k)
        return {f: v[idx] for f, v in self._pool.items()}

    def _install(self, rows: Any, fresh: dict[str, np.ndarray]) -> None:
        for f in FIELDS:
            self._s[f][rows] = self._arr(fresh[f])

    def _draw_device_pool(self) -> dict[str, Any]:
        """One pool level per env (device pool): ``(n, ...)`` rows of every field."""
        import torch

        assert self._pool is not None
        r = torch.randint(0, self.pool_size, (self.num_envs,), generator=self._rng, device=self.device)
        return {f: self._pool[f][r] for f in FIELDS}

    # -- observation and info ----------------------------------------------------------------

    def _rows(self, rows: Any) -> dict[str, Any]:
        return self._s if rows is None else {f: v[rows] for f, v in self._s.items()}

    def _view_codes(self, s: dict[str, Any]) -> Any:
        """``(k, 7, 7)`` codes of the egocentric view indexed ``[vy, vx]`` (row-major, so each view
        row is contiguous): minigrid's ``gen_obs_grid`` + ``encode``."""
        d, k = s["dir"], s["dir"].shape[0]
        here = (s["ax"] + C.PAD) * self._hp + s["ay"] + C.PAD
        codes = self._take(s["grid"], here[:, None] + self._view[d]).reshape(k, C.VIEW, C.VIEW)
        if not self.see_through_walls:
            t = self._lookup(self._transparent, codes)  # (k, vy, vx) 0/1
            if self.backend == "numpy":
                tb = (t @ self._weights).astype(np.int64)
            else:
                tb = (t << self._bits).sum(2)  # (k, vy): bit vx set where see-through
            m = self.xp.where(d >= 0, 1 << (C.VIEW // 2), 0)  # row 6: the agent's own cell
            masks = []
            for vy in range(C.VIEW - 1, -1, -1):
                key = m | tb[:, vy] << C.VIEW
                masks.append(self._lookup(self._row_mask, key))
                m = self._lookup(self._row_up, key)
            rows_mask = self.xp.stack(masks[::-1], 1)  # (k, vy)
            if self.backend == "numpy":
                visible = np.take(self._row_bits, rows_mask, axis=0)
            else:
                visible = self._row_bits.index_select(0, rows_mask.reshape(-1)).view(k, C.VIEW, C.VIEW)
            codes = codes * visible
        carry = s["carry"]
        codes[:, C.VIEW - 1, C.VIEW // 2] = self.xp.where(carry != 0, carry, C.EMPTY)
        return codes

    def _observe_rows(self, rows: Any = None) -> Any:
        """The flat observation ``(k, 151)`` float32 of every env (``rows=None``) or of ``rows``."""
        s = self._rows(rows)
        codes = self._view_codes(s).swapaxes(1, 2)  # [vx, vy], the observation's order
        k, n_img = codes.shape[0], C.VIEW_CELLS * 3
        if self.backend == "numpy":
            # take into a contiguous scratch, then one copy: much faster than take(out=<strided>)
            scratch = self._scratch if k == self.num_envs else np.empty((k, C.VIEW, C.VIEW, 3), np.float32)
            np.take(self._obs_lut, np.ascontiguousarray(codes), axis=0, out=scratch, mode="clip")
            obs = np.empty((k, OBS_DIMS), dtype=np.float32)
            obs[:, :n_img] = scratch.reshape(k, n_img)
            obs[:, n_img:] = self._onehot[s["dir"]]
            return obs
        import torch

        flat = self._obs_lut.index_select(0, codes.reshape(-1)).view(k, n_img)
        return torch.cat([flat, self._onehot[s["dir"]]], 1)

    def images(self) -> np.ndarray:
        """``(n, 7, 7, 3)`` uint8: minigrid's ``obs["image"]`` for every env's current state."""
        return C.unpack(self._host(self._view_codes(self._s)).transpose(0, 2, 1))

    def _info(self, rows: Any = None) -> dict[str, Any]:
        s = self._rows(rows)
        ax, ay, gx, gy, carry = s["ax"], s["ay"], s["gx"], s["gy"], s["carry"]
        holding = carry & C.OBJ_MASK
        if self.target == "object":
            at_goal = (holding == C.BALL) & ((carry >> 4) & 7 == s["target_color"])
        else:
            at_goal = (ax == gx) & (ay == gy)
        hp, pad = self._hp, C.PAD
        cells = self._take(
            s["grid"], self.xp.stack([(ax + pad) * hp + ay + pad, (s["door_x"] + pad) * hp + s["door_y"] + pad], 1)
        )
        door = cells[:, 1]
        door_open = (s["door_x"] < 0) | (((door & C.OBJ_MASK) == C.DOOR) & ((door >> 7) == C.OPEN))
        carrying_key = holding == C.KEY
        fields = {
            "agent_x": ax,
            "agent_y": ay,
            "agent_dir": s["dir"],
            "carrying_key": self._int(carrying_key),
            "door_open": self._int(door_open),
            "goal_x": gx,
            "goal_y": gy,
            "dist_to_goal": self.xp.where(at_goal, 0, abs(ax - gx) + abs(ay - gy)),
            "at_goal": self._int(at_goal),
            "in_lava": self._int((cells[:, 0] & C.OBJ_MASK) == C.LAVA),
            "key_x": self.xp.where(carrying_key, ax, s["kx"]),
            "key_y": self.xp.where(carrying_key, ay, s["ky"]),
            "door_x": s["door_x"],
            "door_y": s["door_y"],
        }
        return {k: self._copy(fields[k]) for k in self.info_keys}

    # -- the VectorEnv API -------------------------------------------------------------------

    def _seed(self, seed: int | Sequence[int] | None) -> None:
        super()._seed(seed)
        if self.backend == "numpy":
            self._host_rng = self._rng
        elif seed is not None:
            seeds = [seed] if isinstance(seed, (int, np.integer)) else list(seed)
            if all(v is not None for v in seeds):
                self._host_rng = np.random.default_rng([int(v) for v in seeds])

    def reset(
        self, *, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """New levels for every env; a seed also redraws the level pool (pooled tasks, accelerators).

        ``options={"minigrid": [state, ...]}`` starts every env from a minigrid env's state instead
        (:func:`~envs.batched.grid.loading.minigrid_state` dicts, one per env; :meth:`start_options`)."""
        self._seed(seed)
        if options is not None and not isinstance(options, dict):
            raise ValueError(f"options must be a dict or None, got {type(options).__name__}")
        start = (options or {}).get("minigrid")
        if start is not None and len(start) != self.num_envs:
            raise ValueError(f"options['minigrid'] has {len(start)} states; expected num_envs = {self.num_envs}")
        if (self.pooled or self._on_device) and (self._pool is None or seed is not None):
            self._refill_pool()
        if self._on_device:
            self._s = self._draw_device_pool()
        else:
            self._s = {f: self._arr(v) for f, v in self._fresh(self.num_envs).items()}
        self._elapsed[:] = 0
        if start is not None:
            from envs.batched.grid.loading import stack_states

            self.load_state(**stack_states(start, self.max_episode_steps))
        return self._observe_rows(), self._info()

    @classmethod
    def starting_state(cls, env: gym.Env) -> Any:
        return minigrid_state(env)

    @classmethod
    def start_options(cls, states: Sequence[Any]) -> dict[str, Any]:
        return {"minigrid": list(states)}

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        """Advance every env one step (minigrid's ``step``); see the module docstring."""
        if not self._s:
            raise RuntimeError("call reset() before step()")
        a = self._int(self._check_action(actions))
        s, xp = self._s, self.xp
        d, ax, ay, carry, grid = s["dir"], s["ax"], s["ay"], s["carry"], s["grid"]
        fwd = (ax + C.PAD) * self._hp + ay + C.PAD + self._dflat[d]
        cell = self._take(grid, fwd[:, None])[:, 0]
        obj, state, base = cell & C.OBJ_MASK, cell >> 7, cell & C.CARRY_MASK
        fx, fy = ax + self._dx[d], ay + self._dy[d]
        forward = a == 2
        move = forward & self._lookup(self._overlap, cell)
        pick = (a == 3) & self._lookup(self._pickup, cell) & (carry == 0)
        drop = (a == 4) & (cell == C.EMPTY) & (carry != 0)
        toggle = (a == 5) & (obj == C.DOOR)
        unlock = toggle & (state == C.LOCKED) & ((carry & C.OBJ_MASK) == C.KEY) & ((carry >> 4) == (base >> 4))
        flip = toggle & (state != C.LOCKED)
        new = xp.where(pick | ((a == 5) & (obj == C.BOX)), C.EMPTY, cell)
        new = xp.where(drop, carry, new)
        new = xp.where(unlock, base, new)
        new = xp.where(flip, base | (1 - state) << 7, new)
        if self.backend == "numpy":
            grid.reshape(-1)[self._off[:, 0] + fwd] = new
        else:
            grid.scatter_(1, fwd[:, None], new[:, None])
        key_dropped = drop & ((carry & C.OBJ_MASK) == C.KEY)
        s["kx"], s["ky"] = xp.where(key_dropped, fx, s["kx"]), xp.where(key_dropped, fy, s["ky"])
        s["carry"] = carry = xp.where(pick, base, xp.where(drop, 0, carry))
        s["ax"], s["ay"] = xp.where(move, fx, ax), xp.where(move, fy, ay)
        s["dir"] = xp.where(a == 0, (d + 3) % 4, xp.where(a == 1, (d + 1) % 4, d))
        success = forward & (obj == C.GOAL)
        if self.target == "object":
            held = pick & ((carry & C.OBJ_MASK) == C.BALL) & ((carry >> 4) & 7 == s["target_color"])
            success = success | held
        terminated = success | (forward & (obj == C.LAVA))
        self._elapsed += 1
        reward = xp.where(success, 1.0 - 0.9 * (self._f64(self._elapsed) / self.max_episode_steps), 0.0)
        truncated = self._elapsed >= self.max_episode_steps
        done = terminated | truncated
        final_obs, final_info = self._observe_rows(), self._info()
        if self._on_device:
            fresh = self._draw_device_pool()
            for f in FIELDS:
                s[f] = xp.where(done[:, None] if f == "grid" else done, fresh[f], s[f])
            self._elapsed.masked_fill_(done, 0)
            obs = xp.where(done[:, None], self._observe_rows(), final_obs)
            info = {k: xp.where(done, v, final_info[k]) for k, v in self._info().items()}
        else:
            idx = np.flatnonzero(done) if self.backend == "numpy" else done.nonzero()[:, 0]
            obs, info = final_obs, final_info
            if len(idx):
                self._install(idx, self._fresh(len(idx)))
                self._elapsed[idx] = 0
                obs, info = self._copy(final_obs), {k: self._copy(v) for k, v in final_info.items()}
                obs[idx] = self._observe_rows(idx)
                for k, v in self._info(idx).items():
                    info[k][idx] = v
        info.update(final_obs=final_obs, _final_obs=done, final_info=final_info, _final_info=done)
        return obs, self._reward(reward), terminated, truncated, info

    # -- state: agent state for rewards, exact state for tests -------------------------------

    def agent_state(self) -> dict[str, Any]:
        """The agents' state, ``(n,)`` int64 arrays in the backend: ``x``, ``y`` (cells), ``dir``
        (0..3), ``carrying`` (object id, 0 = nothing; :data:`minigrid.core.constants.OBJECT_TO_IDX`)
        and ``carrying_color`` (colour id; 0 when nothing is carried)."""
        s = self._s
        return {
            "x": self._copy(s["ax"]),
            "y": self._copy(s["ay"]),
            "dir": self._copy(s["dir"]),
            "carrying": s["carry"] & C.OBJ_MASK,
            "carrying_color": (s["carry"] >> 4) & 7,
        }

    def get_state(self) -> dict[str, Any]:
        """Copies of the state arrays (:data:`FIELDS`; ``grid`` as ``(n, W, H)`` codes, unpadded)."""
        out = {f: self._copy(v) for f, v in self._s.items()}
        pad, w, h = C.PAD, self.width, self.height
        out["grid"] = out["grid"].reshape(self.num_envs, w + 2 * pad, self._hp)[:, pad : pad + w, pad : pad + h]
        return out

    def set_state(self, state: Any, elapsed_steps: Any = None) -> Any:
        """Set every env from :meth:`get_state`'s arrays; return the observation.

        :param elapsed_steps: optional ``(n,)`` steps already taken (left as they are when omitted).
        """
        missing = set(FIELDS) - set(state)
        if missing:
            raise ValueError(f"state lacks {sorted(missing)}")
        n, pad, w, h = self.num_envs, C.PAD, self.width, self.height
        grid = np.full((n, w + 2 * pad, self._hp), C.WALL, dtype=np.int64)
        grid[:, pad : pad + w, pad : pad + h] = self._host(state["grid"])
        host = {f: np.asarray(self._host(state[f]), dtype=np.int64).reshape(n) for f in FIELDS if f != "grid"}
        self._s = {
            "grid": self._arr(grid.reshape(n, -1).astype(self._grid_dtype)),
            **{f: self._arr(v) for f, v in host.items()},
        }
        if elapsed_steps is not None:
            self._elapsed[:] = self._arr(np.broadcast_to(np.asarray(elapsed_steps, dtype=np.int64), (n,)).copy())
        return self._observe_rows()

    def load_state(
        self,
        grid: Any,
        agent_pos: Any,
        agent_dir: Any,
        carrying: Any = None,
        step_count: Any = None,
        rows: Any = None,
    ) -> Any:
        """Put minigrid states into envs ``rows`` (default ``0..k-1``); return every env's observation.

        :param grid: ``(k, W, H, 3)`` minigrid ``grid.encode()`` arrays.
        :param agent_pos: ``(k, 2)`` cells; ``agent_dir``: ``(k,)`` headings.
        :param carrying: ``(k, 3)`` encodings of the carried objects (object id 0 or 1: nothing).
        :param step_count: ``(k,)`` steps already taken (default 0).

        The goal, key, door and target are located in the loaded grid, as
        :class:`~envs.minigrid_tasks.MiniGridInfo` locates them after a reset.
        """
        if not self._s:
            self.reset()
        g = C.pack(np.asarray(grid))
        k = g.shape[0]
        pos = np.asarray(agent_pos, dtype=np.int64).reshape(k, 2)
        layout = Layout(g, pos[:, 0], pos[:, 1], np.asarray(agent_dir, dtype=np.int64).reshape(k))
        fresh = self.layout_state(layout)
        if carrying is not None:
            carry = C.pack(np.asarray(carrying).reshape(k, 3)) & C.CARRY_MASK
            fresh["carry"] = np.where((carry & C.OBJ_MASK) > C.EMPTY, carry, 0)
        idx = np.arange(k) if rows is None else np.asarray(rows, dtype=np.int64)
        self._install(self._arr(idx), fresh)
        steps = np.zeros(k, dtype=np.int64) if step_count is None else np.asarray(step_count, dtype=np.int64)
        self._elapsed[self._arr(idx)] = self._arr(steps)
        return self._observe_rows()

    def load_minigrid(self, envs: Sequence[gym.Env], rows: Any = None) -> Any:
        """:meth:`load_state` from minigrid envs (any wrappers; their ``unwrapped`` state is read)."""
        from envs.batched.grid.loading import stacked_states

        return self.load_state(**stacked_states(envs, self.max_episode_steps), rows=rows)
