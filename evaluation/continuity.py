"""One-click continuity, measured: reels of two scenes cut as a dialogue (their shots alternate), each scene
three framings of one test photo (top left, bottom right, centre), every shot with errors of its own; graded
shot by shot (none, blind) and by one-click continuity (``clients.workflow.continuity``) against the
daemon's own grader in process. The **spread** is what continuity must hide: ΔE00 between two shots of a
scene where they show the same part of the photo; the **error** is each shot's ΔE00 to its clean framing.

``evaluate_one_cast`` cuts the same reels with one shot of each scene carrying errors and the others clean:
a scene's hero must be a clean shot, and the clean shots must stay as they are (ΔE00 to themselves).
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
                members[scene].append(reel_shot(grader, f"reel{number}_scene{scene}_shot{take}",
                                                with_errors(clean, generator), clean))
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


def reel_shot(grader, id: str, shot: np.ndarray, clean: np.ndarray) -> SimpleNamespace:
    """A shot of a reel as continuity takes it (a ``Correction``'s fields), corrected blind, with its clean look."""
    blind, = grader.analyze([shot])
    return SimpleNamespace(id=id, keyframes=[shot], cdl=blind.cdl, confidence=blind.confidence, first=0, last=0,
                           scene=None, hero=None, match_confidence=None, clean=clean, blind=blind.cdl)


def evaluate_one_cast(paths, grader: InProcessGrader, per_scene: int, seed: int = 0, progress: bool = False) -> dict:
    """Reels of two alternating scenes of ``per_scene`` framings each, one shot of each scene with 1-3 errors and
    the others clean -> {"clean shots", "cast shots"}: {method: mean ΔE00 to the clean look}, and the share of
    scenes whose hero is a clean shot."""
    generator = torch.Generator().manual_seed(seed)
    moved = {kind: {"blind": [], "continuity": []} for kind in ("clean shots", "cast shots")}
    clean_heroes = []
    for number, start in enumerate(tqdm(range(0, len(paths) - 1, 2), desc=f"continuity, one cast in {per_scene}",
                                        disable=not progress)):
        members = []
        for scene, path in enumerate(paths[start:start + 2]):
            framed = scene_framings(load_photo(path, PHOTO_SIDE))[:per_scene]
            cast = (number + scene) % per_scene
            members.append([reel_shot(grader, f"reel{number}_scene{scene}_shot{take}",
                                      with_errors(clean, generator) if take == cast else clean, clean)
                            for take, (clean, _) in enumerate(framed)])
            members[-1][cast].cast = True
        continuity(grader, [shot for pair in zip(*members) for shot in pair])
        for shots in members:
            clean_heroes += [not getattr(s, "cast", False) for s in shots if s.hero == s.id]
            for s in shots:
                kind = "cast shots" if getattr(s, "cast", False) else "clean shots"
                moved[kind]["blind"].append(still_delta_e(s.blind.apply(s.keyframes[0]), s.clean))
                moved[kind]["continuity"].append(still_delta_e(s.cdl.apply(s.keyframes[0]), s.clean))
    return {"reels": len(range(0, len(paths) - 1, 2)), "shots per scene": per_scene,
            **{kind: {method: round(float(np.mean(values)), 3) for method, values in methods.items()}
               for kind, methods in moved.items()},
            "heroes clean": round(float(np.mean(clean_heroes)), 3)}


def format_one_cast_report(reports: list[dict]) -> str:
    lines = ["\ncontinuity, one shot of each scene cast, the others clean: ΔE00 to the clean look (blind / continuity)"]
    for report in reports:
        lines.append(f"  {report['reels']} reels, {report['shots per scene']} shots a scene: clean shots "
                     f"{report['clean shots']['blind']:.2f} / {report['clean shots']['continuity']:.2f}, cast shots "
                     f"{report['cast shots']['blind']:.2f} / {report['cast shots']['continuity']:.2f}; "
                     f"heroes clean {100 * report['heroes clean']:.0f} %")
    return "\n".join(lines)


def format_continuity_report(report: dict) -> str:
    lines = [f"\ncontinuity: {report['reels']} reels of two scenes cut as a dialogue, three framings each with "
             "its own errors; "
             f"{report['scenes found']} scenes found of {report['scenes']}",
             f"  {'':<34}{'spread':>7} {'error':>7}   (ΔE00 between a scene's shots where they overlap; to the goal)"]
    for method in ("none", "blind", "continuity"):
        lines.append(f"  {method:<34}{report[method]['spread']:7.2f} {report[method]['error']:7.2f}")
    return "\n".join(lines)
