"""Image and clip quality metrics. Inputs are numpy float arrays of sRGB in [0, 1], shape (..., H, W, 3).

- ``ciede2000``: per-pixel CIEDE2000 colour difference (Sharma, Wu & Dalal 2005), D65 white.
- ``psnr``: peak signal-to-noise ratio in dB for a peak of 1.
- ``identical_share``: share of pixels whose 8-bit code values equal the target's (the paper's
  "74 % of pixels have integer values of 0" in a difference image).
- ``sharpness_retention``: high-frequency energy of the output relative to the target's
  (1 = as sharp; below 1 = blurred; above 1 = noisier or oversharpened).
- ``flicker``: RMS, in 8-bit code values, of how the output's frame-to-frame change departs from
  the target's (0 = the output moves exactly as the target does).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from colorgrade.color import luma_rec709
from colorgrade.models.differentiable_colour import srgb_to_lab


def _channels_first(rgb: np.ndarray) -> torch.Tensor:
    """(..., 3) numpy -> (1, 3, N, 1) float64 tensor, the layout ``srgb_to_lab`` takes."""
    flat = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float64).reshape(-1, 3))
    return flat.T.reshape(1, 3, -1, 1)


def ciede2000(rgb_a: np.ndarray, rgb_b: np.ndarray) -> np.ndarray:
    """CIEDE2000 between two sRGB images of the same shape (..., 3) -> (...) float64."""
    if np.shape(rgb_a) != np.shape(rgb_b) or np.shape(rgb_a)[-1] != 3:
        raise ValueError(f"ciede2000 needs two (..., 3) arrays of one shape, got {np.shape(rgb_a)} and {np.shape(rgb_b)}")
    lab_a = srgb_to_lab(_channels_first(rgb_a))[0, :, :, 0]
    lab_b = srgb_to_lab(_channels_first(rgb_b))[0, :, :, 0]
    return _ciede2000_lab(lab_a, lab_b).numpy().reshape(np.shape(rgb_a)[:-1])


def _ciede2000_lab(lab1: torch.Tensor, lab2: torch.Tensor) -> torch.Tensor:
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    c_bar = (torch.hypot(a1, b1) + torch.hypot(a2, b2)) / 2
    g = 0.5 * (1 - torch.sqrt(c_bar ** 7 / (c_bar ** 7 + 25.0 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = torch.hypot(a1p, b1), torch.hypot(a2p, b2)
    h1p = torch.rad2deg(torch.atan2(b1, a1p)) % 360
    h2p = torch.rad2deg(torch.atan2(b2, a2p)) % 360
    chroma_zero = (c1p * c2p) == 0

    dlp = l2 - l1
    dcp = c2p - c1p
    dh = h2p - h1p
    dh = torch.where(dh > 180, dh - 360, torch.where(dh < -180, dh + 360, dh))
    dh = torch.where(chroma_zero, torch.zeros_like(dh), dh)
    dhp = 2 * torch.sqrt(c1p * c2p) * torch.sin(torch.deg2rad(dh) / 2)

    l_bar = (l1 + l2) / 2
    cp_bar = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = torch.where((h1p - h2p).abs() <= 180, h_sum / 2,
                        torch.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2))
    h_bar = torch.where(chroma_zero, h_sum, h_bar)
    t = (1 - 0.17 * torch.cos(torch.deg2rad(h_bar - 30)) + 0.24 * torch.cos(torch.deg2rad(2 * h_bar))
         + 0.32 * torch.cos(torch.deg2rad(3 * h_bar + 6)) - 0.20 * torch.cos(torch.deg2rad(4 * h_bar - 63)))
    d_theta = 30 * torch.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * torch.sqrt(cp_bar ** 7 / (cp_bar ** 7 + 25.0 ** 7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / torch.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * cp_bar
    s_h = 1 + 0.015 * cp_bar * t
    r_t = -torch.sin(torch.deg2rad(2 * d_theta)) * r_c
    return torch.sqrt((dlp / s_l) ** 2 + (dcp / s_c) ** 2 + (dhp / s_h) ** 2
                      + r_t * (dcp / s_c) * (dhp / s_h))


def psnr(output: np.ndarray, target: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(output, np.float64) - np.asarray(target, np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def identical_share(output: np.ndarray, target: np.ndarray) -> float:
    to_code = lambda x: np.rint(np.clip(x, 0, 1) * 255).astype(np.int16)  # noqa: E731
    return float(np.all(to_code(output) == to_code(target), axis=-1).mean())


def _high_frequency(rgb: np.ndarray) -> np.ndarray:
    """Laplacian of Rec.709 luma, per image: what blur removes first."""
    luma = luma_rec709(rgb, np.float64)
    return (4 * luma[..., 1:-1, 1:-1] - luma[..., :-2, 1:-1] - luma[..., 2:, 1:-1]
            - luma[..., 1:-1, :-2] - luma[..., 1:-1, 2:])


def sharpness_retention(output: np.ndarray, target: np.ndarray) -> float:
    target_energy = float(np.sqrt(np.mean(_high_frequency(target) ** 2)))
    if target_energy == 0:
        raise ValueError("sharpness_retention: the target has no detail to retain")
    return float(np.sqrt(np.mean(_high_frequency(output) ** 2))) / target_energy


def flicker(output_frames: np.ndarray, target_frames: np.ndarray) -> float:
    """Clips (F, H, W, 3), F >= 2 -> RMS of (output change - target change) between frames, in 8-bit units."""
    output_frames = np.asarray(output_frames, np.float64)
    target_frames = np.asarray(target_frames, np.float64)
    if output_frames.shape != target_frames.shape or output_frames.shape[0] < 2:
        raise ValueError("flicker needs two clips of one shape with at least 2 frames")
    departure = np.diff(output_frames, axis=0) - np.diff(target_frames, axis=0)
    return float(np.sqrt(np.mean(departure ** 2)) * 255)
