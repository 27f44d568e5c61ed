"""Reward distances that ignore potential shaping and positive rescaling: EPIC and STARC.

Two rewards that differ only by potential shaping ``gamma * phi(s') - phi(s)`` or by a positive
factor order every policy the same way, yet their raw values can be far apart. EPIC (Gleave et al.
2021, "Quantifying Differences in Reward Functions") and STARC (Skalse et al. 2023, "STARC: A General
Framework For Quantifying Differences Between Reward Functions") first **canonicalise** each reward,
which removes shaping, then **standardise** it, which removes scale, and only then compare.

EPIC canonicalisation, with ``S, S' ~ D_S`` (states) and ``A ~ D_A`` (actions) drawn independently::

    C(R)(s, a, s') = R(s, a, s') + E[gamma R(s', A, S') - R(s, A, S') - gamma R(S, A, S')]

Distances here, all in ``[0, 1]``, all pseudometrics (0 between equivalent rewards, symmetric,
triangle inequality), all computed under a coverage distribution ``D`` over transitions:

* **EPIC** (Pearson distance): ``sqrt((1 - rho) / 2)`` with ``rho`` the ``D``-weighted Pearson
  correlation of ``C(R_a)`` and ``C(R_b)``. Equivalently ``||Z_a - Z_b|| / 2`` with ``Z`` the
  centred, unit-variance canonical reward.
* **STARC-EPIC-L2** (the STARC variant implemented for samples and tables): canonicalisation ``c`` =
  the EPIC canonicalisation above, normalisation ``s(R) = c(R) / ||c(R)||``, metric ``||s_a - s_b|| / 2``,
  with ``||x|| = sqrt(E_D[x^2])`` (the ``D``-weighted L2 norm). The paper's metric ``||s_a - s_b||``
  lies in ``[0, 2]``; halving it (our convention) puts it on EPIC's scale: 0 for equivalent rewards,
  1 for ``R`` against ``-R``, 1/2 for orthogonal ones. It differs from EPIC only in not centring: the
  canonical reward's mean under ``D`` (which EPIC's canonicalisation does not force to zero when ``D``
  is not ``D_S x D_A x D_S``) counts as signal.
* **STARC-VAL-L2** (tables only, needs the transition function): canonicalisation by value-adjusted
  levelling ``c(R)(s, a, s') = E_{S'~P(s,a)}[R(s, a, S') - V^pi(s) + gamma V^pi(S')]``, i.e. the
  advantage ``A^pi(s, a)`` of a fixed policy ``pi`` (uniform by default). It also removes
  ``S'``-redistribution (rewards that differ only in how they split ``E[R | s, a]`` over next states),
  which EPIC's canonicalisation does not.

A reward whose canonical form is zero (a constant, or pure shaping: nothing left to order policies)
is standardised to the zero vector, as STARC prescribes; its distance to a non-zero reward is then 1/2
and to another zero reward 0.

Tables: ``R[s, a, s']`` arrays with ``D_S``, ``D_A`` given as probability vectors
(:func:`epic_distance_tabular`, :func:`starc_distance_tabular`).

Samples (continuous tasks): :func:`sample_transitions` rolls a policy out and keeps the true
``(s, a, s')``; :func:`epic_distance` / :func:`starc_distance` estimate the expectations in the
canonicalisation by Monte Carlo as the EPIC paper does: ``D_S`` is the set of states the rollouts
visited, ``D_A`` the actions they took (or the action space, uniformly), and each expectation is a
mean over the cross-product of ``n_action_samples`` actions and ``n_state_samples`` states. The same
state samples serve as ``S`` and ``S'``, so potential shaping cancels *exactly* (to rounding), not
only in expectation. The coverage ``D`` is the empirical distribution of the sampled transitions;
bootstrap confidence intervals resample those transitions.

Cross-product transitions ``(s, A_j, S'_k)`` are synthetic: they get ``terminated = truncated = False``,
``env_reward = 0``, the ``info`` of the state ``S'_k`` was taken from (``prev_info`` of ``s``) and the
episode ``step`` of ``S'_k``. Sources that read the env reward, the done flags or ``info`` are therefore
evaluated on these synthetic values (the ``env`` reward is 0 on every synthetic transition).

Terminal steps: :class:`~rewardlab.rewards.compose.PotentialShaping` sets ``phi(s') = 0`` when ``s'`` is
terminal. That keeps optimal policies in an episodic task, but on the observation space EPIC works on it
is not a potential shaping: on terminated transitions a shaped reward and its base differ by
``gamma * phi(s')``, a term no state potential produces. With ``terminal="keep"`` (the default: every
reward is scored exactly as training sees it) such pairs are therefore *not* at distance 0 when the
sample holds terminated transitions -- on MountainCar with an energy-pumping policy, where the sparse
reward lives only on those transitions, ``d(potential, sparse)`` is about 0.99. ``terminal="continue"``
scores every real transition as non-terminal, which makes the shaped pair equivalent again but also
erases whatever a reward pays for terminating (CartPole's alive bonus). ``n_terminated`` in
:func:`distance`'s result says whether the choice matters. (DARD, which draws ``S'`` from the
transition model, handles this; it needs a model and is not implemented here.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from envs.registry import Task, get_task
from rewardlab.data import Rollout
from rewardlab.rewards.base import RewardSource, TransitionBatch, check_terms, is_torch
from rewardlab.rewards.compose import PotentialShaping

FloatArray = NDArray[np.float64]
Policy = Callable[[np.ndarray], Any]
"""Batched policy: observations ``(n_envs, *obs_shape)`` -> actions ``(n_envs, *act_shape)``."""

METHODS = ("epic", "starc")
VARIANTS = {"epic": "EPIC (Pearson distance of EPIC-canonicalised rewards)", "starc": "STARC-EPIC-L2"}

#: a canonical reward whose L2 norm is below this fraction of the raw reward's size (RMS of the sampled
#: values; max |R| for tables) counts as zero: pure shaping cancels to rounding, not to exactly 0
ZERO_RTOL = 1e-6


# -- standardisation and the two distances -----------------------------------------------------


def _weights(w: ArrayLike | None, shape: tuple[int, ...]) -> FloatArray:
    if w is None:
        return np.full(shape, 1.0 / math.prod(shape))
    w = np.asarray(w, dtype=np.float64)
    if w.shape != shape:
        raise ValueError(f"coverage weights have shape {w.shape}; expected {shape}")
    if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError("coverage weights must be finite, non-negative and not all zero")
    return w / w.sum()


def _standardise(c: FloatArray, w: FloatArray, centre: bool, zero: bool) -> FloatArray:
    """Centre (EPIC) or not (STARC), then divide by the ``w``-weighted L2 norm over the last axes.

    ``c`` is ``(..., *w.shape)``; ``zero`` marks a canonical reward standardised to 0.
    """
    axes = tuple(range(c.ndim - w.ndim, c.ndim))
    if centre:
        c = c - (c * w).sum(axis=axes, keepdims=True)
    norm = np.sqrt((c * c * w).sum(axis=axes, keepdims=True))
    zero = np.asarray(zero, dtype=bool) | (norm == 0.0)
    return np.where(zero, 0.0, c / np.where(zero, 1.0, norm))


def _size(x: FloatArray) -> float:
    return float(np.abs(x).max(initial=0.0))


def _metric(za: FloatArray, zb: FloatArray, w: FloatArray) -> FloatArray:
    axes = tuple(range(za.ndim - w.ndim, za.ndim))
    d = np.sqrt((((za - zb) ** 2) * w).sum(axis=axes)) / 2.0
    return np.clip(d, 0.0, 1.0)


def pearson_distance(x: ArrayLike, y: ArrayLike, weights: ArrayLike | None = None) -> float:
    """EPIC's Pearson distance ``sqrt((1 - rho) / 2)`` between two arrays of equal shape.

    :param weights: the coverage distribution over entries (same shape; normalised here); uniform
        when ``None``. A constant array counts as the zero reward (distance 1/2 to anything non-constant).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w = _weights(weights, x.shape)
    za, zb = (_standardise(v, w, True, _is_zero(v, _size(v), w, True)) for v in (x, y))
    return float(_metric(za, zb, w))


