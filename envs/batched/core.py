"""The shared base of array-batched environments: one ``step`` call advances every copy.

A :class:`BatchedEnv` holds the physical state of ``num_envs`` copies of one environment as a
single array and steps them all with array operations -- numpy on the CPU, or torch on any
device. Subclasses write the dynamics once against an :class:`ArrayNamespace` (``self.xp``),
so the numpy and torch versions share the math.

Contract (gymnasium's ``VectorEnv`` with ``AutoresetMode.SAME_STEP``):

- ``reset(seed=None, options=None) -> (obs, info)``: ``obs`` is ``(n, obs_dim)`` float32.
- ``step(actions) -> (obs, reward, terminated, truncated, info)``: ``reward`` ``(n,)`` (numpy
  float64, torch float32), ``terminated``/``truncated`` ``(n,)`` bool. Time limits are built in
  and counted per env exactly as gymnasium's ``TimeLimit`` counts them (``truncated`` once the
  episode has taken ``max_episode_steps`` steps; both flags may be set on the same step).
- Autoreset in the array: for envs that finished on this step the returned ``obs`` row is the
  first observation of the next episode. ``info["final_obs"]`` is a full ``(n, obs_dim)`` array
  (not gymnasium's object array): rows of finished envs hold the true terminal observation, the
  other rows equal the returned ``obs``. ``info["_final_obs"]`` is the ``(n,)`` bool mask of the
  finished envs. Both keys are present on every step.
- With the torch backend every returned array is a tensor on the env's device; ``step`` never
  copies to the host or waits for the device.

The internal state is stored component-major, ``(state_dim, n)``, so each physical quantity is
one contiguous row; :meth:`get_state` and :meth:`set_state` speak ``(n, state_dim)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, cast

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

BACKENDS = ("numpy", "torch")


class ArrayNamespace:
    """The handful of array functions the dynamics use, from numpy or torch.

    Arithmetic and comparison operators (``+ * / ** < & | ~``) work on both libraries and
    follow the same promotion rules (Python scalars are weak), so dynamics written with them
    and these functions compute the same thing in either.
    """

    cos: Callable[..., Any]
    sin: Callable[..., Any]
    clip: Callable[..., Any]
    where: Callable[..., Any]
    ceil: Callable[..., Any]
    stack: Callable[..., Any]

    def __init__(self, backend: str) -> None:
        self.backend = backend
        if backend == "numpy":
            self.cos, self.sin, self.clip, self.where = np.cos, np.sin, np.clip, np.where
            self.ceil, self.stack = np.ceil, np.stack
        else:
            import torch

            self.cos, self.sin, self.clip, self.where = torch.cos, torch.sin, torch.clip, torch.where
            self.ceil, self.stack = torch.ceil, torch.stack

    def __repr__(self) -> str:
        return f"ArrayNamespace({self.backend!r})"


def resolve_device(device: str | Any | None) -> Any:
    """A ``torch.device`` that exists on this machine; ``"auto"`` picks CUDA when present.

    :raises ValueError: for a malformed device string or a device this machine lacks.
    """
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"invalid torch device {device!r}: {err}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"torch device {device!r} requested, but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"torch device {device!r} requested, but this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"torch device {device!r} requested, but MPS is not available on this machine")
    elif dev.type != "cpu":
        try:
            torch.empty(1, device=dev)
        except Exception as err:  # any backend failure means the device is unusable
            raise ValueError(f"torch device {device!r} is not usable on this machine: {err}") from None
    return dev


class BatchedEnv(VectorEnv):
    """``num_envs`` copies of one environment stepped as arrays (see the module docstring).

    Subclasses set the class attributes and implement :meth:`_dynamics`, :meth:`_observe` and
    :meth:`_reset_bounds`.

    :param num_envs: number of copies ``n``.
    :param backend: ``"numpy"`` or ``"torch"``.
    :param device: torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"``); torch only.
    :param dtype: torch dtype of the physical state (default: the dtype gymnasium integrates in,
        float64 for all but MountainCarContinuous, which gymnasium keeps in float32). Observations
        are float32 regardless.
    :param max_episode_steps: time limit per episode (default: gymnasium's for the task).
    """

    task_id: str = ""
    state_dim: int = 0
    obs_dim: int = 0
    default_max_episode_steps: int = 0
    state_dtype: Any = np.float64
    """numpy dtype gymnasium keeps the state in."""
    same_episodes: bool = False
    """True when, from gymnasium's reset states, the numpy backend runs gymnasium's episodes bit for bit (the
    same float64 operations in the same order, and no draws after a reset): evaluation may then run on it
    (:func:`rewardlab.experiment.evaluate.evaluate`). Acrobot's RK4 differs from gymnasium's by an ulp now and
    then, and its chaos grows that into different episodes, so it is False there."""
    gym_single_observation_space: gym.spaces.Box
    gym_single_action_space: gym.spaces.Space

    # gymnasium annotates ``metadata`` as an instance attribute; it is a per-class constant, as in gymnasium's own envs
    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}  # type: ignore[misc]

    # by backend: numpy arrays and a numpy Generator, or tensors on ``device`` and a torch Generator
    device: Any
    _dtype: Any
    _rng: Any
    _state: Any
    _elapsed: Any

    def __init__(
        self,
        num_envs: int,
        backend: str = "numpy",
        device: str | Any | None = None,
        dtype: Any = None,
        max_episode_steps: int | None = None,
    ) -> None:
        self._set_common_args(num_envs, backend, device, max_episode_steps)
        self.single_observation_space = self.gym_single_observation_space
        self.single_action_space = self.gym_single_action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._discrete = isinstance(self.single_action_space, gym.spaces.Discrete)
        n = self.num_envs
        if backend == "numpy":
            if dtype is not None:
                raise ValueError("dtype= is for the torch backend; the numpy backend uses gymnasium's dtypes")
            self.device = None
            self._dtype = np.dtype(self.state_dtype)
            self._rng = np.random.default_rng()
            self._state = np.zeros((self.state_dim, n), dtype=self._dtype)
            self._elapsed = np.zeros(n, dtype=np.int64)
        else:
            import torch

            self.device = resolve_device(device)
            if dtype is None:
                dtype = torch.float64 if np.dtype(self.state_dtype) == np.float64 else torch.float32
            elif isinstance(dtype, str):
                dtype = getattr(torch, dtype, None)
            if dtype not in (torch.float32, torch.float64):
                raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
            self._dtype = dtype
            self._rng = torch.Generator(device=self.device)
            self._rng.seed()
            self._state = torch.zeros((self.state_dim, n), dtype=dtype, device=self.device)
            self._elapsed = torch.zeros(n, dtype=torch.int64, device=self.device)
            # on the CPU, resetting only the finished rows is cheaper than drawing for all of them;
            # on an accelerator that needs a host sync (how many finished), so draw for all and select
            self._sync_free = self.device.type != "cpu"
        low, high = self._reset_bounds(None)
        self._low, self._high = self._as_rows(low), self._as_rows(high)

    def _set_common_args(
        self, num_envs: int, backend: str, device: str | Any | None, max_episode_steps: int | None
    ) -> None:
        """Check the arguments every batched env takes and set ``num_envs``, ``max_episode_steps``
        (``None``: :attr:`default_max_episode_steps`), ``backend``, ``xp`` and ``render_mode`` (``None``).

        :raises ValueError: a ``num_envs`` or time limit that is not a positive int, an unknown
            backend, or a device other than the CPU for numpy.
        """
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
        limit = self.default_max_episode_steps if max_episode_steps is None else max_episode_steps
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
            raise ValueError(f"max_episode_steps must be a positive int, got {max_episode_steps!r}")
        if backend == "numpy" and device not in (None, "cpu"):
            raise ValueError(f"the numpy backend runs on the CPU; got device={device!r} (use backend='torch')")
        self.num_envs = int(num_envs)
        self.max_episode_steps = int(limit)
        self.backend = backend
        self.xp = ArrayNamespace(backend)
        self.render_mode = None

    # -- to implement ------------------------------------------------------------------------

    def _dynamics(self, state: Any, action: Any) -> tuple[Any, Any, Any, Any]:
        """``(state (state_dim, n), action) -> (next_state, reward (n,), terminated (n,), obs_rows)``.

        ``obs_rows`` is ``_observe(next_state)`` when the dynamics computed it on the way (it
        shares their trigonometry), else ``None``.
        """
        raise NotImplementedError

    def _observe(self, state: Any) -> Any:
        """``state (state_dim, k) -> obs rows (obs_dim, k)`` in the state's dtype."""
        raise NotImplementedError

    def _reset_bounds(self, options: dict[str, Any] | None) -> tuple[Sequence[float], Sequence[float]]:
        """Per-component ``(low, high)`` of the uniform reset distribution (gymnasium's, with ``options``)."""
        raise NotImplementedError

    def _post_sample(self, state: Any) -> Any:
        """Adjust freshly drawn states (``(state_dim, k)``); identity by default."""
        return state

    # -- helpers -----------------------------------------------------------------------------

    def _as_rows(self, values: Sequence[float]) -> Any:
        """A ``(state_dim, 1)`` column of per-component constants in the backend."""
        col = np.asarray(values, dtype=np.float64).reshape(self.state_dim, 1)
        if self.backend == "numpy":
            return col.astype(self._dtype)
        import torch

        return torch.as_tensor(col, dtype=self._dtype, device=self.device)

    def _cast(self, x: Any) -> Any:
        """``x`` in the state's dtype."""
        return x.astype(self._dtype, copy=False) if self.backend == "numpy" else x.to(self._dtype)

    def _f64(self, x: Any) -> Any:
        return x.astype(np.float64, copy=False) if self.backend == "numpy" else x.double()

    def _round_f32(self, x: Any) -> Any:
        """``x`` rounded to float32 values, kept in the state's dtype."""
        if self.backend == "numpy":
            return x.astype(np.float32).astype(self._dtype, copy=False)
        return x.float().to(self._dtype)

    def _reward(self, x: Any) -> Any:
        """Rewards as returned: numpy float64, torch float32."""
        return x.astype(np.float64, copy=False) if self.backend == "numpy" else x.float()

    def _constant(self, value: float) -> Any:
        """A reward of ``value`` for every env."""
        if self.backend == "numpy":
            return np.full(self.num_envs, value)
        import torch

        return torch.full((self.num_envs,), value, dtype=torch.float32, device=self.device)

    def _falses(self) -> Any:
        if self.backend == "numpy":
            return np.zeros(self.num_envs, dtype=bool)
        import torch

        return torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    def _sample(self, k: int, low: Any = None, high: Any = None) -> Any:
        """``k`` fresh states ``(state_dim, k)`` from the reset distribution."""
        low = self._low if low is None else low
        high = self._high if high is None else high
        if self.backend == "numpy":
            u = self._rng.random((self.state_dim, k))
            s = (low + u * (high - low)).astype(self._dtype, copy=False)
        else:
            import torch

            u = torch.rand((self.state_dim, k), generator=self._rng, device=self.device, dtype=torch.float64)
            s = (low + u * (high - low)).to(self._dtype)
        return self._post_sample(s)

    def _obs_rows_to_batch(self, rows: Any) -> Any:
        """``(obs_dim, k)`` -> C-contiguous float32 ``(k, obs_dim)``."""
        if self.backend == "numpy":
            return np.ascontiguousarray(rows.T, dtype=np.float32)
        import torch

        return rows.T.to(torch.float32).contiguous()

    def _seed(self, seed: int | Sequence[int] | None) -> None:
        if seed is None:
            return
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            if seed < 0:
                raise ValueError(f"seed must be a non-negative int, got {seed}")
            entropy: Any = int(seed)
        elif isinstance(seed, Sequence) and not isinstance(seed, str):
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"seed list has {len(seeds)} entries; expected num_envs = {self.num_envs}")
            if any(s is None for s in seeds):
                if all(s is None for s in seeds):
                    return
                raise ValueError("a seed list must be all ints or all None")
            if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in seeds):
                raise ValueError(f"seeds must be non-negative ints, got {seeds!r}")
            entropy = [int(s) for s in seeds]
        else:
            raise ValueError(f"seed must be an int, a list of num_envs ints, or None; got {seed!r}")
        if self.backend == "numpy":
            self._rng = np.random.default_rng(entropy)
        else:
            words = np.random.SeedSequence(entropy).generate_state(2, np.uint32)
            self._rng.manual_seed((int(words[0]) << 31) ^ int(words[1]))

    # -- starting from gymnasium's states (evaluation on gymnasium's episodes) -------------------

    @classmethod
    def starting_state(cls, env: gym.Env) -> Any:
        """The state gymnasium's ``env`` (any wrappers) is in, as :meth:`start_options` takes it."""
        return np.array(env.unwrapped.state, dtype=np.float64)  # type: ignore[attr-defined]

    @classmethod
    def start_options(cls, states: Sequence[Any]) -> dict[str, Any]:
        """``reset`` options that start env ``i`` from ``states[i]`` (:meth:`starting_state` of a gymnasium env)."""
        return {"state": np.stack(states)}

    # -- the VectorEnv API -------------------------------------------------------------------

    def reset(
        self, *, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset every env; ``options`` may set the reset bounds as gymnasium's env does
        (``{"low": , "high": }``; Pendulum: ``{"x_init": , "y_init": }``), or give every env's starting
        state, ``{"state": (n, state_dim)}`` in gymnasium's layout (``env.unwrapped.state``), which is then
        not drawn (``seed`` still seeds the draws of later autoresets)."""
        self._seed(seed)
        if options is not None and not isinstance(options, dict):
            raise ValueError(f"options must be a dict or None, got {type(options).__name__}")
        start = None
        if options:
            options = dict(options)
            start = options.pop("state", None)
        if options:
            low, high = self._reset_bounds(options)
            self._low, self._high = self._as_rows(low), self._as_rows(high)
        self._elapsed[:] = 0
        if start is not None:
            return self.set_state(start), {}
        self._state = self._sample(self.num_envs)
        return self._obs_rows_to_batch(self._observe(self._state)), {}

    def _check_action(self, actions: Any) -> Any:
        n = self.num_envs
        a: Any  # a numpy array or a tensor, by backend
        if self.backend == "numpy":
            if self._discrete:
                a = np.asarray(actions)
                if a.shape != (n,):
                    raise ValueError(f"{self.task_id}: actions must have shape ({n},), got {a.shape}")
                if a.dtype.kind not in "iu":
                    if a.dtype.kind == "f" and np.array_equal(a, np.floor(a)):
                        a = a.astype(np.int64)
                    else:
                        raise ValueError(f"{self.task_id}: discrete actions must be integers, got dtype {a.dtype}")
                k = cast(gym.spaces.Discrete, self.single_action_space).n
                if a.min() < 0 or a.max() >= k:
                    raise ValueError(
                        f"{self.task_id}: actions must be in [0, {k}), got values in [{a.min()}, {a.max()}]"
                    )
                return a
            a = np.asarray(actions, dtype=np.float32)
            if a.shape == (n,):
                a = a[:, None]
            if a.shape != (n, 1):
                raise ValueError(f"{self.task_id}: actions must have shape ({n}, 1), got {a.shape}")
            return a[:, 0]
        import torch

        a = actions if isinstance(actions, torch.Tensor) else torch.as_tensor(np.asarray(actions))
        if a.device != self.device:
            a = a.to(self.device)
        if self._discrete:
            if tuple(a.shape) != (n,):
                raise ValueError(f"{self.task_id}: actions must have shape ({n},), got {tuple(a.shape)}")
            if a.is_floating_point() or a.dtype == torch.bool:
                raise ValueError(f"{self.task_id}: discrete actions must be integers, got dtype {a.dtype}")
            if not self._sync_free:  # value check only where it costs no device sync
                k = cast(gym.spaces.Discrete, self.single_action_space).n
                if bool((a < 0).any()) or bool((a >= k).any()):
                    raise ValueError(f"{self.task_id}: actions must be in [0, {k})")
            return a
        a = a.to(torch.float32)
        if tuple(a.shape) == (n,):
            a = a[:, None]
        if tuple(a.shape) != (n, 1):
            raise ValueError(f"{self.task_id}: actions must have shape ({n}, 1), got {tuple(a.shape)}")
        return a[:, 0]

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        """Advance every env one step; see the module docstring for the returned arrays."""
        a = self._check_action(actions)
        state, reward, terminated, rows = self._dynamics(self._state, a)
        self._elapsed += 1
        truncated = self._elapsed >= self.max_episode_steps
        done = terminated | truncated
        final_obs = self._obs_rows_to_batch(self._observe(state) if rows is None else rows)
        if self.backend == "numpy":
            idx = np.flatnonzero(done)
            obs = final_obs.copy()
            if idx.size:
                fresh = self._sample(idx.size)
                state[:, idx] = fresh
                self._elapsed[idx] = 0
                obs[idx] = self._obs_rows_to_batch(self._observe(fresh))
        elif self._sync_free:
            fresh = self._sample(self.num_envs)
            state = self.xp.where(done, fresh, state)
            self._elapsed.masked_fill_(done, 0)
            obs = self.xp.where(done[:, None], self._obs_rows_to_batch(self._observe(fresh)), final_obs)
        else:
            idx = done.nonzero()[:, 0]
            obs = final_obs.clone()
            if idx.numel():
                fresh = self._sample(int(idx.numel()))
                state[:, idx] = fresh
                self._elapsed[idx] = 0
                obs[idx] = self._obs_rows_to_batch(self._observe(fresh))
        self._state = state
        return obs, reward, terminated, truncated, {"final_obs": final_obs, "_final_obs": done}

    # -- exact state, for tests and analysis -------------------------------------------------

    def get_state(self) -> Any:
        """The physical state of every env, ``(n, state_dim)`` (a copy), in gymnasium's layout
        (``env.unwrapped.state``)."""
        return self._state.T.copy() if self.backend == "numpy" else self._state.T.clone()

    def set_state(self, state: Any, elapsed_steps: Any = None) -> Any:
        """Set the physical state of every env from ``(n, state_dim)`` values; return the observation.

        :param elapsed_steps: optional ``(n,)`` steps already taken in each episode (time limit);
            the counters are left as they are when omitted.
        """
        n = self.num_envs
        s: Any  # a numpy array or a tensor, by backend
        if self.backend == "numpy":
            s = np.asarray(state, dtype=np.float64)
            if s.shape != (n, self.state_dim):
                raise ValueError(f"state must have shape ({n}, {self.state_dim}), got {s.shape}")
            self._state = np.ascontiguousarray(s.T, dtype=self._dtype)
            if elapsed_steps is not None:
                self._elapsed[:] = np.broadcast_to(np.asarray(elapsed_steps, dtype=np.int64), (n,))
        else:
            import torch

            s = torch.as_tensor(state, device=self.device)
            if tuple(s.shape) != (n, self.state_dim):
                raise ValueError(f"state must have shape ({n}, {self.state_dim}), got {tuple(s.shape)}")
            self._state = s.T.to(self._dtype).contiguous()
            if elapsed_steps is not None:
                self._elapsed[:] = torch.as_tensor(elapsed_steps, dtype=torch.int64, device=self.device)
        return self._obs_rows_to_batch(self._observe(self._state))

    @property
    def elapsed_steps(self) -> Any:
        """``(n,)`` steps taken in each env's current episode."""
        return self._elapsed.copy() if self.backend == "numpy" else self._elapsed.clone()

    def __repr__(self) -> str:
        where = "" if self.device is None else f", device={self.device}"
        return f"{type(self).__name__}({self.task_id}, num_envs={self.num_envs}, backend={self.backend}{where})"
