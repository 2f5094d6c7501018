"""Weight cards: the Markdown file beside each shipped weight file, with the command, data and licences,
steps, wall time, machine and the evaluation numbers the weights reached, and a JSON record the test
suite re-measures (``evaluation_fixed_set``) to check the weights still give those numbers."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

from colorgrade import SAMPLES_DIR

SAMPLE_PHOTOS = SAMPLES_DIR / "photos"
# The small fixed set a weight card's reproducibility numbers are measured on (shipped with the repo).
FIXED_SET = {"per_family": 2, "seed": 7}
GENERATOR_FIXED_SET = {"photos": 2, "frames": 6, "seed": 3}


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
    from colorgrade.models.evaluate import evaluate_on_test_split, format_analysis_report
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
