"""The scopes a colourist reads a correction by: a luma waveform, an RGB parade, an RGB histogram and a
vectorscope, as images.

All are histograms computed with numpy from the frame, drawn with Pillow:

- **Luma waveform** (the colourist's first scope): the frame's columns across and the Rec.709 luma up
  (0-1023, 10-bit scale), each cell counting the pixels of that column at that level.
- **RGB parade**: the same for each channel, three panels side by side, red, green, blue.
- **RGB histogram**: how many pixels sit at each code value, per channel, the three drawn over each other.
- **Vectorscope**: the Rec.709 chroma of each pixel (Cb across, Cr up, in the display-referred
  Y'CbCr of BT.709), counted on a square grid; the graticule marks the 75 % colour-bar targets
  (R, Mg, B, Cy, G, Yl) and the skin-tone line, the direction in which skin of every complexion falls.
  A trace of low saturation is a small blob in the middle at full scale: it is drawn zoomed (x2, x4,
  x8, the zoom printed on the scope) so its shape and its lean can be read.
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
ZOOMS = (1, 2, 4, 8)         # the vectorscope's magnifications
HISTOGRAM_BINS = 256         # code values per bin: 4 of 0-1023
HISTOGRAM_HEIGHT = 128
_CHANNEL_COLOURS = ((255, 60, 60), (60, 255, 60), (80, 140, 255))


def chroma(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rec.709 Cb, Cr (each in -0.5..0.5) of float RGB in [0, 1], as display-referred Y'CbCr defines them."""
    kr, kg, kb = REC709_LUMA
    luma = rgb @ np.asarray(REC709_LUMA, np.float32)
    return (rgb[..., 2] - luma) / (2 * (1 - kb)), (rgb[..., 0] - luma) / (2 * (1 - kr))


def _column_levels(values: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] -> (PARADE_LEVELS, PARADE_COLUMNS) counts: level from the top (1023) down, column."""
    height, width = values.shape
    columns = np.broadcast_to((np.arange(width) * PARADE_COLUMNS // width)[None, :], (height, width)).ravel()
    levels = np.clip((values * PARADE_LEVELS).astype(int), 0, PARADE_LEVELS - 1).ravel()
    counts = np.zeros((PARADE_LEVELS, PARADE_COLUMNS))
    np.add.at(counts, (PARADE_LEVELS - 1 - levels, columns), 1)
    return counts


def parade(frame: np.ndarray) -> np.ndarray:
    """(3, PARADE_LEVELS, PARADE_COLUMNS) counts: channel, level from the top (1023) down, column."""
    rgb = to_float_rgb(frame)[0]
    return np.stack([_column_levels(rgb[..., channel]) for channel in range(3)])


def waveform(frame: np.ndarray) -> np.ndarray:
    """(PARADE_LEVELS, PARADE_COLUMNS) counts of the Rec.709 luma: level from the top (1023) down, column."""
    return _column_levels(to_float_rgb(frame)[0] @ np.asarray(REC709_LUMA, np.float32))


def histogram(frame: np.ndarray) -> np.ndarray:
    """(3, HISTOGRAM_BINS) counts of each channel's values, from 0 to 1023."""
    rgb = to_float_rgb(frame)[0]
    bins = np.clip((rgb * HISTOGRAM_BINS).astype(int), 0, HISTOGRAM_BINS - 1)
    return np.stack([np.bincount(bins[..., channel].ravel(), minlength=HISTOGRAM_BINS) for channel in range(3)])


def vectorscope_zoom(*frames: np.ndarray) -> int:
    """The largest of ZOOMS at which the trace of every frame (the 99th percentile of its chroma's distance from
    the centre) still fits inside the scope, so a frame of low saturation is not a dot in the middle."""
    reach = max(float(np.percentile(np.hypot(*chroma(to_float_rgb(frame)[0])), 99)) for frame in frames)
    return max(zoom for zoom in ZOOMS if zoom == 1 or reach * zoom <= CHROMA_RANGE * 0.9)


def vectorscope(frame: np.ndarray, zoom: int = 1) -> np.ndarray:
    """(SCOPE_SIZE, SCOPE_SIZE) counts of the pixels' chroma, magnified by ``zoom``: Cb across (left to right),
    Cr up."""
    x, y = scope_position(*chroma(to_float_rgb(frame)[0]), zoom=zoom)
    column = np.clip(x.astype(int), 0, SCOPE_SIZE - 1).ravel()
    row = np.clip(y.astype(int), 0, SCOPE_SIZE - 1).ravel()
    counts = np.zeros((SCOPE_SIZE, SCOPE_SIZE))
    np.add.at(counts, (row, column), 1)
    return counts


def scope_position(cb, cr, zoom: int = 1):
    """Where a chroma value (or arrays of them) lands on the vectorscope image (x, y in pixels) at ``zoom``."""
    return (cb * zoom / CHROMA_RANGE + 1) / 2 * SCOPE_SIZE, (1 - (cr * zoom / CHROMA_RANGE + 1) / 2) * SCOPE_SIZE


