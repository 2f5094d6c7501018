"""Colour standards the product uses, each defined once, by name.

Values are display-referred (sRGB / Rec.709 encoded) RGB in [0, 1] unless a name says otherwise.
"""
from __future__ import annotations

import numpy as np

# ITU-R BT.709 luma weights (R, G, B). The ASC CDL v1.2 computes its saturation with these, applied
# to the encoded values, and so does everything here that speaks of "luma".
REC709_LUMA = (0.2126, 0.7152, 0.0722)


def luma_rec709(rgb: np.ndarray, dtype=np.float32) -> np.ndarray:
    """(..., 3) RGB -> (...) Rec.709 luma of the values as given (encoded, not linear light)."""
    return np.asarray(rgb, dtype) @ np.asarray(REC709_LUMA, dtype)
