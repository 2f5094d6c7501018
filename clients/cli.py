"""``colorgrade analyze``, ``colorgrade grade`` and ``colorgrade cube``: talk to a daemon, or start a private one.

Without ``--server`` the command starts a private daemon on a unix socket (``colorgrade serve
--unix``, a subprocess: this module never imports torch), uses it, and stops it (``clients.commands``).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from tqdm import tqdm

from colorgrade.clients.commands import (UsageError, add_connection_arguments, add_mode_arguments,
                                         add_reference_argument, cdl_text,
                                         check_cube_size, check_readable, check_reference_arguments,
                                         check_reference_mode, check_writable, connect, correction_ids, read_reference)
from colorgrade.proto.codec import DEFAULT_WINDOW_RADIUS

ANALYZE_EPILOG = """examples:
  colorgrade analyze shot.png                       # diagnosis and CDL, private daemon
  colorgrade analyze clip.mp4 --cdl clip.cc --cube clip.cube
  colorgrade analyze a.png b.png --json --server gpu-box:50051 --tls-ca ca.pem --token-file token.txt
  colorgrade analyze reel.mov --shots --cdl reel.ccc --cubes luts/ --edl reel.edl
  colorgrade analyze plates/ --shots --json         # VFX plates keep their frame numbers (1001...)
  colorgrade analyze reel.mov --shots --reference hero.png   # every shot matched to a graded hero frame
  colorgrade analyze b_cam.mov --reference a_cam.mov@120     # ... or to a frame of another clip
  colorgrade analyze reel.mov --shots --continuity --cdl reel.ccc --edl reel.edl   # one click: scenes, heroes

