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
of its own, so the look most shots agree on is the likeliest clean one. Of two shots no consensus can be:
where they agree as they are (one matched to the other moves by at most ``AGREE``), the hero is the shot whose
look as it is the other's blind correction leads nearest to; where they disagree, neither is known to be
clean (the blind corrector tells which one carries the error in about two scenes of three, and a wrong hero
carries its error onto the clean shot), so the scene has no hero, each shot keeps its blind correction, and
the scene says so. Among equals, the shot its blind correction moves least, then the longest. Never the
shot the blind corrector is surest about: the
network is surest of a strong cast, corrects it in part, and every matched shot then carried the rest
(docs/decisions.md). ``--hero-shot N`` picks a scene's hero instead. Each scene says which rule chose its
hero. The hero keeps its blind correction and is never changed by the match. ``--reference-shot N`` takes
shot N as the hero of every shot, as it is (the colourist's look), and leaves it untouched.
"""
from __future__ import annotations

import numpy as np

from colorgrade.clients.workflow.shots import shot_cdl
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


def needs(shot) -> float:
    """How far a shot's blind correction moves it (a shot that carries no error needs little)."""
    return moved_by(shot.cdl, middle(shot.keyframes))


# Why a scene's hero is its hero, as the scene and the hero's description say it.
CHOSEN = {"consensus": "chosen as the look the scene's shots agree on",
          "where the other's correction leads": "chosen as the look the other shot's correction leads to",
          "picked": "picked with --hero-shot",
          "no consensus": "its scene's two shots disagree and neither is known to be clean, so each is corrected "
                          "blind (--hero-shot N picks a hero)"}
# Two shots agree where matching one as it is to the other moves it by at most this (mean RGB change in [0, 1]).
AGREE = 0.01


def choose_hero(client, shots: list) -> tuple:
    """-> (the scene's hero or None, why: a key of ``CHOSEN``). The shot whose blind-corrected look the others'
    are nearest (the scene's consensus: each shot's errors are its own, so the look most shots agree on is the
    likeliest clean one); of two shots that agree, the one whose look as it is the other's blind-corrected look
    is nearest, and of two that disagree none; among equals, the shot its blind correction moves least, then
    the longest."""
    def least(shot, distance=0.0):
        return round(distance, 4), round(needs(shot), 4), -(shot.last - shot.first)

    if len(shots) == 1:
        return shots[0], "consensus"
    corrected = [apply(shot.cdl, middle(shot.keyframes)) for shot in shots]
    if len(shots) == 2:
        first, second = (middle(shot.keyframes) for shot in shots)
        result, = client.analyze([second], reference=first)
        if moved_by(result.cdl, second) > AGREE:
            return None, "no consensus"
        distance = []
        for h in (0, 1):   # how far matching the other's corrected look to shot h as it is moves it
            result, = client.analyze([corrected[1 - h]], reference=middle(shots[h].keyframes))
            distance.append(moved_by(result.cdl, corrected[1 - h]))
        return min(zip(shots, distance), key=lambda pair: least(*pair))[0], "where the other's correction leads"
    distance = []
    for h, hero in enumerate(corrected):   # how far matching every other shot to candidate h moves them
        others = corrected[:h] + corrected[h + 1:]
        results = client.analyze(others, reference=hero)
        distance.append(sum(moved_by(result.cdl, frame) for result, frame in zip(results, others)))
    return min(zip(shots, distance), key=lambda pair: least(*pair))[0], "consensus"


def match_to(client, shot, hero_frame: np.ndarray) -> None:
    """Set ``shot``'s correction from its keyframes' matches to ``hero_frame``: a decision for the shot
    (``shots.shot_cdl``), where a keyframe's match is taken whole or not at all."""
    results = client.analyze(shot.keyframes, reference=hero_frame)
    shot.cdl = shot_cdl(results)
    shot.match_confidence = float(np.mean([r.match_confidence for r in results]))


def continuity(client, shots: list, picked: tuple = ()) -> list[dict]:
    """Group, choose heroes, match; updates the shots in place -> the scenes as the JSON report lists them.
    ``picked``: shot numbers (1-based, in ``shots``' order) a user chose as heroes (``--hero-shot``); a scene
    holding one takes it (the first, where it holds several)."""
    chosen_by_user = [shots[number - 1] for number in picked]
    scenes = []
    for number, members in enumerate(group_scenes(client, shots), 1):
        hero, why = next(((shot, "picked") for shot in chosen_by_user if any(shot is m for m in members)), (None, None))
        if hero is None:
            hero, why = choose_hero(client, members)
        for shot in members:
            shot.scene = number
            if hero is None:
                shot.hero_chosen = why
        if hero is not None:
            graded_hero = apply(hero.cdl, middle(hero.keyframes))
            for shot in members:
                shot.hero = hero.id
                if shot is hero:
                    shot.hero_chosen = why
                else:
                    match_to(client, shot, graded_hero)
        scenes.append({"scene": number, "hero": None if hero is None else hero.id, "chosen": why,
                       "shots": [shot.id for shot in members]})
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
