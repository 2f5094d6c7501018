"""A two-pass plan: the filter script and the ffmpeg command that apply one .cube (or one exact CDL) per shot.

ffmpeg's ``lut3d`` cannot change its file while running, so each shot gets its own ``lut3d`` in one
chain, switched on for exactly its frames by the timeline option ``enable='between(n,FIRST,LAST)'``
(``n``: the frame's position in decode order, the numbering ``colorgrade analyze --shots`` uses).

What the chain keeps, and why each piece is there:
- ``scale`` with the source's matrix and range converts YUV to RGB and back as the source defines them
  (left to itself, ffmpeg guesses BT.601 for untagged sources of any size), with ``accurate_rnd``: its
  default fast rounding shifts every frame of an 8-bit source by one to two codes with no grade at all;
- ``rgb48le`` in the middle: the LUT works on 16-bit codes, so 10-bit sources stay 10-bit;
- ``format`` returns the source's own pixel format (bit depth and chroma);
- ``setparams`` writes the colour tags back: ffmpeg's filters drop them otherwise.
"""
from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from colorgrade.clients.media import VideoInfo, choose_encoding
from colorgrade.color import CDL, REC709_LUMA

# AVColorSpace values -> the names scale's in_color_matrix/out_color_matrix take.
SCALE_MATRICES = {1: "bt709", 4: "fcc", 5: "bt470", 6: "smpte170m", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}
RANGE_NAMES = {1: "tv", 2: "pc"}


def escape(value: str) -> str:
    """A filter option value escaped for both levels ffmpeg parses it at (its filtergraph escaping notes):
    first the option parser (which splits at ':'), then the filtergraph parser (which splits at ',;[]')."""
    option_level = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option_level)


def shot_filters(first: int, last: int, grade: Path | CDL) -> list[str]:
    """The filters grading frames ``first``..``last``: ``lut3d`` with a .cube, or a CDL computed exactly --
    slope/offset/power per channel as ``lutrgb`` expressions, saturation as a ``colorchannelmixer`` matrix,
    each clamped to [0, 1] as ASC CDL v1.2 clamps."""
    enable = f"enable='between(n,{first},{last})'"
    if not isinstance(grade, CDL):
        return [f"lut3d=file={escape(str(Path(grade).resolve()))}:interp=tetrahedral:{enable}"]
    sop = ":".join(f"{channel}=" + escape(f"clip(pow(clip(val/maxval*{slope:.9g}+{offset:.9g},0,1),{power:.9g})"
                                          f"*maxval,0,maxval)")
                   for channel, slope, offset, power in zip("rgb", grade.slope, grade.offset, grade.power))
    s, luma = grade.saturation, REC709_LUMA
    # out = luma + s (in - luma), luma = 0.2126 R + 0.7152 G + 0.0722 B: one 3x3 matrix.
    mixer = ":".join(f"{row}{column}={(s if row == column else 0) + (1 - s) * weight:.9g}"
                     for row in "rgb" for column, weight in zip("rgb", luma))
    return [f"lutrgb={sop}:{enable}", f"colorchannelmixer={mixer}:{enable}"]


# swscale's default rounding is fast, not exact: it shifts an untouched 8-bit frame by whole codes per channel
# on the YUV -> RGB -> YUV round trip; accurate_rnd makes the round trip exact to a fraction of a code.
EXACT_SCALING = "accurate_rnd+full_chroma_int"


def to_rgb(info: VideoInfo) -> list[str]:
    """The filters that turn the source's frames into 16-bit RGB as the source's matrix and range define it."""
    if not info.pix_fmt.startswith("yuv"):
        return ["format=rgb48le"]
    return [f"scale=in_color_matrix={_matrix(info)}:in_range={_range(info)}:flags={EXACT_SCALING}", "format=rgb48le"]


def from_rgb(info: VideoInfo, pix_fmt: str) -> list[str]:
    """The filters that return RGB frames to ``pix_fmt`` with the source's matrix, range and colour tags."""
    steps = [f"scale=out_color_matrix={_matrix(info)}:out_range={_range(info)}:flags={EXACT_SCALING}"
             if info.pix_fmt.startswith("yuv") else None, f"format={pix_fmt}"]
    # Tags the source states (0 is "unspecified" for the range, 0 and 2 for the others) go back on.
    tags = [f"range={info.colour['color_range']}"] if info.colour.get("color_range") else []
    tags += [f"{name}={info.colour[tag]}" for name, tag in (("color_primaries", "color_primaries"),
                                                              ("color_trc", "color_trc"), ("colorspace", "colorspace"))
             if info.colour.get(tag, 0) not in (0, 2)]
    if tags:
        steps.append("setparams=" + ":".join(tags))
    return [step for step in steps if step]


