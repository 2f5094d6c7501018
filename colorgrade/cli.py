"""The ``colorgrade`` command: one entry point, subcommands defined beside the code they drive.

Each subcommand NAME lives in a module with ``configure_NAME(parser)`` (arguments only: cheap
imports, no torch, so ``--help`` is instant) and ``run_NAME(args) -> int`` (does the work, importing
what it needs).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from colorgrade import __version__

# (name, module, one-line help); order is the order --help lists them.
COMMANDS = [
    ("train", "colorgrade.models.cli", "train a network from graded photos (writes weights and a card)"),
    ("eval", "colorgrade.evaluation", "evaluate a network on held-out photos, or the served modes on real clips"),
    ("serve", "colorgrade.server.cli", "run the daemon: gRPC frame service with resident networks"),
    ("analyze", "colorgrade.clients.cli", "diagnose stills, clips or sequences; print or write their CDL/LUT"),
    ("grade", "colorgrade.clients.cli", "grade stills, image sequences or video files (keeps bit depth)"),
    ("report", "colorgrade.clients.report", "a colourist's report: before/after, RGB parade and vectorscope per shot"),
    ("cube", "colorgrade.clients.cli", "bake an ASC CDL (numbers or a .cc/.ccc file) into a .cube LUT"),
    ("install", "colorgrade.clients.install", "put the Resolve script or the Nuke node where the host finds it"),
    ("cluster", "colorgrade.cluster", "several daemons behind one address (Envoy), each clip kept on one daemon"),
    ("ffmpeg", "colorgrade.clients.ffmpeg.cli", "plan a per-shot grade your own ffmpeg applies at full speed"),
    ("pipe", "colorgrade.clients.ffmpeg.cli", "grade a NUT stream between two ffmpeg processes (pixel modes)"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colorgrade",
        description="Automatic colour correction for film and video: editable ASC CDLs and LUTs, "
                    "or corrected frames, from a resident daemon.",
        epilog="Run 'colorgrade COMMAND --help' for a command's options and examples.")
    parser.add_argument("--version", action="version", version=f"colorgrade {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, summary in COMMANDS:
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=summary, description=summary,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        getattr(module, f"configure_{name}")(sub)
        sub.set_defaults(run=getattr(module, f"run_{name}"))
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print("colorgrade: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
