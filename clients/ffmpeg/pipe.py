"""The pixel filter between two ffmpeg processes: NUT in on stdin, graded NUT out on stdout.

NUT carries each frame's own timestamp, so variable-frame-rate footage passes unchanged (a raw pipe
would have to invent a constant rate, and ffmpeg would duplicate frames to fill it). Frames travel
as raw RGB: 8-bit sources as rgb24, deeper ones as rgb48le, so 10- and 16-bit stay deep.
"""
from __future__ import annotations

from typing import BinaryIO

import av

from colorgrade.clients.media import MediaError, rgb_format, sample_bits


def pipe(client, clip: str, source: BinaryIO, sink: BinaryIO, progress=None) -> int:
    """Grade every frame of the NUT stream ``source`` through ``clip``; write them, same timestamps, to ``sink``.
    -> frames written."""
    try:
        reader = av.open(source, format="nut", mode="r")
    except av.error.FFmpegError as error:
        raise MediaError(f"standard input is not a NUT stream ({error}); send ffmpeg's '-f nut' output") from None
    if not reader.streams.video:
        raise MediaError("the NUT stream on standard input has no video")
    stream = reader.streams.video[0]
    rgb = rgb_format(sample_bits(stream.codec_context.pix_fmt))
    writer = av.open(sink, format="nut", mode="w")
    out = writer.add_stream("rawvideo", rate=stream.average_rate)
    out.width, out.height, out.pix_fmt = stream.width, stream.height, rgb
    # The source's time base in the encoder too: at its default, 1/rate, variable-rate frames move onto a grid.
    out.time_base = out.codec_context.time_base = stream.time_base
    timestamps: list[int] = []

    def frames():
        try:
            for frame in reader.decode(stream):
                timestamps.append(frame.pts)
                yield frame.reformat(format=rgb).to_ndarray()
        except av.error.FFmpegError as error:
            raise MediaError(f"cannot decode the NUT stream on standard input ({error})") from None

    count = 0
    for result in client.stream(clip, frames()):
        graded = av.VideoFrame.from_ndarray(result.frame, format=rgb)
        graded.pts, graded.time_base = timestamps[result.index], stream.time_base
        for packet in out.encode(graded):
            writer.mux(packet)
        count += 1
        if progress is not None:
            progress.update(1)
    for packet in out.encode():
        writer.mux(packet)
    writer.close()
    reader.close()
    return count
