"""One-click continuity: a reel's shots grouped into scenes by what they show, each scene's hero chosen and
corrected blind, and the scene's other shots matched to the corrected hero -- how a colourist balances a
hero and matches the rest of the scene to it.

Scenes are found by the matcher itself: a shot joins a recent scene when its middle keyframe shares
verified content with a keyframe of a shot already in that scene (the daemon's match confidence is above
0), so a colour error never splits a scene and a look never joins two. Shots are taken in the edit's
order and may return to any of the last few scenes, so a dialogue cut between two angles (A B A B)
gives each angle one scene; a reverse angle shares nothing with the other angle, so the two angles are
two scenes, each with its own hero.

The hero is the scene's consensus: the shot whose blind-corrected look the others' are nearest (each
corrected shot matched to each, the distance being how far the match moves it). Each shot carries errors
of its own, so the look most shots agree on is the likeliest clean one; the shot the blind corrector is
surest about was the first rule, and it picked heroes whose remaining error every matched shot then
carried (docs/decisions.md). With fewer than three shots, or among equals, the surest shot, then the longest.
The hero keeps its blind correction and is never changed by the match. ``--reference-shot N`` takes shot N
as the hero of every shot, as it is (the colourist's look), and leaves it untouched.
"""
from __future__ import annotations

import numpy as np

from colorgrade.color import CDL, apply, to_float_rgb


def middle(keyframes: list[np.ndarray]) -> np.ndarray:
    return keyframes[len(keyframes) // 2]


def shares_content(client, frame: np.ndarray, other: np.ndarray) -> bool:
    result, = client.analyze([frame], reference=other)
    return result.reference_used


RECENT_SCENES = 4   # a shot may return to any of this many latest scenes (a dialogue cuts between angles)


def group_scenes(client, shots: list) -> list[list]:
    """Shots (``Correction`` values with keyframes, in the edit's order) -> scenes in the order they first
    appear, each a list of its shots in the edit's order: a shot joins the latest of the last
    RECENT_SCENES scenes it shares verified content with, else starts a scene."""
    scenes: list[list] = []
    for shot in shots:
        frame = middle(shot.keyframes)
        home = next((scene for scene in reversed(scenes[-RECENT_SCENES:])
                     if any(shares_content(client, frame, middle(other.keyframes)) for other in scene)), None)
        if home is None:
            scenes.append([shot])
        else:
            home.append(shot)
    return scenes


def moved_by(cdl: CDL, frame: np.ndarray) -> float:
    """How far ``cdl`` moves ``frame``: the mean absolute change of its RGB in [0, 1], any sample type."""
    return float(np.abs(to_float_rgb(apply(cdl, frame))[0] - to_float_rgb(frame)[0]).mean())


def choose_hero(client, shots: list):
    """The shot whose blind-corrected look the others' are nearest (the scene's consensus: each shot's
    errors are its own, so the look most shots agree on is the likeliest clean one); with fewer than three
    shots, or among equals, the shot the blind corrector is surest about, then the longest."""
    def surest(shot):
        return (-1.0 if shot.confidence is None else shot.confidence, shot.last - shot.first)

    if len(shots) < 3:
        return max(shots, key=surest)
    corrected = [apply(shot.cdl, middle(shot.keyframes)) for shot in shots]
    distance = []
    for h, hero in enumerate(corrected):   # how far matching every other shot to candidate h moves them
        others = corrected[:h] + corrected[h + 1:]
        results = client.analyze(others, reference=hero)
        distance.append(sum(moved_by(result.cdl, frame) for result, frame in zip(results, others)))
    return max(zip(shots, distance), key=lambda pair: (-round(pair[1], 4), *surest(pair[0])))[0]


def match_to(client, shot, hero_frame: np.ndarray) -> None:
    """Set ``shot``'s correction to the mean of its keyframes' matches to ``hero_frame`` (each blended with
    its blind correction by the match's confidence, as the daemon serves it)."""
    results = client.analyze(shot.keyframes, reference=hero_frame)
    shot.cdl = CDL.mean([r.cdl for r in results])
    shot.match_confidence = float(np.mean([r.match_confidence for r in results]))


def continuity(client, shots: list) -> list[dict]:
    """Group, choose heroes, match; updates the shots in place -> the scenes as the JSON report lists them."""
    scenes = []
    for number, members in enumerate(group_scenes(client, shots), 1):
        hero = choose_hero(client, members)
        graded_hero = apply(hero.cdl, middle(hero.keyframes))
        for shot in members:
            shot.scene, shot.hero = number, hero.id
            if shot is not hero:
                match_to(client, shot, graded_hero)
        scenes.append({"scene": number, "hero": hero.id, "shots": [shot.id for shot in members]})
    return scenes


def match_to_shot(client, shots: list, number: int) -> None:
    """Every shot matched to shot ``number`` (1-based) as it is; that shot is left untouched (identity)."""
    hero = shots[number - 1]
    hero_frame = middle(hero.keyframes)
    for shot in shots:
        shot.hero = hero.id
        if shot is hero:
            shot.cdl, shot.match_confidence = CDL(), None
        else:
            match_to(client, shot, hero_frame)
