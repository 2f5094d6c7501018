"""``colorgrade analyze`` and ``colorgrade grade``: talk to a daemon, or start a private one.

Without ``--server`` the command starts a private daemon on a unix socket (``colorgrade serve
--unix``, a subprocess: this module never imports torch), uses it, and stops it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tqdm import tqdm

ANALYZE_EPILOG = """examples:
  colorgrade analyze shot.png                       # diagnosis and CDL, private daemon
  colorgrade analyze clip.mp4 --cdl clip.cc --cube clip.cube
  colorgrade analyze a.png b.png --json --server gpu-box:50051 --tls-ca ca.pem --token-file token.txt

A still gets its own CDL; a video or a folder of stills gets one temporally smoothed CDL for the
whole clip (the mean of the per-frame CDLs over its window). Frames are shrunk to 256 px before
they are sent: the analysis network looks at a thumbnail, and the CDL applies at any resolution."""

GRADE_EPILOG = """examples:
  colorgrade grade shot.png -o graded.png           # 16-bit in, 16-bit out, alpha kept
  colorgrade grade phone.jpg -o graded.jpg          # same JPEG quality, EXIF orientation and ICC kept
  colorgrade grade clip.mp4 -o graded.mp4 --window 4
  colorgrade grade take.mov -o graded.mov           # ProRes stays ProRes (profile, 10-bit 4:2:2); audio kept
  colorgrade grade plates/ -o graded_plates/        # a folder of stills, same names

