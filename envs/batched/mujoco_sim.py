"""``n`` copies of one MuJoCo model stepped together, off the GIL: the physics of the batched MuJoCo envs.

Two simulators with one interface (:class:`Simulator`):

- :class:`BatchSim` (the default, MuJoCo >= 4.0): :class:`mujoco.batch.Batch`, whose C++ thread
  pool steps every copy with the GIL released. Each copy is a ``mjSTATE_INTEGRATION`` row, which
  carries ``qacc_warmstart`` from step to step, so the trajectories are bit-identical to
  gymnasium's one ``MjData`` per env. (``mujoco.rollout.Rollout`` is not: its state rows are
  ``mjSTATE_FULLPHYSICS``, without the warmstart, so every call would restart the constraint
  solver cold and the trajectories would drift from gymnasium's after the first contact.)
- :class:`DataSim`: a ``mjSTATE_INTEGRATION`` row per copy, stepped by ``mujoco.mj_step`` (which
  releases the GIL) through one ``MjData`` per thread of a pool of Python threads. For models that need ``mj_rnePostConstraint`` after the step,
  as gymnasium's Ant does for its contact forces (``cfrc_ext``; a batch cannot run it, and with
  RK4 no sensor reproduces it), and as the fallback on MuJoCo < 4.0.

Both run gymnasium's ``MujocoEnv`` sequence: ``reset`` = ``mj_resetData``, set ``qpos``/``qvel``,
``mj_forward`` (which :class:`BatchSim` skips where no derived field is read: it changes no state);
``step`` = ``ctrl[:] = action``, ``mj_step`` ``nstep`` times (and, if asked, ``mj_rnePostConstraint``). Derived fields (``xpos``, ``cfrc_ext``) are those ``mj_step`` leaves,
one substep behind the state, exactly as gymnasium's envs read them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any, Protocol

import mujoco
import numpy as np


def default_threads() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def has_batch() -> bool:
    """Whether this MuJoCo has :mod:`mujoco.batch` (4.0 and later)."""
    try:
        import mujoco.batch  # noqa: F401
    except ImportError:
        return False
    return True


class Simulator(Protocol):
    """``n`` copies of one model. ``qpos`` ``(n, nq)`` and ``qvel`` ``(n, nv)`` are the current
    state (read them; change them only through :meth:`load`)."""

    qpos: np.ndarray
    qvel: np.ndarray

    def field(self, name: str) -> np.ndarray:
        """The derived ``MjData`` field ``name`` of every copy, ``(n, ...)``, as of the last call
        (one of the ``fields`` the simulator was built with)."""
        ...

    def step(self, ctrl: np.ndarray, nstep: int) -> None:
        """Set ``ctrl`` ``(n, nu)`` and advance every copy ``nstep`` substeps."""
        ...

    def load(self, ids: np.ndarray | None, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Reset copies ``ids`` (sorted; ``None``: all) to ``qpos`` ``(k, nq)``, ``qvel`` ``(k, nv)``
        as gymnasium's reset does (``mj_resetData``, set, ``mj_forward``)."""
        ...

    def close(self) -> None: ...


class BatchSim:
    """:class:`Simulator` on :class:`mujoco.batch.Batch` (MuJoCo >= 4.0).

    :param model: the compiled model (the batch keeps a copy).
    :param num_envs: copies ``n``.
    :param num_threads: threads, the caller's included.
    :param fields: derived ``MjData`` fields to copy out after every call (e.g. ``("xpos",)``).
    """

    def __init__(self, model: Any, num_envs: int, num_threads: int, fields: Sequence[str] = ()) -> None:
        from mujoco import batch

        self._b = batch.Batch(model, num_envs, max(1, min(num_threads, num_envs)))
        self.qpos: np.ndarray = self._b.bind("qpos")
        self.qvel: np.ndarray = self._b.bind("qvel")
        self._ctrl: np.ndarray = self._b.bind("ctrl")
        self._fields = {name: self._b.bind(name) for name in fields}
        self._b.reset()
        self._row0 = self._b.state[0].copy()
        """A state row as ``mj_resetData`` leaves it (time 0, qpos0, zero velocity and warmstart, ...)."""

    def field(self, name: str) -> np.ndarray:
        return self._fields[name]

    def step(self, ctrl: np.ndarray, nstep: int) -> None:
        self._ctrl[:] = ctrl
        self._b.step(nstep=nstep)

    def load(self, ids: np.ndarray | None, qpos: np.ndarray, qvel: np.ndarray) -> None:
        # mj_resetData and the writes, straight into the state rows. mj_forward changes no state
        # component (not even the warmstart), so it only matters to derived fields: it runs when
        # some are bound. A few finished envs per step then cost no round trip through the pool.
        rows = slice(None) if ids is None else ids
        self._b.state[rows] = self._row0
        self.qpos[rows] = qpos
        self.qvel[rows] = qvel
        if self._fields:
            self._b.forward(ids)

    def close(self) -> None:
        pass


