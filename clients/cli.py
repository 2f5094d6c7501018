"""``colorgrade analyze``, ``colorgrade grade`` and ``colorgrade cube``: talk to a daemon, or start a private one.

Without ``--server`` the command starts a private daemon on a unix socket (``colorgrade serve
--unix``, a subprocess: this module never imports torch), uses it, and stops it (``clients.commands``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from tqdm import tqdm

from colorgrade.clients.commands import (UsageError, add_colour_arguments, add_connection_arguments,
                                         add_mode_arguments,
                                         add_reference_argument, add_strength_argument, cdl_text,
                                         check_cube_size, check_encoding, check_readable,
                                         check_reference_arguments, check_reference_mode, check_strength,
                                         check_writable, connect, correction_ids, read_reference)
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

A still gets its own CDL; a video or an image sequence (a folder of numbered frames of one size:
name.1001.tif, name_0001.png) gets one temporally smoothed CDL for the whole clip (the mean of the
per-frame CDLs over its window), or with --shots one per shot (cuts found by ffmpeg's scene detector;
frames sampled across each shot, never across a cut). Any other folder of stills gives a CDL per still.
Frames are shrunk to 256 px before they are sent: the analysis network looks at a thumbnail, and the
CDL applies at any resolution."""

GRADE_EPILOG = """examples:
  colorgrade grade shot.png -o graded.png           # 16-bit in, 16-bit out, alpha kept
  colorgrade grade phone.jpg -o graded.jpg          # same JPEG quality, EXIF orientation and ICC kept
  colorgrade grade clip.mp4 -o graded.mp4 --window 4
  colorgrade grade take.mov -o graded.mov           # ProRes stays ProRes (profile, 10-bit 4:2:2); audio kept
  colorgrade grade plates/ -o graded_plates/        # a sequence (or a folder of stills, each alone), same names
  colorgrade grade shot2.mov -o matched.mov --reference shot1_graded.png   # match to a graded hero
  colorgrade grade a.mov b.mov c.png -o graded/ --json   # several inputs into a folder; the summary as JSON
  colorgrade grade clip.mp4 -o gentle.mp4 --strength 0.5   # half the served correction (0 none .. 2 twice)
  colorgrade grade clip.mp4 -o look.mp4 --cdl edited.cc    # apply an (edited) CDL yourself: no daemon
  colorgrade grade reel.mov -o reel_graded.mov --ccc reel.ccc --id reel_shot002
  colorgrade grade clip.mp4 -o look.mp4 --cube look.cube   # ... or a .cube LUT (tetrahedral)
  colorgrade grade plate/ -o graded/ --colorspace ACEScg --reference hero.1001.exr   # EXR plates, graded in ACEScct
  colorgrade grade clip.mp4 -o cgan.mp4 --mode generator_lut   # the cGAN, distilled to a LUT per window

By default each frame is graded by the analysis network's CDL averaged over +-WINDOW frames, applied
at full resolution and bit depth (mode cdl_frames); the CDL is already shrunk toward no change where
the network is unsure. The window never reaches across a cut (found as analyze --shots finds them):
each shot is graded alone, unless --across-cuts. Video keeps its other streams, timestamps, colour
tags, bit depth and chroma. Outputs are written whole, then renamed; -o equal to the input needs
--overwrite. The generator modes use the cGAN; generator_lut keeps full-resolution detail.

It ends with a summary per input (and per shot where it cut): the diagnosis, the confidence, the
match, the CDL, as analyze prints them; --json for the same as JSON. --strength scales each CDL's
distance from no change; --cdl/--ccc/--cube apply a correction you give at the same fidelity."""


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
    add_strength_argument(parser)
    add_reference_argument(parser, shots=True)
    add_colour_arguments(parser)
    add_connection_arguments(parser)


