"""The reward contract: transition batches in, named reward components out.

Every reward source -- hand-shaped, env, learned, LLM-written, intrinsic -- implements
:meth:`RewardSource.compute` over a :class:`TransitionBatch` from a vector of envs and
returns :class:`RewardTerms`. Arrays are numpy on CPU or torch tensors on an accelerator;
sources never loop over environments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from envs.state_view import StateView

if TYPE_CHECKING:  # torch is imported lazily: ``import rewardlab`` stays light
    import torch
    from typing_extensions import TypeIs

    from rewardlab.data.rollout import Episode, Rollout

#: An array over the vector of envs (leading dim ``n_envs``, or ``(T, n_envs)`` in a rollout):
#: numpy on the CPU, a torch tensor on the batch's device.
Array: TypeAlias = "np.ndarray | torch.Tensor"


def is_torch(x: object) -> TypeIs[torch.Tensor]:
    """True for a torch tensor (checked without importing torch)."""
    t = type(x)
    return t is not np.ndarray and t.__module__.startswith("torch")


class RewardError(ValueError):
    """A reward produced something unusable (NaN/inf, wrong shape, unstable components)."""


@dataclass
class TransitionBatch:
    """One vector step: arrays over ``n`` envs.

    :param obs: observations before the action, ``(n, *obs_shape)``.
    :param action: actions, ``(n, *act_shape)``.
    :param next_obs: the true next observation, ``(n, *obs_shape)`` -- the terminal
        observation on terminated/truncated steps, never the first obs of the next episode.
    :param env_reward: the env's own reward, ``(n,)``.
    :param terminated: ``(n,)`` bool, true MDP termination.
    :param truncated: ``(n,)`` bool, time limit or other cut.
    :param info: declared info fields as arrays ``(n,)``, for the next state.
    :param state: the task's state view of ``next_obs`` (``state.prev`` for ``obs``).
    :param valid: ``(n,)`` bool; False marks autoreset pseudo-steps whose reward is discarded.
    """

    obs: Array
    action: Array
    next_obs: Array
    env_reward: Array
    terminated: Array
    truncated: Array
    info: Mapping[str, Array] = field(default_factory=dict)
    state: StateView | None = None
    valid: Array | None = None

    @property
    def n(self) -> int:
        return int(self.env_reward.shape[0])

    @property
    def done(self) -> Array:
        return self.terminated | self.truncated


@dataclass
class RewardTerms:
    """Named reward components and the total, each ``(n,)``."""

    total: Array
    components: dict[str, Array] = field(default_factory=dict)


class RewardSource:
    """Base class of every reward.

    Subclasses implement :meth:`compute`. Learned sources also override :meth:`update`,
    :meth:`state_dict` and :meth:`load_state_dict`. ``+``, ``*`` and ``-`` compose sources.
    """

    name: str = "reward"
    #: True when compute() needs the task's state view in ``batch.state``.
    needs_state: bool = True
    #: The file the reward's code was read from (``path.py`` and ``llm:path.py`` specs); a run copies it into
    #: its directory as ``reward_source.py``. ``None``: no code file (built-in, composed or hand-made sources).
    source_file: str | None = None

    def compute(self, batch: TransitionBatch) -> RewardTerms:
        raise NotImplementedError

    def update(self, rollout: Rollout) -> dict[str, float]:
        """Learn from a collected :class:`~rewardlab.data.Rollout`; returns training statistics."""
        return {}

    # -- the training loop's rollout and episode hooks (see DESIGN.md, "The training contract") --------

    def wants_rollout(self) -> bool:
        """True when :meth:`on_rollout` must be called on every rollout (learned and rollout-level sources)."""
        return any(c.wants_rollout() for c in self.children())

    def on_rollout(self, rollout: Rollout) -> RewardTerms | None:
        """Called once per collected :class:`~rewardlab.data.Rollout`, *before* returns and advantages.

        A learned source updates itself here (``update(rollout)``); a rollout-level source returns terms
        over all ``T*n`` steps, arrays of shape ``(T, n)``, that are added to ``rollout.reward`` (one
        batched call, never a loop over steps or envs). ``None``: nothing to add.
        """
        parts = [t for c in self.children() if c.wants_rollout() and (t := c.on_rollout(rollout)) is not None]
        return _sum_terms(parts)

    def rollout_stats(self) -> dict[str, float]:
        """Statistics of the last :meth:`on_rollout` (e.g. a reward model's loss), logged as ``reward_model/<k>``."""
        out: dict[str, float] = {}
        for c in self.children():
            out.update(c.rollout_stats())
        return out

    def changed(self) -> bool:
        """True when the last :meth:`on_rollout` changed how this source scores transitions already stored
        (a reward model after an update): off-policy agents then rescore their replay buffer."""
        return any(c.changed() for c in self.children())

    def wants_episodes(self) -> bool:
        """True for episode-level sources (credit redistribution): :meth:`relabel` sees every finished episode."""
        return any(c.wants_episodes() for c in self.children())

    def relabel(self, episodes: list[Episode]) -> list[Array] | None:
        """New per-step rewards for finished :class:`~rewardlab.data.Episode` s, one ``(L,)`` array each,
        replacing what the agent would learn from those steps; ``None`` leaves them as they are."""
        for c in self.children():
            if c.wants_episodes():
                return c.relabel(episodes)
        return None

    def train(self, mode: bool = True) -> RewardSource:
        """Switch running statistics on (training) or off (evaluation)."""
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    training: bool = True

    def children(self) -> list[RewardSource]:
        return []

    def reset_envs(self, idx: Any) -> None:
        """Envs ``idx`` were reset by the vector env, not by an episode's end (``reset()``): a source that keeps
        per-episode state (an episodic count) restarts it for them. Sources without such state ignore it."""
        for c in self.children():
            c.reset_envs(idx)

    def state_dict(self) -> dict[str, Any]:
        return {f"{i}": c.state_dict() for i, c in enumerate(self.children()) if c.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for i, c in enumerate(self.children()):
            if f"{i}" in state:
                c.load_state_dict(state[f"{i}"])

    def describe(self) -> str:
        return self.name

    def config(self) -> dict[str, Any]:
        """Settings this source resolved that its spec does not show but that change what a run computes or
        how it runs (an LLM reward's sandbox mode and call timeout, read from environment variables), merged
        over children. A run saves them in its ``config.json`` (``reward.settings``) and resumes only with the
        same ones. JSON-serialisable; ``{}`` for a source that is all in its spec."""
        out: dict[str, Any] = {}
        for child in self.children():
            out.update(child.config())
        return out

    def info(self) -> dict[str, Any]:
        """What a run records about this source beyond its spec (e.g. the sandbox guarantees that held),
        merged over children. JSON-serialisable."""
        out: dict[str, Any] = {}
        for child in self.children():
            out.update(child.info())
        return out

    def close(self) -> None:
        """Release what the source holds (e.g. a sandbox process). It may be used again afterwards."""
        for child in self.children():
            child.close()

    def __call__(self, batch: TransitionBatch) -> RewardTerms:
        return self.compute(batch)

    def __add__(self, other: RewardSource) -> RewardSource:
        return WeightedSum([(1.0, self), (1.0, other)])

    def __sub__(self, other: RewardSource) -> RewardSource:
        return WeightedSum([(1.0, self), (-1.0, other)])

    def __mul__(self, c: float) -> RewardSource:
        return Scale(self, float(c))

    __rmul__ = __mul__


# -- the algebra the operators build: a + b, a - b, c * a


class WeightedSum(RewardSource):
    """``sum_i w_i * r_i``. Components are prefixed with their source name (``hand.height``)."""

    def __init__(self, terms: Sequence[tuple[float, RewardSource]]) -> None:
        if not terms:
            raise ValueError("WeightedSum needs at least one source")
        flat: list[tuple[float, RewardSource]] = []
        for w, s in terms:  # flatten nested sums and scales so names stay short
            while isinstance(s, Scale):
                w, s = w * s.c, s.source
            if isinstance(s, WeightedSum):
                flat.extend((w * w2, s2) for w2, s2 in s.terms)
            else:
                flat.append((float(w), s))
        self.terms: list[tuple[float, RewardSource]] = flat
        self.name = "+".join(_fmt(w, s.name) for w, s in flat).replace("+-", "-")
        self.needs_state = any(s.needs_state for _, s in flat)

    def children(self) -> list[RewardSource]:
        return [s for _, s in self.terms]

    def compute(self, batch: TransitionBatch) -> RewardTerms:
        total: Array | None = None
        comps: dict[str, Any] = {}
        for i, (w, s) in enumerate(self.terms):
            t = s.compute(batch)
            part = t.total * w if w != 1.0 else t.total
            total = part if total is None else total + part
            prefix = s.name if sum(1 for _, o in self.terms if o.name == s.name) == 1 else f"{s.name}{i}"
            for k, v in t.components.items():
                key = k if k.startswith(prefix + ".") or k == prefix else f"{prefix}.{k}"
                comps[key] = v * w if w != 1.0 else v
        assert total is not None  # __init__ refuses an empty sum
        return RewardTerms(total, comps)

    def on_rollout(self, rollout: Rollout) -> RewardTerms | None:
        total: Array | None = None
        comps: dict[str, Any] = {}
        for w, s in self.terms:
            if not s.wants_rollout() or (t := s.on_rollout(rollout)) is None:
                continue
            part = t.total * w if w != 1.0 else t.total
            total = part if total is None else total + part
            comps.update({k: v * w if w != 1.0 else v for k, v in t.components.items()})
        return None if total is None else RewardTerms(total, comps)

    def describe(self) -> str:
        return " + ".join(f"{w:g} * ({s.describe()})" for w, s in self.terms)


def _fmt(w: float, name: str) -> str:
    return name if w == 1.0 else f"{w:g}*{name}"


class SourceWrapper(RewardSource):
    """A reward made from one inner ``source`` (scaled, clipped, normalised): it needs the state view when the
    inner source does, and trains, saves and runs the rollout and episode hooks through it, its one child."""

    def __init__(self, source: RewardSource, name: str) -> None:
        self.source, self.name = source, name
        self.needs_state = source.needs_state

    def children(self) -> list[RewardSource]:
        return [self.source]


class Scale(SourceWrapper):
    """``c * r``; components are scaled too."""

    def __init__(self, source: RewardSource, c: float) -> None:
        self.c = float(c)
        super().__init__(source, f"{self.c:g}*{source.name}")

    def compute(self, batch: TransitionBatch) -> RewardTerms:
        t = self.source.compute(batch)
        return RewardTerms(t.total * self.c, {k: v * self.c for k, v in t.components.items()})

    def on_rollout(self, rollout: Rollout) -> RewardTerms | None:
        t = self.source.on_rollout(rollout) if self.source.wants_rollout() else None
        return None if t is None else RewardTerms(t.total * self.c, {k: v * self.c for k, v in t.components.items()})


def _sum_terms(parts: list[RewardTerms]) -> RewardTerms | None:
    if not parts:
        return None
    total = parts[0].total
    comps = dict(parts[0].components)
    for t in parts[1:]:
        total = total + t.total
        comps.update(t.components)
    return RewardTerms(total, comps)


def check_terms(terms: RewardTerms, n: int, source: str) -> RewardTerms:
    """Validate shape and finiteness; raise :class:`RewardError` naming the culprit."""
    total = terms.total
    if tuple(total.shape) != (n,):
        raise RewardError(
            f"reward {source!r} returned a total of shape {tuple(total.shape)}; expected ({n},) -- one value per env"
        )
    finite = bool(total.isfinite().all()) if is_torch(total) else bool(np.isfinite(total).all())
    if not finite:
        bad = [k for k, v in terms.components.items() if not all_finite(v)]
        where = f" in component(s) {bad}" if bad else ""
        raise RewardError(f"reward {source!r} produced NaN or inf{where}")
    return terms


def all_finite(x: Any) -> bool:
    if is_torch(x):
        return bool(x.isfinite().all())
    return bool(np.isfinite(np.asarray(x, dtype=float)).all())


class FunctionReward(RewardSource):
    """Adapts a plain function over the state view into a :class:`RewardSource`.

    ``fn(s)`` may return a mapping of named components (the total is their sum), a single
    array (one component named after the reward), or ``(total, components)``. Scalar
    components broadcast to ``(n,)``.

    :param source_file: the file ``fn`` was loaded from (see :attr:`RewardSource.source_file`).
    :param settings: what :meth:`config` reports: how the function is run, where that is not in its spec.
    """

    def __init__(
        self,
        fn: Any,
        name: str | None = None,
        description: str = "",
        *,
        source_file: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.fn = fn
        self.name = name or str(getattr(fn, "__name__", "reward"))
        self.description = description or (fn.__doc__ or "").strip().split("\n")[0]
        self.source_file = source_file
        #: what :meth:`config` reports (e.g. how LLM-written code is run); ``{}`` for a plain function
        self.settings: dict[str, Any] = dict(settings or {})
        self._keys: tuple[str, ...] | None = None

    def compute(self, batch: TransitionBatch) -> RewardTerms:
        if batch.state is None:
            raise RewardError(f"reward {self.name!r} reads the state view, but the batch has no task view")
        out = self.fn(batch.state)
        n = batch.n
        if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], Mapping):
            total, comps = out
            comps = {k: _broadcast(v, n, self.name, k) for k, v in comps.items()}
            total = _broadcast(total, n, self.name, "total")
        elif isinstance(out, Mapping):
            if not out:
                raise RewardError(f"reward {self.name!r} returned no components")
            comps = {}
            total = None
            ref = next((v for v in out.values() if is_torch(v)), None)
            for k, v in out.items():
                if not (type(v) is np.ndarray and v.shape == (n,) and v.dtype.kind == "f"):
                    v = _broadcast(v, n, self.name, k)
                    if ref is not None and not is_torch(v):  # scalars join torch components on their device
                        import torch

                        v = torch.as_tensor(v, dtype=ref.dtype if ref.is_floating_point() else None, device=ref.device)
                comps[k] = v
                total = v if total is None else total + v
        else:
            total = _broadcast(out, n, self.name, "total")
            comps = {self.name: total}
        keys = tuple(comps)
        if self._keys is None:
            self._keys = keys
        elif keys != self._keys:
            raise RewardError(
                f"reward {self.name!r} changed its component names from {list(self._keys)} to {list(keys)}"
            )
        return RewardTerms(total, comps)  # shape and finiteness are checked once, by the wrapper

    def describe(self) -> str:
        return f"{self.name}: {self.description}" if self.description else self.name

    def config(self) -> dict[str, Any]:
        return dict(self.settings)


def _broadcast(v: Any, n: int, source: str, key: str) -> Array:
    if is_torch(v):
        if v.dim() == 0:
            return v.expand(n).float()
        if tuple(v.shape) != (n,):
            raise RewardError(f"reward {source!r} component {key!r} has shape {tuple(v.shape)}; expected ({n},)")
        return v.float() if not v.is_floating_point() else v
    a = np.asarray(v)
    if a.dtype == object:
        raise RewardError(f"reward {source!r} component {key!r} is not numeric ({type(v).__name__})")
    if a.ndim == 0:
        return np.full(n, float(a))
    if a.shape != (n,):
        raise RewardError(f"reward {source!r} component {key!r} has shape {a.shape}; expected ({n},)")
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    return a


class EnvReward(RewardSource):
    """The env's own reward, unchanged."""

    name = "env"
    needs_state = False

    def compute(self, batch: TransitionBatch) -> RewardTerms:
        r = batch.env_reward
        return RewardTerms(r, {"env": r})

    def describe(self) -> str:
        return "env: the environment's own reward"
