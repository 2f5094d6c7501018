"""The matcher: SIFT features paired and verified by a homography, a robust CDL fitted on the pixels both
frames show. ``describe`` and ``match`` are the room's seam (``colorgrade.matching``).

From one frame a warm scene and a warm cast are the same evidence (docs/decisions.md, the design study); a hero
frame of the same scene, graded the way the colourist wants, says which it is. The match trusts only what
the two frames show of the same things:

1. **Shared content, verified.** SIFT features of both frames (on luma: colour errors barely move them),
   paired by Lowe's ratio test, then a homography by RANSAC, and the hero warped by it must agree with the
   frame edge for edge (``structure_agreement``), which lets a handful of pairs verify a low-texture or small
   frame and no chance homography through. Too few inliers, edges that disagree, or a homography that folds
   or shrinks the picture to a sliver: the frames do not show the same scene, and the match says so
   (confidence 0) rather than transfer another scene's colours. The hero is seen at MATCH_SIDE; a smaller
   frame as it is, and again at MATCH_SIDE where that is not sure (``match``).
2. **Corresponding pixels.** The hero warped onto the frame; both reduced to blocks (a misaligned edge or
   a little parallax then moves a block's colour only a little); blocks where the warp left no hero,
   and clipped blocks, are left out.
3. **The CDL fitted on them**, robustly: a person who walked in, a window whose view changed or a light that
   changed loses its pull before it bends the curve. A fit on every pair is bent by them, and weights measured
   against a bent fit keep them; so a second fit starts from the half of the pairs the first explains best
   (least trimmed squares' concentration steps) and weighs every pair by its distance from that, and the fit
   whose typical residual is smaller is the match's.

The confidence grows with the verified overlap (inliers, the shared area, the edges' agreement) and falls with
what the fit leaves unexplained beyond what two moments of one real shot leave (``studies/match_calibration.py``
measures that; ``colorgrade eval scarce`` the false accepts); a frame takes its match whole from
``color.MATCH_TAKEN`` and a clip decides per stretch (``color.stretch_match``).

numpy and OpenCV only (no torch): features, RANSAC and warping are OpenCV's.
"""
from __future__ import annotations

import cv2
import numpy as np

from colorgrade.color import CDL, MATCH_SIDE, block_means, luma_rec709, to_float_rgb
from colorgrade.color.fit import GAIN, fit_cdl
from colorgrade.matching.seam import Hero, Match

RATIO = 0.75              # Lowe's ratio test: a match must be clearly better than the second best
FEATURES = 1500          # SIFT keypoints kept per frame (the strongest)
CONTRAST = 0.01          # SIFT's contrast threshold: low, so flat, grey footage still yields features
MIN_INLIERS = 6           # fewer verified pairs than this is not evidence of a shared scene
FULL_INLIERS = 12         # ... this many and more is full evidence, once the structure agrees (docs/decisions.md)
MIN_SHARED = 0.04         # share of the frame the hero must cover for a match at all
FULL_SHARED = 0.1         # ... this share and more counts fully: once the edges agree, a tenth of the frame is
                          # evidence of one scene, and a robust fit on its 500 block pairs is as good as on more
UNRELATED_STRUCTURE = 0.3  # edges of the frame and the warped hero agreeing (``structure_agreement``) up to this:
SAME_STRUCTURE = 0.6       # a homography chance made (about 0); from SAME_STRUCTURE on, one scene (0.8 and more,
                           # low-texture and 176-px framings included: docs/results.md, colorgrade eval scarce)
BLOCK = 4                 # corresponding pixels are compared as BLOCK x BLOCK means
MAX_PAIRS = 500           # block pairs the CDL is fitted on (3000 fitted no better: docs/decisions.md)
TRIMMED = 0.5             # share of the block pairs the fit starts from: what changed between the frames may be
TRIM_STEPS = 2            # ... just under half of them (concentration steps: refits on the best explained share)
JUDGED = 0.6              # fits are compared by the residual of this quantile of their pairs: past the half a trimmed
                          # fit is made to explain, within the share that did not change
