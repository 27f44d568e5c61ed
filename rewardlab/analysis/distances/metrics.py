"""Standardisation and the two pseudometrics on canonical rewards: EPIC's Pearson distance (centred) and
STARC's L2 distance of unit-norm rewards (not centred), both under a coverage distribution, both in ``[0, 1]``."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


#: a canonical reward whose L2 norm is below this fraction of the raw reward's size (RMS of the sampled
#: values; max |R| for tables) counts as zero: pure shaping cancels to rounding, not to exactly 0
ZERO_RTOL = 1e-6


def normalised_weights(w: ArrayLike | None, shape: tuple[int, ...]) -> FloatArray:
    if w is None:
        return np.full(shape, 1.0 / math.prod(shape))
    w = np.asarray(w, dtype=np.float64)
    if w.shape != shape:
        raise ValueError(f"coverage weights have shape {w.shape}; expected {shape}")
    if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError("coverage weights must be finite, non-negative and not all zero")
    return w / w.sum()


def standardise(c: FloatArray, w: FloatArray, centre: bool, zero: bool) -> FloatArray:
    """Centre (EPIC) or not (STARC), then divide by the ``w``-weighted L2 norm over the last axes.

    ``c`` is ``(..., *w.shape)``; ``zero`` marks a canonical reward standardised to 0.
    """
    axes = tuple(range(c.ndim - w.ndim, c.ndim))
    if centre:
        c = c - (c * w).sum(axis=axes, keepdims=True)
    norm = np.sqrt((c * c * w).sum(axis=axes, keepdims=True))
    zero = np.asarray(zero, dtype=bool) | (norm == 0.0)
    return np.where(zero, 0.0, c / np.where(zero, 1.0, norm))


def max_abs(x: FloatArray) -> float:
    return float(np.abs(x).max(initial=0.0))


def l2_metric(za: FloatArray, zb: FloatArray, w: FloatArray) -> FloatArray:
    axes = tuple(range(za.ndim - w.ndim, za.ndim))
    d = np.sqrt((((za - zb) ** 2) * w).sum(axis=axes)) / 2.0
    return np.clip(d, 0.0, 1.0)


def pearson_distance(x: ArrayLike, y: ArrayLike, weights: ArrayLike | None = None) -> float:
    """EPIC's Pearson distance ``sqrt((1 - rho) / 2)`` between two arrays of equal shape.

    :param weights: the coverage distribution over entries (same shape; normalised here); uniform
        when ``None``. A constant array counts as the zero reward (distance 1/2 to anything non-constant).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w = normalised_weights(weights, x.shape)
    za, zb = (standardise(v, w, True, is_zero(v, max_abs(v), w, True)) for v in (x, y))
    return float(l2_metric(za, zb, w))


def starc_l2_distance(x: ArrayLike, y: ArrayLike, weights: ArrayLike | None = None) -> float:
    """``|| x/||x|| - y/||y|| || / 2`` with the ``weights``-weighted L2 norm; a zero array maps to 0."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w = normalised_weights(weights, x.shape)
    za, zb = (standardise(v, w, False, is_zero(v, max_abs(v), w, False)) for v in (x, y))
    return float(l2_metric(za, zb, w))


def is_zero(c: FloatArray, scale: float, w: FloatArray, centre: bool, rtol: float = ZERO_RTOL) -> bool:
    """Whether the canonical reward ``c`` vanishes up to rounding, relative to ``scale``, the size of
    the raw reward (pure shaping cancels to ~1e-16 of it, not to exactly zero)."""
    cc = c - (c * w).sum() if centre else c
    return float(np.sqrt((cc * cc * w).sum())) <= rtol * scale