def configure_grade(parser: argparse.ArgumentParser) -> None:
    parser.epilog = GRADE_EPILOG
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="stills, videos or folders of stills")
    parser.add_argument("-o", "--output", required=True,
                        help="where the graded result goes (same kind as the input); with several inputs a folder, "
                             "each result under its input's name")
    add_mode_arguments(parser)
    given = parser.add_mutually_exclusive_group()
    given.add_argument("--cdl", "--ccc", dest="cdl", metavar="FILE",
                       help="apply this CDL (.cc, .ccc or .cdl; --id picks one of several) to every frame, instead of "
                            "the daemon's; no daemon is started")
    given.add_argument("--cube", metavar="FILE", help="apply this .cube LUT (tetrahedral) to every frame, instead of "
                                                      "the daemon's correction; no daemon is started")
    parser.add_argument("--id", help="with --cdl/--ccc: which ColorCorrection of the file (default: the only one)")
    add_strength_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the summary (per input and shot) as JSON")
    parser.add_argument("--quality", type=int, metavar="Q",
                        help="JPEG/WebP stills: quality 1-100 (default: JPEG at the source's own quality, WebP lossless)")
    parser.add_argument("--codec", help="video: encoder to use instead of the default (ProRes stays ProRes, "
                                        "anything else H.264 at the source's bit depth and chroma), e.g. libx265")
    parser.add_argument("--crf", type=int, help="video: constant rate factor for x264/x265, 0..51 (default 16, "
                                                "visually lossless)")
    parser.add_argument("--overwrite", action="store_true",
                        help="allow -o to be the input itself (the result is written whole, then renamed over it)")
    parser.add_argument("--across-cuts", action="store_true",
                        help="video and sequences: let the window average across cuts too (by default the cuts are "
                             "found as analyze --shots finds them and every shot is graded alone)")
    add_reference_argument(parser)
    add_colour_arguments(parser)
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
    check_strength(args)
    if bool(args.items) == bool(args.inputs):
        raise UsageError("give INPUTs or --items, not both" if args.items else "nothing to analyse: give INPUTs")
    if args.items:
        jobs = read_items(Path(args.items))
    else:
        paths = [still for given in args.inputs for still in media.stills_apart(given)]
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
    from colorgrade.clients import media
    from colorgrade.clients.client import GradeError
    from colorgrade.clients.colour_management import JudgingClient
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
                      reference_shot=args.reference_shot, hero_shots=tuple(args.hero_shot), quiet=args.json)
        # The inputs as given: the stills of a folder are read, and named if they cannot be, as they are analysed.
        videos = check_readable([Path(p) for p in args.inputs] or [job.path for job in jobs])
        colours = {job.key: colour_of(args, job.path, media.kind_of(job.path), videos.get(job.path)) for job in jobs}
        if any(colours.values()) and (args.continuity or args.reference_shot is not None):
            raise UsageError("--continuity and --reference-shot match shots to each other on display pictures: "
                             "not for colour-managed input yet")
        report = {}
        with connect(args) as client:
            for job in jobs:
                try:
                    judging = JudgingClient(client, colours[job.key]) if colours[job.key] else client
                    report[job.key] = analyse_job(judging, job, asked, videos.get(job.path), unreadable)
                except MediaError as error:
                    unreadable.append(str(error))
            if args.continuity and args.items:   # the items are the shots of one edit, in its order
                from colorgrade.clients.workflow.continuity import continuity

                if any(number > len(report) for number in asked.hero_shots):
                    raise MediaError(f"--hero-shot {max(asked.hero_shots)}, but there are {len(report)} item(s)")
                continuity(client, list(report.values()), asked.hero_shots)
    except UsageError as error:
        print(f"colorgrade analyze: {error}", file=sys.stderr)
        return 2
    except (GradeError, MediaError, OSError) as error:
        print(f"colorgrade analyze: {error}", file=sys.stderr)
        return 1
    if not report:
        for failure in unreadable:
            print(f"colorgrade analyze: {failure}", file=sys.stderr)
        return 1
    if args.strength != 1:
        for entry in report.values():
            entry.scale(args.strength)
    corrections = [part for entry in report.values() for part in entry.parts()]
    # A colour-managed input's CDLs are in its grading space: each file says which.
    spaces = {key: colour.describe() for key, colour in colours.items() if colour is not None}
    notes = {part.id: part.note() + (f"; in {spaces[key]['grading_space']} (input {spaces[key]['colorspace']})"
                                     if key in spaces else "")
             for key, entry in report.items() for part in entry.parts()}
    try:
        if args.cdl:
            write_cdl(args.cdl, {c.id: c.cdl for c in corrections}, notes)
        if args.cube:
            write_cube(args.cube, next(iter(report.values())).cdl.to_lut(args.cube_size))
        if args.edl:
            from colorgrade.clients.workflow.edl import write_edl

            (job,) = jobs
            write_edl(args.edl, job.path, report[job.key].shots, videos[job.path].rate, job.id,
                      spaces.get(job.key, {}).get("grading_space"))
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
        print(json.dumps({key: {**entry.to_json(), **spaces.get(key, {})} for key, entry in report.items()}, indent=2))
        return 1 if unreadable else 0
    for key, entry in report.items():
        print("\n".join(summary_lines(key, entry)))
        if key in spaces:
            print(f"  {spaces[key]['colorspace']}: judged on {spaces[key]['judged_on']}, "
                  f"CDL in {spaces[key]['grading_space']}")
    return 1 if unreadable else 0


