"""Train a network (``colorgrade train``): see the command's --help. Evaluations are ``colorgrade eval``
(``colorgrade.evaluation``); weight cards are ``colorgrade.models.cards``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

TRAIN_EPILOG = """examples:
  colorgrade train analysis --photos ../shared/data/photos ../shared/data/photos_extra --minutes 45
  colorgrade train analysis --resume            # continue from runs/analysis/checkpoint.pt
  colorgrade train generator --temporal --minutes 45   # the paper's cGAN over 5-frame windows
  colorgrade train generator --help             # every option of one network, with its default

Writes the weights (safetensors) and a card beside them (command, data, steps, wall time, machine,
evaluation on the held-out test photos). Progress, a log line per epoch (runs/NAME/log.tsv) and a
checkpoint every few hundred steps; Ctrl-C keeps the last checkpoint for --resume."""

def configure_train(parser: argparse.ArgumentParser) -> None:
    from colorgrade.models.options import OPTIONS, add_arguments

    parser.epilog = TRAIN_EPILOG
    networks = parser.add_subparsers(dest="network", metavar="NETWORK", required=True)
    for name, summary in (("analysis", "the analysis network: classifier of detunes + CDL correction head"),
                          ("generator", "the generative network (pix2pix cGAN), per-frame or --temporal")):
        sub = networks.add_parser(name, help=summary, description=summary)
        add_arguments(sub, OPTIONS[name])


def run_train(args) -> int:
    try:
        return train_generator(args) if args.network == "generator" else train_analysis(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"colorgrade train: {error}", file=sys.stderr)
        return 2


def train_analysis(args) -> int:
    from colorgrade.models.cards import write_analysis_card
    from colorgrade.models.evaluate import format_analysis_report
    from colorgrade.models.options import AnalysisOptions, from_arguments
    from colorgrade.models.train_analysis import train

    options = from_arguments(AnalysisOptions, args)
    record = train(options)
    print(f"trained {record['steps']} steps in {record['minutes']} min; evaluating on the test split ...")
    print(format_analysis_report(write_analysis_card(options.out, options.photos, options.device)))
    print(f"weights: {options.out}\ncard:    {Path(options.out).with_suffix('.md')}")
    return 0


def train_generator(args) -> int:
    from colorgrade.models.cards import write_generator_card
    from colorgrade.models.options import GeneratorOptions, from_arguments
    from colorgrade.models.train_generator import train

    options = from_arguments(GeneratorOptions, args)
    record = train(options)
    print(f"trained {record['steps']} steps in {record['minutes']} min (kept step {record['selected_step']}, "
          f"validation {record['selected_validation']})")
    write_generator_card(options.out, None)
    print(f"weights: {options.out}\ncard:    {Path(options.out).with_suffix('.md')}\n"
          "Run 'colorgrade eval generator --write-card' once both generators are trained for the full table.")
    return 0
