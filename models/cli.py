"""Train or evaluate a network (``colorgrade train`` / ``colorgrade eval``): see each command's --help."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from colorgrade import SAMPLES_DIR
from colorgrade.models import DEFAULT_CLIPS, DEFAULT_PHOTOS, WEIGHTS_DIR

SAMPLE_PHOTOS = SAMPLES_DIR / "photos"
# The small fixed set a weight card's reproducibility numbers are measured on (shipped with the repo).
FIXED_SET = {"per_family": 2, "seed": 7}
# Training photos the paper's protocol (detunes of photos the network trained on) is measured on.
PAPER_PROTOCOL_PHOTOS = 100

TRAIN_EPILOG = """examples:
  colorgrade train analysis --photos ../shared/data/photos ../shared/data/photos_extra --minutes 45
  colorgrade train analysis --resume            # continue from runs/analysis/checkpoint.pt
  colorgrade train generator --temporal --minutes 45   # the paper's cGAN over 5-frame windows
  colorgrade train generator --help             # every option of one network, with its default

Writes the weights (safetensors) and a card beside them (command, data, steps, wall time, machine,
evaluation on the held-out test photos). Progress, a log line per epoch (runs/NAME/log.tsv) and a
checkpoint every few hundred steps; Ctrl-C keeps the last checkpoint for --resume."""

EVAL_EPILOG = """examples:
  colorgrade eval analysis                       # shipped weights, test split of the default photos
  colorgrade eval analysis --json --weights runs/analysis.safetensors
  colorgrade eval generator                      # per-frame vs temporal vs the paper's remedies vs LUT distillation
  colorgrade eval video                          # real clips with drifting errors, through a private daemon
  colorgrade eval video --server 127.0.0.1:50051 --frames 96"""


def configure_train(parser: argparse.ArgumentParser) -> None:
    from colorgrade.models.options import OPTIONS, add_arguments

    parser.epilog = TRAIN_EPILOG
    networks = parser.add_subparsers(dest="network", metavar="NETWORK", required=True)
    for name, summary in (("analysis", "the analysis network: classifier of detunes + CDL correction head"),
                          ("generator", "the generative network (pix2pix cGAN), per-frame or --temporal")):
        sub = networks.add_parser(name, help=summary, description=summary)
        add_arguments(sub, OPTIONS[name])


def configure_eval(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EVAL_EPILOG
    from colorgrade.clients.cli import add_connection_arguments

    parser.add_argument("network", choices=["analysis", "generator", "video"],
                        help="which network to evaluate; video: both served modes on real clips, through the daemon")
    parser.add_argument("--weights", default=str(WEIGHTS_DIR / "analysis.safetensors"),
                        help="analysis weights (the generator's are the shipped per-frame and temporal ones)")
    parser.add_argument("--photos", nargs="+", default=DEFAULT_PHOTOS, metavar="DIR",
                        help="the same folders training used; the test split is evaluated")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--write-card", action="store_true",
                        help="also rewrite the card beside the weights with these numbers")
    parser.add_argument("--clips", nargs="+", default=DEFAULT_CLIPS, metavar="VIDEO",
                        help="video: the clips (default: the four real clips under ../shared/data)")
    parser.add_argument("--frames", type=int, default=48, help="video: frames per clip, from its start (default 48)")
    parser.add_argument("--window", type=int, default=4, help="video: the served CDL's averaging radius (default 4)")
    add_connection_arguments(parser, device_help="cpu, cuda ... (default: CUDA when present); video: the private "
                                                 "daemon's")


def evaluate_on_test_split(weights, photo_folders, device=None) -> dict:
    from colorgrade.models.analysis import load
    from colorgrade.models.data import PhotoSet, list_photos, split_photos
    from colorgrade.models.evaluate import EVAL_SIZE, evaluate_analysis

    split = split_photos(list_photos(photo_folders))
    return evaluate_analysis(load(weights, device), PhotoSet(split["test"], size=EVAL_SIZE),
                             PhotoSet(split["train"][:PAPER_PROTOCOL_PHOTOS], size=EVAL_SIZE))


def evaluate_on_fixed_set(weights, device=None) -> dict:
    from colorgrade.models.analysis import load
    from colorgrade.models.data import PhotoSet
    from colorgrade.models.evaluate import EVAL_SIZE, evaluate_analysis

    photos = PhotoSet(sorted(SAMPLE_PHOTOS.glob("*.png")), size=EVAL_SIZE)
    return evaluate_analysis(load(weights, device), photos, **FIXED_SET)


def describe_segments(training: dict) -> str:
    """A card's list of the commands that trained the weights, one line per (resumed) run."""
    return "\n".join(f"- `{s['command']}`: steps {s['from_step']}-{s['to_step']} on {s['device']} "
                     f"({s['device_name']}, {s['cpu_threads']} CPU threads)" for s in training.get("segments", []))


