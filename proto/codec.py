"""numpy arrays and colour values ⇄ the wire messages of ``grader.proto``.

Frames decode to a read-only view of the message's bytes (no copy): read ``Frame.data`` once
and wrap it, because every attribute access on a protobuf ``bytes`` field copies it.
Every declared size and type is checked against the byte count and the caps before anything
is allocated, so a malformed or hostile frame costs nothing but its own message.
"""
from __future__ import annotations

import numpy as np

from colorgrade.color import CDL, LUT3D
from colorgrade.proto import grader_pb2 as pb

DTYPE_OF_PIXEL_TYPE = {
    pb.PIXEL_TYPE_UINT8: np.dtype("u1"),
    pb.PIXEL_TYPE_UINT16: np.dtype("<u2"),
    pb.PIXEL_TYPE_FLOAT16: np.dtype("<f2"),
    pb.PIXEL_TYPE_FLOAT32: np.dtype("<f4"),
}
PIXEL_TYPE_OF_DTYPE = {dtype: kind for kind, dtype in DTYPE_OF_PIXEL_TYPE.items()}
DEFAULT_MAX_PIXELS = 8192 * 8192
# gRPC's default receive limit is 4 MB; a 4K float32 RGBA frame is 133 MB, and GradeFrame carries its
# window's neighbours. Both ends raise their send and receive limits to this.
MAX_MESSAGE_BYTES = 512 << 20
# Headers for proxies: every call about a clip carries its id (a fleet's proxy hashes on it, so the clip's
# calls land on the daemon that holds its window: deploy/envoy), and every reply names the daemon that made it.
CLIP_HEADER = "x-colorgrade-clip"
SERVER_HEADER = "x-colorgrade-server"
MAX_CLIP_ID_CHARS = 64
CLIP_ID_PATTERN = rf"[A-Za-z0-9_.-]{{1,{MAX_CLIP_ID_CHARS}}}"   # a client-chosen clip id (OpenClipRequest.clip_id)
# The clip modes by the names clients, commands and the daemon use, and their wire values.
MODES = {"parameters": pb.MODE_PARAMETERS, "cdl_frames": pb.MODE_CDL_FRAMES,
         "generator_frames": pb.MODE_GENERATOR_FRAMES, "generator_lut": pb.MODE_GENERATOR_LUT}
PIXEL_MODES = [name for name in MODES if name != "parameters"]   # the modes that return graded frames


class FrameError(ValueError):
    """A frame message or array that does not describe a valid picture."""


def encode_frame(image: np.ndarray, index: int = 0) -> pb.Frame:
    """(H, W, 3|4) array of uint8, uint16, float16 or float32 -> Frame message."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise FrameError(f"a frame is (height, width, 3 or 4), got shape {image.shape}")
    dtype = image.dtype.newbyteorder("<") if image.dtype.itemsize > 1 else image.dtype
    if dtype not in PIXEL_TYPE_OF_DTYPE:
        raise FrameError(f"unsupported sample type {image.dtype} (use uint8, uint16, float16 or float32)")
    height, width, channels = image.shape
    return pb.Frame(width=width, height=height, channels=channels, index=index,
                    pixel_type=PIXEL_TYPE_OF_DTYPE[dtype],
                    data=np.ascontiguousarray(image, dtype=dtype).tobytes())


def decode_frame(frame: pb.Frame, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Frame message -> read-only (H, W, C) array viewing the message's bytes.

    Raises FrameError naming the problem: unknown type, zero or over-cap size, channel count,
    byte count not matching the declared size, NaN or Inf in float frames.
    """
    dtype = DTYPE_OF_PIXEL_TYPE.get(frame.pixel_type)
    if dtype is None:
        raise FrameError(f"frame {frame.index}: unknown pixel type {frame.pixel_type}")
    width, height, channels = frame.width, frame.height, frame.channels
    if width == 0 or height == 0:
        raise FrameError(f"frame {frame.index}: empty size {width}x{height}")
    if width * height > max_pixels:
        raise FrameError(f"frame {frame.index}: {width}x{height} exceeds the server's cap of {max_pixels} pixels")
    if channels not in (3, 4):
        raise FrameError(f"frame {frame.index}: {channels} channels (use 3 for RGB or 4 for RGBA)")
    data = frame.data
    expected = width * height * channels * dtype.itemsize
    if len(data) != expected:
        raise FrameError(f"frame {frame.index}: {width}x{height}x{channels} {dtype.name} needs "
                         f"{expected} bytes, got {len(data)}")
    image = np.frombuffer(data, dtype=dtype).reshape(height, width, channels)
    if dtype.kind == "f" and not np.isfinite(image).all():
        raise FrameError(f"frame {frame.index}: holds NaN or Inf samples")
    return image


def cdl_to_message(cdl: CDL) -> pb.Cdl:
    return pb.Cdl(slope=cdl.slope, offset=cdl.offset, power=cdl.power, saturation=cdl.saturation)


def cdl_from_message(message: pb.Cdl) -> CDL:
    return CDL(tuple(message.slope), tuple(message.offset), tuple(message.power), message.saturation)


def lut_to_message(lut: LUT3D) -> pb.Lut3d:
    # Red fastest on the wire, as in a .cube file.
    table = np.ascontiguousarray(lut.table.transpose(2, 1, 0, 3), dtype="<f4")
    return pb.Lut3d(size=lut.size, domain_min=lut.domain_min, domain_max=lut.domain_max,
                    table=table.tobytes())


def lut_from_message(message: pb.Lut3d) -> LUT3D:
    size = message.size
    table = message.table
    if size < 2 or len(table) != size ** 3 * 3 * 4:
        raise FrameError(f"LUT of size {size} needs {size ** 3 * 12} bytes, got {len(table)}")
    values = np.frombuffer(table, dtype="<f4").reshape(size, size, size, 3).transpose(2, 1, 0, 3)
    return LUT3D(values, tuple(message.domain_min), tuple(message.domain_max))
