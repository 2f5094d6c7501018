"""Matching where geometry is scarce, on photos and clips no model trained on: the cases where a match used to do
nothing (or harm) because the two frames share few distinctive features.

Photo families (each on ``--count`` test photos; the shot carries 1-3 errors, the goal is the clean shot):

- **low texture**: both framings with their texture at a fifth (a soft lens, fog, a flat wall or hillside);
- **small frames**: both framings shrunk to 176 px wide (a phone's QCIF clip, a proxy);
- **overlap 24 %** and **overlap 12 %**: the hero and the shot are opposite corners of the photo sharing
  that share of the shot;
- **no shared content**: the hero is the photo's left half, the shot its right half (the proxy for a reverse
  angle in the same light);
- **the hero carries a contrast look**: the other framing's hero with more contrast and saturation, which
  must arrive on the shot (the goal is the clean shot with the look).

Each family is also scored on **unrelated pairs** (heroes of ``STRANGERS`` other test photos, in the same
family's form): the share of them whose match was taken (``color.MATCH_TAKEN``) is the false-accept rate, and
the clean shot graded with the first of them measures the harm.

**Far heroes** (real clips): the first frames of each clip, with 1-2 errors, matched to the clean frame ``d``
frames later, for several ``d``: how far a hero serves. The hero's own distance from the frame (the scene and
the camera change) is reported beside, since a faithful match carries it over.
"""
from __future__ import annotations

import json

import cv2
import numpy as np
import torch
from tqdm import tqdm

from colorgrade.color import CDL, match_taken
from colorgrade.color.fit import fit_cdl
from colorgrade.evaluation.match import (PHOTO_SIDE, peer_methods, product_methods, still_delta_e, summarise,
                                         with_errors)
from colorgrade.evaluation.options import add_common
from colorgrade.evaluation.video import read_clips
from colorgrade.models.data import list_photos, load_photo, split_photos
from colorgrade.server.in_process import InProcessEngines, InProcessGrader

SHIPPED = "matched (shipped)"
KEPT_METHODS = ("none", "blind", SHIPPED, "statistics as a CDL", "color-matcher mkl as a CDL")
BEST = "best CDL knowing the answer"
FAMILIES = ("low texture", "small frames (176 px)", "overlap 24 %", "overlap 12 %", "no shared content",
            "the hero carries a contrast look")
HERO_DISTANCES = (1, 10, 20, 40, 80)
STRANGERS = 5        # unrelated heroes each shot is matched to for the false-accept rate (the first also graded)
CONTRAST_LOOK = CDL(slope=(1.25, 1.25, 1.25), offset=(-0.12, -0.12, -0.12), saturation=1.15)


def configure(parser) -> None:
    add_common(parser, "weights", "photos", "clips", "count", "device", "json")
    parser.add_argument("--frames", type=int, default=130,
                        help="frames read per clip for the far heroes (default 130: heroes up to 80 frames away)")


def run(args) -> int:
    report = evaluate_scarce(args)
    print(json.dumps(report, indent=2) if args.json else format_scarce_report(report))
    return 0


def evaluate_scarce(args) -> dict:
    with InProcessGrader(InProcessEngines(args.device, args.weights)) as grader:
        methods = {name: grade for name, grade in {**product_methods(grader), **peer_methods()}.items()
                   if name in KEPT_METHODS}
        paths = split_photos(list_photos(args.photos))["test"][:args.count] if args.count else []
        photos = evaluate_families(paths, methods, grader, progress=not args.json) if len(paths) >= 2 else None
        clips = read_clips(args.clips, args.frames) if args.clips else {}
        far = evaluate_far_heroes(clips, grader, progress=not args.json) if clips else None
    return {"photos": len(paths), "clips": len(clips), "frames": args.frames, "families": photos,
            "far heroes": far}


def corners(photo: np.ndarray, overlap: float) -> tuple[np.ndarray, np.ndarray]:
    """(hero, shot): the top-left and bottom-right crops of a photo, each the same share of its sides, sharing
    ``overlap`` of the shot."""
    height, width = photo.shape[:2]
    side = 1 / (2 - np.sqrt(overlap))          # (2 side - 1)^2 / side^2 = overlap
    crop_height, crop_width = int(height * side), int(width * side)
    return photo[:crop_height, :crop_width], photo[height - crop_height:, width - crop_width:]


def flattened(image: np.ndarray) -> np.ndarray:
    """The picture with its texture (detail finer than about 8 px) at a fifth: what fog or a soft lens leaves."""
    soft = cv2.GaussianBlur(image, (0, 0), 8)
    return np.clip(soft + 0.2 * (image - soft), 0, 1).astype(np.float32)


def phone(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (176, max(1, round(176 * image.shape[0] / image.shape[1]))), interpolation=cv2.INTER_AREA)