def describe_data(training: dict) -> str:
    """The training photos' folders and licences, research-only sets named (``data.licence_summary``)."""
    from colorgrade.models.data import licence_summary, list_photos

    options = training.get("options", {})
    names = set(training.get("photos", {}).get("train", []))
    try:
        photos = [p for p in list_photos(options.get("photos", []), options.get("licence", "any")) if p.name in names]
    except FileNotFoundError as error:
        return f"Training photos: {len(names)} ({error})"
    return f"Training photos ({options.get('licence', 'any')} licences):\n\n" + "\n".join(
        f"- {line}" for line in licence_summary(photos))


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
    runs = describe_segments(training)
    split = {name: len(paths) for name, paths in training.get("photos", {}).items()}
    body = (f"Trained in {training.get('steps')} steps, {training.get('minutes')} min wall time (weights kept from "
            f"step {training.get('selected_step')}, the best on the validation photos), from photos "
            f"in {', '.join(training.get('options', {}).get('photos', []))} split by photo {split}:\n\n{runs}\n\n"
            f"{describe_data(training)}\n\nEvaluated by `{card_command}` on the held-out test split (`colorgrade eval analysis` "
            f"reproduces it):\n\n```\n{format_analysis_report(test)}\n```\n\n"
            "`evaluation_fixed_set` below is re-measured by the test suite on the shipped sample photos "
            "(on CPU) to check these weights still give these numbers; it is a reproducibility check, "
            "not a held-out score (the samples may be in the training split).")
    write_card(Path(weights).with_suffix(".md"), "Analysis network weights", body, record)
    return test


def run_train(args) -> int:
    try:
        return train_generator(args) if args.network == "generator" else train_analysis(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"colorgrade train: {error}", file=sys.stderr)
        return 2


def train_analysis(args) -> int:
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


GENERATOR_FIXED_SET = {"photos": 2, "frames": 6, "seed": 3}


def generator_fixed_set_numbers(weights) -> dict:
    """Plain and LUT-distilled output of one generator on clips of the shipped sample photos (CPU)."""
    import numpy as np
    import torch

    from colorgrade.models import metrics
    from colorgrade.models.data import load_photo, synthesise_clip
    from colorgrade.models.generator import load

    model = load(weights, "cpu")
    generator = torch.Generator().manual_seed(GENERATOR_FIXED_SET["seed"])
    photos = sorted(SAMPLE_PHOTOS.glob("*.png"))[:GENERATOR_FIXED_SET["photos"]]
    numbers = {}
    for distill in (False, True):
        values = []
        for path in photos:
            clip = synthesise_clip(load_photo(path, 512), GENERATOR_FIXED_SET["frames"], (144, 256), generator)
            outputs = np.stack(model.grade(list(clip.inputs), distill_lut=distill))
            values.append(float(metrics.ciede2000(outputs, clip.targets).mean()))
        numbers["distilled" if distill else "plain"] = round(float(np.mean(values)), 4)
    return numbers


