"""The scopes a colourist reads a correction by: an RGB parade and a vectorscope, as images.

Both are 2-D histograms computed with numpy from the frame, drawn with Pillow:

- **RGB parade**: for each channel, the frame's columns across and the code value up (0-1023, 10-bit
  scale, as colourists read a parade), each cell counting the pixels of that column at that level;
  three panels side by side, red, green, blue.
- **Vectorscope**: the Rec.709 chroma of each pixel (Cb across, Cr up, in the display-referred
  Y'CbCr of BT.709), counted on a square grid; the graticule marks the 75 % colour-bar targets
  (R, Mg, B, Cy, G, Yl) and the skin-tone line, the direction in which skin of every complexion falls.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from colorgrade.color import REC709_LUMA, to_float_rgb

PARADE_LEVELS = 256          # vertical cells of a parade panel (each 4 codes of 0-1023)
PARADE_COLUMNS = 128         # horizontal cells per channel
SCOPE_SIZE = 256             # the vectorscope's side in cells (and pixels)
CHROMA_RANGE = 0.6           # half the vectorscope's width in Cb/Cr units (the 100 % targets reach ~0.5)
SKIN_TONE_DEGREES = 123      # the skin-tone line's angle from +Cb, counter-clockwise
_CHANNEL_COLOURS = ((255, 60, 60), (60, 255, 60), (80, 140, 255))


def chroma(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rec.709 Cb, Cr (each in -0.5..0.5) of float RGB in [0, 1], as display-referred Y'CbCr defines them."""
    kr, kg, kb = REC709_LUMA
    luma = rgb @ np.asarray(REC709_LUMA, np.float32)
    return (rgb[..., 2] - luma) / (2 * (1 - kb)), (rgb[..., 0] - luma) / (2 * (1 - kr))


def parade(frame: np.ndarray) -> np.ndarray:
    """(3, PARADE_LEVELS, PARADE_COLUMNS) counts: channel, level from the top (1023) down, column."""
    rgb = to_float_rgb(frame)[0]
    height, width = rgb.shape[:2]
    columns = np.broadcast_to((np.arange(width) * PARADE_COLUMNS // width)[None, :], (height, width)).ravel()
    counts = np.zeros((3, PARADE_LEVELS, PARADE_COLUMNS))
    for channel in range(3):
        levels = np.clip((rgb[..., channel] * PARADE_LEVELS).astype(int), 0, PARADE_LEVELS - 1).ravel()
        np.add.at(counts[channel], (PARADE_LEVELS - 1 - levels, columns), 1)
    return counts


def vectorscope(frame: np.ndarray) -> np.ndarray:
    """(SCOPE_SIZE, SCOPE_SIZE) counts of the pixels' chroma: Cb across (left to right), Cr up."""
    cb, cr = chroma(to_float_rgb(frame)[0])
    column = np.clip(((cb / CHROMA_RANGE + 1) / 2 * SCOPE_SIZE).astype(int), 0, SCOPE_SIZE - 1).ravel()
    row = np.clip(((1 - (cr / CHROMA_RANGE + 1) / 2) * SCOPE_SIZE).astype(int), 0, SCOPE_SIZE - 1).ravel()
    counts = np.zeros((SCOPE_SIZE, SCOPE_SIZE))
    np.add.at(counts, (row, column), 1)
    return counts


def scope_position(cb: float, cr: float) -> tuple[float, float]:
    """Where a chroma value lands on the vectorscope image (x, y in pixels)."""
    return (cb / CHROMA_RANGE + 1) / 2 * SCOPE_SIZE, (1 - (cr / CHROMA_RANGE + 1) / 2) * SCOPE_SIZE


def targets() -> dict[str, tuple[float, float]]:
    """The 75 % colour bars' chroma positions on the vectorscope image, by name."""
    bars = {"R": (1, 0, 0), "Mg": (1, 0, 1), "B": (0, 0, 1), "Cy": (0, 1, 1), "G": (0, 1, 0), "Yl": (1, 1, 0)}
    return {name: scope_position(*(float(v) for v in chroma(np.array(rgb, np.float32) * 0.75)))
            for name, rgb in bars.items()}


def _glow(counts: np.ndarray) -> np.ndarray:
    """Counts -> 0..1 brightness, logarithmic as a scope's phosphor (a few pixels still show)."""
    return np.log1p(counts) / max(np.log1p(counts.max()), 1e-9)


def draw_parade(counts: np.ndarray) -> Image.Image:
    """The parade as an RGB image: three panels with 0/25/50/75/100 % graticule lines (0-1023 codes)."""
    gap = 6
    width = 3 * PARADE_COLUMNS + 2 * gap
    canvas = np.zeros((PARADE_LEVELS, width, 3), np.uint8)
    for channel, colour in enumerate(_CHANNEL_COLOURS):
        left = channel * (PARADE_COLUMNS + gap)
        canvas[:, left:left + PARADE_COLUMNS] = (_glow(counts[channel])[..., None] * colour).astype(np.uint8)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for share in (0, 0.25, 0.5, 0.75, 1.0):
        y = round((1 - share) * (PARADE_LEVELS - 1))
        draw.line([(0, y), (width - 1, y)], fill=(70, 70, 70))
        draw.text((2, max(0, y - 11)), str(round(share * 1023)), fill=(150, 150, 150))
    return image


def draw_vectorscope(counts: np.ndarray) -> Image.Image:
    """The vectorscope as an RGB image: the trace, the 75 % targets as boxes, the skin-tone line."""
    glow = (_glow(counts) * 235).astype(np.uint8)
    image = Image.fromarray(np.stack([glow // 3, glow, glow // 2], axis=-1))
    draw = ImageDraw.Draw(image)
    centre = SCOPE_SIZE / 2
    draw.line([(centre, 0), (centre, SCOPE_SIZE)], fill=(60, 60, 60))
    draw.line([(0, centre), (SCOPE_SIZE, centre)], fill=(60, 60, 60))
    angle = np.radians(SKIN_TONE_DEGREES)
    draw.line([(centre, centre), (centre + np.cos(angle) * centre, centre - np.sin(angle) * centre)],
              fill=(200, 150, 110))
    for name, (x, y) in targets().items():
        draw.rectangle([x - 5, y - 5, x + 5, y + 5], outline=(200, 200, 200))
        draw.text((x + 7, y - 6), name, fill=(200, 200, 200))
    return image