def family_pair(family: str, photo: np.ndarray) -> tuple[np.ndarray, np.ndarray, callable]:
    """(hero, clean shot, the look the goal carries) of one family made from a photo."""
    width = photo.shape[1]
    plain = lambda image: image  # noqa: E731
    if family == "low texture":
        hero, shot = corners(flattened(photo), 0.35)
    elif family == "small frames (176 px)":
        hero, shot = (phone(image) for image in corners(photo, 0.35))
    elif family.startswith("overlap"):
        hero, shot = corners(photo, float(family.split()[1]) / 100)
    elif family == "no shared content":
        hero, shot = photo[:, :width // 2], photo[:, width // 2:]
    else:
        hero, shot = corners(photo, 0.35)
        return CONTRAST_LOOK.apply(hero), shot, CONTRAST_LOOK.apply
    return hero, shot, plain


def evaluate_families(paths, methods: dict, grader: InProcessGrader, seed: int = 0, progress: bool = False) -> dict:
    """Each family on ``paths`` -> {family: {"errors": {method: summary}, "unrelated, clean shot (harm)": {...},
    "false accepts": share of unrelated pairs whose match was taken, "taken": share of related pairs taken}}."""
    generator = torch.Generator().manual_seed(seed)
    photos = [load_photo(path, PHOTO_SIDE) for path in paths]
    report = {}
    for family in tqdm(FAMILIES, desc="scarce families", disable=not progress):
        rows = {"with 1-3 errors": {m: [] for m in [*methods, BEST]},
                "unrelated hero, clean shot (harm)": {m: [] for m in methods}}
        taken, false_accepts = [], []
        for index, photo in enumerate(photos):
            hero, clean, look = family_pair(family, photo)
            strangers = [family_pair(family, photos[(index + step) % len(photos)])[0]
                         for step in range(1, min(STRANGERS, len(photos) - 1) + 1)]
            stranger, shot, goal = strangers[0], with_errors(clean, generator), look(clean)
            served = grader.analyze([shot], reference=hero)[0]     # the shipped result, and whether it took the match
            taken.append(match_taken(served.match_confidence))
            for method, grade in methods.items():
                graded = served.cdl.apply(shot) if method == SHIPPED else grade(shot, hero)
                rows["with 1-3 errors"][method].append(still_delta_e(graded, goal))
                rows["unrelated hero, clean shot (harm)"][method].append(still_delta_e(grade(clean, stranger), clean))
            rows["with 1-3 errors"][BEST].append(
                still_delta_e(fit_cdl(shot[::2, ::2], goal[::2, ::2])[0].apply(shot), goal))
            engines = grader.engines
            false_accepts += [match_taken(engines.match(shot, engines.describe_hero(other)).confidence)
                              for other in strangers]
        report[family] = {**summarise(rows), "taken": round(float(np.mean(taken)), 3),
                          "false accepts": round(float(np.mean(false_accepts)), 4), "pairs": len(photos),
                          "unrelated pairs": len(false_accepts)}
    return report


def evaluate_far_heroes(clips: dict[str, list[np.ndarray]], grader: InProcessGrader, seed: int = 0,
                        samples: int = 6, progress: bool = False) -> dict:
    """-> {distance: {"none", "blind", "matched (shipped)": mean ΔE00 to the clean frame, "taken": share of frames
    whose match was taken, "hero itself": the clean hero against the clean frame, "clips": {clip: the same}}}:
    ``samples`` frames of each clip with 1-2 errors, each matched to the clean frame ``distance`` frames later."""
    generator = torch.Generator().manual_seed(seed)
    report = {}
    for distance in tqdm(HERO_DISTANCES, desc="far heroes", disable=not progress):
        per_clip = {}
        for name, frames in clips.items():
            if len(frames) <= distance:
                continue
            rows = {"none": [], "blind": [], SHIPPED: [], "taken": [], "hero itself": []}
            for t in np.linspace(0, len(frames) - 1 - distance, samples).astype(int):
                clean = frames[t].astype(np.float32) / 255
                hero = frames[t + distance].astype(np.float32) / 255
                shot = with_errors(clean, generator, most=2)
                matched = grader.analyze([shot], reference=hero)[0]
                rows["none"].append(still_delta_e(shot, clean))
                rows["blind"].append(still_delta_e(grader.analyze([shot])[0].cdl.apply(shot), clean))
                rows[SHIPPED].append(still_delta_e(matched.cdl.apply(shot), clean))
                rows["taken"].append(float(match_taken(matched.match_confidence)))
                rows["hero itself"].append(still_delta_e(hero, clean))
            per_clip[name] = {key: round(float(np.mean(values)), 3) for key, values in rows.items()}
        if per_clip:
            report[str(distance)] = {**{key: round(float(np.mean([row[key] for row in per_clip.values()])), 3)
                                        for key in next(iter(per_clip.values()))}, "clips": per_clip}
    return report


def format_scarce_report(report: dict) -> str:
    lines = ["matching where geometry is scarce: ΔE00 to the goal, mean and median over the pairs",
             "(each family: its shot with 1-3 errors matched to its hero, the goal the clean shot; and a clean shot",
             " matched to another photo's hero, the goal to leave it alone)"]
    if report["photos"] == 1:
        lines.append("(no photo families: each needs another photo's hero, so --count 2 or more)")
    for family, row in (report["families"] or {}).items():
        lines.append(f"\n{family}  (match taken on {100 * row['taken']:.0f} % of {row['pairs']} pairs; false "
                     f"accepts {100 * row['false accepts']:.1f} % of {row['unrelated pairs']} unrelated pairs)")
        for case in ("with 1-3 errors", "unrelated hero, clean shot (harm)"):
            lines.append(f"  {case}")
            for method, summary in row[case].items():
                lines.append(f"    {method:<32}{summary['mean']:7.2f} {summary['median']:7.2f}")
    if report["far heroes"]:
        lines.append("\nfar heroes (real clips): frames with 1-2 errors matched to the clean frame d frames later, "
                     "mean ΔE00 to the clean frame; taken: the share of frames whose match was taken; hero itself: "
                     "the clean hero against the clean frame")
        columns = ("none", "blind", SHIPPED, "taken", "hero itself")   # taken: a share of the frames
        lines.append("  d    " + "".join(f"{name:>19}" for name in columns))
        for distance, row in report["far heroes"].items():
            lines.append(f"  {distance:<5}" + "".join(f"{row[name]:>19.2f}" for name in columns))
    return "\n".join(lines)
