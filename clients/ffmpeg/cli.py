"""``colorgrade ffmpeg`` (two-pass plan for the user's own ffmpeg) and ``colorgrade pipe`` (NUT filter)."""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from colorgrade.clients.commands import (UsageError, add_connection_arguments, add_mode_arguments,
                                         add_reference_argument, check_cube_size, check_encoding,
                                         check_reference_arguments,
                                         check_reference_mode, check_writable, connect, read_reference)

FFMPEG_EPILOG = """examples:
  colorgrade ffmpeg interview.mov -o graded.mov          # analyse shots, write the plan, print the command
  colorgrade ffmpeg interview.mov -o graded.mov --run    # ... and run it with the ffmpeg on PATH
  colorgrade ffmpeg interview.mov -o graded.mov --pipe   # print ffmpeg | colorgrade pipe | ffmpeg instead
  colorgrade ffmpeg reel.mov -o graded.mov --continuity --run   # scenes matched to their heroes, one pass

Pass 1 (this command) finds the cuts, analyses each shot through the daemon and writes, into --dir:
one .cube per shot, the shots' CDLs as a .ccc, a JSON shot list, and an ffmpeg filter script that
switches lut3d from shot to shot on the exact frame. Pass 2 is plain ffmpeg at full speed, printed
ready to run: audio, subtitles and metadata copied, every timestamp kept, colour tags written back,
bit depth and chroma kept. Edit a .cube (or re-bake one from the .ccc) before pass 2 to change a shot.
--pipe prints the three-process chain for the pixel modes (no analysis, no daemon): both ffmpeg ends
convert with the source's own matrix and range and exact rounding, so an untouched frame comes back
as it went in."""


def configure_ffmpeg(parser: argparse.ArgumentParser) -> None:
    parser.epilog = FFMPEG_EPILOG
    parser.add_argument("input", help="the video to grade")
    parser.add_argument("-o", "--output", required=True, help="the graded video pass 2 writes")
    parser.add_argument("--dir", metavar="FOLDER", help="where the plan goes (default: OUTPUT's name + .grade/)")
    parser.add_argument("--samples", type=int, default=24, metavar="N", help="frames analysed per shot (default 24)")
    parser.add_argument("--cube-size", type=int, default=65, metavar="N",
                        help="LUT lattice size (default 65: reproduces typical CDLs within one 8-bit code)")
    parser.add_argument("--exact", action="store_true",
                        help="apply each shot's CDL exactly (ffmpeg's lutrgb + colorchannelmixer) instead of its .cube; "
                             "the .cube files are still written")
    parser.add_argument("--codec", help="encoder for pass 2 instead of the default (ProRes stays ProRes, else H.264)")
    parser.add_argument("--crf", type=int, help="constant rate factor for x264/x265, 0..51 (default 16)")
    parser.add_argument("--pipe", action="store_true",
                        help="print the ffmpeg | colorgrade pipe | ffmpeg chain for INPUT instead of a plan")
    parser.add_argument("--run", dest="execute", action="store_true",
                        help="run pass 2 with the ffmpeg found on PATH (into a temporary beside OUTPUT, renamed when "
                             "ffmpeg succeeded: a failed or interrupted run leaves no OUTPUT)")
    parser.add_argument("--overwrite", action="store_true", help="with --run: replace OUTPUT if it exists")
    add_reference_argument(parser, shots=True)
    add_connection_arguments(parser)


