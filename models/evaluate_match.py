"""How well a shot is matched to a hero frame, on photos and clips no model trained on.

Cases (each target graded by every method, CIEDE2000 to its goal on 2x2 means):

- **same scene, other framing**: hero and shot are two overlapping crops of one test photo (the shot the
  bottom-right 70 x 75 %, the hero the top-left, about a third shared), the shot with 1-3 errors; the
  goal is the clean shot.
- **the hero carries a look**: as above, the hero graded with a look (a random CDL look, or a white
  balance in linear light) that must arrive on the shot; the goal is the shot with the look.
- **hero from another scene**: the hero is a crop of another test photo; on a clean shot (the goal is
  to leave it alone: harm) and on a shot with 1-3 errors (the goal is the clean shot; the blind
  correction is what a good matcher falls back to).
- **real clips, hero from the same shot**: each clip's frame at its last analysed moment, clean, is the
  hero of its first frames, which carry 1-2 errors drifting from half to full strength; also the
  clean frames (harm).
- **real montage**: the same erroneous frames matched to another clip's hero.

Continuity (``evaluate_continuity``): reels of two scenes cut as a dialogue (their shots alternate),
each scene three framings of one test photo (top left, bottom right, centre), every shot with errors of
its own; graded shot by shot (none, blind) and by one-click continuity. The **spread** is what continuity must hide: ΔE00 between two shots of a
scene where they show the same part of the photo; the **error** is each shot's ΔE00 to its clean framing.

Methods are functions ``(shot, hero) -> graded shot`` on float32 (H, W, 3) frames; the command adds
the peers (``colorgrade.evaluation``), so no peer's code is imported here.
"""
from __future__ import annotations

from itertools import combinations
from types import SimpleNamespace

import numpy as np
import torch

from colorgrade.color import CDL
from colorgrade.color.fit import fit_cdl
from colorgrade.models import evaluate, matching, metrics
from colorgrade.models.analysis import Analyzer
from colorgrade.models.data import load_photo, to_numpy, to_tensor
from colorgrade.models.detunes import MixtureSampler

PHOTO_SIDE = 640
FRAMING = (0.75, 0.7)        # each crop's share of the photo's height and width
PHOTO_CASES = ("same scene, other framing, 1-3 errors", "the hero carries a look, 1-3 errors",
               "hero from another scene, clean shot (harm)", "hero from another scene, 1-3 errors")
# Context for the clip cases: the hero frame itself against the goal. A camera that adjusts itself (a phone's
# auto exposure and white balance) or a scene that changes makes the hero's look differ from the frame's own.
HERO_ITSELF = "(the hero itself, as a frame)"
CLIP_CASES = ("real clips, hero from the same shot, 1-2 errors", "real clips, clean frames, own hero (harm)",
              "real montage, hero from another clip, 1-2 errors")


SCENE_FRAMINGS = ((0.0, 0.0), (1.0, 1.0), (0.5, 0.5))   # where a scene's shots lie: top left, bottom right, centre


def framings(photo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hero, shot): the top-left and bottom-right crops of a photo."""
    (hero, _), (shot, _), _ = scene_framings(photo)
    return hero, shot


def with_errors(frame: np.ndarray, generator: torch.Generator, most: int = 3, strength: float = 1.0) -> np.ndarray:
    magnitudes, order = MixtureSampler(generator, min_errors=1, max_errors=most).sample(1)
    return to_numpy(MixtureSampler.apply(to_tensor(frame), magnitudes * strength, order))[0]


def random_look(frame: np.ndarray, generator: torch.Generator, linear: bool) -> tuple[np.ndarray, callable]:
    """A look a colourist might grade a hero with -> (the frame with it, the look as a function)."""
    if linear:   # a white balance in linear light: not a CDL, so the match can only approximate it
        magnitudes = torch.zeros(1, len(MixtureSampler.names))
        magnitudes[0, MixtureSampler.names.index("white_balance_linear")] = float(torch.rand(1, generator=generator)
                                                                                  * 0.4 - 0.2)
        order = list(range(len(MixtureSampler.names)))

        def look(image):
            return to_numpy(MixtureSampler.apply(to_tensor(image), magnitudes, order))[0]
    else:
        draw = lambda low, high, n=3: tuple(float(v) for v in torch.rand(n, generator=generator) * (high - low) + low)  # noqa: E731
        cdl = CDL(draw(0.9, 1.1), draw(-0.03, 0.03), draw(0.85, 1.15), draw(0.75, 1.3, 1)[0])

        def look(image):
            return cdl.apply(image)
    return look(frame), look


def frame_delta_e(graded: np.ndarray, goal: np.ndarray) -> float:
    """The analysis evaluation's measure (``evaluate.frame_delta_e``) on one (H, W, 3) frame."""
    return float(evaluate.frame_delta_e(to_tensor(np.clip(graded, 0, 1)), to_tensor(goal))[0])


