"""Train or evaluate a network (``colorgrade train`` / ``colorgrade eval``): see each command's --help."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from colorgrade.models import WEIGHTS_DIR

DEFAULT_PHOTOS = ["../shared/data/photos", "../shared/data/photos_extra"]
SAMPLE_PHOTOS = Path(__file__).resolve().parents[1] / "colorgrade" / "samples" / "photos"
# The small fixed set a weight card's reproducibility numbers are measured on (shipped with the repo).
FIXED_SET = {"crops_per_photo": 2, "mixtures_per_photo": 6, "seed": 7}

TRAIN_EPILOG = """examples:
  colorgrade train analysis --photos ../shared/data/photos ../shared/data/photos_extra --minutes 45
  colorgrade train analysis --resume            # continue from runs/analysis/checkpoint.pt

Writes the weights (safetensors) and a card beside them (command, data, steps, wall time, machine,
evaluation on the held-out test photos). Progress, a log line per epoch (runs/NAME/log.tsv) and a
checkpoint every few hundred steps; Ctrl-C keeps the last checkpoint for --resume."""

EVAL_EPILOG = """examples:
  colorgrade eval analysis                       # shipped weights, test split of the default photos
  colorgrade eval analysis --json --weights runs/analysis.safetensors"""


def configure_train(parser: argparse.ArgumentParser) -> None:
    parser.epilog = TRAIN_EPILOG
    parser.add_argument("network", choices=["analysis"], help="which network to train")
    parser.add_argument("--photos", nargs="+", default=DEFAULT_PHOTOS, metavar="DIR",
                        help="folders of graded photos (split by photo: 2/3 train, 1/6 test, 1/6 validation)")
    parser.add_argument("--minutes", type=float, default=45.0, help="wall-clock budget (default 45)")
    parser.add_argument("--steps", type=int, default=6000, help="step budget (default 6000)")
    parser.add_argument("--batch", type=int, default=48, help="images per step (default 48)")
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--width", type=int, default=32, help="channels of the first VGG block (default 32)")
    parser.add_argument("--dropout", type=float, default=0.3, help="dropout after the last batch-norm layer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    parser.add_argument("--out", default=str(WEIGHTS_DIR / "analysis.safetensors"), help="weights to write")
    parser.add_argument("--run-dir", default="runs/analysis", help="checkpoints and log (default runs/analysis)")
    parser.add_argument("--resume", action="store_true", help="continue from the run directory's checkpoint")


def configure_eval(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EVAL_EPILOG
    parser.add_argument("network", choices=["analysis"], help="which network to evaluate")
    parser.add_argument("--weights", default=str(WEIGHTS_DIR / "analysis.safetensors"))
    parser.add_argument("--photos", nargs="+", default=DEFAULT_PHOTOS, metavar="DIR",
                        help="the same folders training used; the test split is evaluated")
    parser.add_argument("--device", help="cpu, cuda ... (default: CUDA when present)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--write-card", action="store_true",
                        help="also rewrite the card beside the weights with these numbers")


def evaluate_on_test_split(weights, photo_folders, device=None) -> dict:
    from colorgrade.models.analysis import load
    from colorgrade.models.data import PhotoSet, list_photos, split_photos
    from colorgrade.models.evaluate import evaluate_analysis

    test = split_photos(list_photos(photo_folders))["test"]
    return evaluate_analysis(load(weights, device), PhotoSet(test, size=(512, 512)))


def evaluate_on_fixed_set(weights, device=None) -> dict:
    from colorgrade.models.analysis import load
    from colorgrade.models.data import PhotoSet
    from colorgrade.models.evaluate import evaluate_analysis

    photos = PhotoSet(sorted(SAMPLE_PHOTOS.glob("*.png")), size=(512, 512))
    return evaluate_analysis(load(weights, device), photos, **FIXED_SET)


def write_analysis_card(weights, photo_folders, device=None) -> dict:
    """Evaluate ``weights`` on the test split and the fixed set, and write the card beside them."""
    from colorgrade.models.evaluate import format_analysis_report
    from colorgrade.models.weights import read_training_record, write_card

    training = read_training_record(weights)
    test = evaluate_on_test_split(weights, photo_folders, device)
    fixed = evaluate_on_fixed_set(weights, "cpu")
    card_command = "colorgrade " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    record = {"training": training, "evaluation_command": card_command, "evaluation_test_split": test,
              "evaluation_fixed_set": {"photos": "colorgrade/samples/photos", **FIXED_SET, "device": "cpu",
                                       "report": fixed}}
    runs = "\n".join(f"- `{s['command']}`: steps {s['from_step']}-{s['to_step']} on {s['device']} "
                     f"({s['device_name']}, {s['cpu_threads']} CPU threads)" for s in training.get("segments", []))
    split = {name: len(paths) for name, paths in training.get("photos", {}).items()}
    body = (f"Trained in {training.get('steps')} steps, {training.get('minutes')} min wall time (weights kept from "
            f"step {training.get('selected_step')}, the best on the validation photos), from photos "
            f"in {', '.join(training.get('options', {}).get('photos', []))} split by photo {split}:\n\n{runs}\n\n"
            f"Evaluated by `{card_command}` on the held-out test split (`colorgrade eval analysis` "
            f"reproduces it):\n\n```\n{format_analysis_report(test)}\n```\n\n"
            "`evaluation_fixed_set` below is re-measured by the test suite on the shipped sample photos "
            "(on CPU) to check these weights still give these numbers; it is a reproducibility check, "
            "not a held-out score (the samples may be in the training split).")
    write_card(Path(weights).with_suffix(".md"), "Analysis network weights", body, record)
    return test


def run_train(args) -> int:
    from colorgrade.models.evaluate import format_analysis_report
    from colorgrade.models.train_analysis import AnalysisOptions, train

    options = AnalysisOptions(photos=args.photos, out=args.out, run_dir=args.run_dir, steps=args.steps,
                              minutes=args.minutes, batch=args.batch, seed=args.seed, device=args.device,
                              learning_rate=args.learning_rate, weight_decay=args.weight_decay, width=args.width,
                              dropout=args.dropout, resume=args.resume)
    try:
        record = train(options)
    except FileNotFoundError as error:
        print(f"colorgrade train: {error}", file=sys.stderr)
        return 2
    print(f"trained {record['steps']} steps in {record['minutes']} min; evaluating on the test split ...")
    print(format_analysis_report(write_analysis_card(args.out, args.photos, args.device)))
    print(f"weights: {args.out}\ncard:    {Path(args.out).with_suffix('.md')}")
    return 0


def run_eval(args) -> int:
    from colorgrade.models.evaluate import format_analysis_report

    try:
        if args.write_card:
            report = write_analysis_card(args.weights, args.photos, args.device)
        else:
            report = evaluate_on_test_split(args.weights, args.photos, args.device)
    except (FileNotFoundError, ValueError) as error:
        print(f"colorgrade eval: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else format_analysis_report(report))
    return 0
