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
- **the flash case**: each clip streamed through the daemon's windows with its middle frame, given a look, as
  the hero; a match is a decision per stretch of frames, so a clip's frames take the look all or none (the
  low-texture car park verifies only beside its hero: those frames flashed).

The product's methods grade through the daemon's own grader in process (``server.in_process``); the
peers are color-matcher's transfers (GPL-3.0: here, in the evaluation, never in the product path). Methods
are functions ``(shot, hero) -> graded shot`` on float32 (H, W, 3) frames. One-click continuity is measured
beside the cases (``evaluation.continuity``).
"""
from __future__ import annotations

import json

import numpy as np
import torch
from tqdm import tqdm

from colorgrade.color import CDL
from colorgrade.color.fit import fit_cdl
from colorgrade.evaluation.options import add_common
from colorgrade.evaluation.video import read_clips
from colorgrade.models import evaluate, metrics
from colorgrade.models.data import list_photos, load_photo, split_photos, to_numpy, to_tensor
from colorgrade.models.detunes import MixtureSampler
from colorgrade.server.in_process import InProcessEngines, InProcessGrader


def configure(parser) -> None:
    add_common(parser, "weights", "photos", "clips", "frames", "count", "device", "json")


def run(args) -> int:
    from colorgrade.evaluation.continuity import format_continuity_report, format_one_cast_report

    report = evaluate_matching(args)
    text = format_match_report(report["cases"])
    if report["flash"]:
        text += "\n" + format_flash_report(report["flash"])
    if report["continuity"]:
        text += "\n" + format_continuity_report(report["continuity"])
        text += "\n" + format_one_cast_report(report["one cast"])
    print(json.dumps(report, indent=2) if args.json else text)
    return 0


def evaluate_matching(args) -> dict:
    """The match cases on ``--count`` test photos and the first ``--frames`` frames of each clip, and continuity."""
    from colorgrade.evaluation.continuity import evaluate_continuity, evaluate_one_cast

    with InProcessGrader(InProcessEngines(args.device, args.weights)) as grader:
        methods = {**product_methods(grader), **peer_methods()}
        photos = split_photos(list_photos(args.photos))["test"][:args.count] if args.count else []
        rows = evaluate_photos(photos, methods, progress=not args.json) if photos else {}
        clips = read_clips(args.clips, args.frames) if args.clips else {}
        clip_rows, flicker = evaluate_clips(clips, methods, progress=not args.json) if clips else ({}, {})
        rows.update(clip_rows)
        reels = len(photos) >= 2
        return {"photos": len(photos), "clips": len(args.clips), "frames": args.frames,
                "peers": sorted(m for m in methods if m.startswith("color-matcher")),
                "cases": summarise(rows, flicker),
                "flash": evaluate_flash(clips, grader, progress=not args.json),
                "continuity": evaluate_continuity(photos, grader, progress=not args.json) if reels else None,
                "one cast": [evaluate_one_cast(photos, grader, per_scene, progress=not args.json)
                             for per_scene in (2, 3)] if reels else None}


def peer_methods() -> dict:
    """color-matcher's transfers, as they are and fitted as a CDL (the peers users pick today); {} when it is
    not installed."""
    try:
        from color_matcher import ColorMatcher
    except ImportError:
        return {}

    def transfer(method):
        def grade(shot, hero):
            out = ColorMatcher().transfer(src=shot.astype(np.float64), ref=hero.astype(np.float64), method=method)
            return np.clip(out, 0, 1).astype(np.float32)
        return grade

    def as_cdl(method):
        def grade(shot, hero):
            return fit_cdl(shot[::2, ::2], transfer(method)(shot, hero)[::2, ::2])[0].apply(shot)
        return grade

    methods = {}
    for method in ("mkl", "reinhard", "hm-mvgd-hm"):
        methods[f"color-matcher {method}"] = transfer(method)
        methods[f"color-matcher {method} as a CDL"] = as_cdl(method)
    return methods

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


def still_delta_e(graded: np.ndarray, goal: np.ndarray) -> float:
    """The analysis evaluation's measure (``evaluate.frame_delta_e``) on one (H, W, 3) float frame."""
    return float(evaluate.frame_delta_e(to_tensor(np.clip(graded, 0, 1)), to_tensor(goal))[0])


