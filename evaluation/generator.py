"""``colorgrade eval generator``: the shipped per-frame and temporal generators, the paper's remedies
(2x oversampling, frame blending) and LUT distillation, on synthetic clips from the held-out test photos,
beside the analysis CDL as the daemon serves it; ``--write-card`` puts the table on both generator cards."""
from __future__ import annotations

import json

import numpy as np
import torch
from tqdm import tqdm

from colorgrade.evaluation.options import add_common
from colorgrade.models import WEIGHTS_DIR, metrics
from colorgrade.models.cards import write_generator_card
from colorgrade.models.data import list_photos, load_photo, split_photos, synthesise_clip
from colorgrade.models.evaluate import format_generator_report
from colorgrade.models.generator import load
from colorgrade.proto.codec import DEFAULT_WINDOW_RADIUS
from colorgrade.server.in_process import InProcessEngines, InProcessGrader


def configure(parser) -> None:
    add_common(parser, "weights", "photos", "device", "json")
    parser.add_argument("--write-card", action="store_true",
                        help="also rewrite both generator cards (models/weights) with this table")


def run(args) -> int:
    report = evaluate_generators(args.photos, args.weights, args.device)
    if args.write_card:
        for name in ("generator_frame", "generator_temporal"):
            write_generator_card(WEIGHTS_DIR / f"{name}.safetensors", report)
    print(json.dumps(report, indent=2) if args.json else format_generator_report(report))
    return 0


# Clips at twice the generator's working size, so its resize blur shows up in sharpness and what
# LUT distillation buys is visible.
CLIP_SIZE = (288, 512)
CLIP_FRAMES = 10


def cdl_path(grader: InProcessGrader, frames: list[np.ndarray]) -> list[np.ndarray]:
    """The daemon's analysis path: the served CDLs averaged over the default window, applied exactly."""
    return [result.frame for result in grader.stream(frames, mode="cdl_frames")]


def evaluate_generator(variants: dict, grader: InProcessGrader | None, photos: list[np.ndarray], seed: int = 0,
                       progress: bool = False) -> dict:
    """``variants``: name -> function(list of frames) -> graded frames. Returns name -> metrics.

    One clip per photo: even-numbered photos get a single error, odd ones a mixture of 2-3, each
    drifting over the clip. Per clip: PSNR and mean CIEDE2000 over its frames, share of identical
    8-bit pixels, sharpness retention, flicker; reported as the median over clips.
    """
    generator = torch.Generator().manual_seed(seed)
    clips = [synthesise_clip(photo, CLIP_FRAMES, CLIP_SIZE, generator, *((1, 1) if i % 2 == 0 else (2, 3)))
             for i, photo in enumerate(photos)]
    if grader is not None:
        variants = {**variants, f"analysis CDL (window {DEFAULT_WINDOW_RADIUS})": lambda frames: cdl_path(grader, frames)}
    variants = {"uncorrected": lambda frames: frames, **variants}
    report = {}
    for name, grade in variants.items():
        rows = []
        for clip in tqdm(clips, desc=name, disable=not progress):
            outputs = np.stack(grade(list(clip.inputs)))
            targets = clip.targets
            rows.append({"psnr": np.mean([metrics.psnr(o, t) for o, t in zip(outputs, targets)]),
                         "ciede2000": float(metrics.ciede2000(outputs, targets).mean()),
                         "identical_8bit": np.mean([metrics.identical_share(o, t) for o, t in zip(outputs, targets)]),
                         "sharpness": np.mean([metrics.sharpness_retention(o, t) for o, t in zip(outputs, targets)]),
                         "flicker": metrics.flicker(outputs, targets)})
        mixtures = [row["ciede2000"] for i, row in enumerate(rows) if i % 2 == 1]
        report[name] = {key: round(float(np.median([row[key] for row in rows])), 4) for key in rows[0]}
        report[name]["ciede2000_mixtures"] = round(float(np.median(mixtures)), 4) if mixtures else None
    return {"clips": len(clips), "frames_per_clip": CLIP_FRAMES, "size": list(CLIP_SIZE), "variants": report}


def evaluate_generators(photo_folders, analysis_weights, device=None) -> dict:
    """The shipped per-frame and temporal generators, with the paper's remedies and LUT distillation, on
    synthetic clips from the test photos, beside the analysis weights' CDL."""
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
    with InProcessGrader(InProcessEngines(device, analysis_weights)) as grader:
        return evaluate_generator(variants, grader, photos, progress=True)