FIT_ROUNDS = 2            # robust re-weighting rounds of the final fit (a third changed nothing: docs/decisions.md)
SIMPLER = 0.0045          # a whole CDL is fitted only where it leaves a typical block less than the gain alone by this
                          # share of the pairs' spread: on display pictures (spread ~0.7) under an 8-bit code, which
                          # noise and compression leave anyway; a log grading space spans less, and so does its noise
CLIPPED = (0.02, 0.98)    # a channel clipped in one frame of a pair and not in the other says nothing of the CDL
RESIDUAL_FLOOR = 0.04     # a typical block residual up to this (RGB distance) is what two moments of one real
                          # shot leave after a right fit (noise, compression, people moving), and costs no trust
UNEXPLAINED = 0.06        # ... from this on the fit is not trusted: the light changed, not only the grade


def working_rgb(frame: np.ndarray, upsample: bool) -> np.ndarray:
    """An (H, W, 3|4) frame of any sample type -> float32 RGB resampled to MATCH_SIDE on its long side; a smaller
    frame resampled up only if ``upsample``."""
    rgb = to_float_rgb(frame)[0]
    height, width = rgb.shape[:2]
    scale = MATCH_SIDE / max(height, width)
    if scale == 1 or (scale > 1 and not upsample):
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def features(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SIFT keypoints (N, 2) and descriptors (N, 128) of a float RGB picture's luma."""
    grey = np.clip(np.rint(luma_rec709(rgb) * 255), 0, 255).astype(np.uint8)
    found, descriptors = cv2.SIFT_create(nfeatures=FEATURES, contrastThreshold=CONTRAST).detectAndCompute(grey, None)
    if descriptors is None:
        return np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32)
    return np.array([k.pt for k in found], np.float32), descriptors.astype(np.float32)


def describe(frame: np.ndarray) -> Hero:
    """A hero frame (any sample type) -> its picture at MATCH_SIDE and its SIFT features."""
    rgb = working_rgb(frame, upsample=True)
    keypoints, descriptors = features(rgb)
    return {"rgb": rgb, "keypoints": keypoints, "descriptors": descriptors}


def match(frame: np.ndarray, hero: Hero) -> Match:
    """The CDL that makes ``frame`` (any sample type) look like ``hero``, with the match's confidence.

    A frame smaller than MATCH_SIDE is matched as it is, and where that is not fully sure, again resampled up to
    MATCH_SIDE (the surer match counts): SIFT's thresholds and RANSAC's tolerance are in pixels, and a low-texture
    frame left small (a phone's 176 x 144, a car park that a whole-factor shrink halved to 240) yields a handful
    of keypoints where the same picture at MATCH_SIDE yields a hundred (docs/results.md), while a textured one
    verifies as it is and would pay for the larger picture in time (a 224-px thumbnail of sand: 7 ms of SIFT,
    36 ms at 384 px). The hero is described at MATCH_SIDE once, so both see it at its best."""
    found = match_picture(working_rgb(frame, upsample=False), hero)
    if found.confidence < 1 and max(frame.shape[:2]) < MATCH_SIDE:
        found = max(found, match_picture(working_rgb(frame, upsample=True), hero), key=lambda m: m.confidence)
    return found


