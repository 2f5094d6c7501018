"""Fitting an ASC CDL to colour pairs: the CDL that takes ``inputs`` closest to ``targets``.

What a match to a hero frame, a peer's transfer "fitted as a CDL" and the best CDL knowing the answer
all need. Robust, bounded non-linear least squares (Levenberg-Marquardt) over the 10 numbers, with
iteratively re-weighted residuals (Cauchy weights), so pairs that disagree with the rest -- a person who walked
in, a highlight that clipped, a misaligned edge -- lose their pull instead of bending the fit.
"""
from __future__ import annotations

import numpy as np

from colorgrade.color.cdl import CDL
from colorgrade.color.standards import REC709_LUMA

_IDENTITY = np.array(CDL().to_vector(), dtype=np.float64)
# Bounds that keep every step a valid, sane CDL (a match is a correction, not a look from nothing).
_LOW = np.array([0.05] * 3 + [-1.0] * 3 + [0.1] * 3 + [0.0])
_HIGH = np.array([20.0] * 3 + [1.0] * 3 + [10.0] * 3 + [4.0])
# A faint pull toward no change: where the pairs cannot tell two parameters apart (a narrow range of
# colours trades slope against power), the fit stays near identity instead of wandering.
_PRIOR = 1e-5


def cdl_values(vector: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The CDL of 10 numbers (slope, offset, power, saturation) on (N, 3) float RGB, as ``CDL`` applies it."""
    sop = np.clip(rgb * vector[0:3] + vector[3:6], 0, 1) ** vector[6:9]
    luma = sop @ np.asarray(REC709_LUMA)
    return np.clip(luma[:, None] + vector[9] * (sop - luma[:, None]), 0, 1)


# The parameters a gain-only fit (``fit_cdl(..., free=GAIN)``) moves: the slopes and the saturation.
GAIN = np.array([True] * 3 + [False] * 6 + [True])


def fit_cdl(inputs: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None, rounds: int = 3,
            iterations: int = 25, free: np.ndarray | None = None, start: CDL | None = None) -> tuple[CDL, np.ndarray]:
    """-> (the CDL taking ``inputs`` to ``targets``, each pair's final weight in [0, 1]).

    ``inputs``, ``targets``: (..., 3) float RGB in [0, 1], paired element by element; ``weights``: how much
    each pair counts (default equally), per pair (...) or per channel of each pair (..., 3); ``free``: which of
    the 10 parameters the fit may move (default all; the others stay at no change); ``start``: where the search
    starts (default no change; a refit of nearly the same pairs converges in a few steps from the previous fit,
    whose fixed parameters must be at no change). Each round re-weights the pairs
    by their residual (Cauchy, at twice the residuals' median size), then refits from the previous round's CDL."""
    source = np.asarray(inputs, np.float64).reshape(-1, 3)
    target = np.asarray(targets, np.float64).reshape(-1, 3)
    base = np.ones((len(source), 3)) if weights is None else np.asarray(weights, np.float64).reshape(len(source), -1)
    base = np.broadcast_to(base, (len(source), 3))
    vector = _IDENTITY.copy() if start is None else np.asarray(start.to_vector(), np.float64)
    robust = np.ones(len(source))
    free = np.ones(10, bool) if free is None else np.asarray(free, bool)
    for _ in range(rounds):
        vector = _levenberg_marquardt(vector, source, target, base * robust[:, None], iterations, free)
        error = np.sqrt((((cdl_values(vector, source) - target) ** 2) * base).sum(axis=1) / np.maximum(
            base.sum(axis=1), 1e-12))
        counted = base.sum(axis=1) > 0
        scale = max(2 * np.median(error[counted]) if np.any(counted) else 0, 0.005)
        robust = 1 / (1 + (error / scale) ** 2)
    return CDL.from_vector(vector), base.mean(axis=1) * robust


def _levenberg_marquardt(vector, source, target, weights, iterations, free):
    root = np.sqrt(weights / max(weights.sum(), 1e-12))                  # (N, 3)
    prior = np.sqrt(_PRIOR)

    def residuals(v):
        fit = ((cdl_values(v, source) - target) * root).reshape(-1)
        return np.concatenate([fit, prior * (v - _IDENTITY)])

    damping, current = 1e-3, residuals(vector)
    cost = current @ current
    for _ in range(iterations):
        jacobian = np.concatenate([(_jacobian(vector, source) * root[:, :, None] * free).reshape(-1, 10),
                                   prior * np.eye(10)])
        normal = jacobian.T @ jacobian
        gradient = jacobian.T @ current
        improved = False
        while damping < 1e8:
            change = np.linalg.solve(normal + damping * np.diag(np.diag(normal) + 1e-12), -gradient) * free
            candidate = np.clip(vector + change, _LOW, _HIGH)
            trial = residuals(candidate)
            if trial @ trial < cost:
                vector, current, cost = candidate, trial, trial @ trial
                damping = max(damping / 3, 1e-7)
                improved = True
                break
            damping *= 4
        if not improved or np.abs(change).max() < 1e-5:   # a hundred-thousandth of a slope: no code value moves
            break
    return vector


def _jacobian(vector: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """d cdl_values / d vector: (N, 3 outputs, 10 parameters), zero where a clamp holds a value."""
    slope, offset, power, saturation = vector[0:3], vector[3:6], vector[6:9], vector[9]
    linear = rgb * slope + offset
    inside = (linear > 0) & (linear < 1)
    clamped = np.clip(linear, 1e-12, 1)
    sop = clamped ** power
    luma_weights = np.asarray(REC709_LUMA)
    luma = sop @ luma_weights
    out = luma[:, None] + saturation * (sop - luma[:, None])
    free = ((out > 0) & (out < 1)).astype(np.float64)                     # (N, 3)
    d_linear = np.where(inside, power * clamped ** (power - 1), 0.0)       # d sop_k / d linear_k
    d_power = np.where(linear > 0, sop * np.log(clamped), 0.0)             # d sop_k / d power_k
    # d out_j / d sop_k = (1 - saturation) * luma_k + saturation * [j == k]
    mixing = ((1 - saturation) * luma_weights[None, :] + saturation * np.eye(3))[None]   # (1, output j, k)
    jacobian = np.concatenate([mixing * (d_linear * rgb)[:, None, :], mixing * d_linear[:, None, :],
                               mixing * d_power[:, None, :], (sop - luma[:, None])[:, :, None]], axis=2)
    return jacobian * free[:, :, None]
