"""The daemon's grader in this process, for the evaluations and studies: one grading path, never a copy.

``InProcessEngines`` is an engine and a matcher as objects, behind the interface the front end's
``FrameGrader`` uses (``EnginePool``'s: analysis, describe hero, match, generate); ``InProcessGrader`` puts
the daemon's own ``ClipStore`` and ``FrameGrader`` on them and answers what a client asks of a daemon
(``analyze`` stills, matched to a reference; ``stream`` a clip), so whatever the daemon serves, an
evaluation measures — the match's blend, the windows, the batching shape included.
"""
from __future__ import annotations

from concurrent.futures import Future

import numpy as np

from colorgrade.proto.codec import DEFAULT_WINDOW_RADIUS, MODES
from colorgrade.server import protocol as msg
from colorgrade.server.clips import ClipSettings, ClipStore, FrameGrader, FrameResult
from colorgrade.server.engine import Engine
from colorgrade.server.engine_pool import EngineFailed, KeptHeroes, frame_analyses, match_by_key
from colorgrade.server.limits import Limits
from colorgrade.server.matcher import Matcher
from colorgrade.server.metrics import Metrics


class InProcessEngines:
    """An engine (the networks, ``analysis_weights`` or the shipped ones) and a matcher, called in this process."""

    def __init__(self, device: str | None = None, analysis_weights=None, untrained: bool = False):
        self.engine = Engine(device, untrained, analysis_weights=analysis_weights)
        self.matcher = Matcher()
        self.description: msg.Description = self.engine.describe(msg.Describe())
        self.devices = [self.description.device]
        self.heroes = KeptHeroes()

    @staticmethod
    def _call(handle, request):
        reply = handle(request)
        if isinstance(reply, msg.Failure):
            raise EngineFailed(reply.message)
        return reply

    def submit_analysis(self, frame: np.ndarray) -> Future:
        future = Future()
        try:
            future.set_result(frame_analyses(self._call(self.engine.handle, msg.Analyze([frame])))[0])
        except Exception as error:   # handed to whoever waits, as the pool's batcher does
            future.set_exception(error)
        return future

    def describe_hero(self, frame: np.ndarray) -> msg.HeroFeatures:
        return self.heroes.get(frame, lambda key: self._call(self.matcher.handle, msg.DescribeHero(frame, key)))

    def match(self, frame: np.ndarray, hero: msg.HeroFeatures) -> msg.Matched:
        return match_by_key(lambda request: self._call(self.matcher.handle, request), frame, hero)

    def generate_frame(self, frames: list[np.ndarray], center: int, oversample: int) -> msg.GeneratedFrame:
        return self._call(self.engine.handle, msg.GenerateFrame(frames, center, oversample))

    def close(self) -> None:
        """Nothing to stop: the networks go with this object."""


class InProcessGrader:
    """What a client asks of a daemon (``analyze``, ``stream``), answered by the daemon's own grader in process."""

    def __init__(self, engines: InProcessEngines):
        self.engines = engines
        self.store = ClipStore(Limits(), engines.description)
        self.grader = FrameGrader(engines, self.store, Metrics(), workers=2)

    def analyze(self, frames, reference: np.ndarray | None = None) -> list[FrameResult]:
        """Each still's correction, matched to ``reference`` (a graded hero frame) when given: AnalyzeStills."""
        hero = self.engines.describe_hero(reference) if reference is not None else None
        return self.grader.analyze_stills(list(frames), hero)

    def stream(self, frames, mode: str = "cdl_frames", window_radius: int = DEFAULT_WINDOW_RADIUS,
               reference: np.ndarray | None = None, **settings) -> list[FrameResult]:
        """A clip's frames through the daemon's windows: OpenClip, StreamClip, CloseClip."""
        hero = self.engines.describe_hero(reference) if reference is not None else None
        clip = self.store.open(ClipSettings(MODES[mode], window_radius=window_radius, **settings), "in process", hero)
        try:
            return list(self.grader.stream(clip, enumerate(frames)))
        finally:
            self.store.close(clip.clip_id)

    def close(self) -> None:
        self.grader.close()
        self.engines.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
