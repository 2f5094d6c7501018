"""The detune catalogue (paper §3) and the mixture sampler that goes past it.

Catalogue: ``clean`` + 8 kinds x 3 levels (33 %, 66 %, 100 % of a full-scale error) = 25 labels.
Each detune is an exact ASC CDL, so each has an exact correcting CDL (undoes it wherever the
detune did not clip). The 8 kinds are the grader's controls the paper names (colour casts,
black point, white point, contrast, saturation), one direction each, chosen for how footage
goes wrong on a shoot:

| kind        | what went wrong                          | full scale (level 100 %)                     |
|-------------|------------------------------------------|----------------------------------------------|
| warm        | tungsten light / wrong WB, orange cast    | gain R x1.15, G x1.03, B x0.85               |
| cool        | daylight on tungsten WB, blue cast        | gain R x0.85, G x1.0, B x1.15                |
| green       | fluorescent / LED spike, green cast       | gain G x1.12, R and B x0.96                  |
| magenta     | over-corrected green, magenta cast        | gain R x1.07, G x0.88, B x1.07               |
| black_lift  | flare or a lifted pedestal, milky blacks  | blacks raised to 0.12, white kept            |
| white_low   | under-exposed / white point too low       | gain x0.75 (white lands at 0.75)             |
| contrast    | contrast too high (crushed, clipped)      | slope x1.4 about a pivot of 0.45             |
| desaturated | faded, flat colour                        | saturation x0.55                             |

Levels scale the error linearly (gains and offsets move 33/66/100 % of the way to full scale).
Full scale is clearly visible (CIEDE2000 roughly 5-15 on typical photos); 33 % is subtle.

Mixtures (``MixtureSampler``) apply 1-4 simultaneous errors with continuous magnitudes, drawn from
the CDL family and from errors outside it (white balance and exposure in linear light, an
S-curve, a gamma), so a corrector learns to restore images rather than to invert our generator.

Images are (B, 3, H, W) torch tensors of sRGB-encoded values in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from colorgrade.color import CDL
from colorgrade.models.differentiable_colour import apply_cdl, linear_to_srgb, luma_rec709, srgb_to_linear

LEVELS = (33, 66, 100)
CONTRAST_PIVOT = 0.45
# Per-kind full-scale error, as the parameters that build its CDL (see _detune_cdl).
FULL_SCALE = {
    "warm": {"gain": (0.15, 0.03, -0.15)},
    "cool": {"gain": (-0.15, 0.0, 0.15)},
    "green": {"gain": (-0.04, 0.12, -0.04)},
    "magenta": {"gain": (0.07, -0.12, 0.07)},
    "black_lift": {"lift": 0.12},
    "white_low": {"gain": (-0.25, -0.25, -0.25)},
    "contrast": {"contrast": 0.4},
    "desaturated": {"saturation": -0.45},
}
KINDS = tuple(FULL_SCALE)
LABELS = ("clean",) + tuple(f"{kind}_{level}" for kind in KINDS for level in LEVELS)


@dataclass(frozen=True)
class Detune:
    """One catalogue entry: a kind at a level, its detuning CDL and the CDL that undoes it."""

    label: str
    kind: str
    level: int
    cdl: CDL
    correction: CDL


def _detune_cdl(kind: str, fraction: float) -> tuple[CDL, CDL]:
    """(detune, correction) for ``kind`` at ``fraction`` of full scale; both exact CDLs."""
    spec = FULL_SCALE[kind]
    if "gain" in spec:
        gain = tuple(1 + fraction * g for g in spec["gain"])
        return CDL(slope=gain), CDL(slope=tuple(1 / g for g in gain))
    if "lift" in spec:
        lift = fraction * spec["lift"]
        # out = in * (1 - lift) + lift: black rises to `lift`, white stays at 1.
        return (CDL(slope=(1 - lift,) * 3, offset=(lift,) * 3),
                CDL(slope=(1 / (1 - lift),) * 3, offset=(-lift / (1 - lift),) * 3))
    if "contrast" in spec:
        c = 1 + fraction * spec["contrast"]
        p = CONTRAST_PIVOT
        return (CDL(slope=(c,) * 3, offset=(p * (1 - c),) * 3),
                CDL(slope=(1 / c,) * 3, offset=(p * (1 - 1 / c),) * 3))
    s = 1 + fraction * spec["saturation"]
    # ASC saturation keeps Rec.709 luma, so 1/s undoes s exactly.
    return CDL(saturation=s), CDL(saturation=1 / s)


def catalogue() -> dict[str, Detune]:
    """All 25 labels in ``LABELS`` order, ``clean`` first (identity both ways)."""
    entries = {"clean": Detune("clean", "clean", 0, CDL(), CDL())}
    for kind in KINDS:
        for level in LEVELS:
            detune, correction = _detune_cdl(kind, level / 100)
            label = f"{kind}_{level}"
            entries[label] = Detune(label, kind, level, detune, correction)
    return entries


def are_neighbours(label_a: str, label_b: str) -> bool:
    """Same kind, adjacent level (the paper's "nearest neighbour" misclassification)."""
    entries = catalogue()
    a, b = entries[label_a], entries[label_b]
    return a.kind == b.kind != "clean" and abs(LEVELS.index(a.level) - LEVELS.index(b.level)) == 1


def correction_matrix(device=None) -> torch.Tensor:
    """(25, 10) correcting CDL vectors in ``LABELS`` order, for the class-weighted estimate."""
    entries = catalogue()
    return torch.tensor(np.stack([entries[label].correction.to_vector() for label in LABELS]),
                        dtype=torch.float32, device=device)


def detune_matrix(device=None) -> torch.Tensor:
    """(25, 10) detuning CDL vectors in ``LABELS`` order."""
    entries = catalogue()
    return torch.tensor(np.stack([entries[label].cdl.to_vector() for label in LABELS]),
                        dtype=torch.float32, device=device)


def apply_labels(clean: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Detune each image of a batch by its catalogue label index (B,)."""
    return apply_cdl(clean, detune_matrix(clean.device)[labels])


# --- mixtures -------------------------------------------------------------------------------
# Each error is a function (images, magnitude (B,)) -> images, identity at magnitude 0, with the
# magnitude drawn uniformly from its range (a symmetric range means both directions occur).

def _gain(images, magnitude, weights):
    return (images * (1 + magnitude.view(-1, 1, 1, 1) * images.new_tensor(weights).view(1, 3, 1, 1))).clamp(0, 1)


def _cast_warm_cool(images, magnitude):
    return _gain(images, magnitude, (1.0, 0.2, -1.0))


def _cast_green_magenta(images, magnitude):
    return _gain(images, magnitude, (-0.4, 1.0, -0.4))


def _black_point(images, magnitude):
    m = magnitude.view(-1, 1, 1, 1)
    return (images * (1 - m) + m).clamp(0, 1)


def _white_point(images, magnitude):
    return (images * (1 + magnitude.view(-1, 1, 1, 1))).clamp(0, 1)


def _contrast(images, magnitude):
    c = 1 + magnitude.view(-1, 1, 1, 1)
    return ((images - CONTRAST_PIVOT) * c + CONTRAST_PIVOT).clamp(0, 1)


def _saturation(images, magnitude):
    s = (1 + magnitude).view(-1, 1, 1, 1)
    luma = luma_rec709(images)
    return (luma + s * (images - luma)).clamp(0, 1)


def _white_balance_linear(images, magnitude):
    """A colour-temperature shift applied to linear light, as a camera's wrong WB preset does."""
    m = magnitude.view(-1, 1, 1, 1)
    gains = torch.cat([1 + m, torch.ones_like(m), 1 - m], dim=1)
    return linear_to_srgb(srgb_to_linear(images) * gains)


def _exposure_linear(images, magnitude):
    """Exposure in stops, applied to linear light."""
    return linear_to_srgb(srgb_to_linear(images) * (2.0 ** magnitude.view(-1, 1, 1, 1)))


def _s_curve(images, magnitude):
    """Blend towards smoothstep (positive: punchier mid-tones) or its inverse (negative: flatter)."""
    m = magnitude.view(-1, 1, 1, 1)
    smooth = images * images * (3 - 2 * images)
    flat = 0.5 - torch.sin(torch.asin((1 - 2 * images).clamp(-1, 1)) / 3)
    return torch.where(m >= 0, images + m * (smooth - images), images - m * (flat - images)).clamp(0, 1)


def _gamma(images, magnitude):
    return images.clamp_min(1e-6) ** (2.0 ** magnitude.view(-1, 1, 1, 1))


MIXTURE_ERRORS = {
    "warm_cool": (_cast_warm_cool, 0.18),
    "green_magenta": (_cast_green_magenta, 0.12),
    "black_point": (_black_point, 0.12),
    "white_point": (_white_point, 0.3),
    "contrast": (_contrast, 0.4),
    "saturation": (_saturation, 0.5),
    "white_balance_linear": (_white_balance_linear, 0.25),
    "exposure_linear": (_exposure_linear, 0.8),
    "s_curve": (_s_curve, 0.6),
    "gamma": (_gamma, 0.4),
}


class MixtureSampler:
    """Draws 1-4 simultaneous errors per image with continuous magnitudes and applies them.

    ``sample(batch)`` returns magnitudes (B, E) (0 where an error is absent, E = len(MIXTURE_ERRORS))
    and an order of application; ``apply`` is deterministic given both, so a clip can drift its
    magnitudes smoothly while keeping the same errors in the same order.
    """

    names = tuple(MIXTURE_ERRORS)

    def __init__(self, generator: torch.Generator, min_errors: int = 1, max_errors: int = 4):
        if not 1 <= min_errors <= max_errors <= len(self.names):
            raise ValueError(f"need 1 <= min_errors <= max_errors <= {len(self.names)}")
        self.generator = generator
        self.min_errors, self.max_errors = min_errors, max_errors

    def sample(self, batch: int) -> tuple[torch.Tensor, list[int]]:
        g = self.generator
        count = len(self.names)
        ranges = torch.tensor([MIXTURE_ERRORS[name][1] for name in self.names])
        magnitudes = (torch.rand(batch, count, generator=g) * 2 - 1) * ranges
        # Keep |magnitude| above a fifth of its range so every chosen error is really there.
        magnitudes = torch.sign(magnitudes) * torch.maximum(magnitudes.abs(), ranges * 0.2)
        chosen = torch.zeros(batch, count, dtype=torch.bool)
        numbers = torch.randint(self.min_errors, self.max_errors + 1, (batch,), generator=g)
        for row, number in enumerate(numbers.tolist()):
            chosen[row, torch.randperm(count, generator=g)[:number]] = True
        order = torch.randperm(count, generator=g).tolist()
        return magnitudes * chosen, order

    @classmethod
    def apply(cls, clean: torch.Tensor, magnitudes: torch.Tensor, order: list[int]) -> torch.Tensor:
        images = clean
        magnitudes = magnitudes.to(clean.device, clean.dtype)
        for index in order:
            column = magnitudes[:, index]
            if torch.any(column != 0):
                images = MIXTURE_ERRORS[cls.names[index]][0](images, column)
        return images