def summary_lines(heading: str, entry) -> list[str]:
    """What ``analyze`` and ``grade`` print of an input's correction: its verdict and CDL, its scenes, its shots."""
    from colorgrade.clients.workflow.continuity import CHOSEN

    lines = [f"{heading}: {entry.describe()}", f"  {cdl_text(entry.cdl)}"]
    for scene in entry.scenes or []:
        hero = "no hero" if scene["hero"] is None else f"hero {scene['hero']}"
        why = f" ({CHOSEN[scene['chosen']]})" if scene.get("chosen") else ""
        lines.append(f"  scene {scene['scene']}: {hero}{why}; shots {', '.join(scene['shots'])}")
    for shot in entry.shots or []:
        lines.append(f"  {shot.id}  frames {shot.first}-{shot.last}"
                     + (f"  {shot.timecode_in}-{shot.timecode_out}" if shot.timecode_in else "")
                     + f"  {shot.describe()}\n    {cdl_text(shot.cdl)}")
    return lines


def check_grade_arguments(args) -> tuple[list[tuple[Path, Path, str]], object]:
    """Inputs, outputs and options checked before a daemon starts -> ([(source, target, kind)], the CDL or LUT of
    --cdl/--cube or None)."""
    from colorgrade.clients import media
    from colorgrade.color import read_cube

    if args.window < 0 or args.blend < 0:
        raise UsageError(f"--window and --blend must be 0 or more frames, got {args.window} and {args.blend}")
    if args.quality is not None and not 1 <= args.quality <= 100:
        raise UsageError(f"--quality must be 1..100, got {args.quality}")
    check_reference_mode(args)
    check_strength(args)
    check_encoding(args, media.encoder_kind)
    if args.id is not None and not args.cdl:
        raise UsageError("--id picks a correction of --cdl FILE")
    given = None
    if args.cdl or args.cube:
        option = "--cdl" if args.cdl else "--cube"
        if args.reference or args.mode != "cdl_frames":
            raise UsageError(f"{option} applies a given correction: give no --reference or --mode")
        if args.cube and args.strength != 1:
            raise UsageError("--strength scales a CDL; a .cube is applied as it is")
        given = pick_cdl(args.cdl, args.id) if args.cdl else read_cube(args.cube)
    elif args.strength != 1 and args.mode != "cdl_frames":
        raise UsageError(f"--strength scales the analysis network's CDL (--mode cdl_frames), not {args.mode}")
    sources = [Path(p) for p in args.inputs]
    folder = Path(args.output) if len(sources) > 1 else None
    if folder is not None:
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"-o {folder}: several inputs are graded into a folder, and this is a file")
        names = [source.name for source in sources]
        if len(set(names)) != len(names):
            raise UsageError(f"-o {folder}: two inputs are named {max(names, key=names.count)}; grade them into "
                             f"folders of their own")
        check_writable("-o", folder)
    jobs = [check_target(source, folder / source.name if folder else Path(args.output), args.overwrite,
                         writable=folder is None or folder.is_dir()) for source in sources]
    # A folder of stills that is not a sequence: each still is graded alone, into the output folder under its name.
    return [(source, target, kind) if still == source else (still, target / still.name, "still")
            for source, target, kind in jobs for still in media.stills_apart(source)], given