A still gets its own CDL; a video or a folder of stills gets one temporally smoothed CDL for the
whole clip (the mean of the per-frame CDLs over its window), or with --shots one per shot (cuts
found by ffmpeg's scene detector; frames sampled across each shot, never across a cut). Frames are shrunk to 256 px before
they are sent: the analysis network looks at a thumbnail, and the CDL applies at any resolution."""

GRADE_EPILOG = """examples:
  colorgrade grade shot.png -o graded.png           # 16-bit in, 16-bit out, alpha kept
  colorgrade grade phone.jpg -o graded.jpg          # same JPEG quality, EXIF orientation and ICC kept
  colorgrade grade clip.mp4 -o graded.mp4 --window 4
  colorgrade grade take.mov -o graded.mov           # ProRes stays ProRes (profile, 10-bit 4:2:2); audio kept
  colorgrade grade plates/ -o graded_plates/        # a folder of stills, same names
  colorgrade grade shot2.mov -o matched.mov --reference shot1_graded.png   # match to a graded hero

By default each frame is graded by the analysis network's CDL averaged over +-WINDOW frames, applied
at full resolution and bit depth (mode cdl_frames); the CDL is already shrunk toward no change where
the network is unsure. The window never reaches across a cut (found as analyze --shots finds them):
each shot is graded alone, unless --across-cuts. Video keeps its other streams, timestamps, colour
tags, bit depth and chroma. Outputs are written whole, then renamed; -o equal to the input needs
--overwrite. The generator modes use the cGAN; generator_lut keeps full-resolution detail.
  colorgrade grade clip.mp4 -o cgan.mp4 --mode generator_lut"""


def configure_analyze(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ANALYZE_EPILOG
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="stills, videos or folders of stills")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--cdl", metavar="FILE", help="write the CDLs (.cc for one correction, .ccc or .cdl for any)")
    parser.add_argument("--cube", metavar="FILE", help="write a .cube of the (first) input's CDL")
    parser.add_argument("--cubes", metavar="FOLDER", help="write a .cube per correction (per shot with --shots), "
                                                           "named by its id")
    parser.add_argument("--cube-size", type=int, default=33, metavar="N", help="lattice size of .cube files "
                                                                               "(default 33; 2..129)")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW_RADIUS,
                        help=f"clip smoothing radius in frames (default {DEFAULT_WINDOW_RADIUS})")
    parser.add_argument("--shots", action="store_true",
                        help="find the cuts in each video or sequence and give every shot its own correction")
    parser.add_argument("--edl", metavar="FILE", help="with --shots and one video: a CMX 3600 EDL, an event per shot "
                                                      "carrying its CDL as *ASC_SOP/*ASC_SAT")
    parser.add_argument("--samples", type=int, default=24, metavar="N",
                        help="with --shots or --items: frames analysed per shot, spread evenly (default 24)")
    parser.add_argument("--items", metavar="JSON",
                        help="analyse frame ranges instead of INPUTs: a JSON list of {\"id\", \"path\", "
                             "\"first\", \"last\"} (frame numbers: from 0 in a video, from the file names in a "
                             "sequence); what the Resolve script sends. With --continuity the items are the shots "
                             "of one edit, in order")
    parser.add_argument("--per-frame", action="store_true",
                        help="with --json: each frame's windowed CDL of a video or sequence (what the Nuke node keys)")
    add_reference_argument(parser, shots=True)
    add_connection_arguments(parser)


def configure_grade(parser: argparse.ArgumentParser) -> None:
    parser.epilog = GRADE_EPILOG
    parser.add_argument("input", help="a still, a video or a folder of stills")
    parser.add_argument("-o", "--output", required=True, help="where the graded result goes (same kind as input)")
    add_mode_arguments(parser)
    parser.add_argument("--quality", type=int, metavar="Q",
                        help="JPEG/WebP stills: quality 1-100 (default: JPEG at the source's own quality, WebP lossless)")
    parser.add_argument("--codec", help="video: encoder to use instead of the default (ProRes stays ProRes, "
                                        "anything else H.264 at the source's bit depth and chroma), e.g. libx265")
    parser.add_argument("--crf", type=int, help="video: constant rate factor for x264/x265 (default 16, visually lossless)")
    parser.add_argument("--overwrite", action="store_true",
                        help="allow -o to be the input itself (the result is written whole, then renamed over it)")
    parser.add_argument("--across-cuts", action="store_true",
                        help="video and sequences: let the window average across cuts too (by default the cuts are "
                             "found as analyze --shots finds them and every shot is graded alone)")
    add_reference_argument(parser)
    add_connection_arguments(parser)


def check_analyze_arguments(args) -> list:
    """Everything that can be known wrong before a daemon starts: inputs, items, output paths, numbers.
    Raises UsageError (or MediaError for an input that is missing) with one line naming the problem."""
    from colorgrade.clients import media
    from colorgrade.clients.workflow.corrections import Job

    if args.window < 0:
        raise UsageError(f"--window must be 0 or more frames, got {args.window}")
    if args.samples < 1:
        raise UsageError(f"--samples must be 1 or more, got {args.samples}")
    check_cube_size("--cube-size", args.cube_size)
    if bool(args.items) == bool(args.inputs):
        raise UsageError("give INPUTs or --items, not both" if args.items else "nothing to analyse: give INPUTs")
    if args.items:
        jobs = read_items(Path(args.items))
    else:
        paths = [Path(p) for p in args.inputs]
        ids = correction_ids(paths)
        jobs = [Job(str(p), ids[p], p) for p in paths]
    for job in jobs:
        if not job.path.exists():
            raise media.MediaError(f"{job.path}: no such file or folder")
        media.kind_of(job.path)
    if args.cdl:
        suffix = Path(args.cdl).suffix.lower()
        if suffix not in (".cc", ".ccc", ".cdl"):
            raise UsageError(f"--cdl {args.cdl}: use a .cc (one correction), .ccc or .cdl file name")
        if suffix == ".cc" and (len(jobs) != 1 or args.shots):
            raise UsageError(f"--cdl {args.cdl}: a .cc file holds one correction; use .ccc or .cdl for "
                             f"{'shots' if args.shots else f'{len(jobs)} inputs'}")
    check_reference_arguments(args, shots=args.shots, items=bool(args.items))
    if args.edl and (not args.shots or len(jobs) != 1 or media.kind_of(jobs[0].path) != "video"):
        raise UsageError(f"--edl {args.edl}: an EDL lists the shots of one video; give one video and --shots")
    for option, value in (("--cdl", args.cdl), ("--cube", args.cube), ("--edl", args.edl)):
        if value:
            check_writable(option, Path(value))
    if args.cubes and Path(args.cubes).exists() and not Path(args.cubes).is_dir():
        raise UsageError(f"--cubes {args.cubes}: not a folder")
    return jobs


def read_items(path: Path) -> list:
    """``--items``: [{"id": "A001", "path": "/media/a.mov", "first": 0, "last": 99}, ...] -> Jobs."""
    from colorgrade.clients.workflow.corrections import Job

    try:
        items = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UsageError(f"--items {path}: cannot read JSON ({error})") from None
    if not isinstance(items, list) or not items:
        raise UsageError(f"--items {path}: expected a non-empty JSON list of {{id, path, first, last}}")
    jobs = []
    for position, item in enumerate(items):
        where = f"--items {path}: item {position}"
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("path"), str):
            raise UsageError(f"{where}: needs a string \"id\" and \"path\"")
        first, last = item.get("first"), item.get("last")
        if any(v is not None and (not isinstance(v, int) or v < 0) for v in (first, last)) or \
                (first is not None and last is not None and first > last):
            raise UsageError(f"{where}: \"first\" and \"last\" must be frame numbers, first <= last; "
                             f"got {first}, {last}")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", item["id"]):
            raise UsageError(f"{where}: id {item['id']!r} must be 1-64 letters, digits, '_', '.' or '-'")
        jobs.append(Job(item["id"], item["id"], Path(item["path"]), first, last))
    if len({job.id for job in jobs}) != len(jobs):
        raise UsageError(f"--items {path}: ids must be unique")
    return jobs


def run_analyze(args) -> int:
    from colorgrade.clients.client import GradeError
    from colorgrade.clients.workflow.corrections import Asked, analyse_job
    from colorgrade.clients.media import MediaError
    from colorgrade.color import write_cdl, write_cube

    try:
        jobs = check_analyze_arguments(args)
    except (UsageError, MediaError) as error:
        print(f"colorgrade analyze: {error}", file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1
    unreadable: list[str] = []   # inputs, or stills of a folder, that could not be read: named, the rest analysed
    try:
        asked = Asked(shots=args.shots, samples=args.samples, window=args.window, per_frame=args.per_frame,
                      reference=read_reference(args), continuity=args.continuity,
                      reference_shot=args.reference_shot, quiet=args.json)
        videos = check_readable([job.path for job in jobs])
        report = {}
        with connect(args) as client:
            for job in jobs:
                try:
                    report[job.key] = analyse_job(client, job, asked, videos.get(job.path), unreadable)
                except MediaError as error:
                    unreadable.append(str(error))
            if args.continuity and args.items:   # the items are the shots of one edit, in its order
                from colorgrade.clients.workflow.continuity import continuity

                continuity(client, list(report.values()))
    except (GradeError, MediaError, OSError) as error:
        print(f"colorgrade analyze: {error}", file=sys.stderr)
        return 1
    if not report:
        for failure in unreadable:
            print(f"colorgrade analyze: {failure}", file=sys.stderr)
        return 1
    corrections = [part for entry in report.values() for part in entry.parts()]
    try:
        if args.cdl:
            write_cdl(args.cdl, {c.id: c.cdl for c in corrections}, {c.id: c.note() for c in corrections})
        if args.cube:
            write_cube(args.cube, next(iter(report.values())).cdl.to_lut(args.cube_size))
        if args.edl:
            from colorgrade.clients.workflow.edl import write_edl

            (job,) = jobs
            write_edl(args.edl, job.path, report[job.key].shots, videos[job.path].rate, job.id)
        if args.cubes:
            Path(args.cubes).mkdir(parents=True, exist_ok=True)
            for correction in corrections:
                write_cube(Path(args.cubes) / f"{correction.id}.cube", correction.cdl.to_lut(args.cube_size))
    except (ValueError, OSError) as error:
        print(f"colorgrade analyze: {error}", file=sys.stderr)
        return 1
    for failure in unreadable:
        print(f"colorgrade analyze: {failure}", file=sys.stderr)
    if args.json:
        print(json.dumps({key: entry.to_json() for key, entry in report.items()}, indent=2))
        return 1 if unreadable else 0
    for key, entry in report.items():
        print(f"{key}: {entry.describe()}")
        print(f"  {cdl_text(entry.cdl)}")
        for scene in entry.scenes or []:
            print(f"  scene {scene['scene']}: hero {scene['hero']}; shots {', '.join(scene['shots'])}")
        for shot in entry.shots or []:
            print(f"  {shot.id}  frames {shot.first}-{shot.last}"
                  + (f"  {shot.timecode_in}-{shot.timecode_out}" if shot.timecode_in else "")
                  + f"  {shot.describe()}\n    {cdl_text(shot.cdl)}")
    return 1 if unreadable else 0


def check_grade_arguments(args) -> tuple[Path, Path, str]:
    """Inputs, output and options checked before a daemon starts -> (source, target, kind)."""
    from colorgrade.clients import media

    if args.window < 0 or args.blend < 0:
        raise UsageError(f"--window and --blend must be 0 or more frames, got {args.window} and {args.blend}")
    if args.quality is not None and not 1 <= args.quality <= 100:
        raise UsageError(f"--quality must be 1..100, got {args.quality}")
    check_reference_mode(args)
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
    if same and not args.overwrite:   # a refused call, not bad usage: exit code 1
        raise media.MediaError(f"-o {target} is the input; pass --overwrite to replace it (written whole, then renamed)")
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
        reference = read_reference(args)
        if kind == "still":   # read before any daemon starts: a file that cannot be read costs nothing
            still, metadata = media.read_image(source), media.read_metadata(source)
        elif kind == "video":
            info = media.probe_video(source)
        settings = dict(mode=args.mode, window_radius=0 if kind == "still" else args.window,
                        oversample=args.oversample, blend_radius=args.blend, name=source.name, reference=reference)
        with connect(args) as client:
            if kind == "still":
                result, = graded(client, settings, [still], across_cuts=True)
                media.write_image(target, result.frame, metadata, args.quality)
                count = 1
            elif kind == "sequence":
                count = grade_sequence(client, settings, source, target, args.quality, failures, args.across_cuts)
            else:
                count = grade_video(client, settings, source, info, target, args.codec, args.crf, args.across_cuts)
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


def graded(client, settings: dict, frames, across_cuts: bool):
    """The results of ``frames``, in order, indexed from 0: each shot through a clip of its own (opened with
    ``settings``), so no window reaches across a cut; with ``across_cuts``, all of them through one clip."""
    from colorgrade.clients.workflow.shots import split_at_cuts

    for first, shot in [(0, frames)] if across_cuts else split_at_cuts(frames):
        clip = client.open_clip(**settings)
        yield from client.stream(clip, shot, first_index=first)   # read whole: a stream left unread is cancelled
        client.close_clip(clip)


def grade_sequence(client, settings: dict, source: Path, target: Path, quality: int | None, failures: list[str],
                   across_cuts: bool = False) -> int:
    """Grade every readable still of a sequence, shot by shot, same names; unreadable ones are named in
    ``failures``."""
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
    for result in tqdm(graded(client, settings, frames(), across_cuts), total=len(files), desc=f"grade {source.name}",
                       unit="frame"):
        name, metadata = pending.popleft()
        media.write_image(target / name, result.frame, metadata, quality)
        count += 1
    return count


def grade_video(client, settings: dict, source: Path, info, target: Path, codec: str | None, crf: int | None,
                across_cuts: bool = False) -> int:
    from colorgrade.clients import media

    timestamps: list[int] = []
    writer = media.VideoWriter(target, source, info, codec, crf)
    count = 0
    try:
        for result in tqdm(graded(client, settings, media.read_video(source, info, timestamps), across_cuts),
                           total=info.frames, desc=f"grade {source.name}", unit="frame"):
            writer.write(result.frame, timestamps[result.index])
            count += 1
        writer.close()
    finally:
        writer.discard()
    return count


CUBE_EPILOG = """examples:
  colorgrade cube look.cube --slope 1.1 1 0.9 --offset 0 0 0.01 --power 1 1 1 --saturation 0.95
  colorgrade cube shot.cube --from grades.ccc --id A001_shot003 --size 65

Bakes one ASC CDL into a .cube LUT (what the Nuke node's "Bake .cube" runs): from numbers, or from a
.cc/.ccc/.cdl file (--id picks the correction when the file holds several)."""


def configure_cube(parser: argparse.ArgumentParser) -> None:
    parser.epilog = CUBE_EPILOG
    parser.add_argument("output", help="the .cube file to write")
    parser.add_argument("--from", dest="source", metavar="CDL_FILE", help="read the CDL from a .cc, .ccc or .cdl")
    parser.add_argument("--id", help="with --from: which ColorCorrection (default: the only one)")
    for name, default in (("slope", 1.0), ("offset", 0.0), ("power", 1.0)):
        parser.add_argument(f"--{name}", type=float, nargs=3, metavar=("R", "G", "B"), default=[default] * 3)
    parser.add_argument("--saturation", type=float, default=1.0)
    parser.add_argument("--size", type=int, default=33, help="lattice size, 2..129 (default 33)")


def run_cube(args) -> int:
    from colorgrade.color import CDL, read_cdl, write_cube

    try:
        check_cube_size("--size", args.size)
        if Path(args.output).suffix.lower() != ".cube":
            raise UsageError(f"{args.output}: give the output a .cube name")
        check_writable("output", Path(args.output))
        if args.source:
            corrections = read_cdl(args.source)
            if args.id is None and len(corrections) != 1:
                raise UsageError(f"{args.source} holds {len(corrections)} corrections; pick one with --id "
                                 f"({', '.join(corrections)})")
            if args.id is not None and args.id not in corrections:
                raise UsageError(f"{args.source}: no ColorCorrection {args.id!r} ({', '.join(corrections)})")
            cdl = corrections[args.id] if args.id is not None else next(iter(corrections.values()))
        else:
            cdl = CDL(tuple(args.slope), tuple(args.offset), tuple(args.power), args.saturation)
        write_cube(args.output, cdl.to_lut(args.size))
    except UsageError as error:
        print(f"colorgrade cube: {error}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as error:
        print(f"colorgrade cube: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({args.size}^3)")
    return 0
