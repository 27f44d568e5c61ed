"""The base of the batched MuJoCo envs: gymnasium's v5 ``MujocoEnv`` for ``num_envs`` copies at once.

The physics is :mod:`envs.batched.mujoco_sim` (MuJoCo's own thread pool, GIL released); this
class adds what gymnasium's env and wrappers add around it, as arrays over the envs:
observations, rewards, termination, reset noise (``reset_noise_scale``), the ``info`` fields,
the time limit, and the autoreset.

Vector API as :mod:`envs.batched.core` (``AutoresetMode.SAME_STEP``; ``info["final_obs"]`` a full
``(n, obs_dim)`` array, ``info["_final_obs"]`` the done mask), with these MuJoCo specifics:

- Observations are float64, as gymnasium's v5 envs return them; rewards float64.
- ``info`` holds gymnasium's fields (``x_position``, ``x_velocity``, ``reward_forward``, ...) as
  ``(n,)`` arrays, on ``reset`` too (the fields gymnasium's ``reset`` returns). On a done step a
  finished env's row describes its next episode's first state, as gymnasium's ``SyncVectorEnv``
  does in ``SAME_STEP`` mode: its reset fields, and 0 for fields a reset does not report. The
  fields of the state it reached are in ``info["final_info"]`` (full arrays; the rows of the
  other envs equal ``info``'s), with ``info["_final_info"]`` the done mask.
- Actions are ``(n, nu)`` (``(n,)`` when ``nu == 1``), float32 or float64, not clipped (gymnasium
  clips neither; MuJoCo clamps the controls to their range, the control cost sees them raw).
- The ``torch`` backend steps the same numpy physics on the CPU and hands out tensors
  (``torch.from_numpy``, then moved to ``device``): observations and ``info`` fields in ``dtype``
  (default float32), rewards float32. It is a convenience for torch agents, not GPU physics.

Reset draws come from the env's own numpy generator (seeded by ``reset(seed=)``), with
gymnasium's distributions, so they do not repeat gymnasium's per-seed values; trajectories from
a given state do (:meth:`BatchedMujocoEnv.load_state`; ``tests/test_batched_mujoco.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.envs.mujoco.mujoco_env import expand_model_path
from gymnasium.vector.utils import batch_space

from envs.batched.core import BatchedEnv, resolve_device
from envs.batched.mujoco_sim import Simulator, make_simulator

Rows = np.ndarray | None
"""Env indices (sorted ``(k,)`` int array), or ``None`` for all envs."""


class BatchedMujocoEnv(BatchedEnv):
    """``num_envs`` copies of one gymnasium v5 MuJoCo env (see the module docstring).

    Subclasses set the class attributes and implement :meth:`_observe` and :meth:`_outcome`.

    :param num_envs: number of copies ``n``.
    :param backend: ``"numpy"`` or ``"torch"`` (numpy physics, tensors out).
    :param device: torch device of the returned tensors; torch only.
    :param dtype: torch dtype of observations and ``info`` fields (default float32); torch only.
    :param max_episode_steps: time limit (default: gymnasium's, 1000; Reacher 50).
    :param num_threads: physics threads (default: the CPUs this process may use).
    :param simulator: ``"auto"``, ``"batch"`` (:class:`~envs.batched.mujoco_sim.BatchSim`) or
        ``"data"`` (:class:`~envs.batched.mujoco_sim.DataSim`).
    :param reset_noise_scale: gymnasium's ``reset_noise_scale`` (default: the task's).
    """

    xml_file: ClassVar[str] = ""
    frame_skip: ClassVar[int] = 1
    default_reset_noise_scale: ClassVar[float] = 0.0
    qvel_noise: ClassVar[str] = "uniform"
    """``"uniform"``: ``qvel += U(-scale, scale)``; ``"normal"``: ``qvel += scale * N(0, 1)``."""
    fields: ClassVar[tuple[str, ...]] = ()
    """Derived ``MjData`` fields the task reads (``xpos``, ``cfrc_ext``)."""
    post_constraint: ClassVar[bool] = False
    """Whether the task reads ``mj_rnePostConstraint``'s output (then the physics is a ``DataSim``)."""
    info_keys: ClassVar[tuple[str, ...]] = ()
    """The ``info`` fields of a step, in gymnasium's order."""
    reset_info_keys: ClassVar[tuple[str, ...]] = ()
    """The ``info`` fields of a reset."""

    def __init__(
        self,
        num_envs: int,
        backend: str = "numpy",
        device: str | Any | None = None,
        dtype: Any = None,
        max_episode_steps: int | None = None,
        num_threads: int | None = None,
        simulator: str = "auto",
        reset_noise_scale: float | None = None,
    ) -> None:
        # BatchedEnv.__init__ is not called: it allocates the state (and, for torch, a generator) in
        # the backend, while here the state is the simulator's and every draw is numpy's; its
        # checks of the common arguments are shared
        self._set_common_args(num_envs, backend, device, max_episode_steps)
        self.model = mujoco.MjModel.from_xml_path(expand_model_path(self.xml_file))
        self.reset_noise_scale = (
            self.default_reset_noise_scale if reset_noise_scale is None else float(reset_noise_scale)
        )
        m = self.model
        self.nq, self.nv, self.nu = m.nq, m.nv, m.nu
        self.state_dim = m.nq + m.nv
        self.dt = m.opt.timestep * self.frame_skip
        self.init_qpos = mujoco.MjData(m).qpos.copy()
        self.init_qvel = np.zeros(m.nv)
        low, high = m.actuator_ctrlrange.copy().astype(np.float32).T
        self.single_action_space = gym.spaces.Box(low=low, high=high, dtype=np.float32)
        self._discrete = False
        self.device: Any = None
        self._obs_dtype: Any = np.float64
        if backend == "numpy":
            if dtype is not None:
                raise ValueError("dtype= is for the torch backend; the numpy backend returns gymnasium's float64")
        else:
            import torch

            self.device = resolve_device(device)
            dtype = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype
            self._obs_dtype = torch.float32 if dtype is None else dtype
            if self._obs_dtype not in (torch.float32, torch.float64):
                raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        self._setup()
        self.sim: Simulator = make_simulator(
            m, self.num_envs, num_threads, self.fields, self.post_constraint, simulator
        )
        self.obs_dim = int(self._observe(np.arange(1)).shape[1])
        space_dtype = np.float64 if backend == "numpy" or str(self._obs_dtype).endswith("float64") else np.float32
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (self.obs_dim,), dtype=space_dtype)
        self.gym_single_observation_space = self.single_observation_space
        self.gym_single_action_space = self.single_action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._rng: Any = np.random.default_rng()
        self._elapsed: Any = np.zeros(self.num_envs, dtype=np.int64)

    # -- to implement ------------------------------------------------------------------------

    def _setup(self) -> None:
        """Read what the task needs off ``self.model`` (body ids), before the first observation."""

    def _observe(self, rows: Rows) -> np.ndarray:
        """The observations of envs ``rows``, ``(k, obs_dim)`` float64, from the simulator's arrays."""
        raise NotImplementedError

    def _before_step(self) -> Any:
        """What the reward needs from before the step (gymnasium's ``x_position_before``)."""
        return None

    def _outcome(self, action: np.ndarray, before: Any) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """After the physics step: ``(reward (n,), terminated (n,) bool, info)``, gymnasium's
        expressions over arrays; ``info`` has :attr:`info_keys`, each ``(n,)``."""
        raise NotImplementedError

    def _reset_info(self, rows: Rows) -> dict[str, np.ndarray]:
        """The :attr:`reset_info_keys` fields of envs ``rows`` (gymnasium's ``_get_reset_info``)."""
        return {}

    def _sample_reset(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``k`` initial ``(qpos (k, nq), qvel (k, nv))`` (gymnasium's ``reset_model``)."""
        s, rng = self.reset_noise_scale, self._rng
        qpos = self.init_qpos + rng.uniform(low=-s, high=s, size=(k, self.nq))
        if self.qvel_noise == "normal":
            qvel = self.init_qvel + s * rng.standard_normal((k, self.nv))
        else:
            qvel = self.init_qvel + rng.uniform(low=-s, high=s, size=(k, self.nv))
        return qpos, qvel

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _take(x: np.ndarray, rows: Rows) -> np.ndarray:
        return x if rows is None else x[rows]

    def _out(self, x: np.ndarray, dtype: Any = "obs") -> Any:
        """``x`` in the backend: the array itself, or a tensor on the device; a float tensor in
        ``dtype`` (``"obs"``: the observation dtype; ``None``: float64 as computed)."""
        if self.backend == "numpy":
            return x
        import torch

        t = torch.from_numpy(np.ascontiguousarray(x))
        if t.is_floating_point() and dtype is not None:
            t = t.to(self._obs_dtype if dtype == "obs" else dtype)
        return t.to(self.device)

    def _actions(self, actions: Any) -> np.ndarray:
        """Validated ``(n, nu)`` actions, float32 or float64 as given (gymnasium computes the control
        cost in the action's own dtype)."""
        if not isinstance(actions, np.ndarray) and hasattr(actions, "detach"):
            actions = actions.detach().cpu().numpy()
        a = np.asarray(actions)
        if a.dtype not in (np.float32, np.float64):
            a = a.astype(np.float64)
        n = self.num_envs
        if a.shape == (n,) and self.nu == 1:
            a = a[:, None]
        if a.shape != (n, self.nu):
            raise ValueError(f"{self.task_id}: actions must have shape ({n}, {self.nu}), got {a.shape}")
        return a

    def _seed(self, seed: int | Sequence[int] | None) -> None:
        # the host generator is numpy in both backends; BatchedEnv._seed draws a numpy Generator
        # when the backend is numpy, so let it parse and check the seed as such
        backend, self.backend = self.backend, "numpy"
        try:
            super()._seed(seed)
        finally:
            self.backend = backend

    def _load(self, rows: Rows, qpos: np.ndarray, qvel: np.ndarray) -> None:
        self.sim.load(rows, qpos, qvel)

    # -- the VectorEnv API -------------------------------------------------------------------

    def reset(
        self, *, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset every env to a draw from gymnasium's reset distribution, or, with
        ``options={"qpos": (n, nq), "qvel": (n, nv)}``, to those states (as :meth:`load_state`;
        gymnasium's MuJoCo envs take no options, so nothing else is read from them)."""
        self._seed(seed)
        if options is not None and not isinstance(options, dict):
            raise ValueError(f"options must be a dict or None, got {type(options).__name__}")
        if options and ("qpos" in options or "qvel" in options):
            if "qpos" not in options or "qvel" not in options:
                raise ValueError("reset options set a state with both 'qpos' and 'qvel'")
            self.load_state(options["qpos"], options["qvel"])
        else:
            self._load(None, *self._sample_reset(self.num_envs))
        self._elapsed[:] = 0
        return self._out(self._observe(None)), {k: self._out(v) for k, v in self._reset_info(None).items()}

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        """Advance every env one step (``frame_skip`` MuJoCo substeps); see the module docstring."""
        a = self._actions(actions)
        before = self._before_step()
        self.sim.step(a, self.frame_skip)
        final_obs = self._observe(None)
        reward, terminated, final_info = self._outcome(a, before)
        self._elapsed += 1
        truncated = self._elapsed >= self.max_episode_steps
        done = terminated | truncated
        obs, info = final_obs, dict(final_info)
        idx = np.flatnonzero(done)
        if idx.size:
            self._load(idx, *self._sample_reset(idx.size))
            self._elapsed[idx] = 0
            obs = final_obs.copy()
            obs[idx] = self._observe(idx)
            fresh = self._reset_info(idx)
            for k, v in final_info.items():
                info[k] = v.copy()
                info[k][idx] = fresh[k] if k in fresh else 0
            for k in fresh.keys() - final_info.keys():  # a reset field a step does not report
                info[k] = np.zeros(self.num_envs)
                info[k][idx] = fresh[k]
        out = {k: self._out(v) for k, v in info.items()}
        out["final_info"] = {k: self._out(v) for k, v in final_info.items()}
        done_out = self._out(done)
        out.update(final_obs=self._out(final_obs), _final_obs=done_out, _final_info=done_out)
        reward_out = reward if self.backend == "numpy" else self._out(reward, _torch_float32())
        return self._out(obs), reward_out, self._out(terminated), self._out(truncated), out

    def close(self, **kwargs: Any) -> None:
        self.sim.close()
        super().close(**kwargs)

    # -- exact state, for tests and analysis -------------------------------------------------

    def get_state(self) -> Any:
        """``(n, nq + nv)``: every env's ``qpos`` then ``qvel`` (a copy; gymnasium's ``state_vector()``)."""
        return self._out(np.concatenate([self.sim.qpos, self.sim.qvel], axis=1), None)

    def set_state(self, state: Any, elapsed_steps: Any = None) -> Any:
        """:meth:`load_state` from ``(n, nq + nv)`` rows of ``qpos`` then ``qvel``."""
        s = np.asarray(state.cpu() if hasattr(state, "cpu") else state, dtype=np.float64)
        if s.shape != (self.num_envs, self.state_dim):
            raise ValueError(f"state must have shape ({self.num_envs}, {self.state_dim}), got {s.shape}")
        return self.load_state(s[:, : self.nq], s[:, self.nq :], elapsed_steps=elapsed_steps)

    def load_state(self, qpos: Any, qvel: Any, rows: Any = None, elapsed_steps: Any = None) -> Any:
        """Put envs ``rows`` (default: all) in the state ``qpos`` ``(k, nq)``, ``qvel`` ``(k, nv)``, as
        gymnasium's ``reset`` leaves an env in the state it drew (``mj_resetData``, set, ``mj_forward``);
        return every env's observation.

        Copying ``env.unwrapped.data.qpos``/``qvel`` from gymnasium's env after its ``reset`` makes the
        two step identically from there on.

        :param elapsed_steps: ``(k,)`` (or one int) steps already taken in those envs' episodes;
            left as they are when omitted.
        """
        idx: Rows = None if rows is None else np.unique(np.asarray(rows, dtype=np.int64).reshape(-1))
        k = self.num_envs if idx is None else idx.size
        if idx is not None and idx.size and (idx[0] < 0 or idx[-1] >= self.num_envs):
            raise ValueError(f"rows must be in [0, {self.num_envs})")
        qp = np.broadcast_to(np.asarray(qpos, dtype=np.float64), (k, self.nq))
        qv = np.broadcast_to(np.asarray(qvel, dtype=np.float64), (k, self.nv))
        self._load(idx, qp, qv)
        if elapsed_steps is not None:
            self._elapsed[slice(None) if idx is None else idx] = np.asarray(elapsed_steps, dtype=np.int64)
        return self._out(self._observe(None))

    @property
    def elapsed_steps(self) -> Any:
        """``(n,)`` steps taken in each env's current episode."""
        return self._out(self._elapsed.copy())

    def __repr__(self) -> str:
        where = "" if self.device is None else f", device={self.device}"
        return f"{type(self).__name__}({self.task_id}, num_envs={self.num_envs}, backend={self.backend}{where})"


def _torch_float32() -> Any:
    import torch

    return torch.float32
