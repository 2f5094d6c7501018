"""Clip sessions and the front end's grading logic, as plain classes of numpy arrays and colour values.

The gRPC servicer (``server.service``) translates messages to and from these; nothing here knows
protobuf, and nothing here loads torch: what the front end must know about the models comes from
the engines' ``Description``.

Window semantics: the correction of frame t is the mean of the analysis network's per-frame CDLs
(and label probabilities) over frames ``max(first, t-k) .. min(last, t+k)`` — a function of those
frames alone, so it is the same whether the clip is streamed in order, graded out of order or
interleaved with other clips. Averaging over the window is also what keeps the grade from
flickering: a CDL that moves only as fast as the window slides.

With a hero frame (``OpenClip``'s reference), every ``MATCH_EVERY``-th frame is also matched to the hero (in a
matcher process, while the engine analyses it blind), and the match is a decision per stretch of frames, never
per frame: frame t's CDL is its window's blind mean, moved to the mean of the matches taken among the matched
frames of ``t-MATCH_STRETCH .. t+MATCH_STRETCH`` as far as the share of them that verify says
(``color.stretch_match``): the few frames beside a hero that verify in a low-texture shot do not flash, the few
that fail or are unsure in a matched shot do not drop out, and between a matched and an unmatched stretch the
CDL crossfades. The clip's reach is the stretch. The hero's features are computed once, when the clip opens.

Each frame goes through a network once: its analysis (analysis modes) or its generator output at
working size (generator modes) is cached while a window still needs it. Analyses of frames from
every clip are batched in the engines with a fixed batch shape (see ``server.engine``), so batching
cannot change a result either.

A stream is pipelined: while frame t is graded on a worker thread, the stream's own thread already
receives frame t+1 and the engine starts on it. Results still leave in order, and at most
``PIPELINE_DEPTH`` frames per stream are in progress. No lock is held while a stream yields.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from colorgrade.color import (CDL, LUT3D, MATCH_SIDE, analysis_thumbnail, apply, from_float_rgb, shrink,
                              stretch_match)
from colorgrade.color import distill
from colorgrade.proto.codec import CLIP_ID_PATTERN, DEFAULT_WINDOW_RADIUS, MAX_CLIP_ID_CHARS, Mode
from colorgrade.proto.shared_memory import Region, RegionError
from colorgrade.server import protocol as msg
from colorgrade.server.limits import Limits
from colorgrade.server.metrics import Metrics

log = logging.getLogger("colorgrade.server.clips")
PIPELINE_DEPTH = 2   # frames of one stream being graded at once (results still leave in order)
MAX_REGIONS_PER_CLIP = 8   # shared-memory regions a clip may map (a stream uses two: frames in, frames out)
MATCH_STRETCH = 12         # with a hero: frames on each side whose matches decide a frame's (about a second)
MATCH_EVERY = 3            # ... of which every third is matched (frame numbers divisible by it, so the same in any
                           # order; and the clip's first): a stretch of 25 frames decides on 8 to 10 matches, at a
                           # third of the matching


class InvalidInput(ValueError):
    """The request itself is wrong (maps to INVALID_ARGUMENT)."""


class ClipNotFound(KeyError):
    """No open clip has this id (maps to NOT_FOUND)."""


class ClipExists(KeyError):
    """An open clip already has the id a client chose (maps to ALREADY_EXISTS)."""


class LimitExceeded(RuntimeError):
    """A configured cap would be exceeded (maps to RESOURCE_EXHAUSTED)."""


class NotReady(RuntimeError):
    """The request needs frames or models the server does not have (maps to FAILED_PRECONDITION)."""


@dataclass(frozen=True)
class ClipSettings:
    mode: Mode
    window_radius: int = DEFAULT_WINDOW_RADIUS   # analysis modes: frames averaged on each side
    oversample: int = 1           # generator modes: 1 or 2
    blend_radius: int = 0         # generator modes: outputs averaged on each side
    corrections_only: bool = False
    return_lut: bool = False

    def check_matchable(self) -> None:
        """A reference frame is matched in the analysis modes only: the generator has no CDL to move."""
        if not self.mode.uses_analysis:
            raise InvalidInput(f"a reference frame is matched in the analysis modes (parameters, cdl_frames), "
                               f"not in {self.mode.name}")


@dataclass(frozen=True)
class Diagnosis:
    label: str                    # the most likely label
    scores: dict[str, float]      # every label -> probability


@dataclass
class FrameResult:
    """What the server answers for one frame: the correction and, in the frames modes, the pixels."""
    index: int
    cdl: CDL | None = None
    confidence: float | None = None   # analysis modes: how sure the network is that the correction helps
    diagnosis: Diagnosis | None = None
    lut: LUT3D | None = None
    frame: np.ndarray | None = None
    match_confidence: float | None = None   # with a hero: how sure the match is (mean over the frames deciding it)

    @property
    def reference_used(self) -> bool:
        """The match to the hero carried weight (the two show one scene)."""
        return self.match_confidence is not None and self.match_confidence > 0


@dataclass
class Clip:
    clip_id: str
    name: str
    settings: ClipSettings
    reach: int                                     # frame t needs frames t-reach .. t+reach
    hero: msg.HeroFeatures | None = None           # what every frame is matched to, if anything
    frames: "OrderedDict[int, np.ndarray]" = field(default_factory=OrderedDict)
    analyses: dict = field(default_factory=dict)   # index -> Future of its engine_pool.FrameAnalysis
    generated: dict = field(default_factory=dict)  # index -> (neighbours it used, Future of msg.GeneratedFrame)
    held_bytes: int = 0
    first_index: int | None = None
    last_index: int | None = None
    next_stream_index: int | None = None
    frames_processed: int = 0
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cache_lock: threading.Lock = field(default_factory=threading.Lock)
    regions: dict = field(default_factory=dict)    # name -> proto.shared_memory.Region, mapped while the clip lives

    def around(self, t: int, radius: int) -> range:
        """Frames t-radius .. t+radius, cut at the clip's ends where they are known."""
        low = t - radius if self.first_index is None else max(self.first_index, t - radius)
        high = t + radius if self.last_index is None else min(self.last_index, t + radius)
        return range(low, high + 1)

    def window(self, t: int) -> range:
        return self.around(t, self.reach)