def product_methods(grader: InProcessGrader) -> dict:
    """The shipped ways to grade a shot, as the daemon serves them: none, blind, the match with its blind
    fallback (the product), the match alone, and the classical statistics transfer fitted as a CDL."""
    engines = grader.engines

    def blind(shot, hero):
        return grader.analyze([shot])[0].cdl.apply(shot)

    def matched(shot, hero):
        return grader.analyze([shot], reference=hero)[0].cdl.apply(shot)

    def match_only(shot, hero):
        found = engines.match(shot, engines.describe_hero(hero))
        return (CDL.from_vector(found.cdl) if found.confidence > 0 else CDL()).apply(shot)

    return {"none": lambda shot, hero: shot, "blind": blind,
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
                rows[case][method].append(still_delta_e(grade(target, reference), goal))
            rows[case]["best CDL knowing the answer"].append(
                still_delta_e(fit_cdl(target[::2, ::2], goal[::2, ::2])[0].apply(target), goal))
    return rows


def evaluate_clips(clips: dict[str, list[np.ndarray]], methods: dict, seed: int = 0,
                   progress: bool = False) -> tuple[dict, dict]:
    """The clip cases over ``clips`` (name -> clean 8-bit frames) -> ({case: {method: [ΔE per frame]}},
    {case: {method: [flicker per clip]}}): flicker as ``metrics.flicker`` measures it (8-bit RMS of the
    change between frames the clean clip does not have), each frame matched on its own (no window)."""
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
                    rows[case][method].append(still_delta_e(graded[case][method][-1], goal))
                rows[case]["best CDL knowing the answer"].append(
                    still_delta_e(fit_cdl(target[::2, ::2], goal[::2, ::2])[0].apply(target), goal))
                rows[case][HERO_ITSELF].append(still_delta_e(reference, goal) if reference.shape == goal.shape
                                               else float("nan"))
        if len(targets) > 1:
            for case in CLIP_CASES:
                for method in methods:
                    flicker[case][method].append(metrics.flicker(np.clip(np.stack(graded[case][method]), 0, 1),
                                                                 np.stack(targets)))
    return rows, flicker


FLASH_LOOK = CDL(slope=(1.06, 1.0, 0.92))   # a warm hero: the frames that take the match are seen to


def evaluate_flash(clips: dict[str, list[np.ndarray]], grader: InProcessGrader, progress: bool = False) -> dict:
    """Each clip streamed through the daemon's windows blind and with its middle frame, warmed, as the hero ->
    {clip: {"took the look": share of frames the match moved by more than an 8-bit code, "split": the smaller
    of that share and its complement (0 when every frame or none), "flicker": {"blind", "matched"}}}."""
    report = {}
    for name, frames in tqdm(clips.items(), desc="flash", disable=not progress):
        hero = np.rint(FLASH_LOOK.apply(frames[len(frames) // 2].astype(np.float32) / 255) * 255).astype(np.uint8)
        graded = {}
        for method, reference in (("blind", None), ("matched", hero)):
            results = grader.stream(frames, mode="parameters", reference=reference)
            graded[method] = np.stack([r.cdl.apply(f.astype(np.float32) / 255) for r, f in zip(results, frames)])
        took = np.abs(graded["matched"] - graded["blind"]).mean(axis=(1, 2, 3)) * 255 > 1
        clean = np.stack(frames).astype(np.float32) / 255
        report[name] = {"took the look": round(float(took.mean()), 3),
                        "split": round(float(min(took.mean(), 1 - took.mean())), 3),
                        "flicker": {method: round(float(metrics.flicker(np.clip(g, 0, 1), clean)), 3)
                                    for method, g in graded.items()}}
    return report


def format_flash_report(report: dict) -> str:
    lines = ["the flash case: each clip with its middle frame, warmed, as the hero, through the daemon's windows"]
    for name, row in report.items():
        lines.append(f"  {name:<60} took the look {100 * row['took the look']:5.1f} % of frames (split "
                     f"{row['split']:.2f}); flicker {row['flicker']['matched']:.2f} against "
                     f"{row['flicker']['blind']:.2f} blind")
    return "\n".join(lines)


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


def scene_framings(photo: np.ndarray) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """A scene's shots: ``SCENE_FRAMINGS`` crops of a photo (the size ``framings`` cuts), each with its corner."""
    height, width = photo.shape[:2]
    crop_height, crop_width = int(height * FRAMING[0]), int(width * FRAMING[1])
    corners = [(int((height - crop_height) * y), int((width - crop_width) * x)) for y, x in SCENE_FRAMINGS]
    return [(photo[y:y + crop_height, x:x + crop_width], (y, x)) for y, x in corners]