def check_target(source: Path, target: Path, overwrite: bool, writable: bool = True) -> tuple[Path, Path, str]:
    """One input and where its result goes -> (source, target, kind). ``writable``: check the target's folder
    (not yet, where it is a folder -o that does not exist yet)."""
    from colorgrade.clients import media

    if not source.exists():
        raise media.MediaError(f"{source}: no such file or folder")
    kind = media.kind_of(source)
    if kind == "sequence":
        if target.exists() and not target.is_dir():
            raise UsageError(f"-o {target}: the input is a folder of stills, so the output must be a folder")
    else:
        suffixes = media.STILL_SUFFIXES if kind == "still" else media.VIDEO_SUFFIXES
        if target.suffix.lower() not in suffixes:
            raise UsageError(f"-o {target}: give the output a {kind} extension ({', '.join(sorted(suffixes))})")
        if writable:
            check_writable("-o", target)
    if target.exists() and target.resolve() == source.resolve() and not overwrite:   # refused, not bad usage: 1
        raise media.MediaError(f"-o {target} is the input; pass --overwrite to replace it (written whole, then renamed)")
    return source, target, kind


def pick_cdl(path: str, id: str | None):
    """The CDL of a .cc/.ccc/.cdl file, or its ColorCorrection ``id`` where it holds several (raises UsageError
    naming the choices; ValueError for a file that cannot be read)."""
    from colorgrade.color import read_cdl

    corrections = read_cdl(path)
    if id is None and len(corrections) != 1:
        raise UsageError(f"{path} holds {len(corrections)} corrections; pick one with --id ({', '.join(corrections)})")
    if id is not None and id not in corrections:
        raise UsageError(f"{path}: no ColorCorrection {id!r} ({', '.join(corrections)})")
    return corrections[id] if id is not None else next(iter(corrections.values()))