class ClipStore:
    """Open clips, with the caps: session count, buffered bytes, idle time."""

    def __init__(self, limits: Limits, models: msg.Description):
        self.limits, self.models = limits, models
        self.clips: dict[str, Clip] = {}
        self.held_bytes = 0   # decoded frames held across all clips
        self.lock = threading.Lock()

    def open(self, settings: ClipSettings, name: str, hero: msg.HeroFeatures | None = None, clip_id: str = "") -> Clip:
        """A new clip; ``clip_id`` is the client's choice (so a proxy can route its calls before it exists),
        empty for one of the server's."""
        if clip_id and not re.fullmatch(CLIP_ID_PATTERN, clip_id):
            shown = repr(clip_id) if len(clip_id) <= self.limits.max_id_chars else f"of {len(clip_id)} characters"
            raise InvalidInput(f"clip id {shown} is not 1-{MAX_CLIP_ID_CHARS} letters, digits, '-', '_' or '.'")
        if hero is not None:
            settings.check_matchable()
        if len(name) > self.limits.max_name_chars:
            raise InvalidInput(f"clip name of {len(name)} characters (at most {self.limits.max_name_chars})")
        for radius in ("window_radius", "blend_radius"):
            if getattr(settings, radius) > self.limits.max_window_radius:
                raise InvalidInput(f"{radius} {getattr(settings, radius)} exceeds the server's cap of "
                                   f"{self.limits.max_window_radius}")
        if settings.oversample not in (1, 2):
            raise InvalidInput(f"oversample {settings.oversample} is not 1 or 2")
        if settings.mode.uses_analysis:
            reach = settings.window_radius if hero is None else max(settings.window_radius, MATCH_STRETCH)
        else:
            reach = distill.reach(self.models.generator_radius, settings.blend_radius,
                                  settings.mode.distils_lut)
        self.evict_idle()
        with self.lock:
            if len(self.clips) >= self.limits.max_sessions:
                raise LimitExceeded(f"{len(self.clips)} clips are open, the server's cap is "
                                    f"{self.limits.max_sessions}; close clips you are done with")
            if clip_id in self.clips:
                raise ClipExists(f"a clip with id {clip_id!r} is open already; choose another id")
            clip = Clip(clip_id or uuid.uuid4().hex, name, settings, reach, hero)
            self.clips[clip.clip_id] = clip
        log.info("opened clip %s (%s) in %s, reach %d", clip.clip_id, name or "unnamed", settings.mode.name, reach)
        return clip

    def usage(self) -> dict[str, int]:
        """What the clips hold now: ``open_clips`` and ``buffered_bytes`` (frames held across them)."""
        with self.lock:
            return {"open_clips": len(self.clips), "buffered_bytes": self.held_bytes}

    def check_id(self, clip_id: str) -> None:
        if len(clip_id) > self.limits.max_id_chars:
            raise InvalidInput(f"clip id of {len(clip_id)} characters (at most {self.limits.max_id_chars})")

    def get(self, clip_id: str) -> Clip:
        self.check_id(clip_id)
        with self.lock:
            clip = self.clips.get(clip_id)
        if clip is None:
            raise ClipNotFound(f"no open clip with id {clip_id!r} (closed, evicted after idling, or never opened)")
        clip.last_used = time.monotonic()
        return clip

    def close(self, clip_id: str) -> Clip:
        self.check_id(clip_id)
        clip = self._take([clip_id], "closed by its client")
        if not clip:
            raise ClipNotFound(f"no open clip with id {clip_id!r}")
        return clip[0]

    def discard(self, clip_id: str, why: str) -> None:
        """Close a clip if it is still open (a clip whose client is gone)."""
        self._take([clip_id], why)

    def evict_idle(self) -> None:
        deadline = time.monotonic() - self.limits.idle_ttl_s
        with self.lock:
            idle = [clip.clip_id for clip in self.clips.values() if clip.last_used < deadline]
        self._take(idle, "idle")

    def _take(self, clip_ids: list[str], why: str) -> list[Clip]:
        """Remove the clips still open among ``clip_ids``, releasing their frame memory; -> those removed."""
        with self.lock:
            taken = [clip for clip in (self.clips.pop(i, None) for i in clip_ids) if clip is not None]
            for clip in taken:
                self.held_bytes -= clip.held_bytes
        for clip in taken:
            for region in clip.regions.values():
                region.close()
            log.info("closed clip %s (%s) after %d frames: %s", clip.clip_id, clip.name or "unnamed",
                     clip.frames_processed, why)
        return taken

    def map_region(self, clip: Clip, name: str, byte_size: int) -> None:
        """Map a client's shared-memory region for ``clip``'s life (its frames and results pass through it)."""
        if name not in clip.regions and len(clip.regions) >= MAX_REGIONS_PER_CLIP:
            raise LimitExceeded(f"clip {clip.clip_id} has {len(clip.regions)} shared-memory regions, the cap")
        try:
            region = Region.attach(name, byte_size)
        except RegionError as error:
            raise InvalidInput(str(error)) from None
        region.unlink()   # mapped: from now on nobody else can map it, and it goes when both sides let go
        old = clip.regions.pop(name, None)
        if old is not None:
            old.close()
        clip.regions[name] = region

    @staticmethod
    def shared_slot(clip: Clip, region: str, offset: int, byte_count: int) -> memoryview:
        """The bytes of a frame in one of ``clip``'s regions; InvalidInput for a slot that is not there."""
        if region not in clip.regions:
            raise InvalidInput(f"shared-memory region {region[:80]!r} was not sent for clip {clip.clip_id}")
        try:
            return clip.regions[region].slot(offset, byte_count)
        except RegionError as error:
            raise InvalidInput(str(error)) from None

    def keep(self, clip: Clip, index: int, frame: np.ndarray, extra_frames: int = 0) -> None:
        """Buffer frame ``index`` of ``clip`` within the memory cap; the clip's oldest frames go first.

        A clip keeps at least its window (2 * reach + 1 frames) plus ``extra_frames`` still being
        graded, so eviction never takes a frame a result in progress needs.
        """
        clip.last_used = time.monotonic()   # a clip being streamed is not idle, however long the stream
        if index in clip.frames:
            return
        with self.lock:
            if self.held_bytes + frame.nbytes > self.limits.max_buffer_bytes:
                raise LimitExceeded(f"buffering another {frame.nbytes} bytes would pass the server's frame memory "
                                    f"cap of {self.limits.max_buffer_bytes} bytes; close idle clips or send smaller "
                                    "frames")
            self.held_bytes += frame.nbytes
            clip.held_bytes += frame.nbytes
            clip.frames[index] = frame
            while len(clip.frames) > max(self.limits.frames_per_clip, 2 * clip.reach + 1 + extra_frames):
                old, dropped = clip.frames.popitem(last=False)
                self.held_bytes -= dropped.nbytes
                clip.held_bytes -= dropped.nbytes
                clip.analyses.pop(old, None)
                clip.generated.pop(old, None)


