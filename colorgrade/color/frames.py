"""Frames as they arrive from files and the wire: integer codes or floats, RGB or RGBA.

A frame is an (H, W, 3|4) array of uint8, uint16, float16 or float32; integer codes map to [0, 1]
by dividing by the type's largest code. Alpha is never graded: it is split off and re-attached as
it was.
"""
from __future__ import annotations

import numpy as np


def to_float_rgb(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Split an (H, W, 3|4) frame into float32 RGB in [0, 1] and its untouched alpha (or None)."""
    rgb = image[..., :3]
    if image.dtype.kind == "u":
        rgb = rgb.astype(np.float32) * np.float32(1.0 / np.iinfo(image.dtype).max)
    else:
        rgb = rgb.astype(np.float32)
    alpha = image[..., 3:] if image.shape[-1] == 4 else None
    return rgb, alpha


def from_float_rgb(rgb: np.ndarray, alpha: np.ndarray | None, dtype: np.dtype) -> np.ndarray:
    """Inverse of ``to_float_rgb``: back to ``dtype`` (rounded, clipped), alpha re-attached as it was."""
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        top = np.iinfo(dtype).max
        out = np.clip(np.rint(rgb * np.float32(top)), 0, top).astype(dtype)
    else:
        out = rgb.astype(dtype)
    if alpha is not None:
        out = np.concatenate([out, alpha.astype(dtype, copy=False)], axis=-1)
    return out


def eight_bit_rgb(frame: np.ndarray) -> np.ndarray:
    """A frame's RGB as 8-bit codes, as pictures on a page are (16-bit sources keep their top 8 bits)."""
    return ((frame >> 8).astype(np.uint8) if frame.dtype == np.uint16 else frame)[..., :3]


def thumbnail_block(height: int, width: int, size: int) -> int:
    """The largest block size that leaves both sides of a (height, width) frame at least ``size`` (1: none)."""
    return max(1, min(height, width) // size)


def analysis_thumbnail(frame: np.ndarray, size: int) -> np.ndarray:
    """What the analysis network is shown of an (H, W, 3|4) frame before it squashes it to ``size`` x ``size``:
    its RGB block-averaged by ``thumbnail_block`` (float32 in [0, 1]), or its RGB where no block fits (codes
    as they are, floats as float32).
    A reduction of this again finds no block, so reducing in one process and analysing in another gives the
    network exactly what it would see of the whole frame."""
    rgb = frame[..., :3] if frame.dtype.kind == "u" else to_float_rgb(frame)[0]   # codes are averaged as integers
    block = thumbnail_block(frame.shape[0], frame.shape[1], size)
    return block_means(rgb, block) if block > 1 else rgb


def block_means(frame: np.ndarray, block: int) -> np.ndarray:
    """(H, W, C) float in [0, 1] or uint8/uint16 codes -> (H//block, W//block, C) float32 means of
    block x block squares, in [0, 1].

    Codes are summed in exact integers, so a 4K frame is reduced without converting it to floats
    first; rows and columns short of a whole block are left out.
    """
    top = np.iinfo(frame.dtype).max if frame.dtype.kind == "u" else 1
    return _block_sums(frame, block).astype(np.float32) * np.float32(1.0 / (block * block * top))


# The long sides frames are judged at: the analysis network's thumbnail, and the matcher's picture (features
# to pair need more of it). Clients send frames shrunk to these; the workers shrink again only what is larger.
ANALYSIS_SIDE = 256
MATCH_SIDE = 384


def shrink(image: np.ndarray, max_side: int = ANALYSIS_SIDE) -> np.ndarray:
    """An (H, W, C) frame area-averaged down by a whole factor so its long side is at most ``max_side``, in its
    own sample type (integer codes rounded). What a LAN client sends instead of the full frame: the analysis
    network looks at a thumbnail anyway, and a 256-px frame is 1/60 of a 1080p one on the wire."""
    factor = -(-max(image.shape[:2]) // max_side)
    if factor <= 1:
        return image
    means = _block_sums(image, factor) / float(factor * factor)
    return np.rint(means).astype(image.dtype) if image.dtype.kind == "u" else means.astype(image.dtype)


def _block_sums(frame: np.ndarray, block: int) -> np.ndarray:
    """Sums over block x block squares: exact uint32 for codes (blocks up to 256 wide), float32 otherwise."""
    height, width, channels = frame.shape[0] // block, frame.shape[1] // block, frame.shape[2]
    integer = frame.dtype.kind == "u"
    rows = frame[:height * block].reshape(height, block, -1).sum(axis=1, dtype=np.uint32 if integer else np.float32)
    return rows.reshape(height, frame.shape[1], channels)[:, :width * block].reshape(
        height, width, block, channels).sum(axis=2)
