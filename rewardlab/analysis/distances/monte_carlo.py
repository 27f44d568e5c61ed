"""Monte-Carlo EPIC canonicalisation of reward sources at sampled transitions: every source scored on the real
transitions and on the synthetic cross-product ``(x, A_j, S_k)`` the expectations need."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from envs.registry import Task
from rewardlab.analysis.distances.metrics import FloatArray
from rewardlab.analysis.distances.transitions import States, Transitions
from rewardlab.rewards.base import RewardSource, TransitionBatch, check_terms, is_torch


@contextmanager
def eval_mode(sources: Sequence[RewardSource]) -> Iterator[None]:
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


class Scorer:
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


def action_samples(
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
        actions = action_samples(task, transitions, n_action_samples, action_dist, rng)
    scorer = Scorer(sources, task, batch_size)
    n = len(transitions)
    with eval_mode(sources):
        r = scorer.real(transitions)
        x = States.concat([transitions.next_states, transitions.prev_states, states])
        g = scorer.mean_over(x, actions, states)
    g_next, g_prev, g_pool = g[:, :n], g[:, n : 2 * n], g[:, 2 * n :]
    c = r + gamma * g_next - g_prev - gamma * g_pool.mean(axis=1, keepdims=True)
    return CanonicalSamples(c, scorer.rms)
