"""Reading and writing stills, image sequences and video for the CLI, keeping bit depth.

- stills: 8-bit PNG/JPEG through Pillow; 16-bit PNG through PyAV (FFmpeg's PNG codec reads and
  writes rgb48); TIFF (8/16-bit) through tifffile. A 16-bit input gives a 16-bit output.
- plates: EXR (half/float) and DPX (10/12/16-bit) through OpenImageIO, the VFX field's library: read in
  their own sample type (DPX codes scaled to 16 bits, as OIIO reads them), written back with the source's
  whole ImageSpec (format, bit depth, channel names, compression, every attribute: its colour space too).
- image sequences: a folder of stills, graded in file-name order into a folder of the same names.
- video: decoded and encoded with PyAV, keeping what the source has: bit depth and chroma (ProRes stays
  ProRes at its profile, 10-bit stays 10-bit), every frame's timestamp, colour tags, and every
  other stream (audio, subtitles, data) copied untouched.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import tifffile
from av.video.reformatter import ColorRange, Colorspace, Interpolation
from PIL import Image, JpegImagePlugin

# Read and written through OpenImageIO (the rest through Pillow, PyAV and tifffile, as before it).
PLATE_SUFFIXES = {".exr", ".dpx"}
STILL_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"} | PLATE_SUFFIXES
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


@dataclass
class StillMetadata:
    """What a still carries besides its pixels, written back with the graded pixels."""
    exif: bytes | None = None          # EXIF, orientation included (the pixels stay as stored)
    icc_profile: bytes | None = None
    jpeg_tables: list | None = None    # a JPEG's quantisation tables: its quality, kept exactly
    jpeg_subsampling: int | None = None
    spec: "oiio.ImageSpec | None" = None  # an EXR's or DPX's header, attributes and all (see ``plate_spec``)
    extra: np.ndarray | None = None    # a plate's channels past RGB(A) (depth, mattes, AOVs), written back untouched


def read_metadata(path) -> StillMetadata:
    """EXIF, ICC profile and, for a JPEG, the quantisation tables and chroma subsampling it was saved with;
    an EXR's or DPX's ImageSpec."""
    if Path(path).suffix.lower() in PLATE_SUFFIXES:
        try:
            spec = plate_spec(path)
            extra = _read_plate(Path(path))[..., _graded_channels(spec):] if spec.nchannels > 4 else None
            return StillMetadata(spec=spec, extra=extra)
        except MediaError:
            return StillMetadata()
    try:
        with open_still(path) as opened:
            tables = subsampling = None
            if opened.format == "JPEG":
                tables = [list(table) for _, table in sorted(opened.quantization.items())]
                subsampling = JpegImagePlugin.get_sampling(opened)
            return StillMetadata(opened.info.get("exif"), opened.info.get("icc_profile"), tables,
                                 None if subsampling == -1 else subsampling)
    except (OSError, MediaError):
        return StillMetadata()


def reason(error: Exception) -> str:
    """What went wrong, in words: FFmpeg's errors carry an errno in their text ("[Errno 1094995529] ...")."""
    return getattr(error, "strerror", None) or str(error)


def open_still(path):
    """Pillow's image of a file, refusing headers that claim more pixels than any frame the daemon takes."""
    try:
        return Image.open(path)
    except Image.DecompressionBombError:
        with open(path, "rb") as handle:
            header = handle.read(24)
        size = f"{int.from_bytes(header[16:20], 'big')}x{int.from_bytes(header[20:24], 'big')} " \
            if header[:8] == b"\x89PNG\r\n\x1a\n" else ""
        raise MediaError(f"{path}: claims a {size}picture larger than {Image.MAX_IMAGE_PIXELS} pixels "
                         "(a damaged or hostile file?)") from None
    except OSError as error:
        raise MediaError(f"{path}: cannot read image ({reason(error)})") from None


def _oiio():
    """OpenImageIO, loaded when a plate is first read or written: most runs never touch one."""
    import OpenImageIO

    return OpenImageIO


def plate_spec(path) -> "oiio.ImageSpec":
    """An EXR's or DPX's ImageSpec: size, sample format, channel names and every attribute OIIO reads
    (``oiio:ColorSpace`` among them)."""
    oiio = _oiio()
    found = oiio.ImageInput.open(str(path))
    if found is None:
        raise MediaError(f"{path}: cannot read image ({oiio.geterror() or 'not a readable plate'})")
    try:
        return oiio.ImageSpec(found.spec())
    finally:
        found.close()


