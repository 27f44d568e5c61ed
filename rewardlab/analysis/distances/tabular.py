"""Exact EPIC and STARC distances between reward tables ``R[s, a, s']``, with ``D_S`` and ``D_A`` given as
probability vectors; STARC also with value-adjusted levelling when the transition function is known."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from rewardlab.analysis.distances.metrics import (
    FloatArray,
    is_zero,
    l2_metric,
    max_abs,
    normalised_weights,
    standardise,
)


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
    return normalised_weights(cov, (len(ds), len(da), len(ds)))


def _table_distance(
    R_a: ArrayLike,
    R_b: ArrayLike,
    d_s: ArrayLike | None,
    d_a: ArrayLike | None,
    coverage: ArrayLike | None,
    centre: bool,
    canonicalise: Callable[[FloatArray, FloatArray, FloatArray], FloatArray],
) -> float:
    """The weighted L2 distance of the two tables' standardised ``canonicalise(R, d_s, d_a)``, centred (EPIC) or
    not (STARC), under ``coverage`` (``D_S x D_A x D_S`` when ``None``)."""
    Ra, Rb = _check_table(R_a), _check_table(R_b)
    if Ra.shape != Rb.shape:
        raise ValueError(f"reward tables differ in shape: {Ra.shape} vs {Rb.shape}")
    ds, da = _dist(d_s, Ra.shape[0], "d_s"), _dist(d_a, Ra.shape[1], "d_a")
    w = _coverage(coverage, ds, da)
    zs = []
    for R in (Ra, Rb):
        C = canonicalise(R, ds, da)
        zs.append(standardise(C, w, centre, is_zero(C, max_abs(R), w, centre)))
    return float(l2_metric(zs[0], zs[1], w))


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
    return _table_distance(
        R_a, R_b, d_s, d_a, coverage, True, lambda R, ds, da: epic_canonicalise_tabular(R, gamma, ds, da)
    )


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

    def canonicalise(R: FloatArray, ds: FloatArray, da: FloatArray) -> FloatArray:
        if canonicalisation == "epic":
            return epic_canonicalise_tabular(R, gamma, ds, da)
        if canonicalisation == "val":
            if transition is None:
                raise ValueError("canonicalisation='val' needs the transition function P[s, a, s']")
            return val_canonicalise_tabular(R, gamma, transition, policy)
        raise ValueError(f"canonicalisation must be 'epic' or 'val', got {canonicalisation!r}")

    return _table_distance(R_a, R_b, d_s, d_a, coverage, False, canonicalise)
