"""What every command shares: the private daemon or a connection to one, the arguments and checks they have in
common, and how a CDL is printed. Command modules (``clients.cli``, ``clients.ffmpeg.cli``,
``clients.workflow.report``) define their own arguments and import these."""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from colorgrade.color import MATCH_SIDE
from colorgrade.proto.codec import MODES, PIXEL_MODES, modes_help


class UsageError(ValueError):
    """A command line that cannot work (exit code 2, one line); a bad input file, or an output that would
    replace something without --overwrite, is a MediaError (exit code 1)."""


def add_reference_argument(parser: argparse.ArgumentParser, shots: bool = False) -> None:
    """``--reference``; with ``shots`` (commands that find shots) also ``--reference-shot``, ``--continuity`` and
    ``--hero-shot``."""
    parser.add_argument("--reference", metavar="HERO",
                        help="match to a graded hero frame: a still, or VIDEO@FRAME (a frame of a video from 0, or "
                             "of a sequence by its number). Where the two show one scene, the CDL makes the input look "
                             "like the hero; where they do not, the blind correction stands")
    if shots:
        parser.add_argument("--reference-shot", type=int, metavar="N",
                            help="with shots: match every shot to shot N (1-based) of the same input, as it is")
        parser.add_argument("--continuity", action="store_true",
                            help="with shots: group the shots into scenes by what they show, correct each scene's "
                                 "hero (the shot whose corrected look the scene's others agree with most; of two "
                                 "shots, the one the other's correction leads to) blind and match the others to it")
        parser.add_argument("--hero-shot", type=int, action="append", default=[], metavar="N",
                            help="with --continuity: shot N (1-based; with --items, the Nth item) is the hero of its "
                                 "scene; repeat it for other scenes")


def check_reference_arguments(args, shots: bool, items: bool | None = None) -> None:
    """One way to choose a hero at a time; a hero among the shots needs shots (``shots``: the command finds
    them; ``items``: whether --items were given, each a shot that continuity groups too, None for a command
    without --items); shot numbers from 1."""
    if sum(bool(x) for x in (args.reference, args.reference_shot is not None, args.continuity)) > 1:
        raise UsageError("give one of --reference, --reference-shot and --continuity")
    if args.reference_shot is not None and not shots:
        raise UsageError("--reference-shot works on shots: add --shots")
    if args.continuity and not (shots or items):
        raise UsageError("--continuity works on shots: add --shots" + (" (or give --items, each item a shot)"
                                                                        if items is not None else ""))
    if args.reference_shot is not None and args.reference_shot < 1:
        raise UsageError(f"--reference-shot counts shots from 1, got {args.reference_shot}")
    heroes = getattr(args, "hero_shot", [])
    if heroes and not args.continuity:
        raise UsageError("--hero-shot picks a scene's hero for --continuity: add --continuity")
    if any(number < 1 for number in heroes):
        raise UsageError(f"--hero-shot counts shots from 1, got {min(heroes)}")
    if args.reference:
        reference_spec(args.reference)


def check_reference_mode(args) -> None:
    """A reference moves the analysis network's CDL: the generator modes have none to move."""
    if args.reference and args.mode != "cdl_frames":
        raise UsageError(f"--reference matches the analysis network's CDL (--mode cdl_frames), not {args.mode}")
    if args.reference:
        reference_spec(args.reference)


def reference_spec(spec: str) -> tuple[Path, int | None]:
    """``--reference HERO`` -> (path, frame number, None for a still). A name with an @ of its own that exists
    stays a name; one that does not is left to ``read_reference`` to name as missing."""
    path, at, frame = spec.rpartition("@")
    if not at or Path(spec).exists() or not Path(path).exists():
        return Path(spec), None
    if not re.fullmatch(r"[0-9]+", frame):
        raise UsageError(f"--reference {spec}: FRAME must be a frame number, 0 or more (VIDEO@FRAME), got {frame!r}")
    return Path(path), int(frame)