def still_size(path) -> tuple[int, int]:
    """(width, height) from a still's header, without its pixels; raises MediaError."""
    if Path(path).suffix.lower() in PLATE_SUFFIXES:
        spec = plate_spec(path)
        return spec.width, spec.height
    with open_still(path) as opened:
        return opened.size


def _graded_channels(spec) -> int:
    """How many of a plate's first channels are its picture: RGB, and A where it follows them. A plate whose
    first channels are not R, G, B is refused: nothing says which of its channels to grade."""
    names = [name.split(".")[-1].upper() for name in spec.channelnames]
    if spec.nchannels > 4 and names[:3] != ["R", "G", "B"]:
        raise MediaError(f"a plate of {spec.nchannels} channels whose first are not R, G, B "
                         f"({', '.join(spec.channelnames[:4])} ...): say which to grade by writing RGB first")
    return 4 if spec.nchannels > 3 and names[3] == "A" else 3


def _read_plate(path: Path) -> np.ndarray:
    """All of a plate's channels, in its own sample type (integer DPX samples as 16-bit codes)."""
    oiio = _oiio()
    found = oiio.ImageInput.open(str(path))
    if found is None:
        raise MediaError(f"{path}: cannot read image ({oiio.geterror() or 'not a readable plate'})")
    try:
        spec = found.spec()
        # Half stays half, float float; integer DPX samples arrive as 16-bit codes (10-bit 1023 -> 65535).
        image = found.read_image(spec.format if spec.format.basetype in (oiio.HALF, oiio.FLOAT) else oiio.UINT16)
    finally:
        found.close()
    if image is None:
        raise MediaError(f"{path}: cannot read image ({oiio.geterror()})")
    return image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image   # grey: made RGB below


def read_image(path) -> np.ndarray:
    """-> (H, W, 3|4) uint8 or uint16; float16 or float32 from an EXR."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in PLATE_SUFFIXES:
            image = _read_plate(path)
            if image.ndim == 3 and image.shape[2] > 4:   # the rest travel in its metadata (read_metadata)
                image = image[..., :_graded_channels(plate_spec(path))]
        elif suffix in (".tif", ".tiff"):
            image = tifffile.imread(path)
        elif suffix == ".png" and _png_bit_depth(path) == 16:
            with av.open(str(path)) as container:
                frame = next(container.decode(video=0))
                image = frame.to_ndarray(format="rgba64le" if "a" in frame.format.name else "rgb48le")
        else:
            with open_still(path) as opened:
                image = np.asarray(opened.convert("RGBA" if opened.mode in ("RGBA", "LA", "PA") else "RGB"))
    except MediaError:
        raise
    except (OSError, ValueError, av.error.FFmpegError) as error:
        raise MediaError(f"{path}: cannot read image ({reason(error)})") from None
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or \
            image.dtype not in (np.uint8, np.uint16, np.float16, np.float32):
        raise MediaError(f"{path}: expected 8- or 16-bit or half or float RGB(A), got {image.dtype} {image.shape}")
    return image


def _png_bit_depth(path: Path) -> int:
    with open(path, "rb") as handle:
        header = handle.read(25)
    return header[24] if len(header) == 25 and header[:8] == b"\x89PNG\r\n\x1a\n" else 8


def write_image(path, image: np.ndarray, metadata: StillMetadata | None = None, quality: int | None = None) -> None:
    """Write a still whole or not at all: to a temporary file beside ``path``, renamed over it when complete.

    JPEG keeps the source's quantisation tables and subsampling (or ``quality``; 95 for a source that
    was not a JPEG), WebP is lossless
    unless a ``quality`` is given; EXIF and ICC profile from ``metadata`` are kept where the format holds them.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with written_whole(path) as partial:
        _write_image(partial, image, metadata or StillMetadata(), quality)


def partial_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place: hidden, beside it (a rename never crosses
    file systems), named for this process (two commands writing one output each write their own, and the
    last to finish wins, whole), its extension last (what picks the format)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")