def joined(blind: Future, match: Future) -> Future:
    """The blind analysis matched, once both futures are done; no thread waits for them meanwhile."""
    result = Future()
    pending, lock = [2], threading.Lock()

    def settle(_):
        with lock:
            pending[0] -= 1
            if pending[0]:
                return
        try:
            result.set_result(blind.result().matched(match.result()))
        except Exception as error:   # the engine's or the matcher's failure, handed to whoever waits
            result.set_exception(error)

    blind.add_done_callback(settle)
    match.add_done_callback(settle)
    return result


class FrameGrader:
    """Turns clip frames into results: windows, per-frame network results through the engines,
    corrections applied at full resolution."""

    def __init__(self, engines, store: ClipStore, metrics: Metrics, workers: int = 4):
        self.engines, self.store, self.metrics = engines, store, metrics
        self.models: msg.Description = store.models
        self.workers = ThreadPoolExecutor(workers, thread_name_prefix="grade")
        # Every core grades bands of a frame at once: the engine sees thumbnails only, so applying the correction
        # at full resolution is most of a pixel mode's work (docs/results.md, benchmarks).
        self.band_count = os.cpu_count() or 1
        self.bands = ThreadPoolExecutor(self.band_count, thread_name_prefix="band")
        self.matchers = ThreadPoolExecutor(2 * workers, thread_name_prefix="match")

    def close(self, wait: bool = True) -> None:
        self.workers.shutdown(wait=wait, cancel_futures=True)
        self.bands.shutdown(wait=wait)
        self.matchers.shutdown(wait=wait, cancel_futures=True)

    # --- per-frame network results, each computed once --------------------------------------
    def _analysis_future(self, clip: Clip, index: int) -> Future:
        """Start (or find) the engine's analysis of a buffered frame, matched to the clip's hero if it has one."""
        future = clip.analyses.get(index)
        if future is None:
            # A clip's first frame too: a clip of one or two frames (a still sent as a clip, frame 1001 of a
            # plate) may hold no multiple of MATCH_EVERY, and any longer stretch holds one.
            sampled = index % MATCH_EVERY == 0 or index == clip.first_index
            hero = clip.hero if sampled else None
            future = clip.analyses[index] = self._analyse(clip.frames[index], hero)
        return future

    def _analyse(self, frame: np.ndarray, hero: msg.HeroFeatures | None) -> Future:
        # The workers get what they look at, not the frame: a 1080p frame is 6 MB, its thumbnail 0.2 MB.
        blind = self.engines.submit_analysis(analysis_thumbnail(frame, self.models.analysis_size))
        if hero is None:
            return blind
        match = self.matchers.submit(self.engines.match, shrink(frame, MATCH_SIDE), hero)   # beside, not after
        return joined(blind, match)

    def _analysis(self, clip: Clip, index: int):
        future = self._analysis_future(clip, index)
        try:
            return future.result()
        except Exception:
            clip.analyses.pop(index, None)   # a failed analysis is asked again next time, not cached
            raise

    def _generated(self, clip: Clip, index: int) -> msg.GeneratedFrame:
        """The generator's working-size input and output for a buffered frame, from the engine once.

        The output reads the frame's neighbours within the model's radius, cut at the clip's ends;
        it is cached with the neighbours it read, so a clip end learned later is not ignored.
        """
        neighbours = clip.around(index, self.models.generator_radius)
        with clip.cache_lock:   # two results of one stream, graded at once, often share a frame
            cached = clip.generated.get(index)
            owner = cached is None or cached[0] != neighbours
            if owner:
                future = Future()
                clip.generated[index] = (neighbours, future)
            else:
                future = cached[1]
        if owner:
            try:
                future.set_result(self.engines.generate_frame([clip.frames[i] for i in neighbours],
                                                              index - neighbours.start, clip.settings.oversample))
            except Exception as error:
                with clip.cache_lock:
                    clip.generated.pop(index, None)   # asked again next time, not cached
                future.set_exception(error)
        return future.result()

    # --- results out -----------------------------------------------------------------------
    def result(self, clip: Clip, t: int) -> FrameResult:
        window = clip.window(t)
        missing = [i for i in window if i not in clip.frames]
        if missing:
            raise NotReady(f"frame {t} needs frames {window.start}..{window.stop - 1} of its window; "
                           f"missing {missing} (send them in GradeFrameRequest.frames)")
        grade = self._analysis_result if clip.settings.mode.uses_analysis else self._generator_result
        with self.metrics.frame(clip.settings.mode.name):
            return grade(clip, t, window)

    def _analysis_result(self, clip: Clip, t: int, window: range) -> FrameResult:
        analyses = {i: self._analysis(clip, i) for i in window}
        blind = clip.around(t, clip.settings.window_radius)
        result = self._analysis_value(t, [analyses[i] for i in blind], list(analyses.values()))
        if clip.settings.return_lut:
            result.lut = result.cdl.to_lut()
        if clip.settings.mode.returns_pixels and not clip.settings.corrections_only:
            result.frame = apply(result.cdl, clip.frames[t], self.bands, self.band_count)
        return result

    def _generator_result(self, clip: Clip, t: int, window: range) -> FrameResult:
        settings = clip.settings
        distill_lut = settings.mode.distils_lut
        outputs = clip.around(t, distill.output_reach(settings.blend_radius, distill_lut))
        generated = [self._generated(clip, i) for i in outputs]
        frame = clip.frames[t]
        resized, lut = distill.finish(np.stack([g.working_input for g in generated]),
                                      np.stack([g.working_output for g in generated]), t - outputs.start,
                                      settings.blend_radius, distill_lut, frame.shape[:2])
        result = FrameResult(index=t, lut=lut)
        if not settings.corrections_only:
            if lut is not None:
                result.frame = apply(lut, frame, self.bands, self.band_count)
            else:
                alpha = frame[..., 3:] if frame.shape[-1] == 4 else None
                result.frame = from_float_rgb(resized, alpha, frame.dtype)
        return result

    def _analysis_value(self, index: int, analyses: list, stretch: list) -> FrameResult:
        """The mean of per-frame analyses (a window's, or one still's), moved to the matches taken in ``stretch``
        (the frames whose matches decide this one's) as far as their share says."""
        cdl = CDL.from_vector(np.mean([a.cdl for a in analyses], axis=0))
        confidences = [a.match_confidence for a in stretch if a.match_confidence is not None]
        if confidences:
            cdl, _ = stretch_match(cdl, [CDL.from_vector(a.match_cdl) for a in stretch if a.match_cdl is not None],
                                   sum(c > 0 for c in confidences), len(confidences))
        return FrameResult(index=index, cdl=cdl, confidence=float(np.mean([a.confidence for a in analyses])),
                           diagnosis=self.diagnosis(np.mean([a.probabilities for a in analyses], axis=0)),
                           match_confidence=float(np.mean(confidences)) if confidences else None)

    def diagnosis(self, probabilities: np.ndarray) -> Diagnosis:
        labels = self.models.labels
        return Diagnosis(label=labels[int(probabilities.argmax())],
                         scores={label: float(p) for label, p in zip(labels, probabilities)})

    def stream(self, clip: Clip, frames: Iterable[tuple[int, np.ndarray]]) -> Iterator[FrameResult]:
        """(index, frame) pairs in increasing index in, a result per frame out as soon as its window is complete;
        the frames still waiting for their window are flushed when ``frames`` ends."""
        in_progress: deque[Future] = deque()
        last_seen = None
        for index, frame in frames:
            with clip.lock:
                if clip.next_stream_index is not None and index != clip.next_stream_index:
                    direction = "went backwards" if index < clip.next_stream_index else "skipped ahead"
                    raise InvalidInput(f"frame index {direction}: got {index}, expected {clip.next_stream_index}")
                if clip.first_index is None:
                    clip.first_index = index
                self.store.keep(clip, index, frame, extra_frames=PIPELINE_DEPTH)
                if clip.settings.mode.uses_analysis:
                    self._analysis_future(clip, index)   # the engine starts on it while we go on
                clip.next_stream_index = index + 1
                last_seen = index
                ready = index - clip.reach
                if ready >= clip.first_index:
                    in_progress.append(self.workers.submit(self.result, clip, ready))
            while in_progress and (in_progress[0].done() or len(in_progress) >= PIPELINE_DEPTH):
                yield self._count(clip, in_progress.popleft().result())
        while in_progress:
            yield self._count(clip, in_progress.popleft().result())
        if last_seen is None:
            return
        with clip.lock:
            clip.last_index = last_seen
        for t in range(max(clip.first_index, last_seen - clip.reach + 1), last_seen + 1):
            with clip.lock:
                result = self.result(clip, t)
            yield self._count(clip, result)

    @staticmethod
    def _count(clip: Clip, result: FrameResult) -> FrameResult:
        clip.frames_processed += 1   # only the clip's one stream or (under clip.lock) grade() counts
        return result

    def grade(self, clip: Clip, index: int, frames: dict[int, np.ndarray], first_index: int | None = None,
              last_index: int | None = None) -> FrameResult:
        """Frame ``index`` out of order; ``frames`` are the neighbours the client sent along (by index)."""
        first = first_index if first_index is not None else clip.first_index
        last = last_index if last_index is not None else clip.last_index
        if first is not None and last is not None and first > last:
            raise InvalidInput(f"first_index {first} is after last_index {last}")
        if (first is not None and index < first) or (last is not None and index > last):
            raise InvalidInput(f"frame {index} is outside the clip's frames {first}..{last}")
        with clip.lock:
            if last_index is not None:
                clip.last_index = last_index
            if first_index is not None:
                clip.first_index = first_index
            for i, frame in frames.items():
                self.store.keep(clip, i, frame)
            return self._count(clip, self.result(clip, index))

    def analyze_stills(self, frames: list[np.ndarray], hero: msg.HeroFeatures | None = None) -> list[FrameResult]:
        """Each still's correction, matched to ``hero`` when given."""
        if not frames:
            raise InvalidInput("AnalyzeRequest has no frames")
        futures = [self._analyse(frame, hero) for frame in frames]
        return [self._analysis_value(i, [future.result()], [future.result()]) for i, future in enumerate(futures)]
