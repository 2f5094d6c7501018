"""A frame's result from the generator's outputs for it and its neighbours: frame blending (the paper's
remedy for flicker), LUT distillation (past the paper) or the output resized to the frame, and the
window rule that says which frames a result reads.

numpy only: the in-process generator (``colorgrade.models.generator``) and the daemon's front end,
which never loads torch, finish frames with these same functions, so both give the same frames.

Outputs and inputs here are the generator's working-size arrays, (N, 3, h, w) float32 in [0, 1],
consecutive frames cut at the clip's ends.
"""
from __future__ import annotations

import numpy as np

from colorgrade.color.lut import LUT3D, fit_lut

# The LUT for frame t is fitted over the outputs of frames t-2 .. t+2 (widened by blending), whatever
# the model's own window: the fit over neighbouring frames is what keeps distilled output steady.
DISTILL_RADIUS = 2


def output_reach(blend: int, distill_lut: bool) -> int:
    """Whose generator outputs frame t's result reads: outputs t-reach .. t+reach."""
    return blend + (DISTILL_RADIUS + blend if distill_lut else 0)


def reach(radius: int, blend: int = 0, distill_lut: bool = False) -> int:
    """How far frame t's result looks, for a model that reads frames t-radius .. t+radius: frames
    t-reach .. t+reach."""
    return radius + output_reach(blend, distill_lut)


def blended(outputs: np.ndarray, t: int, blend: int) -> np.ndarray:
    """Output ``t`` averaged with its neighbours within +-``blend`` (those that exist)."""
    return outputs[t] if not blend else outputs[max(0, t - blend):t + blend + 1].mean(axis=0)


def finish(inputs: np.ndarray, outputs: np.ndarray, t: int, blend: int, distill_lut: bool,
           size) -> tuple[np.ndarray | None, LUT3D | None]:
    """Frame ``t``'s result from the working-size ``inputs`` and ``outputs`` around it: with ``distill_lut``,
    (None, the LUT mapping inputs to blended outputs over t-DISTILL_RADIUS-blend .. t+DISTILL_RADIUS+blend),
    to apply to the full-resolution frame; otherwise (its blended output resized to ``size`` (H, W) as
    float32 (H, W, 3), None)."""
    if distill_lut:
        fit = range(max(0, t - DISTILL_RADIUS - blend), min(len(outputs), t + DISTILL_RADIUS + blend + 1))
        targets = np.stack([blended(outputs, i, blend) for i in fit])
        # Every window is fitted from the identity, never from its neighbour's LUT: a warm start would
        # make frame t depend on frames outside its window.
        return None, fit_lut(inputs[fit.start:fit.stop].transpose(0, 2, 3, 1), targets.transpose(0, 2, 3, 1))
    return np.clip(resize(blended(outputs, t, blend).transpose(1, 2, 0), size), 0, 1), None


def resize(image: np.ndarray, size) -> np.ndarray:
    """(h, w, C) float32 -> (H, W, C) by bilinear interpolation between pixel centres, edges held (as
    torch's ``interpolate(mode="bilinear", align_corners=False)`` without antialiasing)."""
    rows, row_weights = _taps(image.shape[0], size[0])
    columns, column_weights = _taps(image.shape[1], size[1])
    vertical = image[rows[0]] * (1 - row_weights)[:, None, None] + image[rows[1]] * row_weights[:, None, None]
    return (vertical[:, columns[0]] * (1 - column_weights)[None, :, None]
            + vertical[:, columns[1]] * column_weights[None, :, None]).astype(np.float32)


def _taps(source: int, target: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """For each of ``target`` samples: the two source pixels it lies between and the second one's weight."""
    position = np.maximum((np.arange(target, dtype=np.float64) + 0.5) * (source / target) - 0.5, 0)
    low = np.minimum(position.astype(np.int64), source - 1)
    return (low, np.minimum(low + 1, source - 1)), (position - low).astype(np.float32)