@contextmanager
def written_whole(path: Path):
    """-> the temporary path to write ``path``'s content to: renamed over ``path`` when the block ends
    normally, removed when it raises (SIGTERM and SIGHUP too: the CLI raises them as exceptions)."""
    partial = partial_path(path)
    try:
        yield partial
        os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()


def _write_plate(path: Path, image: np.ndarray, source: "oiio.ImageSpec | None",
                 extra: np.ndarray | None = None) -> None:
    """An EXR or DPX with the source's header where there is one (its sample format and bit depth, channel
    names, compression and attributes), else one in the image's own sample type; ``extra``: the source's
    channels past RGB(A), put back after them."""
    oiio = _oiio()
    spec = oiio.ImageSpec(source) if source is not None else \
        oiio.ImageSpec(image.shape[1], image.shape[0], image.shape[2], oiio.TypeDesc(image.dtype.name))
    spec.width, spec.height, spec.full_width, spec.full_height = image.shape[1], image.shape[0], image.shape[1], \
        image.shape[0]
    if extra is not None and spec.nchannels == image.shape[2] + extra.shape[2]:
        image = np.concatenate([image, extra.astype(image.dtype, copy=False)], axis=-1)
    elif spec.nchannels != image.shape[2]:
        spec.nchannels, spec.channelnames, spec.alpha_channel = image.shape[2], ("R", "G", "B", "A")[:image.shape[2]], \
            3 if image.shape[2] == 4 else -1
    out = oiio.ImageOutput.create(str(path))
    if out is None or not out.open(str(path), spec):
        raise MediaError(f"{path}: cannot write image ({oiio.geterror() or (out and out.geterror())})")
    try:
        if not out.write_image(np.ascontiguousarray(image)):
            raise MediaError(f"{path}: cannot write image ({out.geterror()})")
    finally:
        out.close()


def _write_image(path: Path, image: np.ndarray, metadata: StillMetadata, quality: int | None) -> None:
    suffix = path.suffix.lower()
    if suffix in PLATE_SUFFIXES:
        _write_plate(path, image, metadata.spec, metadata.extra)
    elif image.dtype.kind == "f":
        raise MediaError(f"{path}: half or float output needs .exr")
    elif suffix in (".tif", ".tiff"):
        tifffile.imwrite(path, image, photometric="rgb",
                         extratags=[(34675, 7, None, metadata.icc_profile, True)] if metadata.icc_profile else None)
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
        options = {key: value for key, value in (("exif", metadata.exif), ("icc_profile", metadata.icc_profile))
                   if value}
        if suffix in (".jpg", ".jpeg"):
            if quality is None and metadata.jpeg_tables:
                options.update(qtables=metadata.jpeg_tables, subsampling=metadata.jpeg_subsampling or 0)
            else:
                options.update(quality=quality or 95, subsampling=0)
        elif suffix == ".webp":
            options.update({"quality": quality} if quality else {"lossless": True})
        Image.fromarray(image).save(path, **options)


def list_sequence(folder) -> list[Path]:
    frames = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in STILL_SUFFIXES)
    if not frames:
        raise MediaError(f"{folder}: no stills ({', '.join(sorted(STILL_SUFFIXES))}) in this folder")
    return frames


# A frame of an image sequence: a stem, then the frame number that ends its name (plate.1001.tif, take_0001.png).
SEQUENCE_FRAME = re.compile(r"(?P<stem>.*?)(?P<number>\d+)")


def is_sequence(folder) -> bool:
    """Whether a folder of stills is an image sequence: numbered frames of one clip (one stem and type, a frame
    number each) of one size. Any other folder holds pictures of their own."""
    files = list_sequence(folder)
    named = [SEQUENCE_FRAME.fullmatch(f.stem) for f in files]
    if not all(named) or len({(n["stem"], f.suffix.lower()) for n, f in zip(named, files)}) != 1:
        return False
    sizes = set()
    for file in files:
        try:
            sizes.add(still_size(file))
        except MediaError:   # named where the frame is read
            continue
    return len(sizes) <= 1


def stills_apart(path) -> list[Path]:
    """An input as the commands take it: a folder of stills that is not an image sequence -> its stills, each a
    picture of its own; anything else -> [the input]."""
    path = Path(path)
    return list_sequence(path) if path.is_dir() and not is_sequence(path) else [path]


