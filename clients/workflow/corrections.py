"""What the daemon says about a file: one correction per input, per shot or per frame range, and each frame's
(``analyse_job``), as typed ``Correction`` values the commands print, write as .ccc/.cube/EDL and hand to hosts
(``Correction.to_json``: what ``analyze --json`` prints and the Resolve script and the Nuke node read)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from colorgrade.clients import media
from colorgrade.clients.workflow.continuity import CHOSEN
from colorgrade.clients.workflow.continuity import continuity as continuity_of
from colorgrade.clients.workflow.continuity import match_to_shot
from colorgrade.clients.workflow.shots import correct_shots, timecode
from colorgrade.color import ANALYSIS_SIDE, CDL, MATCH_SIDE, MATCH_TAKEN, blend_toward, shrink
from colorgrade.proto.codec import DEFAULT_WINDOW_RADIUS

# The served CDL is the network's correction shrunk toward no change by the confidence: below HELD_BACK it keeps
# under a third of it, so the frame is left nearly alone and the outputs say so.
HELD_BACK = 0.35
# A match below the confidence the daemon takes a match from is not taken: the blind correction stands, and the
# outputs say so rather than print "matched ... 0.20".
MATCHED = MATCH_TAKEN
VERDICTS = ("hero", "matched", "another scene", "blind", "held back")


class Job(NamedTuple):
    """One thing to analyse: a whole input, or a frame range of one (``--items``)."""
    key: str              # the report's key: the input path, or the item's id
    id: str               # the ColorCorrection id
    path: Path
    first: int | None = None
    last: int | None = None


@dataclass
class Correction:
    """A correction the daemon made: for a whole input, a shot, a frame range (an item) or one frame."""
    id: str | None                  # the ColorCorrection id (None for one frame of ``per_frame``)
    cdl: CDL                        # shrunk toward no change by the confidence
    confidence: float | None        # how sure the network is that the correction helps
    label: str                      # the diagnosis (the likeliest detune, or "clean")
    match_confidence: float | None = None   # matched to a reference: how sure the match is (None: no reference)
    first: int | None = None        # a shot's or an item's frames, in the source's own numbering
    last: int | None = None
    frame: int | None = None        # one frame's number (``per_frame``)
    timecode_in: str | None = None  # a video shot's first and last frames as SMPTE timecode
    timecode_out: str | None = None
    samples: int | None = None      # frames a shot's correction was measured on
    frames: int | None = None       # frames a clip's correction covers
    top: list[tuple[str, float]] | None = None        # a still's three likeliest labels
    scene: int | None = None        # ``--continuity``: the shot's scene (1-based)
    hero: str | None = None         # ``--continuity``, ``--reference-shot``: the id of the shot it was matched to
    hero_chosen: str | None = None  # ``--continuity``: the rule that chose the hero, on it, or why a scene has none,
                                    # on its shots (``continuity.CHOSEN``)
    scenes: list[dict] | None = None                   # ``--continuity``: {scene, hero, chosen, shots} per scene
    strength: float | None = None   # ``--strength``: the served CDL's distance from no change scaled by it
    # A shot's or an item's keyframes (thumbnails): what continuity groups and matches on; never in the JSON.
    keyframes: list[np.ndarray] | None = field(default=None, repr=False, compare=False, metadata={"json": False})
    shots: list[Correction] | None = None              # ``--shots``: one per shot, in order
    per_frame: list[Correction] | None = None          # ``--per-frame``: each frame's windowed correction

    def parts(self) -> list[Correction]:
        """The corrections this one hands out: its shots, or itself."""
        return self.shots or [self]

    @property
    def verdict(self) -> str:
        """What happened, in the one vocabulary every output uses: "hero" (the shot the others are matched to),
        "matched", "another scene" (a reference that shares too little: the blind correction stands), "held back"
        (a blind correction the network is unsure of, left nearly alone) or "blind"."""
        if self.hero is not None and self.hero == self.id:
            return "hero"
        if self.match_confidence is not None:
            return "matched" if self.match_confidence >= MATCHED else "another scene"
        return "held back" if self.confidence is not None and self.confidence < HELD_BACK else "blind"

    def describe(self) -> str:
        """The verdict as a colourist reads it, e.g. "warm_66: corrected blind, confidence 0.83", "warm_100: held
        back, confidence 0.25 ..." or "matched to the reference with confidence 0.93 (alone, the network read
        cool_33)"; for an input with shots, how many shots had each verdict; "; at strength 0.5" where ``--strength`` scaled it. The CLI prints
        it, the JSON carries it ("description"), the .ccc, the report and the hosts' markers show it."""
        text = self._verdict_text()
        return text if self.strength is None else f"{text}; at strength {self.strength:g}"

    def _verdict_text(self) -> str:
        if self.shots:
            counts = Counter(shot.verdict for shot in self.shots)
            scenes = f" in {len(self.scenes)} scene(s)" if self.scenes else ""
            return f"{len(self.shots)} shot(s){scenes}: " + ", ".join(
                f"{counts[verdict]} {verdict}" for verdict in VERDICTS if counts[verdict])
        verdict = self.verdict
        if verdict == "hero" and self.scene is None:
            return f"{self.label}: the hero every other shot is matched to, left as it is"
        if verdict == "hero":
            why = f"; {CHOSEN[self.hero_chosen]}" if self.hero_chosen else ""
            return f"{self.label}: the hero of scene {self.scene}, {self._blind()}{why}"
        target = ("the reference" if self.hero is None else
                  "the hero shot" if self.scene is None else f"the hero of scene {self.scene}")
        if verdict == "matched":
            # The label is the blind network's reading, which the match replaced: said after, not as a heading
            # (a red cast matched away read "cool_66: matched ..." to a colourist).
            return (f"matched to {target} with confidence {self.match_confidence:.2f} "
                    f"(alone, the network read {self.label})")
        if verdict == "another scene":
            return (f"{self.label}: {target} shows another scene, or too little of this one to verify, so the blind "
                    f"correction stands: {self._blind()}")
        why = f"; {CHOSEN[self.hero_chosen]}" if self.hero_chosen else ""
        return f"{self.label}: {self._blind()}{why}"

    def _blind(self) -> str:
        if self.confidence is None:
            return "corrected blind"
        if self.confidence < HELD_BACK:
            return f"held back, confidence {self.confidence:.2f}: not sure anything is wrong, left nearly alone"
        return f"corrected blind, confidence {self.confidence:.2f}"

    def scale(self, strength: float) -> None:
        """``--strength``: this correction, its shots' and its frames' CDLs taken ``strength`` times as far from no
        change as served (0 none, 1 as served, 2 twice as far)."""
        for correction in [self, *(self.shots or []), *(self.per_frame or [])]:
            correction.cdl, correction.strength = at_strength(correction.cdl, strength), strength

    def note(self) -> str:
        """The description a .ccc keeps beside the correction: the verdict, a shot's frames and the hero it was
        matched to."""
        text = self.describe() + (f"; frames {self.first}-{self.last}" if self.first is not None else "")
        return text + (f"; hero {self.hero}" if self.hero not in (None, self.id) else "")

    def to_json(self) -> dict:
        """The fields that are set, the CDL as {slope, offset, power, saturation}."""
        def plain(value):
            if isinstance(value, CDL):
                return {"slope": value.slope, "offset": value.offset, "power": value.power,
                        "saturation": value.saturation}
            if isinstance(value, Correction):
                return value.to_json()
            if isinstance(value, list):
                return [plain(item) for item in value]
            return value
        return {**{f.name: plain(getattr(self, f.name)) for f in fields(self)
                   if getattr(self, f.name) is not None and f.metadata.get("json", True)},
                **({} if self.shots else {"verdict": self.verdict}), "description": self.describe()}


