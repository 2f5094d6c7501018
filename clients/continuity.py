"""One-click continuity: a reel's shots grouped into scenes by what they show, each scene's hero chosen and
corrected blind, and the scene's other shots matched to the corrected hero -- how a colourist balances a
hero and matches the rest of the scene to it.

Scenes are found by the matcher itself: a shot joins the scene before it when its middle keyframe shares
verified content with a keyframe of a shot already in that scene (the daemon's match confidence is above
0), so a colour error never splits a scene and a look never joins two. Shots are taken in the edit's
order, so a scene is a run of contiguous shots; a reverse angle that shares nothing with the shots before
it starts a scene of its own.

The hero is the shot the blind corrector is surest about (its confidence), the longest among equals; it
keeps its blind correction and is never changed by the match. ``--reference-shot N`` takes shot N as the
hero of every shot, as it is (the colourist's look), and leaves it untouched.
"""
from __future__ import annotations

import numpy as np

from colorgrade.color import CDL, apply


def middle(keyframes: list[np.ndarray]) -> np.ndarray:
    return keyframes[len(keyframes) // 2]


def shares_content(client, frame: np.ndarray, other: np.ndarray) -> bool:
    result, = client.analyze([frame], reference=other)
    return result.reference_used


def group_scenes(client, shots: list) -> list[list]:
    """Shots (``Correction`` values with keyframes, in the edit's order) -> scenes, each a list of contiguous shots."""
    scenes: list[list] = []
    for shot in shots:
        frame = middle(shot.keyframes)
        if scenes and any(shares_content(client, frame, middle(other.keyframes)) for other in scenes[-1]):
            scenes[-1].append(shot)
        else:
            scenes.append([shot])
    return scenes


def choose_hero(shots: list):
    """The shot the blind corrector is surest about; the longest among equals."""
    return max(shots, key=lambda s: (-1.0 if s.confidence is None else s.confidence, s.last - s.first))


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
        hero = choose_hero(members)
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