def frame_numbers(files: list[Path]) -> list[int]:
    """Each file's frame number: the number that ends its name (plate.1001.png -> 1001), as VFX sequences
    number them; positions from 0 where the names carry no distinct numbers."""
    numbers = [int(found["number"]) if (found := SEQUENCE_FRAME.fullmatch(f.stem)) else None for f in files]
    if None in numbers or len(set(numbers)) != len(numbers):
        return list(range(len(files)))
    return numbers


def numbered_frames(path, first: int | None = None, last: int | None = None, info: "VideoInfo | None" = None,
                    unreadable: list[str] | None = None):
    """(frame number, frame) of a video (numbered from 0) or a folder of stills (numbered by their names),
    from ``first`` to ``last`` inclusive (None: the start, the end). A video is sought to near ``first``;
    pass its ``info`` when it has been probed already (probing may decode the whole file). A still that
    cannot be read raises, or, given an ``unreadable`` list, is named there and skipped."""
    path = Path(path)
    if kind_of(path) == "video":
        yield from _decode(path, info or probe_video(path), first, last)
        return
    low, high = -1 if first is None else first, float("inf") if last is None else last
    files = list_sequence(path)
    for number, file in zip(frame_numbers(files), files):
        if low <= number <= high:
            try:
                yield number, read_image(file)
            except MediaError as error:
                if unreadable is None:
                    raise
                unreadable.append(str(error))


@dataclass
class VideoInfo:
    frames: int
    rate: Fraction
    width: int
    height: int
    pix_fmt: str = "yuv420p"
    codec: str = "h264"
    profile: str | None = None
    time_base: Fraction = Fraction(1, 25)
    bits: int = 8                                   # per sample, as the source stores it
    colour: dict = field(default_factory=dict)      # color_range, colorspace, color_primaries, color_trc tags

    @property
    def matrix(self) -> int:
        """The YUV <-> RGB matrix to convert with: the stream's tag, else what ffmpeg assumes by size."""
        tagged = self.colour.get("colorspace")
        if tagged in {c.value for c in Colorspace}:
            return tagged
        return Colorspace.ITU709.value if self.height >= 720 else Colorspace.ITU601.value

    @property
    def range(self) -> ColorRange:
        """The YUV range to convert with: the stream's tag, else limited (video's own), full for the JPEG formats."""
        tagged = self.colour.get("color_range", 0)
        if tagged in (ColorRange.MPEG.value, ColorRange.JPEG.value):
            return ColorRange(tagged)
        return ColorRange.JPEG if self.pix_fmt.startswith("yuvj") else ColorRange.MPEG


def probe_video(path) -> VideoInfo:
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: has no video stream (audio only?)")
            stream = container.streams.video[0]
            count = stream.frames or sum(1 for _ in container.decode(video=0))
            context = stream.codec_context
            pix_fmt = context.pix_fmt or "yuv420p"
            return VideoInfo(count, stream.average_rate or Fraction(25), stream.width, stream.height, pix_fmt,
                             context.name, context.profile, stream.time_base or Fraction(1, 25),
                             sample_bits(pix_fmt),
                             {name: int(getattr(context, name)) for name in COLOUR_TAGS})
    except av.error.FFmpegError as error:
        raise MediaError(f"{path}: cannot read video ({reason(error)})") from None


COLOUR_TAGS = ("color_range", "colorspace", "color_primaries", "color_trc")


def sample_bits(pix_fmt: str) -> int:
    """Bits per sample of a pixel format (10 for yuv422p10le)."""
    return max(c.bits for c in av.VideoFormat(pix_fmt).components)


# swscale's defaults are fast, not exact: converting to 8-bit RGB directly, or without accurate rounding, shifts an
# untouched 8-bit frame by up to a code and a half per channel on the YUV -> RGB -> YUV round trip. Frames are
# converted through 16-bit RGB with accurate rounding (as the ffmpeg plan's ``scale`` does), then rounded in numpy.
EXACT_SCALING = Interpolation.BILINEAR | Interpolation.ACCURATE_RND