By default each frame is graded by the analysis network's CDL averaged over +-WINDOW frames, applied
at full resolution and bit depth (mode cdl_frames); the CDL is already shrunk toward no change where
the network is unsure. Video keeps its other streams, timestamps, colour tags, bit depth and chroma.
Outputs are written whole, then renamed; -o equal to the input needs --overwrite. The generator
modes use the cGAN; generator_lut keeps full-resolution detail.
  colorgrade grade clip.mp4 -o cgan.mp4 --mode generator_lut"""


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", metavar="ADDR", help="daemon address host:port or unix:/path "
                                                         "(default: start a private one)")
    parser.add_argument("--tls-ca", metavar="PEM", help="CA certificate for a TLS daemon")
    parser.add_argument("--token-file", help="file holding the daemon's token")
    parser.add_argument("--device", help="private daemon's device (cpu, cuda ...; default CUDA when present)")


def configure_analyze(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ANALYZE_EPILOG
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="stills, videos or folders of stills")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--cdl", metavar="FILE", help="write the CDLs (.cc for one input, .ccc or .cdl for any)")
    parser.add_argument("--cube", metavar="FILE", help="write a 33^3 .cube of the (first) input's CDL")
    parser.add_argument("--window", type=int, default=2, help="clip smoothing radius in frames (default 2)")
    add_connection_arguments(parser)


def configure_grade(parser: argparse.ArgumentParser) -> None:
    parser.epilog = GRADE_EPILOG
    parser.add_argument("input", help="a still, a video or a folder of stills")
    parser.add_argument("-o", "--output", required=True, help="where the graded result goes (same kind as input)")
    parser.add_argument("--mode", default="cdl_frames", choices=["cdl_frames", "generator_frames", "generator_lut"],
                        help="cdl_frames: the analysis network's CDL at full resolution (default); "
                             "generator_frames: the cGAN's pixels; generator_lut: the cGAN distilled to a "
                             "smooth 3D LUT per window, applied at full resolution")
    parser.add_argument("--window", type=int, default=2, help="cdl_frames: CDL averaging radius in frames (default 2)")
    parser.add_argument("--oversample", type=int, default=1, choices=[1, 2], help="generator: 2x oversampling")
    parser.add_argument("--blend", type=int, default=0, metavar="K", help="generator: frame blending over +-K frames")
    parser.add_argument("--quality", type=int, metavar="Q",
                        help="JPEG/WebP stills: quality 1-100 (default: JPEG at the source's own quality, WebP lossless)")
    parser.add_argument("--codec", help="video: encoder to use instead of the default (ProRes stays ProRes, "
                                        "anything else H.264 at the source's bit depth and chroma), e.g. libx265")
    parser.add_argument("--crf", type=int, help="video: constant rate factor for x264/x265 (default 16, visually lossless)")
    parser.add_argument("--overwrite", action="store_true",
                        help="allow -o to be the input itself (the result is written whole, then renamed over it)")
    add_connection_arguments(parser)


@contextmanager
def connect(args):
    """A GradeClient to ``--server``, or to a private daemon started for this command."""
    from colorgrade.clients.client import GradeClient

    token = Path(args.token_file).read_text().strip() if args.token_file else None
    if args.server:
        with GradeClient(args.server, tls=args.tls_ca, token=token) as client:
            yield client
        return
    with tempfile.TemporaryDirectory(prefix="colorgrade-") as folder:
        socket = os.path.join(folder, "daemon.sock")
        command = [sys.executable, "-m", "colorgrade", "serve", "--unix", socket]
        if args.device:
            command += ["--device", args.device]
        log_path = os.path.join(folder, "daemon.log")
        # The daemon's log goes to a file: a pipe nobody reads would stall it once full.
        with open(log_path, "w") as log:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            line = process.stdout.readline()
            if not re.search(r"serving on", line):
                with open(log_path) as log:
                    last = (log.read().strip().splitlines() or ["no output"])[-1]
                raise SystemExit(f"colorgrade: private daemon failed to start: {last}")
            with GradeClient(f"unix:{socket}") as client:
                yield client
        finally:
            process.terminate()
            process.wait(timeout=30)


def _frames_of(path: Path):
    """-> (frame count, iterator of frames) for a still, a folder of stills or a video."""
    from colorgrade.clients import media

    kind = media.kind_of(path)
    if kind == "still":
        return 1, iter([media.read_image(path)])
    if kind == "sequence":
        files = media.list_sequence(path)
        return len(files), (media.read_image(f) for f in files)
    info = media.probe_video(path)
    return info.frames, media.read_video(path, info)


def check_analyze_arguments(args) -> list[Path]:
    """Everything that can be known wrong before a daemon starts: inputs, output paths, the window.
    Raises UsageError with one line naming the problem."""
    from colorgrade.clients import media

    if args.window < 0:
        raise UsageError(f"--window must be 0 or more frames, got {args.window}")
    inputs = [Path(p) for p in args.inputs]
    for path in inputs:
        if not path.exists():
            raise media.MediaError(f"{path}: no such file or folder")
        media.kind_of(path)
    if args.cdl:
        suffix = Path(args.cdl).suffix.lower()
        if suffix not in (".cc", ".ccc", ".cdl"):
            raise UsageError(f"--cdl {args.cdl}: use a .cc (one input), .ccc or .cdl file name")
        if suffix == ".cc" and len(inputs) != 1:
            raise UsageError(f"--cdl {args.cdl}: a .cc file holds one correction; use .ccc or .cdl for "
                             f"{len(inputs)} inputs")
    for option, value in (("--cdl", args.cdl), ("--cube", args.cube)):
        if value:
            check_writable(option, Path(value))
    return inputs


def check_writable(option: str, path: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{option} {path}: not writable")


def check_readable(inputs: list[Path]) -> None:
    """Open each still's header and probe each video before a daemon starts (raises MediaError)."""
    from colorgrade.clients import media

    for path in inputs:
        kind = media.kind_of(path)
        if kind == "still":
            media.open_still(path).close()
        elif kind == "video":
            media.probe_video(path)
        else:
            media.list_sequence(path)


class UsageError(ValueError):
    """A command line that cannot work (exit code 2, one line); a bad input file is a MediaError (exit code 1)."""


