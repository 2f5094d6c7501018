"""Where the matcher's trust comes from, and what bounds a match on real clips (``matching/sift.py``).

1. **Verified pairs** (``MIN_INLIERS``, ``FULL_INLIERS``): RANSAC inliers of two framings of one
   *training* photo (with 1-3 errors on the shot) against those of crops of two different photos, and how
   many unrelated pairs the whole gate (inliers, shared area, residual) trusts at all.
2. **What a right fit leaves** (``RESIDUAL_FLOOR``, ``UNEXPLAINED``): the median block residual of
   verified matches between two moments of one real shot (the hero 24-47 frames after the frame),
   clean, on the clips' frames *after* the 48 that ``colorgrade eval match`` scores. People moving and
   compression leave some; a scene whose light changes (the time-lapse) leaves more.
3. **The hero's own distance** (the curve behind the real-clip target): on the evaluated frames, the
   served match's error and the clean frame matched to its hero (the hero's drift, which a faithful
   match carries over) against how many frames the hero is from the frame.

    python -m studies.match_calibration
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from colorgrade import matching
from colorgrade.clients import media
from colorgrade.color import CDL, shrink
from colorgrade.evaluation.match import PHOTO_SIDE, framings, still_delta_e, with_errors
from colorgrade.matching import sift
from colorgrade.models import DEFAULT_CLIPS, DEFAULT_PHOTOS
from colorgrade.models.data import list_photos, load_photo, split_photos, to_numpy, to_tensor
from colorgrade.models.detunes import MixtureSampler
from colorgrade.server.in_process import InProcessEngines, InProcessGrader

EVALUATED_FRAMES = 48        # colorgrade eval match's frames per clip: calibration stays off them
HERO_DISTANCES = (1, 6, 12, 24, 40)


def spread(values) -> dict:
    values = np.asarray(values, float)
    return {"count": int(len(values)), "min": round(float(values.min()), 4),
            "median": round(float(np.median(values)), 4), "p90": round(float(np.percentile(values, 90)), 4),
            "max": round(float(values.max()), 4)} if len(values) else {"count": 0}


def verified_pairs(count: int, unrelated_each: int, seed: int = 0) -> dict:
    """Inliers of related pairs among ``count`` training photos, and of ``unrelated_each`` unrelated pairs per
    photo, with how many unrelated pairs the whole gate (inliers, shared area, residual) let through."""
    generator = torch.Generator().manual_seed(seed)
    photos = [load_photo(path, PHOTO_SIDE) for path in split_photos(list_photos(DEFAULT_PHOTOS))["train"][:count]]
    crops = [framings(photo) for photo in photos]
    heroes = [matching.describe(hero) for hero, _ in crops]
    related, unrelated, trusted = [], [], 0
    for index, (_, shot) in enumerate(crops):
        shot = with_errors(shot, generator)
        related.append(matching.match(shot, heroes[index]).inliers)
        for other in range(1, unrelated_each + 1):
            found = matching.match(shot, heroes[(index + other) % len(heroes)])
            unrelated.append(found.inliers)
            trusted += found.confidence > 0
    return {"related": spread(related), "unrelated": spread(unrelated), "unrelated trusted": trusted}


def residuals(clips, last_frame: int = 300) -> dict:
    """Residuals of verified matches between two clean moments of each clip, after the evaluated frames."""
    report = {}
    for path in clips:
        frames = [shrink(frame, 480) for _, frame in media.numbered_frames(path, EVALUATED_FRAMES, last_frame)]
        values, unverified = [], 0
        for start in range(0, len(frames) - 48, 16):
            hero = matching.describe(frames[start + 47])
            for t in range(start, start + 24, 6):
                found = matching.match(frames[t], hero)
                if found.inliers >= sift.MIN_INLIERS and found.shared >= sift.MIN_SHARED:
                    values.append(found.residual)
                else:
                    unverified += 1
        report[path.split("/")[-1]] = {**spread(values), "unverified": unverified}
    return report


def hero_distance(clips, seed: int = 0) -> dict:
    """The served match's error, and the hero's drift, against the hero's distance in frames."""
    grader = InProcessGrader(InProcessEngines("cpu"))
    generator = torch.Generator().manual_seed(seed)

    curve = {distance: {"served": [], "drift": [], "none": []} for distance in HERO_DISTANCES}
    for path in clips:
        frames = [shrink(frame, 480).astype(np.float32) / 255
                  for _, frame in media.numbered_frames(path, 0, EVALUATED_FRAMES - 1)]
        magnitudes, order = MixtureSampler(generator, min_errors=1, max_errors=2).sample(1)
        for distance in HERO_DISTANCES:
            for t in range(0, len(frames) - distance, 4):
                clean = frames[t]
                shot = to_numpy(MixtureSampler.apply(to_tensor(clean), magnitudes, order))[0]
                hero = matching.describe(frames[t + distance])
                served = grader.analyze([shot], reference=frames[t + distance])[0].cdl
                own = matching.match(clean, hero)
                curve[distance]["served"].append(still_delta_e(served.apply(shot), clean))
                curve[distance]["drift"].append(still_delta_e((own.cdl if own.confidence > 0 else CDL()).apply(clean),
                                                              clean))
                curve[distance]["none"].append(still_delta_e(shot, clean))
    grader.close()
    return {distance: {name: round(float(np.mean(values)), 3) for name, values in row.items()}
            for distance, row in curve.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.match_calibration", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=100, help="training photos for the verified-pairs count")
    parser.add_argument("--unrelated", type=int, default=20, help="unrelated heroes per photo")
    parser.add_argument("--clips", nargs="+", default=DEFAULT_CLIPS, metavar="VIDEO")
    args = parser.parse_args(argv)
    report = {"verified pairs (inliers)": verified_pairs(args.photos, args.unrelated),
              "residuals of right fits": residuals(args.clips),
              "error against the hero's distance (frames)": hero_distance(args.clips)}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
