"""Sample-based EPIC and STARC distances between two reward sources, with bootstrap confidence intervals over
the transitions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np

from envs.registry import Task
from rewardlab.analysis.distances.metrics import is_zero, l2_metric, standardise
from rewardlab.analysis.distances.monte_carlo import CanonicalSamples, epic_canonicalise_samples
from rewardlab.analysis.distances.transitions import Transitions
from rewardlab.rewards.base import RewardSource


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


def estimate_distance(
    canon: CanonicalSamples, centre: bool, n_bootstrap: int, ci_level: float, rng: np.random.Generator
) -> DistanceEstimate:
    """The distance of the two canonical rewards in ``canon``, centred (EPIC) or not (STARC), and with
    ``n_bootstrap > 0`` its percentile interval at ``ci_level`` from resampling the transitions."""
    ca, cb = canon.canonical
    n = ca.shape[0]
    w = np.full(n, 1.0 / n)
    zero = [is_zero(c, float(s), w, centre) for c, s in zip((ca, cb), canon.raw_rms, strict=True)]
    value = float(l2_metric(standardise(ca, w, centre, zero[0]), standardise(cb, w, centre, zero[1]), w))
    if n_bootstrap <= 0:
        return DistanceEstimate(value, math.nan, math.nan, ci_level, 0)
    boots = []
    block = max(1, 2**22 // n)  # rows per block, ~32 MB per array
    for lo in range(0, n_bootstrap, block):
        idx = rng.integers(n, size=(min(block, n_bootstrap - lo), n))
        za = standardise(ca[idx], w, centre, zero[0])
        zb = standardise(cb[idx], w, centre, zero[1])
        boots.append(l2_metric(za, zb, w))
    b = np.concatenate(boots)
    alpha = (1.0 - ci_level) / 2.0
    lo_q, hi_q = np.quantile(b, [alpha, 1.0 - alpha])
    return DistanceEstimate(value, float(lo_q), float(hi_q), ci_level, n_bootstrap)


class SampleDistance:
    """A sample-based distance between two reward sources, in ``[0, 1]``: :data:`epic_distance` (centred) or
    :data:`starc_distance` (not centred), both on Monte-Carlo EPIC-canonicalised rewards.

    Call it as ``fn(source_a, source_b, task, transitions, ...)``:

    :param task: builds the state view the sources read (``None`` for sources that read raw arrays).
    :param transitions: real transitions (:func:`sample_transitions`); their empirical distribution
        is the coverage ``D``.
    :param n_state_samples: states drawn from the visited ones for ``S, S' ~ D_S``.
    :param n_action_samples: actions drawn for ``A ~ D_A``.
    :param seed: seeds the state/action draws and the bootstrap.
    :param with_ci: also return a bootstrap confidence interval (a :class:`DistanceEstimate`).
    :param kwargs: passed to :func:`epic_canonicalise_samples` (``states``, ``actions``,
        ``action_dist``, ``terminal``, ``batch_size``).
    """

    def __init__(self, name: str, centre: bool, doc: str) -> None:
        self.__name__ = self.__qualname__ = name
        self.__doc__ = doc
        self.centre = centre

    def __repr__(self) -> str:
        return f"<sample distance {self.__name__}>"

    @overload
    def __call__(
        self,
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
    def __call__(
        self,
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
    def __call__(
        self,
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
        canon = epic_canonicalise_samples(
            [source_a, source_b], task, transitions, n_state_samples, n_action_samples, gamma, seed, **kwargs
        )
        rng = np.random.default_rng([seed, 1])
        est = estimate_distance(canon, self.centre, n_bootstrap if with_ci else 0, ci_level, rng)
        return est if with_ci else est.value


epic_distance = SampleDistance(
    "epic_distance", True, "Sample-based EPIC distance between two reward sources, in ``[0, 1]``; see SampleDistance."
)
starc_distance = SampleDistance(
    "starc_distance", False, "Sample-based STARC-EPIC-L2 distance, in ``[0, 1]``; parameters as :data:`epic_distance`."
)