@dataclass(frozen=True)
class Asked:
    """What an analysis is asked for, as the commands' options say it."""
    shots: bool = False                  # find the cuts: a correction per shot
    samples: int = 24                    # frames analysed per shot (or frame range), spread evenly
    window: int = DEFAULT_WINDOW_RADIUS  # a clip's CDL averaging radius (frames on each side)
    per_frame: bool = False              # a clip: each frame's windowed correction too
    reference: np.ndarray | None = field(default=None, compare=False)   # a graded hero frame (a thumbnail)
    continuity: bool = False             # shots grouped into scenes, each matched to its blind-corrected hero
    reference_shot: int | None = None    # every shot matched to shot N (1-based) as it is
    hero_shots: tuple = ()               # with continuity: shots (1-based) a user picked as their scenes' heroes
    quiet: bool = False                  # no progress bar

    @property
    def matching(self) -> bool:
        return self.reference is not None or self.continuity or self.reference_shot is not None


def analyse_job(client, job: Job, asked: Asked, info: media.VideoInfo | None = None,
                unreadable: list[str] | None = None) -> Correction:
    """-> the correction of one job: a still's, a frame range's or shots' (``analyse_shots``), or a clip's with
    its frames' (``analyse_clip``). ``info``: a video's probe, when the caller has made it (probing may
    decode the whole file). ``unreadable``: where the stills of a folder that cannot be read are named (the
    rest are analysed); without it, one raises."""
    kind = media.kind_of(job.path)
    # Matching needs more of the picture than the analysis network's thumbnail: features to pair.
    side = MATCH_SIDE if asked.matching else ANALYSIS_SIDE
    if kind == "still":
        return analyse_still(client, job, asked, shrink(media.read_image(job.path), side))
    if kind == "video" and info is None:
        info = media.probe_video(job.path)
    thumbnails = ((number, shrink(frame, side))
                  for number, frame in media.numbered_frames(job.path, job.first, job.last, info, unreadable))
    if asked.shots or job.first is not None or job.last is not None:
        return analyse_shots(client, job, asked, thumbnails, info.rate if info is not None else None)
    return analyse_clip(client, job, asked, thumbnails)