def product_methods(analyzer: Analyzer) -> dict:
    """The shipped ways to grade a shot: none, blind, the match with its blind fallback (the product), the
    match alone, and the classical statistics transfer fitted as a CDL."""
    def blind_cdl(shot):
        return analyzer.analyze([shot])[0].cdl

    def matched(shot, hero):
        return matching.match(shot, matching.describe_hero(hero)).blended(blind_cdl(shot)).apply(shot)

    def match_only(shot, hero):
        found = matching.match(shot, matching.describe_hero(hero))
        return (found.cdl if found.confidence > 0 else CDL()).apply(shot)

    return {"none": lambda shot, hero: shot, "blind": lambda shot, hero: blind_cdl(shot).apply(shot),
            "matched (shipped)": matched, "match alone": match_only,
            "statistics as a CDL": lambda shot, hero: statistics_cdl(shot, hero).apply(shot)}


def statistics_cdl(shot: np.ndarray, hero: np.ndarray) -> CDL:
    """Design (a): each channel's quantiles of the shot mapped onto the hero's (2nd to 98th percentile,
    clipped values left out), fitted as one CDL -- a robust transfer of the hero's colour statistics."""
    levels = np.linspace(2, 98, 25)
    usable = lambda image: image.reshape(-1, 3)[np.all((image.reshape(-1, 3) > 0.01) & (image.reshape(-1, 3) < 0.99), 1)]  # noqa: E731
    source, target = usable(shot), usable(hero)
    if len(source) < 100 or len(target) < 100:
        return CDL()
    return fit_cdl(np.percentile(source, levels, axis=0), np.percentile(target, levels, axis=0))[0]


def evaluate_photos(paths, methods: dict, seed: int = 0, progress: bool = False) -> dict:
    """The photo cases over ``paths`` (test photos) -> {case: {method: [ΔE per photo]}}, plus each case's
    best CDL knowing the answer."""
    from tqdm import tqdm

    generator = torch.Generator().manual_seed(seed)
    photos = [load_photo(path, PHOTO_SIDE) for path in paths]
    rows = {case: {method: [] for method in [*methods, "best CDL knowing the answer"]} for case in PHOTO_CASES}
    for index, photo in enumerate(tqdm(photos, desc="match photos", disable=not progress)):
        hero, clean = framings(photo)
        stranger, _ = framings(photos[(index + 1 + index % max(1, len(photos) - 1)) % len(photos)])   # never itself
        shot = with_errors(clean, generator)
        looked_hero, look = random_look(hero, generator, linear=index % 2 == 1)
        cases = {PHOTO_CASES[0]: (shot, hero, clean), PHOTO_CASES[1]: (shot, looked_hero, look(clean)),
                 PHOTO_CASES[2]: (clean, stranger, clean), PHOTO_CASES[3]: (shot, stranger, clean)}
        for case, (target, reference, goal) in cases.items():
            for method, grade in methods.items():
                rows[case][method].append(frame_delta_e(grade(target, reference), goal))
            rows[case]["best CDL knowing the answer"].append(
                frame_delta_e(fit_cdl(target[::2, ::2], goal[::2, ::2])[0].apply(target), goal))
    return rows