def write_generator_card(weights, table: dict | None) -> None:
    from colorgrade.models.evaluate import format_generator_report
    from colorgrade.models.weights import read_card, read_training_record, write_card

    training = read_training_record(weights)
    card_path = Path(weights).with_suffix(".md")
    if table is None and card_path.exists():
        table = read_card(card_path).get("evaluation_test_split")
    record = {"training": training, "evaluation_test_split": table,
              "evaluation_fixed_set": {"photos": "colorgrade/samples/photos", **GENERATOR_FIXED_SET, "device": "cpu",
                                       "mean_ciede2000": generator_fixed_set_numbers(weights)}}
    runs = describe_segments(training)
    table_text = (f"```\n{format_generator_report(table)}\n```" if table else
                  "Not evaluated yet: run `colorgrade eval generator --write-card`.")
    body = (f"Trained in {training.get('steps')} steps, {training.get('minutes')} min wall time (weights kept from "
            f"step {training.get('selected_step')}, the lowest L2 on validation clips):\n\n{runs}\n\n"
            f"{describe_data(training)}\n\n"
            f"Evaluation on synthetic clips from the held-out test photos (`colorgrade eval generator`):\n\n"
            f"{table_text}\n\n`evaluation_fixed_set` is re-measured by the test suite (CPU) as a reproducibility "
            "check; it is not a held-out score.")
    write_card(card_path, f"Generator weights: {Path(weights).stem}", body, record)


def evaluate_generators(photo_folders, analysis_weights, device=None) -> dict:
    from colorgrade.models.analysis import load as load_analysis
    from colorgrade.models.data import list_photos, load_photo, split_photos
    from colorgrade.models.evaluate import evaluate_generator
    from colorgrade.models.generator import load

    frame = load(WEIGHTS_DIR / "generator_frame.safetensors", device)
    temporal = load(WEIGHTS_DIR / "generator_temporal.safetensors", device)
    variants = {
        "per-frame generator": lambda f: frame.grade(f),
        "per-frame + LUT distillation": lambda f: frame.grade(f, distill_lut=True),
        "temporal generator": lambda f: temporal.grade(f),
        "temporal + 2x oversampling": lambda f: temporal.grade(f, oversample=2),
        "temporal + blending (+-1)": lambda f: temporal.grade(f, blend=1),
        "temporal + LUT distillation": lambda f: temporal.grade(f, distill_lut=True),
    }
    photos = [load_photo(p, 1024) for p in split_photos(list_photos(photo_folders))["test"]]
    return evaluate_generator(variants, load_analysis(analysis_weights, device), photos, progress=True)


def evaluate_video_through_daemon(args) -> dict:
    """Each clip's first ``--frames`` frames (shrunk to <= 480 px), graded by no correction, grey world and the
    daemon's served modes (the analysis CDL over +-``--window`` frames, the generator distilled to LUTs)."""
    import numpy as np
    import torch

    from colorgrade.clients.cli import connect
    from colorgrade.models.data import to_numpy, to_tensor
    from colorgrade.models.evaluate import evaluate_video, grey_world, read_clips

    clips = read_clips(args.clips, args.frames)

    def grey(frames):
        images = torch.cat([to_tensor(frame) for frame in frames]).float() / 255
        return list(np.rint(to_numpy(grey_world(images)) * 255).astype(np.uint8))

    with connect(args) as client:
        def daemon(mode, **settings):
            def grade(frames):
                clip = client.open_clip(mode=mode, **settings)
                graded = [result.frame for result in client.stream(clip, frames)]
                client.close_clip(clip)
                return graded
            return grade

        methods = {"none": lambda frames: frames, "grey world": grey,
                   f"served: CDL, window {args.window}": daemon("cdl_frames", window_radius=args.window),
                   "generator_lut": daemon("generator_lut")}
        return evaluate_video(clips, methods, progress=not args.json)


def run_eval(args) -> int:
    from colorgrade.models.evaluate import format_analysis_report, format_generator_report

    try:
        if args.network == "video":
            from colorgrade.models.evaluate import format_video_report

            report = evaluate_video_through_daemon(args)
            print(json.dumps(report, indent=2) if args.json else format_video_report(report))
            return 0
        if args.network == "generator":
            report = evaluate_generators(args.photos, args.weights, args.device)
            if args.write_card:
                for name in ("generator_frame", "generator_temporal"):
                    write_generator_card(WEIGHTS_DIR / f"{name}.safetensors", report)
            text = format_generator_report(report)
        else:
            report = (write_analysis_card if args.write_card else evaluate_on_test_split)(
                args.weights, args.photos, args.device)
            text = format_analysis_report(report)
    except (FileNotFoundError, ValueError) as error:
        print(f"colorgrade eval: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else text)
    return 0
