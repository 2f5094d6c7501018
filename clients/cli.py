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
  colorgrade grade shot.png -o graded.png           # 16-bit in, 16-bit out
  colorgrade grade clip.mp4 -o graded.mp4 --window 4
  colorgrade grade plates/ -o graded_plates/        # a folder of stills, same names

By default each frame is graded by the analysis network's CDL averaged over +-WINDOW frames, applied
at full resolution and bit depth (mode cdl_frames). The generator modes use the cGAN over its own
5-frame window; generator_lut keeps full-resolution detail.
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
    return media.probe_video(path).frames, media.read_video(path)


def run_analyze(args) -> int:
    from colorgrade.clients.client import GradeError
    from colorgrade.clients.media import MediaError, shrink
    from colorgrade.color import CDL, write_cdl
    from colorgrade.color import write_cube

    inputs = [Path(p) for p in args.inputs]
    try:
        with connect(args) as client:
            report = {}
            for path in inputs:
                count, frames = _frames_of(path)
                if count == 1:
                    result = client.analyze([shrink(next(frames))])[0]
                    report[str(path)] = {"cdl": result.cdl, "label": result.label,
                                         "top": sorted(result.scores.items(), key=lambda kv: -kv[1])[:3]}
                    continue
                clip = client.open_clip(mode="parameters", window_radius=args.window, name=path.name)
                results = list(tqdm(client.stream(clip, (shrink(f) for f in frames)), total=count,
                                    desc=f"analyse {path.name}", unit="frame", disable=args.json))
                client.close_clip(clip)
                mean = CDL.from_vector(np.mean([r.cdl.to_vector() for r in results], axis=0))
                labels = [r.label for r in results]
                report[str(path)] = {"cdl": mean, "label": max(set(labels), key=labels.count), "frames": len(results)}
    except (GradeError, MediaError, OSError) as error:
        print(f"colorgrade analyze: {error}", file=sys.stderr)
        return 1
    if args.cdl:
        ids = {re.sub(r"[^A-Za-z0-9_.-]", "_", Path(p).stem): entry["cdl"] for p, entry in report.items()}
        try:
            write_cdl(args.cdl, ids)
        except ValueError as error:
            print(f"colorgrade analyze: {error}", file=sys.stderr)
            return 2
    if args.cube:
        write_cube(args.cube, next(iter(report.values()))["cdl"].to_lut(33))
    if args.json:
        print(json.dumps({p: {**e, "cdl": {"slope": e["cdl"].slope, "offset": e["cdl"].offset,
                                           "power": e["cdl"].power, "saturation": e["cdl"].saturation}}
                          for p, e in report.items()}, indent=2))
    else:
        for path, entry in report.items():
            cdl = entry["cdl"]
            print(f"{path}: {entry['label']}")
            print(f"  slope {_triple(cdl.slope)}  offset {_triple(cdl.offset)}  power {_triple(cdl.power)}  "
                  f"saturation {cdl.saturation:.4f}")
    return 0


def _triple(values) -> str:
    return " ".join(f"{v:.4f}" for v in values)


def run_grade(args) -> int:
    from colorgrade.clients import media
    from colorgrade.clients.client import GradeError

    source, target = Path(args.input), Path(args.output)
    try:
        kind = media.kind_of(source)
        count, frames = _frames_of(source)
        with connect(args) as client:
            clip = client.open_clip(mode=args.mode, window_radius=0 if kind == "still" else args.window,
                                    oversample=args.oversample, blend_radius=args.blend, name=source.name)
            results = client.stream(clip, frames)
            bar = tqdm(results, total=count, desc=f"grade {source.name}", unit="frame", disable=count == 1)
            if kind == "still":
                media.write_image(target, next(iter(bar)).frame)
            elif kind == "sequence":
                names = [f.name for f in media.list_sequence(source)]
                for name, result in zip(names, bar):
                    media.write_image(target / name, result.frame)
            else:
                info = media.probe_video(source)
                writer = media.VideoWriter(target, info.rate, info.width, info.height)
                for result in bar:
                    writer.write(result.frame)
                writer.close()
            client.close_clip(clip)
    except (GradeError, media.MediaError, OSError) as error:
        print(f"colorgrade grade: {error}", file=sys.stderr)
        return 1
    print(f"graded {count} frame(s) -> {target}")
    return 0
