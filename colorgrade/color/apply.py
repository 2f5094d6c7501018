"""One ``apply`` for every transform and every frame the product handles.

Like OpenColorIO's ``CPUProcessor.apply``: any sample type in, the same type out, full resolution,
alpha untouched. Integer frames under a CDL go through ``CDL.apply_codes`` (a table per code value),
everything else through float RGB in [0, 1].
"""
from __future__ import annotations

from concurrent.futures import Executor

import numpy as np

from colorgrade.color.cdl import CDL
from colorgrade.color.frames import from_float_rgb, to_float_rgb
from colorgrade.color.lut import LUT3D


def apply(transform: CDL | LUT3D, image: np.ndarray, pool: Executor | None = None, bands: int = 1) -> np.ndarray:
    """Grade an (H, W, 3|4) uint8/uint16/float16/float32 image by a CDL or a LUT; type, size and alpha kept.

    With a ``pool``, ``bands`` horizontal bands of the image are graded on its threads at once
    (numpy lets go of the interpreter lock while it works); each pixel's arithmetic is the same.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"apply expects an (height, width, 3 or 4) image, got shape {image.shape}")
    if not isinstance(transform, (CDL, LUT3D)):
        raise TypeError(f"apply takes a CDL or a LUT3D, got {type(transform).__name__}")
    if pool is not None and bands > 1 and image.shape[0] >= bands:
        out = np.empty_like(image)

        def grade_band(rows: slice) -> None:
            out[rows] = _apply_whole(transform, image[rows])

        edges = np.linspace(0, image.shape[0], bands + 1).astype(int)
        list(pool.map(grade_band, [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]))
        return out
    return _apply_whole(transform, image)


def _apply_whole(transform: CDL | LUT3D, image: np.ndarray) -> np.ndarray:
    if isinstance(transform, CDL) and image.dtype in (np.uint8, np.uint16, np.float16):
        graded = transform.apply_codes(image[..., :3])
        return np.concatenate([graded, image[..., 3:]], axis=-1) if image.shape[-1] == 4 else graded
    rgb, alpha = to_float_rgb(image)
    return from_float_rgb(transform.apply(rgb), alpha, image.dtype)