def match_picture(rgb: np.ndarray, hero: Hero) -> Match:
    """``match`` on a float32 RGB picture at the size it is matched at."""
    keypoints, descriptors = features(rgb)
    homography, inliers = _homography(keypoints, descriptors, hero)
    if homography is None:
        return Match(CDL(), 0.0, inliers, 0.0)
    height, width = rgb.shape[:2]
    warped = cv2.warpPerspective(hero["rgb"], homography, (width, height), flags=cv2.INTER_LINEAR)
    covered = cv2.warpPerspective(np.ones(hero["rgb"].shape[:2], np.float32), homography, (width, height),
                                  flags=cv2.INTER_LINEAR)
    inside = covered > 0.999                     # pixels the warped hero covers whole
    shared = float(inside.mean())
    if shared < MIN_SHARED:
        return Match(CDL(), 0.0, inliers, shared)
    frame_blocks, hero_blocks = block_means(rgb, BLOCK), block_means(warped, BLOCK)
    whole = block_means(covered[..., None].repeat(3, axis=2), BLOCK)[..., 0] > 0.999
    pairs = np.flatnonzero(whole)
    if len(pairs) < 50:
        return Match(CDL(), 0.0, inliers, shared)
    if len(pairs) > MAX_PAIRS:
        pairs = pairs[np.linspace(0, len(pairs) - 1, MAX_PAIRS).astype(int)]
    sources, targets = frame_blocks.reshape(-1, 3)[pairs], hero_blocks.reshape(-1, 3)[pairs]
    # A channel clipped in both frames is agreement (the CDL must keep it there); clipped in one frame only,
    # or in part of a block (whose mean the clip has bent), it says nothing of the CDL.
    agree = np.ones_like(frame_blocks, dtype=bool)
    for limit in CLIPPED:
        side = (lambda image: image <= limit) if limit < 0.5 else (lambda image: image >= limit)
        in_frame = block_means(side(rgb).astype(np.float32), BLOCK)
        in_hero = block_means(side(warped).astype(np.float32), BLOCK)
        agree &= ((in_frame == 0) & (in_hero == 0)) | ((in_frame == 1) & (in_hero == 1))
    channels = agree.reshape(-1, 3)[pairs]
    cdl = fit_unchanged(sources, targets, channels.astype(np.float64))
    residual = float(np.median(np.linalg.norm(cdl.apply(sources) - targets, axis=1)))
    structure = structure_agreement(rgb, warped, inside)
    evidence = (np.clip((inliers - MIN_INLIERS) / (FULL_INLIERS - MIN_INLIERS), 0, 1)
                * np.clip((shared - MIN_SHARED) / (FULL_SHARED - MIN_SHARED), 0, 1)
                * np.clip((structure - UNRELATED_STRUCTURE) / (SAME_STRUCTURE - UNRELATED_STRUCTURE), 0, 1)
                * np.clip((UNEXPLAINED - residual) / (UNEXPLAINED - RESIDUAL_FLOOR), 0, 1))
    return Match(cdl, float(evidence), inliers, shared, residual, structure)