def _matrix(info: VideoInfo) -> str:
    return SCALE_MATRICES.get(info.matrix, "bt709")


def _range(info: VideoInfo) -> str:
    return RANGE_NAMES.get(info.colour.get("color_range", 0), "tv")


def filter_graph(shots: list[tuple[int, int, Path | CDL]], info: VideoInfo, pix_fmt: str) -> str:
    """The ``-filter_script:v`` text: ``shots`` are (first frame, last frame, .cube path or CDL), in order;
    the frames leave in ``pix_fmt`` (the encoder's, from ``ffmpeg_command``)."""
    steps = to_rgb(info) + [step for first, last, grade in shots for step in shot_filters(first, last, grade)]
    return ",\n".join(steps + from_rgb(info, pix_fmt)) + "\n"


# Every frame's timestamp as the source has it: no frame dropped or duplicated (passthrough), and the source's
# time base in the encoder (its default, 1/frame rate, moves a variable-rate clip's frames onto a grid).
KEEP_TIMESTAMPS = ["-fps_mode", "passthrough", "-enc_time_base:v", "-1"]


def ffmpeg_command(source: Path, target: Path, script: Path, info: VideoInfo, codec: str | None = None,
                   crf: int | None = None, ffmpeg: str = "ffmpeg") -> list[str]:
    """The command that applies ``script`` to ``source``: every frame's timestamp kept (passthrough), audio,
    subtitles and metadata copied, the video encoded as ``colorgrade grade`` encodes (``choose_encoding``)."""
    encoder, pix_fmt, options = choose_encoding(info, codec, crf)
    command = [ffmpeg, "-i", str(source), "-filter_script:v", str(script),
               "-map", "0:v:0", "-map", "0:a?", "-map", "0:s?", "-map_metadata", "0",
               "-c:a", "copy", "-c:s", "copy", "-c:v", encoder, "-pix_fmt", pix_fmt]
    for name, value in options.items():
        command += [f"-{name}:v", value]
    return command + KEEP_TIMESTAMPS + [str(target)]


def pipe_commands(source: Path, target: Path, info: VideoInfo, codec: str | None = None, crf: int | None = None,
                  grade: list[str] | None = None, ffmpeg: str = "ffmpeg") -> list[list[str]]:
    """The three processes of ``ffmpeg | colorgrade pipe | ffmpeg`` for ``source``: the same conversions as the
    two-pass plan (the source's matrix and range, exact rounding, 16-bit RGB between), tags written back,
    audio, subtitles and metadata copied from the source, every timestamp kept."""
    encoder, pix_fmt, options = choose_encoding(info, codec, crf)
    decode = [ffmpeg, "-i", str(source), "-map", "0:v:0", "-vf", ",".join(to_rgb(info)), "-f", "nut",
              "-c:v", "rawvideo", *KEEP_TIMESTAMPS, "-"]
    encode = [ffmpeg, "-f", "nut", "-i", "-", "-i", str(source), "-map", "0:v", "-map", "1:a?", "-map", "1:s?",
              "-map_metadata", "1", "-c:a", "copy", "-c:s", "copy", "-vf", ",".join(from_rgb(info, pix_fmt)),
              "-c:v", encoder, "-pix_fmt", pix_fmt]
    for name, value in options.items():
        encode += [f"-{name}:v", value]
    return [decode, grade or ["colorgrade", "pipe"], encode + KEEP_TIMESTAMPS + [str(target)]]


ENCODER_KINDS = {"V": "video", "A": "audio", "S": "subtitle"}


def encoder_kind(name: str, ffmpeg: str = "ffmpeg") -> str | None:
    """What ``ffmpeg``'s encoder ``name`` encodes ("video", "audio", "subtitle"), None where it has none."""
    listing = subprocess.run([ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1] == name and fields[0][0] in ENCODER_KINDS:
            return ENCODER_KINDS[fields[0][0]]
    return None


def printable(command: list[str]) -> str:
    return " ".join(shlex.quote(part) for part in command)
