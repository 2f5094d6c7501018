"""Differentiable, batched colour maths in torch: the training-side twins of ``colorgrade.color``.

Images are (B, 3, H, W) float tensors of display-referred RGB in [0, 1].
A CDL travels as a (B, 10) tensor: slope[3], offset[3], power[3], saturation (``CDL.to_vector``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from colorgrade.color import REC709_LUMA, thumbnail_block

# Keeps pow() differentiable at 0 for powers below 1; far below an 8- or 16-bit code value.
_POW_FLOOR = 1e-6


def luma_rec709(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) Rec.709 luma of the encoded values (as the ASC CDL defines it)."""
    weights = rgb.new_tensor(REC709_LUMA).view(1, 3, 1, 1)
    return (rgb * weights).sum(dim=1, keepdim=True)


def apply_cdl(rgb: torch.Tensor, cdl: torch.Tensor) -> torch.Tensor:
    """ASC CDL v1.2 (clamped), batched: rgb (B, 3, H, W), cdl (B, 10) -> (B, 3, H, W)."""
    slope, offset, power = (cdl[:, i:i + 3].view(-1, 3, 1, 1) for i in (0, 3, 6))
    saturation = cdl[:, 9].view(-1, 1, 1, 1)
    sop = (rgb * slope + offset).clamp(0.0, 1.0)
    sop = sop.clamp_min(_POW_FLOOR) ** power
    luma = luma_rec709(sop)
    return (luma + saturation * (sop - luma)).clamp(0.0, 1.0)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """IEC 61966-2-1 sRGB decoding: encoded [0, 1] -> linear light."""
    rgb = rgb.clamp(0.0, 1.0)
    return torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055).clamp_min(_POW_FLOOR) ** 2.4)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """IEC 61966-2-1 sRGB encoding: linear light -> encoded [0, 1] (clamped)."""
    linear = linear.clamp(0.0, 1.0)
    return torch.where(linear <= 0.0031308, linear * 12.92,
                       1.055 * linear.clamp_min(_POW_FLOOR) ** (1 / 2.4) - 0.055)


def thumbnail(rgb: torch.Tensor, size: int) -> torch.Tensor:
    """Squash (B, 3, H, W) to (B, 3, size, size) by area averaging (the paper squashed, not cropped).

    Whole k x k blocks are averaged first (k = ``thumbnail_block(H, W, size)``; the last rows and
    columns short of a block, fewer than k, are left out), then adaptive averaging goes the rest of
    the way. The block step is what lets integer frames be reduced exactly and cheaply
    (``colorgrade.color.block_means``) without converting a whole 4K frame to floats first.
    """
    if rgb.shape[-2:] == (size, size):
        return rgb
    if rgb.shape[-2] < size or rgb.shape[-1] < size:
        return F.interpolate(rgb, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    block = thumbnail_block(rgb.shape[-2], rgb.shape[-1], size)
    if block > 1:
        rgb = F.avg_pool2d(rgb, block)
    return F.adaptive_avg_pool2d(rgb, (size, size))


def srgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB (D65) -> CIE L*a*b* (D65 white), (B, 3, H, W); for perceptual training losses."""
    linear = srgb_to_linear(rgb)
    matrix = linear.new_tensor([[0.4124564, 0.3575761, 0.1804375],
                                [0.2126729, 0.7151522, 0.0721750],
                                [0.0193339, 0.1191920, 0.9503041]])
    white = linear.new_tensor([0.95047, 1.0, 1.08883]).view(1, 3, 1, 1)
    xyz = torch.einsum("ij,bjhw->bihw", matrix, linear) / white
    delta = 6.0 / 29.0
    f = torch.where(xyz > delta ** 3, xyz.clamp_min(_POW_FLOOR) ** (1 / 3), xyz / (3 * delta ** 2) + 4.0 / 29.0)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], dim=1)
