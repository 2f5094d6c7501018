"""What every matcher takes and gives: a hero described once, and a frame's match to it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np

from colorgrade.color import CDL

# A hero frame as a matcher describes it: named arrays (its picture at matching size, its features ...).
# Named, not typed, so the daemon keeps and ships heroes without knowing what a matcher finds in them.
Hero = Dict[str, np.ndarray]


@dataclass
class Match:
    cdl: CDL                   # makes the frame look like the hero (identity when there is no match)
    confidence: float          # in [0, 1]: 0 when the frames share too little to match
    inliers: int               # feature pairs the homography verified
    shared: float              # share of the frame the warped hero covers
    residual: float = float("nan")   # median RGB distance the fitted CDL leaves on the corresponding blocks
    structure: float = float("nan")  # how the two frames' edges agree where they overlap (mean cosine, in [-1, 1])
