"""One-click continuity, measured: reels of two scenes cut as a dialogue (their shots alternate), each scene
three framings of one test photo (top left, bottom right, centre), every shot with errors of its own; graded
shot by shot (none, blind) and by one-click continuity (``clients.workflow.continuity``) against the
daemon's own grader in process. The **spread** is what continuity must hide: ΔE00 between two shots of a
scene where they show the same part of the photo; the **error** is each shot's ΔE00 to its clean framing.
"""
from __future__ import annotations

from itertools import combinations
from types import SimpleNamespace

import numpy as np
import torch
from tqdm import tqdm

from colorgrade.clients.workflow.continuity import continuity
from colorgrade.evaluation.match import PHOTO_SIDE, scene_framings, still_delta_e, with_errors
from colorgrade.models.data import load_photo
from colorgrade.server.in_process import InProcessGrader


def scene_spread(graded: list[np.ndarray], corners: list[tuple[int, int]]) -> float:
    """Mean ΔE00 between every two shots of a scene over the part of the photo both show."""
    height, width = graded[0].shape[:2]
    differences = []
    for (a, (ay, ax)), (b, (by, bx)) in combinations(zip(graded, corners), 2):
        top, left = max(ay, by), max(ax, bx)
        bottom, right = min(ay, by) + height, min(ax, bx) + width
        differences.append(still_delta_e(a[top - ay:bottom - ay, left - ax:right - ax],
                                         b[top - by:bottom - by, left - bx:right - bx]))
    return float(np.mean(differences))


def evaluate_continuity(paths, grader: InProcessGrader, seed: int = 0, progress: bool = False) -> dict:
    """Reels of two alternating scenes from ``paths`` (test photos, two by two), graded shot by shot and by
    continuity -> {method: {"spread", "error"}}, plus the scenes continuity found against the scenes there are."""
    generator = torch.Generator().manual_seed(seed)
    spread = {"none": [], "blind": [], "continuity": []}
    error = {method: [] for method in spread}
    found = 0
    reels = [paths[start:start + 2] for start in range(0, len(paths) - 1, 2)]
    for number, reel in enumerate(tqdm(reels, desc="continuity", disable=not progress)):
        scenes = [scene_framings(load_photo(path, PHOTO_SIDE)) for path in reel]
        members = [[] for _ in scenes]
        for scene, framed in enumerate(scenes):
            for take, (clean, _) in enumerate(framed):
                shot = with_errors(clean, generator)
                blind, = grader.analyze([shot])
                members[scene].append(SimpleNamespace(
                    id=f"reel{number}_scene{scene}_shot{take}", keyframes=[shot], cdl=blind.cdl,
                    confidence=blind.confidence, first=0, last=0, scene=None, hero=None, match_confidence=None,
                    clean=clean, blind=blind.cdl))
        # Cut as a dialogue: the two scenes' shots alternate (A B A B A B).
        found += len(continuity(grader, [shot for pair in zip(*members) for shot in pair]))
        for framed, shots in zip(scenes, members):
            corners = [corner for _, corner in framed]
            graded = {"none": [s.keyframes[0] for s in shots],
                      "blind": [s.blind.apply(s.keyframes[0]) for s in shots],
                      "continuity": [s.cdl.apply(s.keyframes[0]) for s in shots]}
            for method, pictures in graded.items():
                spread[method].append(scene_spread(pictures, corners))
                error[method] += [still_delta_e(picture, s.clean) for picture, s in zip(pictures, shots)]
    return {"reels": len(reels), "scenes": 2 * len(reels), "scenes found": found,
            **{method: {"spread": round(float(np.mean(spread[method])), 3),
                        "error": round(float(np.mean(error[method])), 3)} for method in spread}}


def format_continuity_report(report: dict) -> str:
    lines = [f"\ncontinuity: {report['reels']} reels of two scenes cut as a dialogue, three framings each with "
             "its own errors; "
             f"{report['scenes found']} scenes found of {report['scenes']}",
             f"  {'':<34}{'spread':>7} {'error':>7}   (ΔE00 between a scene's shots where they overlap; to the goal)"]
    for method in ("none", "blind", "continuity"):
        lines.append(f"  {method:<34}{report[method]['spread']:7.2f} {report[method]['error']:7.2f}")
    return "\n".join(lines)