def correction_ids(paths: list[Path]) -> dict[Path, str]:
    """A ColorCorrection id per input: its file stem, made unique (a.mov and a.mp4 -> a_mov, a_mp4)."""
    clean = lambda text: re.sub(r"[^A-Za-z0-9_.-]", "_", text)  # noqa: E731
    stems = [clean(p.stem) for p in paths]
    ids = {}
    for path, stem in zip(paths, stems):
        candidate = stem if stems.count(stem) == 1 else clean(f"{path.stem}_{path.suffix.lstrip('.')}")
        while candidate in ids.values():
            candidate += "_"
        ids[path] = candidate
    return ids


def run_analyze(args) -> int:
    from colorgrade.clients.client import GradeError
    from colorgrade.clients.media import MediaError, shrink
    from colorgrade.color import CDL, write_cdl, write_cube

    try:
        inputs = check_analyze_arguments(args)
    except (UsageError, MediaError) as error:
        print(f"colorgrade analyze: {error}", file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1
    report = {}
    try:
        check_readable(inputs)
        with connect(args) as client:
            for path in inputs:
                count, frames = _frames_of(path)
                if count == 1:
                    result = client.analyze([shrink(next(frames))])[0]
                    report[path] = {"cdl": result.cdl, "confidence": result.confidence, "label": result.label,
                                    "top": sorted(result.scores.items(), key=lambda kv: -kv[1])[:3]}
                    continue
                clip = client.open_clip(mode="parameters", window_radius=args.window, name=path.name)
                results = list(tqdm(client.stream(clip, (shrink(f) for f in frames)), total=count,
                                    desc=f"analyse {path.name}", unit="frame", disable=args.json))
                client.close_clip(clip)
                mean = CDL.from_vector(np.mean([r.cdl.to_vector() for r in results], axis=0))
                labels = [r.label for r in results]
                report[path] = {"cdl": mean, "confidence": float(np.mean([r.confidence for r in results])),
                                "label": max(set(labels), key=labels.count), "frames": len(results)}
    except (GradeError, MediaError, OSError) as error:
        print(f"colorgrade analyze: {error}", file=sys.stderr)
        return 1
    ids = correction_ids(list(report))
    try:
        if args.cdl:
            write_cdl(args.cdl, {ids[p]: entry["cdl"] for p, entry in report.items()},
                      {ids[p]: describe(entry) for p, entry in report.items()})
        if args.cube:
            write_cube(args.cube, next(iter(report.values()))["cdl"].to_lut(33))
    except (ValueError, OSError) as error:
        print(f"colorgrade analyze: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({str(p): {**e, "id": ids[p], "cdl": {"slope": e["cdl"].slope, "offset": e["cdl"].offset,
                                                               "power": e["cdl"].power,
                                                               "saturation": e["cdl"].saturation}}
                          for p, e in report.items()}, indent=2))
    else:
        for path, entry in report.items():
            cdl = entry["cdl"]
            print(f"{path}: {describe(entry)}")
            print(f"  slope {_triple(cdl.slope)}  offset {_triple(cdl.offset)}  power {_triple(cdl.power)}  "
                  f"saturation {cdl.saturation:.4f}")
    return 0


def describe(entry: dict) -> str:
    """The diagnosis as a colourist reads it, e.g. "warm_66, confidence 0.83 (correction applied in full)"."""
    confidence = entry["confidence"]
    if confidence is None:
        return entry["label"]
    how = ("applied in full" if confidence >= 0.8 else "left nearly alone: not sure anything is wrong"
           if confidence < 0.2 else f"applied at {confidence:.0%}")
    return f"{entry['label']}, confidence {confidence:.2f} (correction {how})"


def _triple(values) -> str:
    return " ".join(f"{v:.4f}" for v in values)


