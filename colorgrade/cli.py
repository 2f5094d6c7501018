"""The ``colorgrade`` command: one entry point, subcommands defined beside the code they drive.

Each subcommand lives in a module with ``configure(parser)`` (arguments only: cheap imports, no
torch, so ``--help`` is instant) and ``run(args) -> int`` (does the work, imports what it needs).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from colorgrade import __version__

# (name, module, one-line help); order is the order --help lists them.
COMMANDS = [
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
        sub = commands.add_parser(name, help=summary, description=module.__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        module.configure(sub)
        sub.set_defaults(module=module)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.module.run(args) or 0
    except KeyboardInterrupt:
        print("colorgrade: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
