"""Reading and writing stills, image sequences and video for the CLI, keeping bit depth.

- stills: 8-bit PNG/JPEG through Pillow; 16-bit PNG through PyAV (FFmpeg's PNG codec reads and
  writes rgb48); TIFF (8/16-bit) through tifffile. A 16-bit input gives a 16-bit output.
- image sequences: a folder of stills, graded in file-name order into a folder of the same names.
- video: decoded and encoded with PyAV (H.264 by default, the input's frame rate).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import tifffile
from PIL import Image

STILL_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".mpg", ".mpeg", ".webm", ".mxf"}


class MediaError(ValueError):
    """A file that cannot be read or written as asked (the message names it)."""


def kind_of(path: Path) -> str:
    """"still", "sequence" (a folder of stills) or "video"."""
    path = Path(path)
    if path.is_dir():
        return "sequence"
    suffix = path.suffix.lower()
    if suffix in STILL_SUFFIXES:
        return "still"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    raise MediaError(f"{path}: unknown media type {suffix!r} (stills: {sorted(STILL_SUFFIXES)}, "
                     f"video: {sorted(VIDEO_SUFFIXES)}, or a folder of stills)")


def read_image(path) -> np.ndarray:
    """-> (H, W, 3|4) uint8 or uint16."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            image = tifffile.imread(path)
        elif suffix == ".png" and _png_bit_depth(path) == 16:
            with av.open(str(path)) as container:
                frame = next(container.decode(video=0))
                image = frame.to_ndarray(format="rgba64le" if "a" in frame.format.name else "rgb48le")
        else:
            with Image.open(path) as opened:
                image = np.asarray(opened.convert("RGBA" if opened.mode in ("RGBA", "LA", "PA") else "RGB"))
    except (OSError, ValueError, av.error.FFmpegError) as error:
        raise MediaError(f"{path}: cannot read image ({error})") from None
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype not in (np.uint8, np.uint16):
        raise MediaError(f"{path}: expected 8- or 16-bit RGB(A), got {image.dtype} {image.shape}")
    return image


def _png_bit_depth(path: Path) -> int:
    with open(path, "rb") as handle:
        header = handle.read(25)
    return header[24] if len(header) == 25 and header[:8] == b"\x89PNG\r\n\x1a\n" else 8


def write_image(path, image: np.ndarray) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        tifffile.imwrite(path, image, photometric="rgb")
    elif image.dtype == np.uint16:
        if suffix != ".png":
            raise MediaError(f"{path}: 16-bit output needs .png or .tif")
        with av.open(str(path), "w", format="image2") as container:
            stream = container.add_stream("png")
            stream.width, stream.height = image.shape[1], image.shape[0]
            stream.pix_fmt = "rgba64be" if image.shape[2] == 4 else "rgb48be"
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image),
                                               format="rgba64le" if image.shape[2] == 4 else "rgb48le")
            for packet in stream.encode(frame):
                container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    else:
        Image.fromarray(image).save(path)


def list_sequence(folder) -> list[Path]:
    frames = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in STILL_SUFFIXES)
    if not frames:
        raise MediaError(f"{folder}: no stills ({', '.join(sorted(STILL_SUFFIXES))}) in this folder")
    return frames


@dataclass
class VideoInfo:
    frames: int
    rate: Fraction
    width: int
    height: int


def probe_video(path) -> VideoInfo:
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            count = stream.frames or sum(1 for _ in container.decode(video=0))
            return VideoInfo(count, stream.average_rate or Fraction(25), stream.width, stream.height)
    except (av.error.FFmpegError, IndexError) as error:
        raise MediaError(f"{path}: cannot read video ({error})") from None


def read_video(path):
    """Yields (H, W, 3) uint8 RGB frames."""
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as error:
        raise MediaError(f"{path}: cannot decode video ({error})") from None


class VideoWriter:
    """H.264 (yuv420p, CRF 16) at the input's rate; frames are (H, W, 3) uint8 RGB."""

    def __init__(self, path, rate: Fraction, width: int, height: int):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(path), "w")
        self.stream = self.container.add_stream("libx264", rate=rate, options={"crf": "16"})
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"

    def write(self, image: np.ndarray) -> None:
        for packet in self.stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def shrink(image: np.ndarray, max_side: int = 256) -> np.ndarray:
    """Area-average an (H, W, C) frame down by an integer factor so its long side is at most ``max_side``.

    What a LAN client sends instead of the full frame: the analysis network looks at a thumbnail
    anyway, and a 256-px frame is 1/60 of a 1080p one on the wire.
    """
    factor = -(-max(image.shape[:2]) // max_side)
    if factor <= 1:
        return image
    height, width = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    blocks = image[:height, :width].reshape(height // factor, factor, width // factor, factor, image.shape[2])
    mean = blocks.mean(axis=(1, 3), dtype=np.float64)
    return np.rint(mean).astype(image.dtype) if image.dtype.kind == "u" else mean.astype(image.dtype)
