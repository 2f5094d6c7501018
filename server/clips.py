"""Clip sessions and the front end's grading logic (plain classes; the gRPC servicer only maps calls to them).

Window semantics: the correction of frame t is the mean of the analysis network's per-frame CDLs
(and label probabilities) over frames ``max(first, t-k) .. min(last, t+k)`` — a function of those
frames alone, so it is the same whether the clip is streamed in order, graded out of order or
interleaved with other clips. Averaging over the window is also what keeps the grade from
flickering: a CDL that moves only as fast as the window slides.

Each frame is analysed once and its result cached while its window needs it. Analyses of frames
from every clip are batched in the engines with a fixed batch shape (see ``server.engine``), so
batching cannot change a result either.

A stream is pipelined: while frame t is graded (its CDL applied at full resolution) on a worker
thread, the stream's own thread already receives frame t+1 and the engine analyses it. Results
still leave in order, and at most ``PIPELINE_DEPTH`` frames per stream are in progress.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from colorgrade.models.detunes import LABELS
from colorgrade.models.generator import reach as generator_reach
from colorgrade.proto import grader_pb2 as pb
from colorgrade.proto.cdl import CDL
from colorgrade.proto.codec import cdl_to_message, decode_frame, encode_frame, from_float_rgb, lut_to_message, to_float_rgb
from colorgrade.proto.lut import LUT3D
from colorgrade.server.limits import Limits
from colorgrade.server.metrics import Metrics

log = logging.getLogger("colorgrade.server.clips")
PIPELINE_DEPTH = 2   # frames of one stream being graded at once (results still leave in order)


class InvalidInput(ValueError):
    """The request itself is wrong (maps to INVALID_ARGUMENT)."""


class ClipNotFound(KeyError):
    """No open clip has this id (maps to NOT_FOUND)."""


class LimitExceeded(RuntimeError):
    """A configured cap would be exceeded (maps to RESOURCE_EXHAUSTED)."""


class NotReady(RuntimeError):
    """The request needs frames or models the server does not have (maps to FAILED_PRECONDITION)."""


ANALYSIS_MODES = {pb.MODE_PARAMETERS, pb.MODE_CDL_FRAMES}


@dataclass
class Clip:
    clip_id: str
    name: str
    settings: pb.ClipSettings
    reach: int                                     # frame t needs frames t-reach .. t+reach
    frames: "OrderedDict[int, np.ndarray]" = field(default_factory=OrderedDict)
    analyses: dict = field(default_factory=dict)   # index -> Future of (cdl vector (10,), probabilities (25,))
    held_bytes: int = 0
    first_index: int | None = None
    last_index: int | None = None
    next_stream_index: int | None = None
    frames_processed: int = 0
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def window(self, t: int) -> range:
        low = t - self.reach if self.first_index is None else max(self.first_index, t - self.reach)
        high = t + self.reach if self.last_index is None else min(self.last_index, t + self.reach)
        return range(low, high + 1)


class ClipStore:
    """Open clips, with the caps: session count, buffered bytes, idle time."""

    def __init__(self, limits: Limits, generator_radius: int):
        self.limits, self.generator_radius = limits, generator_radius
        self.clips: dict[str, Clip] = {}
        self.held_bytes = 0   # decoded frames held across all clips
        self.lock = threading.Lock()

    def open(self, settings: pb.ClipSettings, name: str) -> Clip:
        if settings.mode not in pb.Mode.values() or settings.mode == pb.MODE_UNSPECIFIED:
            raise InvalidInput(f"clip mode {settings.mode} is not a known mode (see colorgrade.v1.Mode)")
        for radius in ("window_radius", "blend_radius"):
            if getattr(settings, radius) > self.limits.max_window_radius:
                raise InvalidInput(f"{radius} {getattr(settings, radius)} exceeds the server's cap of "
                                   f"{self.limits.max_window_radius}")
        if settings.oversample not in (0, 1, 2):
            raise InvalidInput(f"oversample {settings.oversample} is not 1 or 2")
        if settings.mode in ANALYSIS_MODES:
            reach = settings.window_radius
        else:
            reach = generator_reach(self.generator_radius, settings.blend_radius,
                                    distill_lut=settings.mode == pb.MODE_GENERATOR_LUT)
        self.evict_idle()
        with self.lock:
            if len(self.clips) >= self.limits.max_sessions:
                raise LimitExceeded(f"{len(self.clips)} clips are open, the server's cap is "
                                    f"{self.limits.max_sessions}; close clips you are done with")
            clip = Clip(uuid.uuid4().hex, name, settings, reach)
            self.clips[clip.clip_id] = clip
        log.info("opened clip %s (%s) in %s, reach %d", clip.clip_id, name or "unnamed", pb.Mode.Name(settings.mode),
                 reach)
        return clip

    def get(self, clip_id: str) -> Clip:
        with self.lock:
            clip = self.clips.get(clip_id)
        if clip is None:
            raise ClipNotFound(f"no open clip with id {clip_id!r} (closed, evicted after idling, or never opened)")
        clip.last_used = time.monotonic()
        return clip

    def close(self, clip_id: str) -> Clip:
        with self.lock:
            clip = self.clips.pop(clip_id, None)
            if clip is not None:
                self.held_bytes -= clip.held_bytes
        if clip is None:
            raise ClipNotFound(f"no open clip with id {clip_id!r}")
        log.info("closed clip %s (%s) after %d frames", clip_id, clip.name or "unnamed", clip.frames_processed)
        return clip

    def evict_idle(self) -> None:
        deadline = time.monotonic() - self.limits.idle_ttl_s
        with self.lock:
            idle = [clip for clip in self.clips.values() if clip.last_used < deadline]
            for clip in idle:
                del self.clips[clip.clip_id]
                self.held_bytes -= clip.held_bytes
        for clip in idle:
            log.info("closed idle clip %s (%s) after %d frames", clip.clip_id, clip.name or "unnamed",
                     clip.frames_processed)

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


class FrameGrader:
    """Turns clip frames into results: windows, per-frame analysis through the engines, CDL application."""

    def __init__(self, engines, store: ClipStore, metrics: Metrics, workers: int = 4):
        self.engines, self.store, self.metrics = engines, store, metrics
        self.workers = ThreadPoolExecutor(workers, thread_name_prefix="grade")
        # Half the cores grade bands of a frame at once (a CPU engine has the other half).
        self.band_count = max(1, (os.cpu_count() or 2) // 2)
        self.bands = ThreadPoolExecutor(self.band_count, thread_name_prefix="band")

    def close(self) -> None:
        self.workers.shutdown(wait=True, cancel_futures=True)
        self.bands.shutdown(wait=True)

    # --- frames in -------------------------------------------------------------------------
    def decode(self, message: pb.Frame) -> np.ndarray:
        try:
            return decode_frame(message, self.store.limits.max_frame_pixels)
        except ValueError as error:
            raise InvalidInput(str(error)) from None

    def _analysis_future(self, clip: Clip, index: int) -> Future:
        """Start (or find) the engine's analysis of a buffered frame."""
        future = clip.analyses.get(index)
        if future is None:
            future = clip.analyses[index] = self.engines.submit_analysis(clip.frames[index])
        return future

    def _analysis(self, clip: Clip, index: int):
        future = self._analysis_future(clip, index)
        try:
            return future.result()
        except Exception:
            clip.analyses.pop(index, None)   # a failed analysis is asked again next time, not cached
            raise

    # --- results out -----------------------------------------------------------------------
    def result(self, clip: Clip, t: int) -> pb.FrameResult:
        window = clip.window(t)
        missing = [i for i in window if i not in clip.frames]
        if missing:
            raise NotReady(f"frame {t} needs frames {window.start}..{window.stop - 1} of its window; "
                           f"missing {missing} (send them in GradeFrameRequest.frames)")
        grade = self._analysis_result if clip.settings.mode in ANALYSIS_MODES else self._generator_result
        with self.metrics.frame(pb.Mode.Name(clip.settings.mode)):
            return grade(clip, t, window)

    def _analysis_result(self, clip: Clip, t: int, window: range) -> pb.FrameResult:
        analyses = [self._analysis(clip, i) for i in window]
        vector = np.mean([a[0] for a in analyses], axis=0)
        probabilities = np.mean([a[1] for a in analyses], axis=0)
        cdl = CDL.from_vector(vector)
        correction = correction_message(cdl, probabilities)
        if clip.settings.return_lut:
            correction.lut.CopyFrom(lut_to_message(cdl.to_lut()))
        result = pb.FrameResult(index=t, correction=correction)
        if clip.settings.mode == pb.MODE_CDL_FRAMES and not clip.settings.corrections_only:
            result.frame.CopyFrom(encode_frame(apply_to_frame(cdl, clip.frames[t], self.bands, self.band_count), index=t))
        return result

    def _generator_result(self, clip: Clip, t: int, window: range) -> pb.FrameResult:
        settings = clip.settings
        distill = settings.mode == pb.MODE_GENERATOR_LUT
        graded, table = self.engines.generate([clip.frames[i] for i in window], t - window.start,
                                              max(1, settings.oversample), settings.blend_radius, distill)
        frame = clip.frames[t]
        result = pb.FrameResult(index=t)
        if table is not None:
            result.correction.lut.CopyFrom(lut_to_message(LUT3D(table)))
        if not settings.corrections_only:
            alpha = frame[..., 3:] if frame.shape[-1] == 4 else None
            result.frame.CopyFrom(encode_frame(from_float_rgb(graded, alpha, frame.dtype), index=t))
        return result

    def stream(self, clip: Clip, requests):
        """Frames in increasing index in, a result per frame out as soon as its window is complete."""
        in_progress: deque[Future] = deque()
        analysis_mode = clip.settings.mode in ANALYSIS_MODES
        last_seen = None
        for request in requests:
            if request.HasField("frame"):
                index = request.frame.index
                with clip.lock:
                    if clip.next_stream_index is not None and index != clip.next_stream_index:
                        direction = "went backwards" if index < clip.next_stream_index else "skipped ahead"
                        raise InvalidInput(f"frame index {direction}: got {index}, expected {clip.next_stream_index}")
                    frame = self.decode(request.frame)
                    if clip.first_index is None:
                        clip.first_index = index
                    self.store.keep(clip, index, frame, extra_frames=PIPELINE_DEPTH)
                    if analysis_mode:
                        self._analysis_future(clip, index)   # the engine starts on it while we go on
                    clip.next_stream_index = index + 1
                    last_seen = index
                    ready = index - clip.reach
                    if ready >= clip.first_index:
                        in_progress.append(self.workers.submit(self.result, clip, ready))
                while in_progress and (in_progress[0].done() or len(in_progress) >= PIPELINE_DEPTH):
                    yield self._count(clip, in_progress.popleft().result())
            if request.end_of_clip:
                break
        while in_progress:
            yield self._count(clip, in_progress.popleft().result())
        if last_seen is None:
            return
        with clip.lock:
            clip.last_index = last_seen
            for t in range(max(clip.first_index, last_seen - clip.reach + 1), last_seen + 1):
                yield self._count(clip, self.result(clip, t))

    @staticmethod
    def _count(clip: Clip, result: pb.FrameResult) -> pb.FrameResult:
        clip.frames_processed += 1   # only the clip's one stream or (under clip.lock) grade() counts
        return result

    def grade(self, clip: Clip, request: pb.GradeFrameRequest) -> pb.FrameResult:
        with clip.lock:
            if request.HasField("last_index"):
                clip.last_index = request.last_index
            if request.HasField("first_index"):
                clip.first_index = request.first_index
            for message in request.frames:
                self.store.keep(clip, message.index, self.decode(message))
            return self._count(clip, self.result(clip, request.index))

    def analyze_stills(self, messages) -> pb.AnalyzeReply:
        if not messages:
            raise InvalidInput("AnalyzeRequest has no frames")
        cdls, probabilities = self.engines.analyze([self.decode(message) for message in messages])
        return pb.AnalyzeReply(corrections=[correction_message(CDL.from_vector(cdl), p)
                                            for cdl, p in zip(cdls, probabilities)])


