"""numpy arrays and colour values ⇄ the wire messages of ``grader.proto``.

Frames decode to a read-only view of the message's bytes (no copy): read ``Frame.data`` once
and wrap it, because every attribute access on a protobuf ``bytes`` field copies it.
Every declared size and type is checked against the byte count and the caps before anything
is allocated, so a malformed or hostile frame costs nothing but its own message.
"""
from __future__ import annotations

from dataclasses import dataclass

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
REGION_NAME_PATTERN = r"[A-Za-z0-9_.-]{1,64}"   # a shared-memory region's name (SharedRegion.name): no slash
DEFAULT_WINDOW_RADIUS = 2   # analysis modes: frames whose CDLs are averaged on each side of a frame


@dataclass(frozen=True)
class Mode:
    """A clip mode: what clients, commands' help and the daemon's behaviour all derive from (``MODES``)."""
    name: str
    wire: int                  # its ``colorgrade.v1.Mode`` value
    help: str                  # what it gives, as --mode help says it
    returns_pixels: bool       # graded frames come back (else corrections only)
    uses_analysis: bool        # the analysis network's CDL (else the generator)
    distils_lut: bool          # the generator's output distilled to a 3D LUT per window
    default_window: int        # frames averaged on each side by default: CDLs, or generator outputs (blend)


MODES = {mode.name: mode for mode in (
    Mode("parameters", pb.MODE_PARAMETERS, "the analysis network's CDL, confidence and diagnosis; no pixels",
         returns_pixels=False, uses_analysis=True, distils_lut=False, default_window=DEFAULT_WINDOW_RADIUS),
    Mode("cdl_frames", pb.MODE_CDL_FRAMES, "the analysis network's CDL applied at full resolution and bit depth",
         returns_pixels=True, uses_analysis=True, distils_lut=False, default_window=DEFAULT_WINDOW_RADIUS),
    Mode("generator_frames", pb.MODE_GENERATOR_FRAMES, "the cGAN's pixels (at its working size, resized)",
         returns_pixels=True, uses_analysis=False, distils_lut=False, default_window=0),
    Mode("generator_lut", pb.MODE_GENERATOR_LUT, "the cGAN distilled to a smooth 3D LUT per window, applied at "
         "full resolution (no blur, no flicker)", returns_pixels=True, uses_analysis=False, distils_lut=True,
         default_window=0),
)}
MODE_OF_WIRE = {mode.wire: mode for mode in MODES.values()}
PIXEL_MODES = [name for name, mode in MODES.items() if mode.returns_pixels]


def modes_help(names) -> str:
    """``--mode`` help for the modes ``names``, from the table."""
    return "; ".join(f"{name}: {MODES[name].help}" for name in names)


class FrameError(ValueError):
    """A frame message or array that does not describe a valid picture."""


def frame_header(image: np.ndarray, index: int = 0) -> pb.Frame:
    """(H, W, 3|4) array of uint8, uint16, float16 or float32 -> a Frame message without its samples (for
    samples that travel in shared memory)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise FrameError(f"a frame is (height, width, 3 or 4), got shape {image.shape}")
    dtype = wire_dtype(image)
    height, width, channels = image.shape
    return pb.Frame(width=width, height=height, channels=channels, index=index, pixel_type=PIXEL_TYPE_OF_DTYPE[dtype])


def wire_dtype(image: np.ndarray) -> np.dtype:
    """The sample type a frame travels as (little-endian); FrameError for a type the wire does not carry."""
    dtype = image.dtype.newbyteorder("<") if image.dtype.itemsize > 1 else image.dtype
    if dtype not in PIXEL_TYPE_OF_DTYPE:
        raise FrameError(f"unsupported sample type {image.dtype} (use uint8, uint16, float16 or float32)")
    return dtype


def encode_frame(image: np.ndarray, index: int = 0) -> pb.Frame:
    """(H, W, 3|4) array of uint8, uint16, float16 or float32 -> Frame message."""
    message = frame_header(image, index)
    message.data = np.ascontiguousarray(image, dtype=wire_dtype(np.asarray(image))).tobytes()
    return message


def decode_frame(frame: pb.Frame, max_pixels: int = DEFAULT_MAX_PIXELS, shared=None) -> np.ndarray:
    """Frame message -> read-only (H, W, C) array viewing the message's bytes, or a copy of its samples in
    shared memory (``shared(slot, byte_count)`` -> the slot's buffer; None where no region can be read).

    Raises FrameError naming the problem: unknown type, zero or over-cap size, channel count,
    byte count not matching the declared size, a shared slot that is not there, NaN or Inf in float frames.
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
    expected = width * height * channels * dtype.itemsize
    if frame.HasField("shared"):
        if shared is None:
            raise FrameError(f"frame {frame.index}: its samples are in shared memory, which only a clip's stream "
                             "reads (send them as data)")
        # A copy: the client writes its next frames into the same slots.
        image = np.frombuffer(shared(frame.shared, expected), dtype=dtype).reshape(height, width, channels).copy()
    else:
        data = frame.data
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