def check_grade_arguments(args) -> tuple[Path, Path, str]:
    """Inputs, output and options checked before a daemon starts -> (source, target, kind)."""
    from colorgrade.clients import media

    if args.window < 0 or args.blend < 0:
        raise UsageError(f"--window and --blend must be 0 or more frames, got {args.window} and {args.blend}")
    if args.quality is not None and not 1 <= args.quality <= 100:
        raise UsageError(f"--quality must be 1..100, got {args.quality}")
    source, target = Path(args.input), Path(args.output)
    if not source.exists():
        raise media.MediaError(f"{source}: no such file or folder")
    kind = media.kind_of(source)
    if kind == "sequence":
        if target.exists() and not target.is_dir():
            raise UsageError(f"-o {target}: the input is a folder of stills, so the output must be a folder")
        same = target.exists() and target.resolve() == source.resolve()
    else:
        suffixes = media.STILL_SUFFIXES if kind == "still" else media.VIDEO_SUFFIXES
        if target.suffix.lower() not in suffixes:
            raise UsageError(f"-o {target}: give the output a {kind} extension ({', '.join(sorted(suffixes))})")
        same = target.exists() and target.resolve() == source.resolve()
        check_writable("-o", target)
    if same and not args.overwrite:
        raise UsageError(f"-o {target} is the input; pass --overwrite to replace it (written whole, then renamed)")
    return source, target, kind


def run_grade(args) -> int:
    from colorgrade.clients import media
    from colorgrade.clients.client import GradeError

    try:
        source, target, kind = check_grade_arguments(args)
    except (UsageError, media.MediaError) as error:
        print(f"colorgrade grade: {error}", file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1
    failures: list[str] = []
    try:
        if kind == "still":   # read before any daemon starts: a file that cannot be read costs nothing
            still, metadata = media.read_image(source), media.read_metadata(source)
        elif kind == "video":
            info = media.probe_video(source)
        with connect(args) as client:
            clip = client.open_clip(mode=args.mode, window_radius=0 if kind == "still" else args.window,
                                    oversample=args.oversample, blend_radius=args.blend, name=source.name)
            if kind == "still":
                result, = client.stream(clip, [still])   # the whole stream: one left unread is cancelled
                media.write_image(target, result.frame, metadata, args.quality)
                count = 1
            elif kind == "sequence":
                count = grade_sequence(client, clip, source, target, args.quality, failures)
            else:
                count = grade_video(client, clip, source, info, target, args.codec, args.crf)
            client.close_clip(clip)
    except (GradeError, media.MediaError, OSError) as error:
        print(f"colorgrade grade: {error}", file=sys.stderr)
        return 1
    if failures:
        print(f"graded {count} frame(s) -> {target}; {len(failures)} could not be read:", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    print(f"graded {count} frame(s) -> {target}")
    return 0


def grade_sequence(client, clip: str, source: Path, target: Path, quality: int | None, failures: list[str]) -> int:
    """Grade every readable still of a folder as one clip, same names; unreadable ones are named in ``failures``."""
    from collections import deque

    from colorgrade.clients import media

    files = media.list_sequence(source)
    pending: deque[tuple[str, object]] = deque()   # names and metadata of frames sent, in order

    def frames():
        for path in files:
            try:
                frame = media.read_image(path)
            except media.MediaError as error:
                failures.append(str(error))
                continue
            pending.append((path.name, media.read_metadata(path)))
            yield frame

    count = 0
    for result in tqdm(client.stream(clip, frames()), total=len(files), desc=f"grade {source.name}", unit="frame"):
        name, metadata = pending.popleft()
        media.write_image(target / name, result.frame, metadata, quality)
        count += 1
    return count


def grade_video(client, clip: str, source: Path, info, target: Path, codec: str | None, crf: int | None) -> int:
    from colorgrade.clients import media

    timestamps: list[int] = []
    writer = media.VideoWriter(target, source, info, codec, crf)
    count = 0
    try:
        for result in tqdm(client.stream(clip, media.read_video(source, info, timestamps)), total=info.frames,
                           desc=f"grade {source.name}", unit="frame"):
            writer.write(result.frame, timestamps[result.index])
            count += 1
        writer.close()
    finally:
        writer.discard()
    return count