def run_grade(args) -> int:
    from contextlib import nullcontext

    from colorgrade.clients import media
    from colorgrade.clients.client import GradeError

    try:
        jobs, given = check_grade_arguments(args)
    except (UsageError, media.MediaError, ValueError) as error:   # ValueError: a --cdl/--cube file unread
        print(f"colorgrade grade: {error}", file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1
    failures: list[str] = []   # inputs, or stills of a folder, that could not be read: named, the rest graded
    summary = {}
    ids = correction_ids([source for source, _, _ in jobs])
    try:
        reference = read_reference(args)
        # Before any daemon starts, the inputs as given: the stills of a folder are read, and named if they
        # cannot be, as they are graded.
        videos = check_readable([Path(p) for p in args.inputs])
        colours = {source: colour_of(args, source, kind, videos.get(source)) for source, _, kind in jobs}
        if any(colours.values()) and given is None and args.mode != "cdl_frames":
            raise UsageError(f"colour-managed input is graded by a CDL in its grading space: --mode cdl_frames, "
                             f"not {args.mode}")
        if len(jobs) > 1:
            Path(args.output).mkdir(exist_ok=True)
        with nullcontext() if given is not None else connect(args) as client:
            for source, target, kind in jobs:
                try:
                    summary[str(source)] = grade_input(client, args, given, reference, source, target, kind,
                                                       videos.get(source), ids[source], failures, colours[source])
                except media.MediaError as error:
                    failures.append(str(error))
    except UsageError as error:
        print(f"colorgrade grade: {error}", file=sys.stderr)
        return 2
    except (GradeError, media.MediaError, OSError) as error:
        print(f"colorgrade grade: {error}", file=sys.stderr)
        return 1
    for failure in failures:
        print(f"colorgrade grade: {failure}", file=sys.stderr)
    if args.json:
        print(json.dumps({source: {"output": str(target), **entry} for source, (target, entry, _) in summary.items()},
                         indent=2))
    else:
        for source, (target, entry, correction) in summary.items():
            if correction is None:
                print(f"{source} -> {target}: {entry['frames']} frame(s)"
                      + (f"; applied {entry['applied']}" if "applied" in entry else ""))
            else:
                print("\n".join(summary_lines(f"{source} -> {target}", correction)))
            if "grading_space" in entry:
                print(f"  {entry['colorspace']}: judged on {entry['judged_on']}, graded in {entry['grading_space']}")
    return 1 if failures or not summary else 0


def colour_of(args, source: Path, kind: str, info):
    """The input's colour management (``colour_management.managed``), or None: sRGB / Rec.709 display, as
    colorgrade sees pictures. A sequence says what its first frame says."""
    from colorgrade.clients import media
    from colorgrade.clients.colour_management import managed

    told = media.list_sequence(source)[0] if kind == "sequence" else source
    return managed(args.colorspace, told, args.ocio, info)


def grade_input(client, args, given, reference, source: Path, target: Path, kind: str, info, id: str,
                failures: list[str], colour=None) -> tuple:
    """Grade one input into ``target`` -> (target, its summary as JSON, its Correction or None where no daemon
    correction was made: a given one, or the generator's). ``colour``: its colour management (``colour_of``)."""
    from colorgrade.clients import media
    from colorgrade.clients.workflow.corrections import of_frames

    settings = dict(mode=args.mode, window_radius=0 if kind == "still" else args.window,
                    oversample=args.oversample, blend_radius=args.blend, name=source.name, reference=reference)
    shots: list[list] = []   # the daemon's per-frame results, per shot
    grading = dict(client=client, settings=settings, strength=args.strength, given=given, shots=shots,
                   colour=colour)
    spaces = colour.describe() if colour is not None else {}
    if kind == "still":
        still, metadata = media.read_image(source), media.read_metadata(source)
        (_, frame), = graded(frames=[still], across_cuts=True, **grading)
        media.write_image(target, frame, metadata, args.quality)
        count = 1
    elif kind == "sequence":
        count = grade_sequence(grading, source, target, args.quality, failures, args.across_cuts)
    else:
        count = grade_video(grading, source, info, target, args.codec, args.crf, failures, args.across_cuts)
    if given is not None or not shots or shots[0][0].cdl is None:
        applied = args.cube or (args.cdl if args.id is None else f"{args.cdl} ({args.id})")
        return target, {"frames": count, **({"applied": applied} if given is not None else {}), **spaces}, None
    correction = of_frames(id, [result for shot in shots for result in shot])
    if len(shots) > 1:
        correction.shots = [of_frames(f"{id}_shot{number:03d}", results) for number, results in enumerate(shots, 1)]
        for part, results in zip(correction.shots, shots):
            part.first, part.last = results[0].index, results[-1].index
    if args.strength != 1:
        correction.scale(args.strength)
    return target, {**correction.to_json(), **spaces}, correction


def graded(client, settings: dict, frames, across_cuts: bool, strength: float = 1.0, given=None,
           shots: list | None = None, colour=None):
    """(position, graded frame) of ``frames``, in order, from 0. A ``given`` CDL or LUT is applied here (no
    daemon). Otherwise each shot goes through a clip of its own (opened with ``settings``), so no window reaches
    across a cut, or with ``across_cuts`` all through one. In ``cdl_frames`` the daemon is sent what the
    analysis network looks at (``analysis_thumbnail``; the whole frame where a hero is matched, the matcher
    needs more) and answers each frame's CDL, which is scaled by ``strength`` and applied here on every core:
    the same frames the daemon would make, without a frame crossing to it and back. ``shots``: where each
    shot's daemon results (without their pixels) are appended, for the summary. ``colour``: a colour-managed
    input's ``Managed``: the daemon is sent its display rendering, and each CDL it answers becomes the CDL in
    the grading space that changes the display alike (``Managed.grading_cdl``), applied there; matched to a
    hero, it is sent in the grading space, and a frame whose match is not used is judged blind on the display
    (``colour_management`` says why); a given CDL or LUT is applied in the grading space too."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace

    from colorgrade.clients.workflow.corrections import at_strength
    from colorgrade.clients.workflow.shots import split_at_cuts
    from colorgrade.color import analysis_thumbnail, apply

    bands = os.cpu_count() or 1
    with ThreadPoolExecutor(bands, thread_name_prefix="band") as pool:
        if given is not None:
            yield from ((position, colour.apply(given, frame) if colour else apply(given, frame, pool, bands))
                        for position, frame in enumerate(frames))
            return
        local = settings.get("mode") == "cdl_frames"
        if colour is not None:
            from colorgrade.clients.colour_management import JudgingClient

            client = JudgingClient(client, colour)
        # A daemon older than ServerInfo.analysis_size says 0: it is sent whole frames.
        side = client.info().analysis_size if local and settings.get("reference") is None else 0
        for first, shot in [(0, frames)] if across_cuts else split_at_cuts(frames, colour and colour.shown):
            sent: deque = deque()   # the frames the daemon has not answered yet, to apply their CDLs to

            def send(shot=shot, sent=sent):
                for frame in shot:
                    if local:
                        sent.append(frame)
                    yield analysis_thumbnail(frame, side) if side else frame

            results: list = []
            if shots is not None:
                shots.append(results)
            clip = client.open_clip(**{**settings, "mode": "parameters"} if local else settings)
            for result in client.stream(clip, send(), first_index=first):   # read whole: one left unread is cancelled
                results.append(replace(result, frame=None))
                if local:
                    cdl = result.cdl if strength == 1 else at_strength(result.cdl, strength)
                    frame = sent.popleft()
                    yield result.index, colour.apply(cdl, frame) if colour else apply(cdl, frame, pool, bands)
                else:
                    yield result.index, result.frame
            client.close_clip(clip)


def grade_sequence(grading: dict, source: Path, target: Path, quality: int | None, failures: list[str],
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
    # The bar in a with: on an error it is closed, its line ended, before the error is said.
    with tqdm(graded(frames=frames(), across_cuts=across_cuts, **grading), total=len(files),
              desc=f"grade {source.name}", unit="frame") as progress:
        for _, frame in progress:
            name, metadata = pending.popleft()
            media.write_image(target / name, frame, metadata, quality)
            count += 1
    return count


def grade_video(grading: dict, source: Path, info, target: Path, codec: str | None, crf: int | None,
                failures: list[str], across_cuts: bool = False) -> int:
    """Grade a video into ``target``; one cut short or damaged is graded as far as it can be read, and named in
    ``failures`` with what was written."""
    from colorgrade.clients import media

    timestamps: list[int] = []
    short: list[str] = []
    writer = media.VideoWriter(target, source, info, codec, crf)
    count = 0
    try:
        with tqdm(graded(frames=media.read_video(source, info, timestamps, short), across_cuts=across_cuts,
                         **grading), total=info.frames, desc=f"grade {source.name}", unit="frame") as progress:
            for position, frame in progress:
                writer.write(frame, timestamps[position])
                count += 1
        if short and not count:
            raise media.MediaError(short[0])
        writer.close()
    finally:
        writer.discard()
    failures += [f"{line}; the {count} read are graded into {target}" for line in short]
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
    from colorgrade.color import CDL, write_cube

    try:
        check_cube_size("--size", args.size)
        if Path(args.output).suffix.lower() != ".cube":
            raise UsageError(f"{args.output}: give the output a .cube name")
        check_writable("output", Path(args.output))
        if args.source:
            cdl = pick_cdl(args.source, args.id)
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
