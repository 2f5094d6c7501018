"""The ``colorgrade`` command: one entry point, subcommands defined beside the code they drive.

Each subcommand NAME lives in a module with ``configure_NAME(parser)`` (its arguments) and
``run_NAME(args) -> int`` (the work). Only the module of the command asked for is imported: ``colorgrade
--help`` imports none, ``colorgrade grade ...`` never loads the evaluations or torch.
"""
from __future__ import annotations

import argparse
import importlib
import signal
import sys

from colorgrade import __version__

# (name, module, one-line help); order is the order --help lists them.
COMMANDS = [
    ("train", "colorgrade.models.cli", "train a network from graded photos (writes weights and a card)"),
    ("eval", "colorgrade.evaluation.cli", "evaluate the networks, the served modes, matching and the paper's Table 1"),
    ("serve", "colorgrade.server.cli", "run the daemon: gRPC frame service with resident networks"),
    ("analyze", "colorgrade.clients.cli", "diagnose stills, clips or sequences; print or write their CDL/LUT"),
    ("grade", "colorgrade.clients.cli", "grade stills, image sequences or video files (keeps bit depth)"),
    ("report", "colorgrade.clients.workflow.report", "a colourist's report: before/after, RGB parade and vectorscope per shot"),
    ("cube", "colorgrade.clients.cli", "bake an ASC CDL (numbers or a .cc/.ccc file) into a .cube LUT"),
    ("install", "colorgrade.clients.install", "put the Resolve script or the Nuke node where the host finds it"),
    ("cluster", "colorgrade.server.cluster", "several daemons behind one address (Envoy), each clip kept on one daemon"),
    ("ffmpeg", "colorgrade.clients.ffmpeg.cli", "plan a per-shot grade your own ffmpeg applies at full speed"),
    ("pipe", "colorgrade.clients.ffmpeg.cli", "grade a NUT stream between two ffmpeg processes (pixel modes)"),
]


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser for ``argv``: every command listed, only the one ``argv`` names configured."""
    parser = argparse.ArgumentParser(
        prog="colorgrade",
        description="Automatic colour correction for film and video: editable ASC CDLs and LUTs, "
                    "or corrected frames, from a resident daemon.",
        epilog="Run 'colorgrade COMMAND --help' for a command's options and examples.")
    parser.add_argument("--version", action="version", version=f"colorgrade {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    asked = next((word for word in argv if not word.startswith("-")), None)
    for name, module_name, summary in COMMANDS:
        sub = commands.add_parser(name, help=summary, description=summary,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == asked:
            module = importlib.import_module(module_name)
            getattr(module, f"configure_{name}")(sub)
            sub.set_defaults(run=getattr(module, f"run_{name}"))
    return parser


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the command is, as Ctrl-C raises KeyboardInterrupt: the command ends the
    same clean way (partial outputs removed, its private daemon stopped) and exits with 128 + the signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


STOPPING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def stop(signum, _frame):
    # Once is enough: `timeout` and a closing terminal send the signal twice (to the command, then to its
    # group), and a second one must not break off the cleanup the first one started.
    for sig in STOPPING_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise Stopped(signum)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    for sig in STOPPING_SIGNALS:
        if signal.getsignal(sig) == signal.SIG_DFL:   # one ignored on purpose (nohup) stays ignored
            signal.signal(sig, stop)
    try:
        return args.run(args) or 0
    except KeyboardInterrupt as interrupt:
        signum = getattr(interrupt, "signum", signal.SIGINT)
        said = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        print(f"colorgrade: {said}", file=sys.stderr)
        return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