def analyse_still(client, job: Job, asked: Asked, thumbnail: np.ndarray) -> Correction:
    result = client.analyze([thumbnail], reference=asked.reference)[0]
    return Correction(job.id, result.cdl, result.confidence, result.label, result.match_confidence,
                      top=sorted(result.scores.items(), key=lambda kv: -kv[1])[:3], keyframes=[thumbnail])


def analyse_shots(client, job: Job, asked: Asked, thumbnails, rate) -> Correction:
    """A frame range as one shot, or with ``asked.shots`` the cuts found and a correction per shot (up to
    ``asked.samples`` frames analysed each), grouped by continuity or matched to a shot as asked."""
    found = []

    def analyze(frames):
        return client.analyze(frames, reference=asked.reference)

    # The bar in a with: on an error it is closed, its line ended, before the error is said.
    with tqdm(desc=f"analyse {job.path.name}", unit="frame", disable=asked.quiet) as progress:
        for shot in correct_shots(analyze, thumbnails, asked.samples, find_cuts=asked.shots):
            progress.update(shot.shot.frames)
            found.append(Correction(
                f"{job.id}_shot{shot.shot.number:03d}" if asked.shots else job.id, shot.cdl, shot.confidence,
                shot.label, shot.match_confidence, first=shot.shot.first, last=shot.shot.last,
                samples=len(shot.samples), timecode_in=None if rate is None else timecode(shot.shot.first, rate),
                timecode_out=None if rate is None else timecode(shot.shot.last, rate), keyframes=shot.keyframes))
    if not found:
        raise media.MediaError(f"{job.path}: no frames in {job.first}-{job.last}")
    if not asked.shots:
        return found[0]
    scenes = None
    if asked.continuity:
        if any(number > len(found) for number in asked.hero_shots):
            raise media.MediaError(f"{job.path}: --hero-shot {max(asked.hero_shots)}, but it has {len(found)} shot(s)")
        scenes = continuity_of(client, found, asked.hero_shots)
    elif asked.reference_shot is not None:
        if asked.reference_shot > len(found):
            raise media.MediaError(f"{job.path}: --reference-shot {asked.reference_shot}, but it has "
                                   f"{len(found)} shot(s)")
        match_to_shot(client, found, asked.reference_shot)
    frames = [s.last - s.first + 1 for s in found]
    return Correction(job.id, CDL.mean([s.cdl for s in found], weights=frames),
                      _mean_or_none([s.confidence for s in found], frames),
                      max(found, key=lambda s: s.last - s.first).label,
                      _mean_or_none([s.match_confidence for s in found], frames), frames=sum(frames), shots=found,
                      scenes=scenes)


def analyse_clip(client, job: Job, asked: Asked, thumbnails) -> Correction:
    """A clip streamed through the daemon's window: one correction, the mean of its frames' windowed CDLs,
    and each frame's with ``asked.per_frame``."""
    numbers = []
    clip = client.open_clip(mode="parameters", window_radius=asked.window, name=job.path.name,
                            reference=asked.reference)

    def frames():
        for number, frame in thumbnails:
            numbers.append(number)
            yield frame

    results = list(tqdm(client.stream(clip, frames()), desc=f"analyse {job.path.name}", unit="frame",
                        disable=asked.quiet))
    client.close_clip(clip)
    if not results:
        raise media.MediaError(f"{job.path}: no frames to analyse")
    clip = of_frames(job.id, results)
    if asked.per_frame:
        clip.per_frame = [Correction(None, r.cdl, r.confidence, r.label, r.match_confidence, frame=numbers[r.index])
                          for r in results]
    return clip


def _mean_or_none(values, weights=None):
    known = [(v, w) for v, w in zip(values, weights or [1] * len(values)) if v is not None]
    return float(np.average([v for v, _ in known], weights=[w for _, w in known])) if known else None


def at_strength(cdl: CDL, strength: float) -> CDL:
    """A CDL ``strength`` times as far from no change as it is, parameter by parameter (``--strength``)."""
    return blend_toward(CDL(), cdl, strength)


def of_frames(id: str | None, results: list) -> Correction:
    """One correction summing up a clip's per-frame results (``GradeClient.stream``): the mean CDL and confidences,
    the commonest diagnosis."""
    labels = [r.label for r in results]
    return Correction(id, CDL.mean([r.cdl for r in results]), _mean_or_none([r.confidence for r in results]),
                      max(set(labels), key=labels.count), _mean_or_none([r.match_confidence for r in results]),
                      frames=len(results))