def to_rgb_codes(frame: av.VideoFrame, info: "VideoInfo") -> np.ndarray:
    """A decoded frame as (H, W, 3) RGB in the source's own depth (``rgb_format``), by the source's matrix and range."""
    if not frame.format.name.startswith("yuv"):
        rgb = frame.to_ndarray(format="rgb48le")
    else:
        rgb = frame.reformat(format="rgb48le", src_colorspace=info.matrix, src_color_range=info.range,
                             interpolation=EXACT_SCALING).to_ndarray()
    return rgb if info.bits > 8 else ((rgb.astype(np.uint32) + 128) // 257).astype(np.uint8)


def rgb_format(bits: int) -> str:
    """The RGB format frames of a ``bits``-deep source travel in: rgb24, or rgb48le (10-bit stays 10-bit in the
    top bits of 16)."""
    return "rgb48le" if bits > 8 else "rgb24"


def read_video(path, info: VideoInfo, timestamps: list | None = None, unreadable: list[str] | None = None):
    """Yields (H, W, 3) RGB frames of the video ``info`` describes (``probe_video``; probing may decode the
    whole file, so it is done once): uint8 from 8-bit sources, uint16 from deeper ones (10-bit stays
    10-bit in the top bits). Each frame's presentation time is appended to ``timestamps`` when given.
    A file that cannot be decoded to its end raises; given an ``unreadable`` list, its frames are read as far
    as they go, and a file that gives fewer than its container announces (cut short, or damaged) is named
    there with the frames read."""
    damage: list[str] = []
    read = 0
    for _, frame in _decode(path, info, timestamps=timestamps, damage=None if unreadable is None else damage):
        read += 1
        yield frame
    if unreadable is not None and (damage or read < info.frames):
        unreadable.append(f"{path}: {read} of its {info.frames} frames could be read "
                          f"({damage[0] if damage else 'the file ends early'}: cut short or damaged?)")


def _decode(path, info: VideoInfo, first: int | None = None, last: int | None = None,
            timestamps: list | None = None, damage: list[str] | None = None):
    """(frame number, RGB frame) from ``first`` to ``last``; the one decoding loop of ``read_video`` and
    ``numbered_frames``. A frame that cannot be decoded raises, or, given a ``damage`` list, ends the frames
    with the reason there."""
    low, high = -1 if first is None else first, float("inf") if last is None else last
    try:
        for number, frame in _numbered(path, info, low):
            if number > high:
                break
            if number >= low:
                if timestamps is not None:
                    timestamps.append(frame.pts)
                yield number, to_rgb_codes(frame, info)
    except av.error.FFmpegError as error:
        if damage is None:
            raise MediaError(f"{path}: cannot decode video ({reason(error)})") from None
        damage.append(reason(error))


def _numbered(path, info: VideoInfo, low: int):
    """(frame number, decoded frame) from at or before frame ``low``: sought there and numbered by time
    (footage from an editor is constant-rate), or, where the seek lands past ``low`` (an MPEG program stream
    seeks near a time, not before it: measured 3 frames late), decoded from the start and numbered in order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = stream.start_time or 0

        def number_of(frame) -> int:
            return round((frame.pts - start) * stream.time_base * info.rate)

        if low > 0:
            container.seek(start + round(low / (info.rate * stream.time_base)), stream=stream, backward=True)
            frames = container.decode(stream)
            first = next(frames, None)
            if first is not None and number_of(first) <= low:
                yield number_of(first), first
                for frame in frames:
                    yield number_of(frame), frame
                return
    with av.open(str(path)) as container:
        yield from enumerate(container.decode(container.streams.video[0]))


def encoder_kind(name: str) -> str | None:
    """What PyAV's FFmpeg encoder ``name`` encodes ("video", "audio", "subtitle"), None where it has none."""
    try:
        return av.codec.Codec(name, "w").type
    except (ValueError, av.error.FFmpegError):
        return None


def choose_encoding(info: VideoInfo, codec: str | None = None, crf: int | None = None) -> tuple[str, str, dict]:
    """(encoder, pix_fmt, options) that keep the source's bit depth and chroma: ProRes stays ProRes at its
    profile; otherwise H.264 (or ``codec``) at the source's chroma and 8 or 10 bits. Odd sizes cannot be
    chroma-subsampled, so they get 4:4:4 rather than a crop."""
    if codec is None and info.codec.startswith("prores"):
        profile = (info.profile or "standard").lower().replace(" ", "")
        # ProRes is 10-bit to its encoder whatever the decoder gives (4444 decodes as 12-bit): keep chroma and alpha.
        layout = "yuva444" if info.pix_fmt.startswith("yuva") else "yuv444" if "444" in info.pix_fmt else "yuv422"
        return "prores_ks", f"{layout}p10le", {"profile": profile}
    chroma = "444" if "444" in info.pix_fmt else "422" if "422" in info.pix_fmt else "420"
    if chroma != "444" and (info.width % 2 or (chroma == "420" and info.height % 2)):
        chroma = "444"
    pix_fmt = f"yuv{chroma}p" + ("10le" if info.bits > 8 else "")
    return codec or "libx264", pix_fmt, {"crf": str(16 if crf is None else crf)}


class VideoWriter:
    """The graded video stream, with every other stream of the source (audio, subtitles, data) copied as it
    is, frame timestamps and colour tags kept; written to a temporary file renamed into place by ``close``.
    Frames are (H, W, 3) uint8 or uint16 RGB as ``read_video`` gives them."""

    def __init__(self, path, source, info: VideoInfo, codec: str | None = None, crf: int | None = None):
        self.path, self.source, self.info = Path(path), Path(source), info
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = partial_path(self.path)
        self.container = av.open(str(self.partial), "w")
        self.closed = False
        encoder, self.pix_fmt, options = choose_encoding(info, codec, crf)
        try:
            self.stream = self.container.add_stream(encoder, rate=info.rate, options=options)
        except (ValueError, av.error.FFmpegError) as error:
            raise MediaError(f"{path}: cannot encode with {encoder} ({reason(error)})") from None
        self.stream.width, self.stream.height, self.stream.pix_fmt = info.width, info.height, self.pix_fmt
        # The source's own time base, in the encoder too: at 1/rate, frames of a variable-rate source
        # would round onto one tick.
        self.stream.time_base = self.stream.codec_context.time_base = info.time_base
        if info.pix_fmt.startswith("yuv"):   # an RGB source's tags (matrix "RGB") would mislabel YUV output
            for name, value in info.colour.items():
                setattr(self.stream.codec_context, name, value)
        with av.open(str(source)) as original:
            self.copied = {s.index: self.container.add_stream_from_template(s)
                           for s in original.streams if s.type in ("audio", "subtitle", "data")}

    def write(self, image: np.ndarray, pts: int | None) -> None:
        deep = image if image.dtype == np.uint16 else image.astype(np.uint16) * 257   # exact: see EXACT_SCALING
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(deep), format="rgb48le")
        if self.pix_fmt.startswith("yuv"):
            frame = frame.reformat(format=self.pix_fmt, dst_colorspace=self.info.matrix,
                                   dst_color_range=self.info.range, interpolation=EXACT_SCALING)
        else:
            frame = frame.reformat(format=self.pix_fmt)
        frame.pts, frame.time_base = pts, self.info.time_base
        frame.color_range = self.info.colour.get("color_range", 0)
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        if self.copied:
            with av.open(str(self.source)) as original:
                for packet in original.demux([s for s in original.streams if s.index in self.copied]):
                    if packet.dts is None:   # the demuxer's flush packet
                        continue
                    packet.stream = self.copied[packet.stream.index]
                    self.container.mux(packet)
        self.container.close()
        self.closed = True
        os.replace(self.partial, self.path)

    def discard(self) -> None:
        """After a failure: no partial file is left (the output, if it existed, is untouched)."""
        if not self.closed:
            self.container.close()
            self.closed = True
        if self.partial.exists():
            self.partial.unlink()


def read_reference(path: Path, number: int | None) -> np.ndarray:
    """A hero frame: a still (``number`` None), or frame ``number`` of a video (from 0) or of a sequence folder
    (as its files are numbered) -> (H, W, 3|4) uint8/uint16. Whatever cannot be read is named as the reference."""
    try:
        if not path.exists():
            raise MediaError(f"{path}: no such file or folder")
        if number is None:
            if kind_of(path) != "still":
                raise MediaError(f"{path}: a reference from a video or a folder needs its frame: {path}@FRAME")
            return read_image(path)
        for _, frame in numbered_frames(path, number, number):
            return frame
        raise MediaError(f"{path}: has no frame {number}")
    except MediaError as error:
        raise MediaError(f"{error} (the reference)") from None