def targets(zoom: int = 1) -> dict[str, tuple[float, float]]:
    """The 75 % colour bars' chroma positions on the vectorscope image at ``zoom``, by name."""
    bars = {"R": (1, 0, 0), "Mg": (1, 0, 1), "B": (0, 0, 1), "Cy": (0, 1, 1), "G": (0, 1, 0), "Yl": (1, 1, 0)}
    return {name: scope_position(*(float(v) for v in chroma(np.array(rgb, np.float32) * 0.75)), zoom=zoom)
            for name, rgb in bars.items()}


def _glow(counts: np.ndarray) -> np.ndarray:
    """Counts -> 0..1 brightness, logarithmic as a scope's phosphor (a few pixels still show)."""
    return np.log1p(counts) / max(np.log1p(counts.max()), 1e-9)


def _graticule(image: Image.Image) -> Image.Image:
    """Lines and labels at 0/25/50/75/100 % (0-1023 codes) across a waveform or parade."""
    draw = ImageDraw.Draw(image)
    for share in (0, 0.25, 0.5, 0.75, 1.0):
        y = round((1 - share) * (PARADE_LEVELS - 1))
        draw.line([(0, y), (image.width - 1, y)], fill=(70, 70, 70))
        draw.text((2, max(0, y - 11)), str(round(share * 1023)), fill=(150, 150, 150))
    return image


def draw_parade(counts: np.ndarray) -> Image.Image:
    """The parade as an RGB image: three panels with 0/25/50/75/100 % graticule lines (0-1023 codes)."""
    gap = 6
    width = 3 * PARADE_COLUMNS + 2 * gap
    canvas = np.zeros((PARADE_LEVELS, width, 3), np.uint8)
    for channel, colour in enumerate(_CHANNEL_COLOURS):
        left = channel * (PARADE_COLUMNS + gap)
        canvas[:, left:left + PARADE_COLUMNS] = (_glow(counts[channel])[..., None] * colour).astype(np.uint8)
    return _graticule(Image.fromarray(canvas))


def draw_waveform(counts: np.ndarray) -> Image.Image:
    """The luma waveform as an image (a phosphor green trace), with the parade's graticule."""
    glow = _glow(counts)
    return _graticule(Image.fromarray((glow[..., None] * (150, 235, 150)).astype(np.uint8)))


def draw_histogram(counts: np.ndarray) -> Image.Image:
    """The RGB histogram as an image: each channel's bars from the bottom, added where they overlap (white
    where all three agree), on a square-root scale so a channel's smaller peaks still show."""
    heights = np.sqrt(counts) / max(float(np.sqrt(counts).max()), 1e-9) * HISTOGRAM_HEIGHT
    rows = np.arange(HISTOGRAM_HEIGHT)[::-1, None]    # height above the bottom of each image row
    canvas = np.zeros((HISTOGRAM_HEIGHT, HISTOGRAM_BINS, 3), np.int32)
    for channel, colour in enumerate(_CHANNEL_COLOURS):
        canvas += (rows < heights[channel][None, :])[..., None] * (np.asarray(colour) * 2 // 3)
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for share in (0.25, 0.5, 0.75):
        x = round(share * (HISTOGRAM_BINS - 1))
        draw.line([(x, 0), (x, HISTOGRAM_HEIGHT - 1)], fill=(70, 70, 70))
    return image


def draw_vectorscope(counts: np.ndarray, zoom: int = 1) -> Image.Image:
    """The vectorscope as an RGB image: the trace, the 75 % targets as boxes (those the zoom leaves on the
    scope), the skin-tone line, and the zoom printed in a corner when there is one."""
    glow = (_glow(counts) * 235).astype(np.uint8)
    image = Image.fromarray(np.stack([glow // 3, glow, glow // 2], axis=-1))
    draw = ImageDraw.Draw(image)
    centre = SCOPE_SIZE / 2
    draw.line([(centre, 0), (centre, SCOPE_SIZE)], fill=(60, 60, 60))
    draw.line([(0, centre), (SCOPE_SIZE, centre)], fill=(60, 60, 60))
    angle = np.radians(SKIN_TONE_DEGREES)
    draw.line([(centre, centre), (centre + np.cos(angle) * centre, centre - np.sin(angle) * centre)],
              fill=(200, 150, 110))
    for name, (x, y) in targets(zoom).items():
        if 0 <= x < SCOPE_SIZE and 0 <= y < SCOPE_SIZE:
            draw.rectangle([x - 5, y - 5, x + 5, y + 5], outline=(200, 200, 200))
            draw.text((x + 7, y - 6), name, fill=(200, 200, 200))
    if zoom > 1:
        draw.text((6, 4), f"zoom x{zoom}", fill=(235, 200, 90))
    return image
