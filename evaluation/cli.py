"""``colorgrade eval EVALUATION [OPTIONS]``: each evaluation is a module of this package that owns its options
(``configure(parser)``) and its run (``run(args) -> exit code``); only the one asked for is imported, when
it runs."""
from __future__ import annotations

import argparse
import importlib
import sys

EVAL_EPILOG = """examples:
  colorgrade eval analysis                       # shipped weights, test split of the default photos
  colorgrade eval analysis --json --weights runs/analysis.safetensors
  colorgrade eval generator                      # per-frame vs temporal vs the paper's remedies vs LUT distillation
  colorgrade eval video                          # real clips with drifting errors, through a private daemon
  colorgrade eval video --server 127.0.0.1:50051 --frames 96
  colorgrade eval match --count 20               # shots matched to hero frames (photos, real clips, peers), continuity
  colorgrade eval scarce --count 20              # matching where geometry is scarce, false accepts, far heroes
  colorgrade eval table1                         # the paper's Table 1 in its own regime (15 shots x 45 frames)
  colorgrade eval table1 --minutes 5             # a shorter run; run again to continue where it stopped

Run 'colorgrade eval EVALUATION --help' for its options."""

# name -> (module, one-line help); order is the order --help lists them.
EVALUATIONS = {
    "analysis": ("colorgrade.evaluation.analysis", "the analysis network on held-out photos, per error family"),
    "generator": ("colorgrade.evaluation.generator", "the generators, the paper's remedies and LUT distillation"),
    "video": ("colorgrade.evaluation.video", "both served modes on real clips with drifting errors, through a daemon"),
    "match": ("colorgrade.evaluation.match", "shots matched to hero frames against the peers, and continuity"),
    "scarce": ("colorgrade.evaluation.scarce", "matching where geometry is scarce (low texture, small frames, small "
               "overlaps, no shared content), its false accepts, and far heroes in real clips"),
    "table1": ("colorgrade.evaluation.table1", "the paper's Table 1 in its own data regime (trains; resumable)"),
}


def configure_eval(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EVAL_EPILOG
    parser.add_argument("evaluation", choices=EVALUATIONS, metavar="EVALUATION",
                        help="; ".join(f"{name}: {summary}" for name, (_, summary) in EVALUATIONS.items()))
    parser.add_argument("options", nargs=argparse.REMAINDER,
                        help="the evaluation's own options: colorgrade eval EVALUATION --help")


def evaluation_parser(name: str) -> tuple[argparse.ArgumentParser, object]:
    """The parser of evaluation ``name``, configured by its module, and the module."""
    module_name, summary = EVALUATIONS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"colorgrade eval {name}", description=summary)
    module.configure(parser)
    return parser, module


def run_eval(args) -> int:
    parser, module = evaluation_parser(args.evaluation)
    options = parser.parse_args(args.options)
    try:
        return module.run(options)
    except (FileNotFoundError, ValueError) as error:
        print(f"colorgrade eval {args.evaluation}: {error}", file=sys.stderr)
        return 2
