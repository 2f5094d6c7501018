"""``colorgrade eval video``: real clips graded through a daemon by both served modes, under drifting errors.

Each clip's first ``--frames`` frames (shrunk to <= 480 px) are graded under each condition by no
correction, grey world and the daemon's served modes (the analysis CDL over +-``--window`` frames, the
generator distilled to LUTs), through a real daemon and the product's client.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from colorgrade.clients import media
from colorgrade.clients.commands import connect
from colorgrade.color import block_means, shrink
from colorgrade.evaluation.options import add_common
from colorgrade.models import metrics
from colorgrade.models.data import to_numpy, to_tensor
from colorgrade.models.detunes import MixtureSampler
from colorgrade.models.evaluate import family_errors, grey_world


def configure(parser) -> None:
    add_common(parser, "clips", "frames", "json", "connection")
    parser.add_argument("--window", type=int, default=4, help="the served CDL's averaging radius (default 4)")


def run(args) -> int:
    report = evaluate_video_through_daemon(args)
    print(json.dumps(report, indent=2) if args.json else format_video_report(report))
    return 0


def read_clips(paths, frames: int, side: int = 480) -> dict[str, list]:
    """File name -> the first ``frames`` frames of each video, shrunk to at most ``side`` px: the clips the
    video evaluations grade."""
    return {Path(path).name: [shrink(frame, side) for _, frame in media.numbered_frames(path, 0, frames - 1)]
            for path in paths}


def evaluate_video_through_daemon(args) -> dict:
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


VIDEO_CONDITIONS = {
    "clean": (),
    "white balance drift": ("warm_cool", "green_magenta", "white_balance_linear"),
    "exposure drift": ("exposure_linear", "white_point"),
    "mixture drift (2-3 errors)": None,
}


def drifting(clean: list[np.ndarray], family, generator: torch.Generator) -> list[np.ndarray]:
    """8-bit frames with one error (or mixture) drawn for the clip whose strength drifts from half to full
    over it, as light changes during a take."""
    magnitudes, order = family_errors(1, family, generator)
    frames = []
    for t, frame in enumerate(clean):
        strength = 0.5 + 0.5 * t / max(1, len(clean) - 1)
        detuned = MixtureSampler.apply(to_tensor(frame).float() / 255, magnitudes * strength, order)
        frames.append(np.rint(to_numpy(detuned)[0] * 255).astype(np.uint8))
    return frames


def evaluate_video(clips: dict[str, list[np.ndarray]], methods: dict, seed: int = 0, progress: bool = False) -> dict:
    """``clips``: name -> clean 8-bit frames; ``methods``: name -> function(frames) -> graded frames.

    Each clip is graded under each condition of ``VIDEO_CONDITIONS`` by each method; per clip, the mean
    CIEDE2000 to the clean frames (on 2x2 means) and the flicker (RMS of the change between frames that
    the clean clip does not have, 8-bit units). Reported per condition: the means over clips, and the
    share of clips a method left closer to clean than no correction."""
    generator = torch.Generator().manual_seed(seed)
    report = {}
    for condition, family in VIDEO_CONDITIONS.items():
        rows = {method: [] for method in methods}
        for name, clean in tqdm(clips.items(), desc=condition, disable=not progress):
            inputs = drifting(clean, family, generator)
            targets = np.stack(clean).astype(np.float64) / 255
            pooled_targets = np.stack([block_means(frame, 2) for frame in clean])
            for method, grade in methods.items():
                graded = grade(inputs)
                pooled = np.stack([block_means(frame, 2) for frame in graded])
                rows[method].append({"clip": name, "ciede2000": float(metrics.ciede2000(pooled, pooled_targets).mean()),
                                     "flicker": metrics.flicker(np.stack(graded).astype(np.float64) / 255, targets)})
        none = [row["ciede2000"] for row in rows["none"]]
        report[condition] = {method: {"ciede2000": round(float(np.mean([r["ciede2000"] for r in values])), 3),
                                      "flicker": round(float(np.mean([r["flicker"] for r in values])), 3),
                                      "better": round(float(np.mean([r["ciede2000"] < n for r, n in zip(values, none)])), 3),
                                      "clips": values}
                             for method, values in rows.items()}
    return {"clips": {name: len(frames) for name, frames in clips.items()}, "conditions": report}


def format_video_report(report: dict) -> str:
    clips = report["clips"]
    lines = [f"Real clips through the daemon ({len(clips)} clips, {sum(clips.values())} frames): mean CIEDE2000 to "
             "the clean clip / flicker (8-bit RMS) / share of clips better than uncorrected"]
    methods = list(next(iter(report["conditions"].values())))
    lines.append(f"{'':<28}" + "".join(f"{m[:24]:>26}" for m in methods))
    for condition, row in report["conditions"].items():
        cells = [f"{row[m]['ciede2000']:6.2f} {row[m]['flicker']:5.2f}" + (f" {100 * row[m]['better']:3.0f}%"
                                                                             if m != "none" else "     ")
                 for m in methods]
        lines.append(f"{condition:<28}" + "".join(f"{c:>26}" for c in cells))
    return "\n".join(lines)