def starc_l2_distance(x: ArrayLike, y: ArrayLike, weights: ArrayLike | None = None) -> float:
    """``|| x/||x|| - y/||y|| || / 2`` with the ``weights``-weighted L2 norm; a zero array maps to 0."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w = _weights(weights, x.shape)
    za, zb = (_standardise(v, w, False, _is_zero(v, _size(v), w, False)) for v in (x, y))
    return float(_metric(za, zb, w))


def _is_zero(c: FloatArray, scale: float, w: FloatArray, centre: bool, rtol: float = ZERO_RTOL) -> bool:
    """Whether the canonical reward ``c`` vanishes up to rounding, relative to ``scale``, the size of
    the raw reward (pure shaping cancels to ~1e-16 of it, not to exactly zero)."""
    cc = c - (c * w).sum() if centre else c
    return float(np.sqrt((cc * cc * w).sum())) <= rtol * scale


# -- tabular (exact) ---------------------------------------------------------------------------


def _check_table(R: ArrayLike) -> FloatArray:
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 3 or R.shape[0] != R.shape[2]:
        raise ValueError(f"a tabular reward is R[s, a, s'] of shape (S, A, S); got {R.shape}")
    if not np.isfinite(R).all():
        raise ValueError("tabular reward has NaN or inf entries")
    return R


def _dist(p: ArrayLike | None, n: int, what: str) -> FloatArray:
    if p is None:
        return np.full(n, 1.0 / n)
    p = np.asarray(p, dtype=np.float64)
    if p.shape != (n,) or (p < 0).any() or not np.isclose(p.sum(), 1.0):
        raise ValueError(f"{what} must be a probability vector of length {n}")
    return p


def epic_canonicalise_tabular(
    R: ArrayLike, gamma: float, d_s: ArrayLike | None = None, d_a: ArrayLike | None = None
) -> FloatArray:
    """EPIC canonical reward ``C(R)[s, a, s']``, exact.

    :param R: reward table ``(S, A, S)``.
    :param gamma: discount in ``[0, 1]``.
    :param d_s: state distribution ``D_S`` ``(S,)``; uniform when ``None``.
    :param d_a: action distribution ``D_A`` ``(A,)``; uniform when ``None``.
    """
    R = _check_table(R)
    n_s, n_a, _ = R.shape
    ds, da = _dist(d_s, n_s, "d_s"), _dist(d_a, n_a, "d_a")
    g = np.einsum("xas,a,s->x", R, da, ds)  # E_{A,S'} R(x, A, S') for every state x
    c = float(ds @ g)  # E_{S,A,S'} R(S, A, S')
    return R + gamma * g[None, None, :] - g[:, None, None] - gamma * c


def val_canonicalise_tabular(
    R: ArrayLike, gamma: float, transition: ArrayLike, policy: ArrayLike | None = None
) -> FloatArray:
    """Value-adjusted levelling: ``A^pi(s, a)`` of a fixed policy, broadcast over ``s'``.

    :param R: reward table ``(S, A, S)``.
    :param gamma: discount in ``[0, 1)``.
    :param transition: ``P[s, a, s']`` ``(S, A, S)``, rows summing to 1.
    :param policy: ``pi[s, a]`` ``(S, A)``; uniform when ``None``.
    """
    R = _check_table(R)
    n_s, n_a, _ = R.shape
    P = np.asarray(transition, dtype=np.float64)
    if P.shape != R.shape or not np.allclose(P.sum(-1), 1.0) or (P < 0).any():
        raise ValueError(f"transition must be P[s, a, s'] of shape {R.shape} with rows summing to 1")
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"value-adjusted levelling needs gamma in [0, 1), got {gamma}")
    pi = np.full((n_s, n_a), 1.0 / n_a) if policy is None else np.asarray(policy, dtype=np.float64)
    if pi.shape != (n_s, n_a) or not np.allclose(pi.sum(-1), 1.0):
        raise ValueError(f"policy must be pi[s, a] of shape {(n_s, n_a)} with rows summing to 1")
    r_sa = (P * R).sum(-1)
    v = np.linalg.solve(np.eye(n_s) - gamma * np.einsum("sa,sax->sx", pi, P), (pi * r_sa).sum(-1))
    q = r_sa + gamma * P @ v
    return np.broadcast_to((q - v[:, None])[:, :, None], R.shape).copy()


def _coverage(cov: ArrayLike | None, ds: FloatArray, da: FloatArray) -> FloatArray:
    if cov is None:
        return ds[:, None, None] * da[None, :, None] * ds[None, None, :]
    return _weights(cov, (len(ds), len(da), len(ds)))


def epic_distance_tabular(
    R_a: ArrayLike,
    R_b: ArrayLike,
    gamma: float,
    d_s: ArrayLike | None = None,
    d_a: ArrayLike | None = None,
    coverage: ArrayLike | None = None,
) -> float:
    """Exact EPIC distance between two reward tables ``(S, A, S)``.

    :param coverage: distribution over transitions ``(S, A, S)`` for the Pearson correlation;
        ``D_S x D_A x D_S`` when ``None`` (the EPIC paper's default).
    """
    Ra, Rb = _check_table(R_a), _check_table(R_b)
    if Ra.shape != Rb.shape:
        raise ValueError(f"reward tables differ in shape: {Ra.shape} vs {Rb.shape}")
    ds, da = _dist(d_s, Ra.shape[0], "d_s"), _dist(d_a, Ra.shape[1], "d_a")
    w = _coverage(coverage, ds, da)
    zs = []
    for R in (Ra, Rb):
        C = epic_canonicalise_tabular(R, gamma, ds, da)
        zs.append(_standardise(C, w, True, _is_zero(C, _size(R), w, True)))
    return float(_metric(zs[0], zs[1], w))


def starc_distance_tabular(
    R_a: ArrayLike,
    R_b: ArrayLike,
    gamma: float,
    d_s: ArrayLike | None = None,
    d_a: ArrayLike | None = None,
    coverage: ArrayLike | None = None,
    canonicalisation: Literal["epic", "val"] = "epic",
    transition: ArrayLike | None = None,
    policy: ArrayLike | None = None,
) -> float:
    """Exact STARC distance in ``[0, 1]``: STARC-EPIC-L2 (default) or STARC-VAL-L2.

    :param canonicalisation: ``"epic"`` (uses ``d_s``, ``d_a``) or ``"val"`` (uses ``transition``
        and ``policy``; see :func:`val_canonicalise_tabular`).
    :param coverage: distribution over transitions ``(S, A, S)`` defining the weighted L2 norm;
        ``D_S x D_A x D_S`` when ``None``.
    """
    Ra, Rb = _check_table(R_a), _check_table(R_b)
    if Ra.shape != Rb.shape:
        raise ValueError(f"reward tables differ in shape: {Ra.shape} vs {Rb.shape}")
    ds, da = _dist(d_s, Ra.shape[0], "d_s"), _dist(d_a, Ra.shape[1], "d_a")
    w = _coverage(coverage, ds, da)
    zs = []
    for R in (Ra, Rb):
        if canonicalisation == "epic":
            C = epic_canonicalise_tabular(R, gamma, ds, da)
        elif canonicalisation == "val":
            if transition is None:
                raise ValueError("canonicalisation='val' needs the transition function P[s, a, s']")
            C = val_canonicalise_tabular(R, gamma, transition, policy)
        else:
            raise ValueError(f"canonicalisation must be 'epic' or 'val', got {canonicalisation!r}")
        zs.append(_standardise(C, w, False, _is_zero(C, _size(R), w, False)))
    return float(_metric(zs[0], zs[1], w))


# -- transition samples ------------------------------------------------------------------------


@dataclass(frozen=True)
class States:
    """A set of states as rewards see them: observation, declared info fields, episode step.

    :param obs: ``(m, *obs_shape)``.
    :param info: declared info fields, each ``(m,)``.
    :param step: ``(m,)`` steps taken in the episode to reach the state (0 after reset).
    """

    obs: np.ndarray
    info: Mapping[str, np.ndarray]
    step: np.ndarray

    def __len__(self) -> int:
        return len(self.obs)

    def take(self, idx: np.ndarray) -> States:
        return States(self.obs[idx], {k: v[idx] for k, v in self.info.items()}, self.step[idx])

    @staticmethod
    def concat(parts: Sequence[States]) -> States:
        keys = parts[0].info.keys()
        return States(
            np.concatenate([p.obs for p in parts]),
            {k: np.concatenate([p.info[k] for p in parts]) for k in keys},
            np.concatenate([p.step for p in parts]),
        )


@dataclass(frozen=True)
class Transitions:
    """Real transitions ``(s, a, s')`` from rollouts; arrays with leading dimension ``n``.

    :param obs: ``s``, ``(n, *obs_shape)``.
    :param action: ``(n, *act_shape)``.
    :param next_obs: the true ``s'`` (the terminal observation on done steps), ``(n, *obs_shape)``.
    :param env_reward: the env's reward, ``(n,)``.
    :param terminated: ``(n,)`` bool.
    :param truncated: ``(n,)`` bool.
    :param info: declared info fields at ``s'``, each ``(n,)``.
    :param prev_info: declared info fields at ``s``, each ``(n,)``.
    :param step: ``(n,)`` steps taken in the episode, counting this one.
    """

    obs: np.ndarray
    action: np.ndarray
    next_obs: np.ndarray
    env_reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    info: Mapping[str, np.ndarray]
    prev_info: Mapping[str, np.ndarray]
    step: np.ndarray

    def __len__(self) -> int:
        return len(self.obs)

    def take(self, idx: np.ndarray) -> Transitions:
        return Transitions(
            self.obs[idx],
            self.action[idx],
            self.next_obs[idx],
            self.env_reward[idx],
            self.terminated[idx],
            self.truncated[idx],
            {k: v[idx] for k, v in self.info.items()},
            {k: v[idx] for k, v in self.prev_info.items()},
            self.step[idx],
        )

    @property
    def prev_states(self) -> States:
        return States(self.obs, self.prev_info, self.step - 1)

    @property
    def next_states(self) -> States:
        return States(self.next_obs, self.info, self.step)

    def state_pool(self) -> States:
        """Every state the rollouts visited (each ``s`` and each ``s'``): the default ``D_S``."""
        return States.concat([self.prev_states, self.next_states])

    @classmethod
    def from_rollout(cls, rollout: Rollout) -> Transitions:
        """Every transition of a numpy :class:`~rewardlab.data.Rollout` from :class:`~rewardlab.data.Collector`,
        flattened step-major (step 0 of every env, then step 1, ...)."""
        if rollout.step is None:
            raise ValueError("the rollout has no episode step counts; collect it with rewardlab.data.Collector")
        b = rollout.flat_batch()
        m = len(b.obs)
        return cls(
            obs=b.obs,
            action=b.action,
            next_obs=b.next_obs,
            env_reward=np.asarray(b.env_reward, dtype=np.float64),
            terminated=np.asarray(b.terminated, dtype=bool),
            truncated=np.asarray(b.truncated, dtype=bool),
            info=dict(b.info),
            prev_info={k: v.reshape(m, *v.shape[2:]) for k, v in rollout.prev_info.items()},
            step=rollout.step.reshape(m),
        )


def sample_transitions(
    task: Task | str,
    n: int,
    policy: Policy | None = None,
    seed: int = 0,
    n_envs: int = 8,
    float64: bool = True,
) -> Transitions:
    """Roll ``policy`` out in ``task`` (through :class:`~rewardlab.data.Collector`) and keep ``n`` real transitions.

    :param task: the task (or its id).
    :param n: number of transitions.
    :param policy: batched policy ``obs (n_envs, ...) -> actions``; uniform random when ``None``.
    :param seed: seeds the envs and the random policy.
    :param n_envs: envs stepped together.
    :param float64: cast floating observations to float64, so that the shaping terms of rewards
        evaluated on them cancel to float64 rounding rather than float32 rounding.
    """
    from gymnasium.vector import AutoresetMode

    from rewardlab.data import Collector, random_policy
    from rewardlab.wrappers import make_vector_env

    task = get_task(task) if isinstance(task, str) else task
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    venv = make_vector_env(task, n_envs, autoreset_mode=AutoresetMode.SAME_STEP)
    try:
        collector = Collector(venv, tuple(task.info_keys))
        collector.reset(seed=seed)
        act = random_policy(venv.action_space, seed) if policy is None else (lambda obs: np.asarray(policy(obs)))
        rollout = collector.collect(act, -(-n // n_envs))
    finally:
        venv.close()
    tr = Transitions.from_rollout(rollout).take(np.arange(n))
    if float64 and tr.obs.dtype.kind == "f":
        tr = replace(tr, obs=tr.obs.astype(np.float64), next_obs=tr.next_obs.astype(np.float64))
    return tr


# -- evaluating reward sources on real and synthetic transitions -------------------------------


@contextmanager
def _eval_mode(sources: Sequence[RewardSource]) -> Iterator[None]:
    """Freeze running statistics (e.g. RunningNorm) while scoring synthetic transitions."""
    nodes: list[RewardSource] = []
    stack = list(sources)
    while stack:
        s = stack.pop()
        nodes.append(s)
        stack.extend(s.children())
    saved = [(s, s.__dict__.get("training")) for s in nodes]
    for s in nodes:
        s.train(False)
    try:
        yield
    finally:
        for s, mode in saved:
            if mode is None:
                s.__dict__.pop("training", None)
            else:
                s.training = mode


def _to_np(x: Any) -> FloatArray:
    if is_torch(x):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


class _Scorer:
    """Scores several sources on the same batches; tracks each raw reward's sum of squares."""

    def __init__(self, sources: Sequence[RewardSource], task: Task | None, batch_size: int) -> None:
        self.sources, self.task, self.batch_size = list(sources), task, int(batch_size)
        self.sumsq = np.zeros(len(self.sources))
        self.count = 0

    def score(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        next_obs: np.ndarray,
        env_reward: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        info: Mapping[str, np.ndarray],
        prev_info: Mapping[str, np.ndarray],
        step: np.ndarray,
    ) -> FloatArray:
        """Rewards ``(k, m)`` of the ``k`` sources on one batch of ``m`` transitions."""
        m = len(obs)
        state = None
        if self.task is not None:
            state = self.task.transition_view(
                obs, action, next_obs, env_reward, terminated, truncated, info, prev_info, step
            )
        batch = TransitionBatch(obs, action, next_obs, env_reward, terminated, truncated, info, state)
        out = np.empty((len(self.sources), m))
        for i, src in enumerate(self.sources):
            terms = src.compute(batch)
            r = _to_np(terms.total)
            if r.shape != (m,) or not np.isfinite(r).all():
                check_terms(terms, m, src.name)  # raises, naming the culprit
            out[i] = r
        self.sumsq += (out * out).sum(axis=1)
        self.count += m
        return out

    def real(self, tr: Transitions) -> FloatArray:
        parts = []
        for lo in range(0, len(tr), self.batch_size):
            t = tr.take(np.arange(lo, min(lo + self.batch_size, len(tr))))
            parts.append(
                self.score(
                    t.obs, t.action, t.next_obs, t.env_reward, t.terminated, t.truncated, t.info, t.prev_info, t.step
                )
            )
        return np.concatenate(parts, axis=1)

    def mean_over(self, x: States, actions: np.ndarray, states: States) -> FloatArray:
        """``E_{A,S'} R(x, A, S')`` for each state of ``x``: ``(k, len(x))``, over the cross-product
        of ``actions`` and ``states``, evaluated ``chunk`` source states at a time."""
        n_a, n_s = len(actions), len(states)
        per_x = n_a * n_s
        chunk = max(1, self.batch_size // per_x)
        out = np.empty((len(self.sources), len(x)))
        for lo in range(0, len(x), chunk):
            cx = min(chunk, len(x) - lo)
            xi = np.repeat(np.arange(lo, lo + cx), per_x)
            ai = np.tile(np.repeat(np.arange(n_a), n_s), cx)
            si = np.tile(np.arange(n_s), cx * n_a)
            m = len(xi)
            r = self.score(
                x.obs[xi],
                actions[ai],
                states.obs[si],
                np.zeros(m),
                np.zeros(m, dtype=bool),
                np.zeros(m, dtype=bool),
                {k: v[si] for k, v in states.info.items()},
                {k: v[xi] for k, v in x.info.items()},
                states.step[si],
            )
            out[:, lo : lo + cx] = r.reshape(len(self.sources), cx, per_x).mean(axis=2)
        return out

    @property
    def rms(self) -> FloatArray:
        return np.sqrt(self.sumsq / max(self.count, 1))


def _action_samples(
    task: Task | None, transitions: Transitions, n: int, how: str, rng: np.random.Generator
) -> np.ndarray:
    if how == "rollout":
        return transitions.action[rng.integers(len(transitions), size=n)]
    if how == "uniform":
        if task is None:
            raise ValueError("action_dist='uniform' needs the task (its action space)")
        env = task.make_env()
        try:
            space = env.action_space
            space.seed(int(rng.integers(2**31)))
            return np.stack([np.asarray(space.sample()) for _ in range(n)])
        finally:
            env.close()
    raise ValueError(f"action_dist must be 'rollout' or 'uniform', got {how!r}")


@dataclass(frozen=True)
class CanonicalSamples:
    """EPIC-canonicalised rewards of ``k`` sources at ``n`` real transitions.

    :param canonical: ``(k, n)``.
    :param raw_rms: ``(k,)`` RMS of every raw reward value computed (real and synthetic).
    """

    canonical: FloatArray
    raw_rms: FloatArray


def epic_canonicalise_samples(
    sources: Sequence[RewardSource],
    task: Task | None,
    transitions: Transitions,
    n_state_samples: int = 128,
    n_action_samples: int = 8,
    gamma: float = 0.99,
    seed: int = 0,
    states: States | None = None,
    actions: np.ndarray | None = None,
    action_dist: Literal["rollout", "uniform"] = "rollout",
    terminal: Literal["keep", "continue"] = "keep",
    batch_size: int = 65536,
) -> CanonicalSamples:
    """Monte-Carlo EPIC canonicalisation of each source at the real ``transitions``.

    ``C(s,a,s') = R(s,a,s') + gamma g(s') - g(s) - gamma mean_i g(S_i)`` with
    ``g(x) = mean_{j,k} R(x, A_j, S_k)`` over the cross-product of the state and action samples.

    :param states: the state samples ``S`` (also used as ``S'``); ``n_state_samples`` drawn with
        replacement from the visited states when ``None``.
    :param actions: the action samples ``(n_a, *act_shape)``; drawn per ``action_dist`` when ``None``.
    :param terminal: ``"keep"`` scores the real transitions with their ``terminated`` flags;
        ``"continue"`` scores them all as non-terminal (see the module notes on terminal steps).
    :param batch_size: transitions per ``compute`` call (at least one source state's cross-product).
    """
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    if terminal == "continue":
        transitions = replace(transitions, terminated=np.zeros_like(transitions.terminated))
    elif terminal != "keep":
        raise ValueError(f"terminal must be 'keep' or 'continue', got {terminal!r}")
    rng = np.random.default_rng(seed)
    if states is None:
        pool = transitions.state_pool()
        states = pool.take(rng.integers(len(pool), size=n_state_samples))
    if actions is None:
        actions = _action_samples(task, transitions, n_action_samples, action_dist, rng)
    scorer = _Scorer(sources, task, batch_size)
    n = len(transitions)
    with _eval_mode(sources):
        r = scorer.real(transitions)
        x = States.concat([transitions.next_states, transitions.prev_states, states])
        g = scorer.mean_over(x, actions, states)
    g_next, g_prev, g_pool = g[:, :n], g[:, n : 2 * n], g[:, 2 * n :]
    c = r + gamma * g_next - g_prev - gamma * g_pool.mean(axis=1, keepdims=True)
    return CanonicalSamples(c, scorer.rms)


@dataclass(frozen=True)
class DistanceEstimate:
    """A distance with a bootstrap confidence interval over the transition samples."""

    value: float
    ci_low: float
    ci_high: float
    ci_level: float
    n_bootstrap: int

    def __float__(self) -> float:
        return self.value


def _sample_distance(
    canon: CanonicalSamples, centre: bool, n_bootstrap: int, ci_level: float, rng: np.random.Generator
) -> DistanceEstimate:
    ca, cb = canon.canonical
    n = ca.shape[0]
    w = np.full(n, 1.0 / n)
    zero = [_is_zero(c, float(s), w, centre) for c, s in zip((ca, cb), canon.raw_rms, strict=True)]
    value = float(_metric(_standardise(ca, w, centre, zero[0]), _standardise(cb, w, centre, zero[1]), w))
    if n_bootstrap <= 0:
        return DistanceEstimate(value, math.nan, math.nan, ci_level, 0)
    boots = []
    block = max(1, 2**22 // n)  # rows per block, ~32 MB per array
    for lo in range(0, n_bootstrap, block):
        idx = rng.integers(n, size=(min(block, n_bootstrap - lo), n))
        za = _standardise(ca[idx], w, centre, zero[0])
        zb = _standardise(cb[idx], w, centre, zero[1])
        boots.append(_metric(za, zb, w))
    b = np.concatenate(boots)
    alpha = (1.0 - ci_level) / 2.0
    lo_q, hi_q = np.quantile(b, [alpha, 1.0 - alpha])
    return DistanceEstimate(value, float(lo_q), float(hi_q), ci_level, n_bootstrap)


@overload
def epic_distance(
    source_a: RewardSource,
    source_b: RewardSource,
    task: Task | None,
    transitions: Transitions,
    n_state_samples: int = ...,
    n_action_samples: int = ...,
    seed: int = ...,
    gamma: float = ...,
    *,
    with_ci: Literal[False] = ...,
    n_bootstrap: int = ...,
    ci_level: float = ...,
    **kwargs: Any,
) -> float: ...
@overload
def epic_distance(
    source_a: RewardSource,
    source_b: RewardSource,
    task: Task | None,
    transitions: Transitions,
    n_state_samples: int = ...,
    n_action_samples: int = ...,
    seed: int = ...,
    gamma: float = ...,
    *,
    with_ci: Literal[True],
    n_bootstrap: int = ...,
    ci_level: float = ...,
    **kwargs: Any,
) -> DistanceEstimate: ...
def epic_distance(
    source_a: RewardSource,
    source_b: RewardSource,
    task: Task | None,
    transitions: Transitions,
    n_state_samples: int = 128,
    n_action_samples: int = 8,
    seed: int = 0,
    gamma: float = 0.99,
    *,
    with_ci: bool = False,
    n_bootstrap: int = 1000,
    ci_level: float = 0.95,
    **kwargs: Any,
) -> float | DistanceEstimate:
    """Sample-based EPIC distance between two reward sources, in ``[0, 1]``.

    :param task: builds the state view the sources read (``None`` for sources that read raw arrays).
    :param transitions: real transitions (:func:`sample_transitions`); their empirical distribution
        is the coverage ``D``.
    :param n_state_samples: states drawn from the visited ones for ``S, S' ~ D_S``.
    :param n_action_samples: actions drawn for ``A ~ D_A``.
    :param seed: seeds the state/action draws and the bootstrap.
    :param with_ci: also return a bootstrap confidence interval (a :class:`DistanceEstimate`).
    :param kwargs: passed to :func:`epic_canonicalise_samples` (``states``, ``actions``,
        ``action_dist``, ``batch_size``).
    """
    canon = epic_canonicalise_samples(
        [source_a, source_b], task, transitions, n_state_samples, n_action_samples, gamma, seed, **kwargs
    )
    est = _sample_distance(canon, True, n_bootstrap if with_ci else 0, ci_level, np.random.default_rng([seed, 1]))
    return est if with_ci else est.value


@overload
def starc_distance(
    source_a: RewardSource,
    source_b: RewardSource,
    task: Task | None,
    transitions: Transitions,
    n_state_samples: int = ...,
    n_action_samples: int = ...,
    seed: int = ...,
    gamma: float = ...,
    *,
    with_ci: Literal[False] = ...,
    n_bootstrap: int = ...,
    ci_level: float = ...,
    **kwargs: Any,
) -> float: ...
@overload
def starc_distance(
    source_a: RewardSource,
    source_b: RewardSource,
    task: Task | None,
    transitions: Transitions,
    n_state_samples: int = ...,
    n_action_samples: int = ...,
    seed: int = ...,
    gamma: float = ...,
    *,
    with_ci: Literal[True],
    n_bootstrap: int = ...,
    ci_level: float = ...,
    **kwargs: Any,
) -> DistanceEstimate: ...
def starc_distance(
    source_a: RewardSource,
    source_b: RewardSource,
    task: Task | None,
    transitions: Transitions,
    n_state_samples: int = 128,
    n_action_samples: int = 8,
    seed: int = 0,
    gamma: float = 0.99,
    *,
    with_ci: bool = False,
    n_bootstrap: int = 1000,
    ci_level: float = 0.95,
    **kwargs: Any,
) -> float | DistanceEstimate:
    """Sample-based STARC-EPIC-L2 distance, in ``[0, 1]``; parameters as :func:`epic_distance`."""
    canon = epic_canonicalise_samples(
        [source_a, source_b], task, transitions, n_state_samples, n_action_samples, gamma, seed, **kwargs
    )
    est = _sample_distance(canon, False, n_bootstrap if with_ci else 0, ci_level, np.random.default_rng([seed, 1]))
    return est if with_ci else est.value


# -- from reward specs -------------------------------------------------------------------------


def shaping_gamma(*sources: RewardSource) -> float | None:
    """The discount of the potential shaping inside ``sources``, when they all agree on one."""
    gammas = set()
    stack = list(sources)
    while stack:
        s = stack.pop()
        if isinstance(s, PotentialShaping):
            gammas.add(s.gamma)
        stack.extend(s.children())
    return gammas.pop() if len(gammas) == 1 else None


def distance(
    spec_a: str,
    spec_b: str,
    task_id: str,
    method: Literal["epic", "starc"] = "epic",
    n: int = 2048,
    seed: int = 0,
    gamma: float | None = None,
    n_state_samples: int = 128,
    n_action_samples: int = 8,
    n_bootstrap: int = 1000,
    ci_level: float = 0.95,
    policy: Policy | None = None,
    terminal: Literal["keep", "continue"] = "keep",
) -> dict[str, Any]:
    """Distance between two reward specs on a task, from ``n`` random-policy transitions.

    :param spec_a: a reward spec (``"hand"``, ``"sparse + 0.1*hand"``, ``"my_reward.py"``, ...).
    :param method: ``"epic"`` or ``"starc"`` (STARC-EPIC-L2).
    :param gamma: discount of the canonicalisation; when ``None``, the potential-shaping discount
        found in the two rewards if they agree on one, else 0.99.
    :param terminal: ``"keep"`` or ``"continue"``, see :func:`epic_canonicalise_samples`.
    :returns: ``distance`` with ``ci_low``/``ci_high`` (bootstrap over transitions) and the
        settings that produced it.
    """
    from rewardlab.rewards.registry import resolve_reward

    if method not in METHODS:
        raise ValueError(f"unknown distance method {method!r}; choose from {', '.join(METHODS)}")
    task = get_task(task_id)
    a, b = resolve_reward(spec_a, task), resolve_reward(spec_b, task)
    if gamma is None:
        found = shaping_gamma(a, b)
        gamma = 0.99 if found is None else found
    transitions = sample_transitions(task, n, policy=policy, seed=seed)
    fn = epic_distance if method == "epic" else starc_distance
    est = fn(
        a,
        b,
        task,
        transitions,
        n_state_samples,
        n_action_samples,
        seed,
        gamma,
        with_ci=True,
        n_bootstrap=n_bootstrap,
        ci_level=ci_level,
        terminal=terminal,
    )
    return {
        "method": method,
        "variant": VARIANTS[method],
        "task": task.id,
        "reward_a": spec_a,
        "reward_b": spec_b,
        "distance": est.value,
        "ci_low": est.ci_low,
        "ci_high": est.ci_high,
        "ci_level": ci_level,
        "gamma": gamma,
        "n_transitions": len(transitions),
        "n_terminated": int(transitions.terminated.sum()),
        "n_state_samples": n_state_samples,
        "n_action_samples": n_action_samples,
        "n_bootstrap": n_bootstrap,
        "terminal": terminal,
        "policy": "random" if policy is None else getattr(policy, "__name__", "custom"),
        "seed": seed,
    }


__all__ = [
    "METHODS",
    "CanonicalSamples",
    "DistanceEstimate",
    "States",
    "Transitions",
    "distance",
    "epic_canonicalise_samples",
    "epic_canonicalise_tabular",
    "epic_distance",
    "epic_distance_tabular",
    "pearson_distance",
    "sample_transitions",
    "shaping_gamma",
    "starc_distance",
    "starc_distance_tabular",
    "starc_l2_distance",
    "val_canonicalise_tabular",
]
