"""Shots: where a clip cuts, and one correction per shot from frames sampled across it.

Cuts are found by FFmpeg's own scene-change detector (``scdet``, run through PyAV on the thumbnails
the analysis already makes, so the footage is decoded once). ``scdet`` scores the *change* in the
mean frame difference, not the difference itself: a pan moves every pixel each frame but evenly, so
it scores low, while a hard cut scores high on exactly its first frame.

A shot's correction is the mean of the per-frame CDLs (and confidences) of up to ``samples`` frames
spread evenly across it, the same mean a clip's window takes, never crossing a cut. Matched to a hero, the
match is the shot's decision, as a stretch of a clip's is in the daemon (``shot_cdl``).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Iterator

import av
import numpy as np

from colorgrade.color import ANALYSIS_SIDE, CDL, from_float_rgb, match_taken, shrink, stretch_match

SCENE_THRESHOLD = 10.0     # scdet's own default: a score (0-100) at or above it starts a shot
ANALYSIS_BATCH = 16        # thumbnails per AnalyzeStills call
MIN_SIDE = 16              # scdet's scores are garbage on frames under 16 px (measured at 8 px: random cuts)


@dataclass(frozen=True)
class Shot:
    """Frames ``first``..``last`` (inclusive) in the source's own numbering: 0-based for video, the
    numbers in the file names for a sequence (VFX plates usually start at 1001)."""
    number: int                # 1-based position in the clip
    first: int
    last: int

    @property
    def frames(self) -> int:
        return self.last - self.first + 1


@dataclass
class ShotCorrection:
    shot: Shot
    cdl: CDL
    confidence: float | None
    label: str
    samples: list[int] = field(default_factory=list)    # frame numbers the correction was measured on
    match_confidence: float | None = None                # with a reference: the samples' mean match confidence
    # Its first, middle and last sampled thumbnails: scenes are found, and shots matched to heroes, on these.
    keyframes: list[np.ndarray] = field(default_factory=list, repr=False)


def timecode(frame: int, rate: Fraction) -> str:
    """Non-drop-frame SMPTE timecode HH:MM:SS:FF of a 0-based frame at ``rate`` (rounded to whole fps)."""
    fps = max(1, round(rate))
    seconds, frames = divmod(frame, fps)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{frames:02d}"


class CutDetector:
    """FFmpeg's ``scdet`` over frames pushed one by one; ``push`` says whether a frame starts a new shot.

    A change of frame size (a sequence of stills of mixed sizes) is a cut too."""

    def __init__(self, threshold: float = SCENE_THRESHOLD):
        self.threshold = threshold
        self.graph = None
        self.size = None
        self.count = 0

    def push(self, frame: np.ndarray) -> bool:
        """``frame``: (H, W, 3|4) uint8 or uint16 thumbnail, or float RGB in [0, 1] (a display rendering). True
        when it is the first frame of a new shot (never for the clip's very first frame)."""
        rgb = frame[..., :3]
        if rgb.dtype.kind == "f":
            rgb = from_float_rgb(rgb, None, np.uint8)
        elif rgb.dtype == np.uint16:
            rgb = (rgb >> 8).astype(np.uint8)   # scdet's score is a percentage: 8 bits decide cuts as well
        grow = -(-MIN_SIDE // min(rgb.shape[:2]))
        if grow > 1:   # repeating pixels leaves the mean difference as it was
            rgb = rgb.repeat(grow, axis=0).repeat(grow, axis=1)
        resized = self.size is not None and rgb.shape[:2] != self.size
        if self.graph is None or resized:
            self._configure(rgb.shape[1], rgb.shape[0])
        video = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        video.pts, video.time_base = self.count, Fraction(1, 25)
        self.graph.push(video)
        score = float(self.graph.pull().metadata.get("lavfi.scd.score", 0.0))
        first = self.count == 0
        self.count += 1
        return not first and (resized or score >= self.threshold)

    def _configure(self, width: int, height: int) -> None:
        self.size = (height, width)
        self.graph = av.filter.Graph()
        source = self.graph.add_buffer(width=width, height=height, format="rgb24", time_base=Fraction(1, 25))
        detector = self.graph.add("scdet", f"threshold={self.threshold}")
        sink = self.graph.add("buffersink")
        source.link_to(detector)
        detector.link_to(sink)
        self.graph.configure()


def split_at_cuts(frames: Iterable[np.ndarray], look=None) -> Iterator[tuple[int, Iterator[np.ndarray]]]:
    """Frames in order -> (position of its first frame, its frames) per shot, cut where ``CutDetector`` finds a
    cut on the frames' analysis thumbnails (what ``analyze --shots`` looks at; ``look``: what makes a thumbnail a
    picture, a colour-managed input's display rendering). Lazy, so a clip is decoded once: read each shot's
    frames to their end before asking for the next shot."""
    detector, source = CutDetector(), iter(frames)
    shown = look or (lambda thumbnail: thumbnail)
    held = next(source, None)      # the first frame of the shot to come
    if held is not None:
        detector.push(shown(shrink(held, ANALYSIS_SIDE)))
    start = 0
    while held is not None:
        first, held, taken = held, None, 0

        def shot(frame):
            nonlocal held, taken
            while True:
                yield frame
                taken += 1
                frame = next(source, None)
                if frame is None:
                    return
                if detector.push(shown(shrink(frame, ANALYSIS_SIDE))):
                    held = frame
                    return

        yield start, shot(first)
        start += taken


class EvenSample:
    """Up to ``limit`` items spread evenly over a stream of unknown length, in bounded memory: every item is
    kept until the store is full, then every other one is dropped and only every 2nd (4th ...) new one kept."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError(f"a shot needs at least 1 sample, got {limit}")
        self.limit = limit
        self.stride = 1
        self.seen = 0
        self.kept: list[tuple[int, np.ndarray]] = []

    def offer(self, number: int, frame: np.ndarray) -> None:
        if self.seen % self.stride == 0:
            self.kept.append((number, frame))
            if len(self.kept) > 2 * self.limit:
                self.kept = self.kept[::2]
                self.stride *= 2
        self.seen += 1

    def sample(self) -> list[tuple[int, np.ndarray]]:
        if len(self.kept) <= self.limit:
            return self.kept
        picks = np.linspace(0, len(self.kept) - 1, self.limit).round().astype(int)
        return [self.kept[i] for i in picks]


def correct_shots(analyze, frames: Iterable[tuple[int, np.ndarray]], samples: int = 24,
                  find_cuts: bool = True) -> Iterator[ShotCorrection]:
    """Numbered thumbnails in order -> one ShotCorrection per shot, each as soon as its shot has ended.

    ``analyze``: a function from a list of thumbnails to per-frame results with ``cdl``, ``confidence`` and
    ``label`` (``GradeClient.analyze``). With ``find_cuts`` False the whole input is one shot."""
    detector = CutDetector() if find_cuts else None
    sampler, first, last, number = EvenSample(samples), None, None, 0
    for frame_number, frame in frames:
        if detector is not None and detector.push(frame) and first is not None:
            number += 1
            yield _correct(analyze, Shot(number, first, last), sampler.sample())
            sampler, first = EvenSample(samples), None
        if first is None:
            first = frame_number
        last = frame_number
        sampler.offer(frame_number, frame)
    if first is not None:
        yield _correct(analyze, Shot(number + 1, first, last), sampler.sample())


def _correct(analyze, shot: Shot, sampled: list[tuple[int, np.ndarray]]) -> ShotCorrection:
    results = []
    for start in range(0, len(sampled), ANALYSIS_BATCH):
        results += analyze([frame for _, frame in sampled[start:start + ANALYSIS_BATCH]])
    confidences = [r.confidence for r in results if r.confidence is not None]
    matches = [r.match_confidence for r in results if r.match_confidence is not None]
    return ShotCorrection(shot=shot, cdl=shot_cdl(results),
                          confidence=float(np.mean(confidences)) if confidences else None,
                          label=Counter(r.label for r in results).most_common(1)[0][0],
                          samples=[n for n, _ in sampled],
                          match_confidence=float(np.mean(matches)) if matches else None,
                          keyframes=[sampled[i][1] for i in sorted({0, len(sampled) // 2, len(sampled) - 1})])


def shot_cdl(results: list) -> CDL:
    """One CDL for a shot from its sampled frames' results (each still's: its match taken whole, or its blind
    correction): the mean of the blind ones, moved to the mean of the taken matches as far as their share of the
    samples says (``color.stretch_match``), so a shot's frames share one verdict."""
    taken = [r.cdl for r in results if match_taken(r.match_confidence)]
    blind = [r.cdl for r in results if not match_taken(r.match_confidence)]
    verified = sum(r.match_confidence is not None and r.match_confidence > 0 for r in results)
    return stretch_match(CDL.mean(blind or taken), taken, verified, len(results))[0]