def add_colour_arguments(parser: argparse.ArgumentParser) -> None:
    """``--colorspace`` and ``--ocio``: colour-managed inputs (docs/colour-management.md)."""
    parser.add_argument("--colorspace", metavar="NAME",
                        help="the inputs' (and the reference's) colour space, any of the OCIO config's (e.g. ACEScg, "
                             "'ARRI LogC3 (EI800)'); default: what the file says (an EXR's or DPX's header), else "
                             "sRGB / Rec.709 display. Scene-referred input is judged on the config's display and "
                             "graded in its color_timing space (ACEScct)")
    parser.add_argument("--ocio", metavar="CONFIG",
                        help="an OCIO config file (default: $OCIO, else OCIO's built-in studio config)")


def read_reference(args):
    """The ``--reference`` frame as a thumbnail, or None; raises MediaError naming what cannot be read. A
    colour-managed hero (``--colorspace``, or its file says) is sent in its grading space, where colour-managed
    frames are matched (``colour_management``)."""
    from colorgrade.clients import media
    from colorgrade.color import shrink

    if not args.reference:
        return None
    path, number = reference_spec(args.reference)
    hero = shrink(media.read_reference(path, number), MATCH_SIDE)
    if getattr(args, "colorspace", None) or path.suffix.lower() in media.PLATE_SUFFIXES:
        from colorgrade.clients.colour_management import managed

        colour = managed(args.colorspace, path if path.is_file() else None, getattr(args, "ocio", None))
        return hero if colour is None else colour.in_grading(hero)
    return hero


def add_mode_arguments(parser: argparse.ArgumentParser) -> None:
    """How frames are graded (``grade``, ``pipe``): the pixel modes of the mode table and their settings."""
    parser.add_argument("--mode", default="cdl_frames", choices=PIXEL_MODES,
                        help=f"{modes_help(PIXEL_MODES)} (default cdl_frames)")
    window, blend = MODES["cdl_frames"].default_window, MODES["generator_lut"].default_window
    parser.add_argument("--window", type=int, default=window,
                        help=f"cdl_frames: CDL averaging radius in frames (default {window})")
    parser.add_argument("--oversample", type=int, default=1, choices=[1, 2], help="generator: 2x oversampling")
    parser.add_argument("--blend", type=int, default=blend, metavar="K",
                        help=f"generator: frame blending over +-K frames (default {blend})")


def add_connection_arguments(parser: argparse.ArgumentParser,
                             device_help: str = "private daemon's device (cpu, cuda ...; default CUDA when present)"
                             ) -> None:
    parser.add_argument("--server", metavar="ADDR", help="daemon address host:port or unix:/path "
                                                         "(default: start a private one)")
    parser.add_argument("--tls-ca", metavar="PEM", help="CA certificate for a TLS daemon")
    parser.add_argument("--token-file", help="file holding the daemon's token")
    parser.add_argument("--device", help=device_help)


@contextmanager
def connect(args):
    """A GradeClient to ``--server``, or to a private daemon started for this command."""
    from colorgrade.clients.client import GradeClient

    token = Path(args.token_file).read_text().strip() if args.token_file else None
    if args.server:
        with GradeClient(args.server, tls=args.tls_ca, token=token) as client:
            reached(client, args.server)
            yield client
        return
    # The daemon's socket lives in a folder of its own (mode 0700: nobody else may connect), which the daemon
    # removes if this command is killed; its log goes to an unlinked file (a pipe nobody reads would stall it
    # once full), so a killed command leaves nothing on disk.
    with tempfile.TemporaryDirectory(prefix="colorgrade-") as folder, tempfile.TemporaryFile("w+") as log:
        socket = os.path.join(folder, "daemon.sock")
        command = [sys.executable, "-m", "colorgrade", "serve", "--unix", socket, "--parent", str(os.getpid())]
        if args.device:
            command += ["--device", args.device]
        # A session of its own: signals sent to this command's process group (a terminal's, `timeout`'s) are
        # this command's to answer; it stops the daemon, which ends with it even when it cannot (SIGKILL).
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        try:
            line = process.stdout.readline()
            if not re.search(r"serving on", line):
                log.seek(0)
                last = (log.read().strip().splitlines() or ["no output"])[-1]
                # The daemon refused its configuration (serve's exit code 2, its one line): said as this
                # command's own; anything else is the daemon's failure.
                if process.wait(timeout=30) == 2 and last.startswith("colorgrade serve: "):
                    print(f"colorgrade {args.command}: {last.removeprefix('colorgrade serve: ')}", file=sys.stderr)
                    raise SystemExit(2)
                raise SystemExit(f"colorgrade {args.command}: private daemon failed to start: {last}")
            with GradeClient(f"unix:{socket}") as client:
                yield client
        finally:
            process.terminate()
            process.wait(timeout=30)