class DataSim:
    """:class:`Simulator` on one ``MjData`` per thread and a ``mjSTATE_INTEGRATION`` row per copy.

    Each thread steps its share of the copies through its own ``MjData``: load the copy's state row
    (which carries ``qacc_warmstart``, so the solver starts where gymnasium's own ``MjData`` would),
    set ``ctrl``, ``mujoco.mj_step`` (which releases the GIL), and read the row and the derived fields
    back. Memory is O(threads), not O(copies): an ``MjData`` holds its model's arena (~15 MB for the
    Ant), and thousands of them made one mapping larger than RAM, which then refused every ``fork``
    of the process (subprocesses, sandbox workers, async vector envs).

    :param post_constraint: run ``mj_rnePostConstraint`` after every step, as gymnasium does
        (needed for ``cfrc_ext``, ``cacc``, ``cfrc_int``).
    """

    SPEC = mujoco.mjtState.mjSTATE_INTEGRATION

    def __init__(
        self,
        model: Any,
        num_envs: int,
        num_threads: int,
        fields: Sequence[str] = (),
        post_constraint: bool = False,
    ) -> None:
        self._m = model
        self._post = post_constraint
        k = max(1, min(num_threads, num_envs))
        self._data = [mujoco.MjData(model) for _ in range(k)]
        d0 = self._data[0]
        row0 = np.zeros(mujoco.mj_stateSize(model, self.SPEC))
        mujoco.mj_getState(model, d0, row0, self.SPEC)
        self._state = np.tile(row0, (num_envs, 1))
        self.qpos = np.zeros((num_envs, model.nq))
        self.qvel = np.zeros((num_envs, model.nv))
        self._fields = {name: np.zeros((num_envs, *np.shape(getattr(d0, name)))) for name in fields}
        bounds = np.linspace(0, num_envs, k + 1).astype(int)
        self._chunks = [(j, range(lo, hi)) for j, (lo, hi) in enumerate(pairwise(bounds)) if hi > lo]
        self._pool = ThreadPoolExecutor(k) if k > 1 else None

    def field(self, name: str) -> np.ndarray:
        return self._fields[name]

    def _copy_out(self, d: Any, i: int) -> None:
        mujoco.mj_getState(self._m, d, self._state[i], self.SPEC)
        self.qpos[i] = d.qpos
        self.qvel[i] = d.qvel
        for name, arr in self._fields.items():
            arr[i] = getattr(d, name)

    def _step_rows(self, chunk: tuple[int, range], ctrl: np.ndarray, nstep: int) -> None:
        m, post = self._m, self._post
        d = self._data[chunk[0]]
        for i in chunk[1]:
            mujoco.mj_setState(m, d, self._state[i], self.SPEC)
            d.ctrl[:] = ctrl[i]
            mujoco.mj_step(m, d, nstep)
            if post:
                mujoco.mj_rnePostConstraint(m, d)
            self._copy_out(d, i)

    def step(self, ctrl: np.ndarray, nstep: int) -> None:
        if self._pool is None:
            self._step_rows(self._chunks[0], ctrl, nstep)
            return
        # list() re-raises a worker's exception here
        list(self._pool.map(lambda chunk: self._step_rows(chunk, ctrl, nstep), self._chunks))

    def load(self, ids: np.ndarray | None, qpos: np.ndarray, qvel: np.ndarray) -> None:
        rows = range(len(self._state)) if ids is None else ids
        d = self._data[0]
        for j, i in enumerate(rows):
            mujoco.mj_resetData(self._m, d)
            d.qpos[:] = qpos[j]
            d.qvel[:] = qvel[j]
            mujoco.mj_forward(self._m, d)
            self._copy_out(d, int(i))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def make_simulator(
    model: Any,
    num_envs: int,
    num_threads: int | None = None,
    fields: Sequence[str] = (),
    post_constraint: bool = False,
    kind: str = "auto",
) -> Simulator:
    """The simulator for ``model``: :class:`BatchSim` where it reproduces gymnasium (MuJoCo >= 4.0 and
    no ``post_constraint``), else :class:`DataSim`.

    :param num_threads: default: the CPUs this process may use.
    :param kind: ``"auto"``, ``"batch"``, ``"data"``, or ``"warp"`` / ``"warp:<device>"`` (e.g.
        ``"warp:cpu"``): :class:`envs.batched.mujoco_warp_sim.WarpSim`, MuJoCo Warp (the optional
        ``warp`` extra; float32, not bit-identical to gymnasium: see that module).
    :raises ValueError: ``kind="batch"`` where a batch cannot reproduce gymnasium or is missing.
    :raises ImportError: ``kind="warp"`` without ``mujoco_warp``.
    """
    threads = default_threads() if num_threads is None else int(num_threads)
    if threads < 1:
        raise ValueError(f"num_threads must be positive, got {num_threads!r}")
    if kind == "warp" or kind.startswith("warp:"):
        from envs.batched.mujoco_warp_sim import WarpSim

        return WarpSim(model, num_envs, fields, post_constraint, device=kind[5:] or None)
    if kind not in ("auto", "batch", "data"):
        raise ValueError(f"unknown simulator kind {kind!r}; valid: auto, batch, data, warp, warp:<device>")
    batch_ok = has_batch() and not post_constraint
    if kind == "batch" and not batch_ok:
        why = "it needs mj_rnePostConstraint after each step" if post_constraint else "mujoco.batch needs MuJoCo 4.0"
        raise ValueError(f"simulator kind 'batch' is not available for this model: {why}")
    if kind == "batch" or (kind == "auto" and batch_ok):
        return BatchSim(model, num_envs, threads, fields)
    return DataSim(model, num_envs, threads, fields, post_constraint)