def run_ffmpeg(args) -> int:
    from colorgrade.clients import media
    from colorgrade.clients.commands import correction_ids
    from colorgrade.clients.workflow.corrections import Asked, Job, analyse_job
    from colorgrade.clients.client import GradeError
    from colorgrade.clients.ffmpeg.plan import encoder_kind, ffmpeg_command, pipe_commands, printable

    source, target = Path(args.input), Path(args.output)
    folder = Path(args.dir) if args.dir else target.with_name(target.name + ".grade")
    try:
        check_cube_size("--cube-size", args.cube_size)
        if args.samples < 1:
            raise UsageError(f"--samples must be 1 or more, got {args.samples}")
        if not source.exists():
            raise media.MediaError(f"{source}: no such file or folder")
        if not source.is_file() or media.kind_of(source) != "video":
            raise media.MediaError(f"{source}: not a video file")
        if target.suffix.lower() not in media.VIDEO_SUFFIXES:
            raise UsageError(f"-o {target}: give the output a video extension ({', '.join(sorted(media.VIDEO_SUFFIXES))})")
        check_writable("-o", target)
        if target.exists() and target.resolve() == source.resolve():
            raise media.MediaError(f"-o {target} is the input: ffmpeg cannot read and write one file")
        check_reference_arguments(args, shots=True)
        # The plan is run by the ffmpeg on PATH (or one elsewhere, when there is none here to ask).
        check_encoding(args, encoder_kind if shutil.which("ffmpeg") else None)
        if args.pipe and args.execute:
            raise UsageError("--pipe prints the chain; run it yourself (--run runs the two-pass plan)")
        if args.execute and target.exists() and not args.overwrite:
            raise media.MediaError(f"-o {target} exists; pass --overwrite to replace it")
        info = media.probe_video(source)
        reference = read_reference(args)
    except (UsageError, media.MediaError) as error:
        print(f"colorgrade ffmpeg: {error}", file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1
    if args.pipe:
        print(" \\\n  | ".join(printable(command) for command in pipe_commands(source, target, info, args.codec, args.crf)))
        return 0
    clip_id = correction_ids([source])[source]
    try:
        with connect(args) as client:
            asked = Asked(shots=True, samples=args.samples, reference=reference, continuity=args.continuity,
                          reference_shot=args.reference_shot, hero_shots=tuple(args.hero_shot))
            entry = analyse_job(client, Job(str(source), clip_id, source), asked, info)
    except (GradeError, media.MediaError, OSError) as error:
        print(f"colorgrade ffmpeg: {error}", file=sys.stderr)
        return 1
    try:
        script = write_plan(folder, clip_id, entry, info, args)
    except (OSError, ValueError) as error:
        print(f"colorgrade ffmpeg: cannot write the plan: {error}", file=sys.stderr)
        return 1
    command = ffmpeg_command(source, target, script, info, args.codec, args.crf)
    print(f"{len(entry.shots)} shot(s) -> {folder}/", file=sys.stderr)
    print(printable(command))
    if not args.execute:
        return 0
    try:
        with media.written_whole(target) as partial:   # an output exists whole, or not at all
            run = ffmpeg_command(source, partial, script, info, args.codec, args.crf)
            code = subprocess.run([run[0], "-hide_banner", "-loglevel", "error", "-stats", "-y", *run[1:]]).returncode
            if code:
                raise media.MediaError(f"ffmpeg failed (exit status {code}); {target} not written, the plan is "
                                       f"in {folder}/")
    except OSError as error:
        print(f"colorgrade ffmpeg: cannot run ffmpeg ({error}); the plan is in {folder}/", file=sys.stderr)
        return 1
    except media.MediaError as error:
        print(f"colorgrade ffmpeg: {error}", file=sys.stderr)
        return 1
    return 0


def write_plan(folder: Path, clip_id: str, entry, info, args) -> Path:
    """The .cube per shot, the .ccc, the shot list and the filter script (which it returns) into ``folder``;
    ``entry``: the clip's ``Correction`` with its shots."""
    from colorgrade.clients import media
    from colorgrade.clients.ffmpeg.plan import filter_graph
    from colorgrade.color import write_cdl, write_cube

    folder.mkdir(parents=True, exist_ok=True)
    grades = []
    for shot in entry.shots:
        write_cube(folder / f"{shot.id}.cube", shot.cdl.to_lut(args.cube_size))
        grades.append((shot.first, shot.last, shot.cdl if args.exact else folder / f"{shot.id}.cube"))
    write_cdl(folder / f"{clip_id}.ccc", {shot.id: shot.cdl for shot in entry.shots},
              {shot.id: shot.note() for shot in entry.shots})
    (folder / f"{clip_id}.shots.json").write_text(json.dumps([shot.to_json() for shot in entry.shots], indent=2))
    script = folder / f"{clip_id}.ffgraph"
    _, pix_fmt, _ = media.choose_encoding(info, args.codec, args.crf)
    script.write_text(filter_graph(grades, info, pix_fmt))
    return script

PIPE_EPILOG = """examples (the frames stream through the daemon; audio comes from the original file):
  colorgrade ffmpeg take.mov -o graded.mov --pipe    # prints the chain below, written for take.mov
  ffmpeg -i take.mov -map 0:v:0 \\
      -vf scale=in_color_matrix=bt709:in_range=tv:flags=accurate_rnd+full_chroma_int,format=rgb48le \\
      -f nut -c:v rawvideo -fps_mode passthrough -enc_time_base:v -1 - \\
    | colorgrade pipe --mode generator_lut \\
    | ffmpeg -f nut -i - -i take.mov -map 0:v -map '1:a?' -c:a copy \\
      -vf scale=out_color_matrix=bt709:out_range=tv:flags=accurate_rnd+full_chroma_int,format=yuv420p10le \\
      -c:v libx264 -pix_fmt yuv420p10le -fps_mode passthrough -enc_time_base:v -1 graded.mov

Reads NUT on standard input, writes NUT on standard output: every frame keeps its timestamp (variable
frame rate included), 8-bit sources travel as rgb24, deeper ones as rgb48le. Use it for the pixel
modes (the generator, per-frame CDL windows); for one CDL per shot, 'colorgrade ffmpeg' is faster.
Convert explicitly on both ends, as above: ffmpeg's own conversion guesses the matrix and rounds fast,
which shifts untouched frames by whole codes.
Progress and errors go to standard error."""


def configure_pipe(parser: argparse.ArgumentParser) -> None:
    parser.epilog = PIPE_EPILOG
    add_mode_arguments(parser)
    add_reference_argument(parser)
    add_connection_arguments(parser)


def run_pipe(args) -> int:
    from tqdm import tqdm

    from colorgrade.clients.client import GradeError
    from colorgrade.clients.ffmpeg.pipe import pipe
    from colorgrade.clients.media import MediaError

    if args.window < 0 or args.blend < 0:
        print(f"colorgrade pipe: --window and --blend must be 0 or more, got {args.window} and {args.blend}",
              file=sys.stderr)
        return 2
    try:
        check_reference_mode(args)
    except UsageError as error:
        print(f"colorgrade pipe: {error}", file=sys.stderr)
        return 2
    if sys.stdin.isatty() or sys.stdout.isatty():
        print("colorgrade pipe: reads NUT from a pipe and writes NUT to one (see --help for the ffmpeg commands)",
              file=sys.stderr)
        return 2
    try:
        reference = read_reference(args)
        with connect(args) as client:
            clip = client.open_clip(mode=args.mode, window_radius=args.window, oversample=args.oversample,
                                    blend_radius=args.blend, name="pipe", reference=reference)
            with tqdm(desc="grade pipe", unit="frame", file=sys.stderr) as progress:
                count = pipe(client, clip, sys.stdin.buffer, sys.stdout.buffer, progress)
            client.close_clip(clip)
    except (GradeError, MediaError, OSError) as error:
        print(f"colorgrade pipe: {error}", file=sys.stderr)
        return 1
    print(f"graded {count} frame(s)", file=sys.stderr)
    return 0