def check_cube_size(option: str, size: int) -> None:
    """A .cube lattice size the commands write: 2..129 (129^3 is already a 60 MB text file)."""
    if not 2 <= size <= 129:
        raise UsageError(f"{option} must be 2..129, got {size}")


def reached(client, address: str) -> None:
    """Raises ConnectionError (an OSError: a refused call, exit code 1) in one line when ``--server`` cannot
    be reached, instead of grpc's UNAVAILABLE text at the first call."""
    from colorgrade.clients.client import GradeError

    try:
        client.info()
    except GradeError as error:
        if error.code.name != "UNAVAILABLE":
            raise
        why = re.search(r"last error: \w+: \S+: (.*)", str(error))
        raise ConnectionError(f"--server {address} could not be reached"
                              + (f" ({why.group(1)})" if why else "")) from None


def check_writable(option: str, path: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: folder {folder} does not exist")
    try:   # created and removed at once: permissions, a read-only file system, /proc (os.access passes root)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        raise UsageError(f"{option} {path}: cannot write in {folder} ({error.strerror})") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{option} {path}: not writable")


MAX_CRF = 51   # x264's and x265's scale


def check_encoding(args, encoder_kind) -> None:
    """``--codec``: an encoder that ``encoder_kind(name)`` says encodes video (PyAV's FFmpeg for grade, the
    ffmpeg on PATH for the plan; None: no encoder to ask); ``--crf``: on x264's and x265's scale."""
    if args.crf is not None and not 0 <= args.crf <= MAX_CRF:
        raise UsageError(f"--crf must be 0..{MAX_CRF}, got {args.crf}")
    if args.codec is None or encoder_kind is None:
        return
    kind = encoder_kind(args.codec)
    if kind is None:
        raise UsageError(f"--codec {args.codec}: no such video encoder (ffmpeg -encoders lists them)")
    if kind != "video":
        raise UsageError(f"--codec {args.codec}: not a video encoder")


def check_readable(inputs: list[Path]) -> dict:
    """Open each still's header and probe each video (once, however often it is listed) before a daemon
    starts; raises MediaError. -> {video path: VideoInfo}, so nothing probes a video again."""
    from colorgrade.clients import media

    videos = {}
    for path in inputs:
        kind = media.kind_of(path)
        if kind == "still":
            media.still_size(path)
        elif kind == "video":
            if path not in videos:
                videos[path] = media.probe_video(path)
        else:
            media.list_sequence(path)
    return videos


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


def add_strength_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strength", type=float, default=1.0, metavar="S",
                        help="how much of the served correction, 0..2: 0 none, 1 as served (default), 2 twice as far "
                             "from no change (each CDL parameter's distance from no change scaled by S)")


def check_strength(args) -> None:
    if not 0 <= args.strength <= 2:
        raise UsageError(f"--strength must be 0..2, got {args.strength:g}")


def cdl_text(cdl) -> str:
    return (f"slope {_triple(cdl.slope)}  offset {_triple(cdl.offset)}  power {_triple(cdl.power)}  "
            f"saturation {cdl.saturation:.4f}")


def _triple(values) -> str:
    return " ".join(f"{v:.4f}" for v in values)