def apply_to_frame(cdl: CDL, frame: np.ndarray, pool: ThreadPoolExecutor | None = None, bands: int = 1) -> np.ndarray:
    """Grade a wire frame (any sample type, RGB or RGBA) by ``cdl``; alpha and type are kept.

    With a ``pool``, ``bands`` horizontal bands of the frame are graded on its threads at once
    (numpy lets go of the interpreter lock while it works); each pixel's arithmetic is the same.
    """
    if pool is not None and bands > 1 and frame.shape[0] >= bands:
        out = np.empty_like(frame)

        def grade_band(rows: slice) -> None:
            out[rows] = apply_to_frame(cdl, frame[rows])

        edges = np.linspace(0, frame.shape[0], bands + 1).astype(int)
        list(pool.map(grade_band, [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]))
        return out
    if frame.dtype.kind == "u":
        graded = cdl.apply_codes(frame[..., :3])
        return np.concatenate([graded, frame[..., 3:]], axis=-1) if frame.shape[-1] == 4 else graded
    rgb, alpha = to_float_rgb(frame)
    return from_float_rgb(cdl.apply(rgb), alpha, frame.dtype)


def correction_message(cdl: CDL, probabilities: np.ndarray) -> pb.Correction:
    return pb.Correction(cdl=cdl_to_message(cdl), diagnosis=pb.Diagnosis(
        label=LABELS[int(probabilities.argmax())],
        scores={label: float(p) for label, p in zip(LABELS, probabilities)}))