def evaluate_clips(clips: dict[str, list[np.ndarray]], methods: dict, seed: int = 0,
                   progress: bool = False) -> tuple[dict, dict]:
    """The clip cases over ``clips`` (name -> clean 8-bit frames) -> ({case: {method: [ΔE per frame]}},
    {case: {method: [flicker per clip]}}): flicker as ``metrics.flicker`` measures it (8-bit RMS of the
    change between frames the clean clip does not have), each frame matched on its own (no window)."""
    from tqdm import tqdm

    generator = torch.Generator().manual_seed(seed)
    names = list(clips)
    rows = {case: {method: [] for method in [*methods, "best CDL knowing the answer", HERO_ITSELF]}
            for case in CLIP_CASES}
    flicker = {case: {method: [] for method in methods} for case in CLIP_CASES}
    for position, name in enumerate(tqdm(names, desc="match clips", disable=not progress)):
        graded = {case: {method: [] for method in methods} for case in CLIP_CASES}
        frames = [frame.astype(np.float32) / 255 for frame in clips[name]]
        hero, targets = frames[-1], frames[:max(1, len(frames) // 2)]
        stranger = clips[names[(position + 1) % len(names)]][-1].astype(np.float32) / 255
        magnitudes, order = MixtureSampler(generator, min_errors=1, max_errors=2).sample(1)
        for t, clean in enumerate(targets):
            strength = 0.5 + 0.5 * t / max(1, len(targets) - 1)
            shot = to_numpy(MixtureSampler.apply(to_tensor(clean), magnitudes * strength, order))[0]
            cases = {CLIP_CASES[0]: (shot, hero, clean), CLIP_CASES[1]: (clean, hero, clean),
                     CLIP_CASES[2]: (shot, stranger, clean)}
            for case, (target, reference, goal) in cases.items():
                for method, grade in methods.items():
                    graded[case][method].append(grade(target, reference))
                    rows[case][method].append(frame_delta_e(graded[case][method][-1], goal))
                rows[case]["best CDL knowing the answer"].append(
                    frame_delta_e(fit_cdl(target[::2, ::2], goal[::2, ::2])[0].apply(target), goal))
                rows[case][HERO_ITSELF].append(frame_delta_e(reference, goal) if reference.shape == goal.shape
                                               else float("nan"))
        if len(targets) > 1:
            for case in CLIP_CASES:
                for method in methods:
                    flicker[case][method].append(metrics.flicker(np.clip(np.stack(graded[case][method]), 0, 1),
                                                                 np.stack(targets)))
    return rows, flicker


def summarise(rows: dict, flicker: dict | None = None) -> dict:
    """{case: {method: [values]}} -> {case: {method: {mean, median, better than none, flicker where measured}}}."""
    report = {}
    for case, methods in rows.items():
        none = np.array(methods.get("none", []))
        report[case] = {}
        for method, values in methods.items():
            values = np.array(values)
            summary = {"mean": round(float(values.mean()), 3), "median": round(float(np.median(values)), 3)}
            if len(none) and method not in ("none", HERO_ITSELF):
                summary["better"] = round(float((values < none - 1e-9).mean()), 3)
            if flicker and flicker.get(case, {}).get(method):
                summary["flicker"] = round(float(np.mean(flicker[case][method])), 3)
            report[case][method] = summary
    return report


def format_match_report(report: dict) -> str:
    lines = ["CIEDE2000 to the goal, mean / median (share better than none) [flicker, 8-bit RMS, clips]"]
    for case, methods in report.items():
        lines.append(f"\n{case}")
        for method, summary in methods.items():
            better = f"  ({100 * summary['better']:.0f} % better)" if "better" in summary else ""
            flicker = f"  [{summary['flicker']:.2f}]" if "flicker" in summary else ""
            lines.append(f"  {method:<34}{summary['mean']:7.2f} {summary['median']:7.2f}{better}{flicker}")
    return "\n".join(lines)


class LocalGrader:
    """What continuity asks of a daemon, in process: ``analyze(frames, reference=None)``, each frame's blind
    analysis moved toward its match to the reference by the match's confidence, as the daemon serves it."""

    def __init__(self, analyzer: Analyzer):
        self.analyzer = analyzer

    def analyze(self, frames, reference=None) -> list[SimpleNamespace]:
        blind = self.analyzer.analyze(frames)
        if reference is None:
            return [SimpleNamespace(cdl=b.cdl, confidence=b.confidence, match_confidence=None, reference_used=False)
                    for b in blind]
        hero = matching.describe_hero(reference)
        results = []
        for frame, analysed in zip(frames, blind):
            found = matching.match(frame, hero)
            results.append(SimpleNamespace(cdl=found.blended(analysed.cdl), confidence=analysed.confidence,
                                           match_confidence=found.confidence, reference_used=found.confidence > 0))
        return results


def scene_framings(photo: np.ndarray) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """A scene's shots: ``SCENE_FRAMINGS`` crops of a photo (the size ``framings`` cuts), each with its corner."""
    height, width = photo.shape[:2]
    crop_height, crop_width = int(height * FRAMING[0]), int(width * FRAMING[1])
    corners = [(int((height - crop_height) * y), int((width - crop_width) * x)) for y, x in SCENE_FRAMINGS]
    return [(photo[y:y + crop_height, x:x + crop_width], (y, x)) for y, x in corners]


def scene_spread(graded: list[np.ndarray], corners: list[tuple[int, int]]) -> float:
    """Mean ΔE00 between every two shots of a scene over the part of the photo both show."""
    height, width = graded[0].shape[:2]
    differences = []
    for (a, (ay, ax)), (b, (by, bx)) in combinations(zip(graded, corners), 2):
        top, left = max(ay, by), max(ax, bx)
        bottom, right = min(ay, by) + height, min(ax, bx) + width
        differences.append(frame_delta_e(a[top - ay:bottom - ay, left - ax:right - ax],
                                         b[top - by:bottom - by, left - bx:right - bx]))
    return float(np.mean(differences))


def evaluate_continuity(paths, grade_scenes, analyzer: Analyzer, seed: int = 0, progress: bool = False) -> dict:
    """Reels of two alternating scenes from ``paths`` (test photos, two by two), graded shot by shot and by
    ``grade_scenes`` (``clients.continuity.continuity``, passed by the command) -> {method: {"spread",
    "error"}}, plus the scenes continuity found against the scenes there are."""
    from tqdm import tqdm

    generator = torch.Generator().manual_seed(seed)
    grader = LocalGrader(analyzer)
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
        found += len(grade_scenes(grader, [shot for pair in zip(*members) for shot in pair]))
        for framed, shots in zip(scenes, members):
            corners = [corner for _, corner in framed]
            graded = {"none": [s.keyframes[0] for s in shots],
                      "blind": [s.blind.apply(s.keyframes[0]) for s in shots],
                      "continuity": [s.cdl.apply(s.keyframes[0]) for s in shots]}
            for method, pictures in graded.items():
                spread[method].append(scene_spread(pictures, corners))
                error[method] += [frame_delta_e(picture, s.clean) for picture, s in zip(pictures, shots)]
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
