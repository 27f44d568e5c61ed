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

The modules: :mod:`~rewardlab.analysis.distances.metrics` (standardisation, the two pseudometrics),
:mod:`~rewardlab.analysis.distances.tabular` (exact, on tables), :mod:`~rewardlab.analysis.distances.transitions`
(rollouts), :mod:`~rewardlab.analysis.distances.monte_carlo` (canonicalisation by sampling),
:mod:`~rewardlab.analysis.distances.sample_distance` (the sample distances and their bootstrap) and
:mod:`~rewardlab.analysis.distances.from_specs` (two reward specs on a task).
"""

from rewardlab.analysis.distances.from_specs import METHODS, VARIANTS, distance, shaping_gamma
from rewardlab.analysis.distances.metrics import ZERO_RTOL, pearson_distance, starc_l2_distance
from rewardlab.analysis.distances.monte_carlo import CanonicalSamples, epic_canonicalise_samples
from rewardlab.analysis.distances.sample_distance import DistanceEstimate, SampleDistance, epic_distance, starc_distance
from rewardlab.analysis.distances.tabular import (
    epic_canonicalise_tabular,
    epic_distance_tabular,
    starc_distance_tabular,
    val_canonicalise_tabular,
)
from rewardlab.analysis.distances.transitions import Policy, States, Transitions, sample_transitions

__all__ = [
    "METHODS",
    "VARIANTS",
    "ZERO_RTOL",
    "CanonicalSamples",
    "DistanceEstimate",
    "Policy",
    "SampleDistance",
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