def structure_agreement(rgb: np.ndarray, warped: np.ndarray, covered: np.ndarray) -> float:
    """How well the edges of a frame and of the hero warped onto it agree where the hero covers it: the mean
    cosine of the angle between their luma gradients where both show an edge (a gradient above the median of
    its own picture's), in [-1, 1]. The homography's evidence that needs no feature to be distinctive: a
    homography that chance made from a few pairs of unrelated pictures puts edges at angles unrelated to the
    frame's (about 0), while a low-texture or small frame's few pairs place every soft edge of the scene
    (0.8 and more). A mean over edge pixels, not a correlation weighted by edge strength, so a moving car's
    strong edges in a flat car park do not outvote the still ground's. A colour error scales gradients but
    turns none, so it barely moves the agreement."""
    inside = cv2.erode(covered.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0    # the warp's own border is no edge
    if inside.sum() < 100:
        return 0.0

    def gradients(picture):
        luma = luma_rec709(picture)    # band-passed: a sky brightening toward any horizon is no shared edge
        smooth = cv2.GaussianBlur(luma, (0, 0), 1.5) - cv2.GaussianBlur(luma, (0, 0), 8)
        return cv2.Sobel(smooth, cv2.CV_32F, 1, 0)[inside], cv2.Sobel(smooth, cv2.CV_32F, 0, 1)[inside]

    (frame_x, frame_y), (hero_x, hero_y) = gradients(rgb), gradients(warped)
    frame_size, hero_size = np.hypot(frame_x, frame_y), np.hypot(hero_x, hero_y)
    edges = (frame_size > np.median(frame_size)) & (hero_size > np.median(hero_size)) & (frame_size * hero_size > 0)
    if not edges.any():
        return 0.0
    return float(np.mean((frame_x * hero_x + frame_y * hero_y)[edges] / (frame_size * hero_size)[edges]))


def fit_unchanged(sources: np.ndarray, targets: np.ndarray, channels: np.ndarray) -> CDL:
    """The CDL taking block colours ``sources`` to ``targets`` (N, 3) where the two frames show the same unchanged
    things; ``channels``: (N, 3) weights (0 for a channel that says nothing).

    Changed content is taken out before it bends the fit, and the fit moves no more than its evidence supports:
    each of two models (the slopes and saturation alone, and the whole CDL) is fitted two ways (Cauchy
    re-weighting from a fit of every pair, and the same from refits on the best explained ``TRIMMED`` share,
    which takes changed content, up to just under half the pairs, out first), each model keeps its way with the
    smaller residual (at the ``JUDGED`` quantile), and the gain alone is the fit unless the whole CDL explains the pairs clearly
    better (by ``SIMPLER`` of the pairs' spread): where the pairs span a narrow range of a channel, its slope, offset and power trade
    against each other and a whole CDL bends colours the pairs never showed."""
    def distance(cdl):
        squared = ((cdl.apply(sources.astype(np.float32)) - targets) ** 2 * channels).sum(axis=1)
        return np.sqrt(squared / np.maximum(channels.sum(axis=1), 1e-12))

    counted = channels.sum(axis=1) > 0

    def typical(cdl):
        return float(np.quantile(distance(cdl)[counted], JUDGED))

    def robust(free):
        whole, _ = fit_cdl(sources, targets, channels, rounds=FIT_ROUNDS, free=free)
        cdl = whole
        for _ in range(TRIM_STEPS):
            error = distance(cdl)
            kept = counted & (error <= np.quantile(error[counted], TRIMMED))
            cdl, _ = fit_cdl(sources, targets, channels * kept[:, None], rounds=1, free=free, start=cdl)
        error = distance(cdl)
        scale = max(2 * float(np.median(error[counted])), 0.005)
        trimmed, _ = fit_cdl(sources, targets, channels / (1 + (error / scale) ** 2)[:, None], rounds=FIT_ROUNDS,
                             free=free, start=cdl)
        return min((whole, trimmed), key=typical)

    gain = robust(GAIN)
    margin = SIMPLER * float(np.mean(np.percentile(targets, 95, axis=0) - np.percentile(targets, 5, axis=0)))
    if typical(gain) <= margin:     # no whole CDL can leave less than nothing: the gain stands, unfitted the rest
        return gain
    full = robust(None)
    return gain if typical(gain) <= typical(full) + margin else full


def _homography(keypoints, descriptors, hero: Hero) -> tuple[np.ndarray | None, int]:
    """The hero -> frame homography from ratio-tested SIFT pairs and RANSAC, if it is a plausible view of the
    same scene; -> (homography or None, inliers)."""
    if len(descriptors) < MIN_INLIERS or len(hero["descriptors"]) < MIN_INLIERS:
        return None, 0
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(np.asarray(hero["descriptors"]), descriptors, k=2)
    good = [first for first, second in (p for p in pairs if len(p) == 2) if first.distance < RATIO * second.distance]
    if len(good) < MIN_INLIERS:
        return None, 0
    source = np.asarray(hero["keypoints"])[[m.queryIdx for m in good]]
    target = keypoints[[m.trainIdx for m in good]]
    homography, mask = cv2.findHomography(source, target, cv2.RANSAC, 3.0)
    inliers = int(mask.sum()) if mask is not None else 0
    if homography is None or inliers < MIN_INLIERS or not _plausible(homography):
        return None, inliers
    return homography, inliers


def _plausible(homography: np.ndarray) -> bool:
    """A camera view, not a fold: orientation kept, scale within 1/8..8, little perspective."""
    linear = homography[:2, :2] / homography[2, 2]
    determinant = float(np.linalg.det(linear))
    return 1 / 64 < determinant < 64 and float(np.abs(homography[2, :2]).max() / abs(homography[2, 2])) < 0.005
