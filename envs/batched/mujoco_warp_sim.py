"""A :class:`~envs.batched.mujoco_sim.Simulator` on MuJoCo Warp (``mujoco_warp``), the optional ``warp`` extra.

``pip install 'rewardlab[warp]'`` (``mujoco-warp==4.0.0``, which pulls ``warp-lang``). The model is
put on the Warp device once (``mjw.put_model``), one ``mjw.Data`` holds ``nworld = num_envs``
copies, and the Simulator calls map onto MuJoCo Warp as gymnasium's ``MujocoEnv`` maps onto C
MuJoCo:

- ``step``: ``ctrl`` copied into ``d.ctrl``, ``mjw.step`` ``nstep`` times (on a CUDA device one CUDA
  graph per ``nstep``, captured on first use), then ``qpos``/``qvel`` (and the requested derived
  fields) copied out to float64 numpy arrays.
- ``load``: ``mjw.reset_data`` on the loaded worlds only (``mj_resetData``: zero velocity, warmstart,
  ``act``, ...), their ``qpos``/``qvel`` written, and, where derived fields are read, ``mjw.forward``
  (``mj_forward``), whose fields are copied out for the loaded rows only (the other rows keep the
  fields their last step left, as with :class:`~envs.batched.mujoco_sim.BatchSim`).
- ``post_constraint``: ``m.opt.run_rne_postconstraint = True``, so every step computes
  ``cacc``/``cfrc_int``/``cfrc_ext`` (gymnasium's ``mj_rnePostConstraint`` after ``mj_step``).

It runs on Warp's ``"cpu"`` device too (kernels compiled by Warp's bundled Clang; about 30 s for the
first model on a cold kernel cache in ``~/.cache/warp``, then seconds), which is how it is tested
here (``tests/test_batched_mujoco_warp.py``); the CUDA path is the same calls plus graph capture
and was not run on a GPU in this repository. ``docs/mujoco_warp.md`` has the measurements.

Differences from gymnasium's v5 envs on C MuJoCo (the CPU simulators reproduce those bit for bit;
this one cannot):

- **float32.** MuJoCo Warp computes in float32 (``wp.float32`` throughout; there is no float64 build),
  C MuJoCo in float64. ``qpos``/``qvel`` handed out are float64 arrays holding float32 values, so a
  state loaded with :meth:`WarpSim.load` reads back rounded to float32 (relative 6e-8).
- **Solver tolerance.** ``put_model`` raises ``opt.tolerance`` to at least ``1e-6`` (the v5 XMLs leave
  MuJoCo's default ``1e-8``), so the Newton solver stops earlier than C MuJoCo's.
- **Its own kernels.** Collision, constraint assembly, the Newton solver and its line search are
  MuJoCo Warp's own parallel implementations, with their own summation order; with float32 they
  make trajectories drift apart from C MuJoCo's from the first contact on. The drift is chaotic:
  it grows with the horizon. Measured (``docs/mujoco_warp.md``) under random actions: Hopper,
  Walker2d, Reacher and InvertedPendulum stay within ~1e-5 to 3e-4 of gymnasium's observations and
  terminate on the same steps; HalfCheetah drifts from ~1e-4 after 1 step to ~2e-2 within 10 and
  order 1 by 20-50. Rewards, terminations and returns agree with gymnasium's only approximately,
  and a termination near its threshold can fall on a different step.
- **Capsule-plane contact frames.** For a capsule within 30 degrees of the plane normal (the
  projection of its axis on the plane shorter than 0.5), MuJoCo Warp 4.0.0 (``plane_capsule``) gives
  the contact a fixed tangent frame, C MuJoCo one aligned with that projection. With v5's pyramidal
  friction cone this turns the friction pyramid about the normal: a different friction force. In
  the planar models (HalfCheetah, Hopper, Walker2d) the two pyramids coincide (they differ by a
  multiple of 90 degrees about the vertical); for the Ant, about half its floor contacts (46 of 89 in
  300 random-action states, all ankles) get another frame, and from the same state one env step
  differs by up to ~1.3 in the state (C MuJoCo itself
  moves by < 1e-5 under the same float32 rounding of the state), so the Ant on this simulator is
  not a v5 Ant past its first contact.
- **Fixed contact/constraint capacity.** ``nconmax``/``njmax`` (contacts, constraint rows per world)
  are allocated up front (MuJoCo Warp's defaults unless given); C MuJoCo grows its arena. A step that
  overflows them would drop contacts, so :meth:`WarpSim.step` raises ``RuntimeError`` instead.
- **Derived fields of untouched rows.** ``mjw.forward`` runs on every world, so after a partial
  :meth:`WarpSim.load` the device's derived fields of the other rows describe their current state;
  the host copies (what :meth:`WarpSim.field` returns) keep the previous step's, as gymnasium's do.
  The state is not affected (``forward`` writes no state, not even the warmstart).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _import_warp() -> tuple[Any, Any]:
    """``(mujoco_warp, warp)``, or ``(None, None)`` without the optional ``warp`` extra."""
    try:
        import mujoco_warp
        import warp
    except ImportError:
        return None, None
    return mujoco_warp, warp


mjw, wp = _import_warp()

CAPACITY_OVERFLOWS = ("NEFC", "NJMAX_NNZ", "BROADPHASE", "NARROWPHASE", "CCD", "HFIELD", "NVMAX")
"""``OverflowType`` bits that mean MuJoCo Warp dropped contacts or constraint rows (``ITERATIONS`` and
``LS_ITERATIONS``, solver iteration limits, are normal and not among them)."""


def has_warp() -> bool:
    """Whether ``mujoco_warp`` (the ``warp`` extra) is importable."""
    return mjw is not None


class WarpSim:
    """:class:`~envs.batched.mujoco_sim.Simulator` on MuJoCo Warp: ``num_envs`` worlds of one model.

    :param model: the compiled ``mujoco.MjModel`` (put on the device once).
    :param num_envs: worlds ``n`` (``nworld``).
    :param fields: derived ``MjData`` fields to copy out after every call (e.g. ``("xpos",)``).
    :param post_constraint: compute ``mj_rnePostConstraint``'s fields (``cfrc_ext``) every step.
    :param device: Warp device (``"cpu"``, ``"cuda:0"``); default Warp's preferred (CUDA if present).
    :param nconmax: contacts per world; default MuJoCo Warp's (see :func:`mujoco_warp.make_data`).
    :param njmax: constraint rows per world; default MuJoCo Warp's.
    :raises ImportError: ``mujoco_warp`` is not installed.
    """

    def __init__(
        self,
        model: Any,
        num_envs: int,
        fields: Sequence[str] = (),
        post_constraint: bool = False,
        device: str | None = None,
        nconmax: int | None = None,
        njmax: int | None = None,
    ) -> None:
        if mjw is None or wp is None:
            raise ImportError("the 'warp' simulator needs mujoco_warp: pip install 'rewardlab[warp]'")
        wp.init()
        self.device: Any = wp.get_device(device) if device is not None else wp.get_preferred_device()
        self.num_envs = int(num_envs)
        with wp.ScopedDevice(self.device):
            self._m = mjw.put_model(model)
            if post_constraint:
                self._m.opt.run_rne_postconstraint = True
            self._d = mjw.make_data(model, nworld=self.num_envs, nconmax=nconmax, njmax=njmax)
            mjw.reset_data(self._m, self._d)
            if fields:
                mjw.forward(self._m, self._d)
        self._overflow_mask = 0
        for name in CAPACITY_OVERFLOWS:
            self._overflow_mask |= int(getattr(mjw.OverflowType, name, 0))
        self._graphs: dict[int, Any] = {}
        self._warm: set[int] = set()
        self._fields = {name: getattr(self._d, name).numpy().astype(np.float64) for name in fields}
        self.qpos = np.zeros((self.num_envs, model.nq))
        self.qvel = np.zeros((self.num_envs, model.nv))
        self._copy_out(None)

    # -- device arrays -----------------------------------------------------------------------

    @property
    def data(self) -> Any:
        """The ``mjw.Data`` of all worlds (device arrays; ``qpos`` ``(n, nq)`` float32, ...)."""
        return self._d

    def torch_state(self) -> tuple[Any, Any]:
        """``(qpos, qvel)`` as torch tensors aliasing the device arrays (``wp.to_torch``: no copy,
        float32, on the Warp device). They change with every :meth:`step` and :meth:`load`; clone
        them to keep values."""
        assert wp is not None
        return wp.to_torch(self._d.qpos), wp.to_torch(self._d.qvel)

    def _copy_out(self, rows: np.ndarray | None) -> None:
        sel = slice(None) if rows is None else rows
        self.qpos[sel] = self._d.qpos.numpy()[sel]
        self.qvel[sel] = self._d.qvel.numpy()[sel]
        for name, out in self._fields.items():
            out[sel] = getattr(self._d, name).numpy().reshape(out.shape)[sel]

    # -- the Simulator protocol --------------------------------------------------------------

    def field(self, name: str) -> np.ndarray:
        return self._fields[name]

    def _run(self, nstep: int) -> None:
        assert mjw is not None and wp is not None
        if not self.device.is_cuda or nstep not in self._warm:
            # on CUDA the first call for an nstep runs plainly, loading every kernel module, so
            # that the capture on the next call records launches only
            for _ in range(nstep):
                mjw.step(self._m, self._d)
            self._warm.add(nstep)
            return
        graph = self._graphs.get(nstep)
        if graph is None:  # a capture runs nothing: the launch below is this call's step
            with wp.ScopedCapture(device=self.device) as capture:
                for _ in range(nstep):
                    mjw.step(self._m, self._d)
            graph = self._graphs[nstep] = capture.graph
        wp.capture_launch(graph)

    def step(self, ctrl: np.ndarray, nstep: int) -> None:
        assert wp is not None
        with wp.ScopedDevice(self.device):
            self._d.ctrl.assign(np.ascontiguousarray(ctrl, dtype=np.float32))
            self._run(int(nstep))
            overflow = int(np.bitwise_or.reduce(self._d.overflow.numpy())) & self._overflow_mask
            if overflow:
                raise RuntimeError(
                    f"MuJoCo Warp overflowed its fixed buffers ({mjw.OverflowType(overflow)!r}): contacts or "
                    "constraint rows were dropped; build the simulator with a larger nconmax/njmax"
                )
            self._copy_out(None)

    def load(self, ids: np.ndarray | None, qpos: np.ndarray, qvel: np.ndarray) -> None:
        assert mjw is not None and wp is not None
        with wp.ScopedDevice(self.device):
            if ids is None:
                mjw.reset_data(self._m, self._d)
            else:
                mask = np.zeros(self.num_envs, dtype=bool)
                mask[ids] = True
                mjw.reset_data(self._m, self._d, reset=wp.array(mask, dtype=bool))
            sel = slice(None) if ids is None else ids
            for name, value in (("qpos", qpos), ("qvel", qvel)):
                arr = getattr(self._d, name)
                host = arr.numpy()
                host[sel] = value
                arr.assign(host)
            if self._fields:
                mjw.forward(self._m, self._d)
            self._copy_out(None if ids is None else np.asarray(ids))

    def close(self) -> None:
        self._graphs.clear()
