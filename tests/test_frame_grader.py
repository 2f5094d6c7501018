"""FrameGrader over an in-process engine: the daemon's generator path (each frame through the network once,
windows assembled from cached per-frame outputs) gives exactly what the generator gives in one piece."""
from concurrent.futures import Future

import numpy as np
import pytest
import torch

from colorgrade.color import CDL, apply, from_float_rgb, to_float_rgb
from colorgrade.models import generator as gen
from colorgrade.server import protocol as msg
from colorgrade.proto.codec import MODES
from colorgrade.server.clips import ClipSettings, ClipStore, FrameGrader, joined
from colorgrade.server.engine_pool import FrameAnalysis
from colorgrade.server.in_process import InProcessEngines
from colorgrade.server.limits import Limits
from colorgrade.server.metrics import Metrics


class CountingEngines(InProcessEngines):
    """The daemon's engines in process, counting the frames sent through the generator."""
    generated = 0

    def generate_frame(self, frames, center, oversample):
        self.generated += 1
        return super().generate_frame(frames, center, oversample)


class RecordingEngines(CountingEngines):
    """... and keeping what each analysis was sent."""

    def __init__(self):
        super().__init__("cpu", untrained=True)
        self.sent = []

    def submit_analysis(self, frame):
        self.sent.append(frame)
        return super().submit_analysis(frame)


@pytest.fixture(scope="module")
def engines():
    engines = CountingEngines("cpu", untrained=True)
    # A temporal generator (radius 2) whose random head makes every input frame move the output.
    engines.engine.generator = gen.untrained(frames=5, device="cpu")
    with torch.no_grad():
        torch.manual_seed(1)
        engines.engine.generator.network.head.weight.normal_(0, 0.02)
    return engines


def test_only_a_thumbnail_goes_to_the_engine_and_the_analysis_is_the_whole_frames():
    """The front end block-averages a frame before the engine sees it, and the network's answer is exactly the
    one it gives for the whole frame."""
    recording = RecordingEngines()
    frame = (np.random.default_rng(3).random((1080, 1920, 4)) * 65535).astype(np.uint16)
    grader = FrameGrader(recording, ClipStore(Limits(), recording.description), Metrics())
    served, = grader.analyze_stills([frame])
    grader.close()
    sent, = recording.sent
    assert sent.shape == (98, 174, 3) and sent.nbytes < frame.nbytes / 40
    whole = recording.engine.handle(msg.Analyze([frame]))   # the engine takes a whole frame too, as it once did
    np.testing.assert_array_equal(served.cdl.to_vector(), whole.cdls[0])


def clip_frames(count=9, size=(36, 64), seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.random((*size, 4)) * 255).astype(np.uint8) for _ in range(count)]


@pytest.mark.parametrize("mode, oversample, blend", [(MODES["generator_lut"], 1, 0), (MODES["generator_lut"], 1, 1),
                                                     (MODES["generator_frames"], 2, 1), (MODES["generator_frames"], 1, 0)])
def test_generator_frames_go_through_the_network_once_and_results_equal_the_generator(engines, mode, oversample,
                                                                                      blend):
    store = ClipStore(Limits(), engines.description)
    grader = FrameGrader(engines, store, Metrics())
    frames = clip_frames()
    clip = store.open(ClipSettings(mode=mode, oversample=oversample, blend_radius=blend), "test")
    engines.generated = 0
    streamed = list(grader.stream(clip, enumerate(frames)))
    grader.close()
    assert [r.index for r in streamed] == list(range(len(frames)))
    assert engines.generated == len(frames)        # not once per window it appears in

    distill = mode is MODES["generator_lut"]
    expected = engines.engine.generator.grade([to_float_rgb(f)[0] for f in frames], oversample, blend, distill)
    for result, frame, graded in zip(streamed, frames, expected):
        np.testing.assert_array_equal(result.frame, from_float_rgb(graded, frame[..., 3:], np.uint8))
        assert (result.lut is not None) == distill
        if distill:
            np.testing.assert_array_equal(result.frame, apply(result.lut, frame))


def test_random_access_equals_the_stream_and_reuses_cached_outputs(engines):
    store = ClipStore(Limits(), engines.description)
    grader = FrameGrader(engines, store, Metrics())
    frames = clip_frames(count=7, seed=1)
    settings = ClipSettings(mode=MODES["generator_lut"])
    streamed = list(grader.stream(store.open(settings, "stream"), enumerate(frames)))
    clip = store.open(settings, "random access")
    engines.generated = 0
    for t in (3, 4, 3):
        result = grader.grade(clip, t, dict(enumerate(frames)), first_index=0, last_index=6)
        np.testing.assert_array_equal(result.frame, streamed[t].frame)
    # Frame 3 needs outputs 1..5, frame 4 outputs 2..6 (radius 2 fit, frame 6 is the last): 6 frames in all.
    assert engines.generated == 6
    grader.close()


def test_a_matched_analysis_is_ready_when_both_halves_are_and_carries_either_failure():
    blind_cdl = np.array([1.0] * 3 + [0.0] * 3 + [1.0] * 4)
    for first, confidence in (("blind", 0.75), ("match", 0.75), ("blind", 0.25)):
        blind, match = Future(), Future()
        result = joined(blind, match)
        halves = {"blind": lambda: blind.set_result(FrameAnalysis(blind_cdl, np.zeros(3), 0.5)),
                  "match": lambda: match.set_result(msg.Matched(cdl=blind_cdl * 2, confidence=confidence))}
        halves[first]()
        assert not result.done()                       # one half is not an answer
        halves["match" if first == "blind" else "blind"]()
        answer = result.result(timeout=1)
        np.testing.assert_array_equal(answer.cdl, blind_cdl)   # the blind half stays itself; the window decides
        assert answer.match_confidence == confidence
        if confidence >= 0.5:                          # a sure match is taken whole, an unsure one not at all
            np.testing.assert_array_equal(answer.match_cdl, blind_cdl * 2)
        else:
            assert answer.match_cdl is None
    blind, match = Future(), Future()
    result = joined(blind, match)
    match.set_exception(RuntimeError("matcher 1 exited"))
    blind.set_result(FrameAnalysis(blind_cdl, np.zeros(3), 0.5))
    with pytest.raises(RuntimeError, match="matcher 1 exited"):
        result.result(timeout=1)


class MatchCountingEngines(InProcessEngines):
    """The daemon's engines in process, keeping the shapes of the frames sent to the matcher."""

    def __init__(self):
        super().__init__("cpu", untrained=True)
        self.matched = []

    def match(self, frame, hero):
        self.matched.append(frame.shape)
        return super().match(frame, hero)


def test_a_clip_with_a_hero_matches_every_third_frame_and_any_order_decides_the_same():
    """A match is decided per stretch, so the stretch's frames are sampled: frames 0, 3, 6 ... go to the matcher
    (a third of the matching), and a frame graded on its own gets the CDL the stream gave it."""
    from colorgrade.server.clips import MATCH_EVERY

    engines = MatchCountingEngines()
    store = ClipStore(Limits(), engines.description)
    grader = FrameGrader(engines, store, Metrics())
    rng = np.random.default_rng(4)
    scene = (rng.random((90, 160, 3)) * 255).astype(np.uint8)
    frames = [np.clip(scene.astype(int) + rng.integers(-3, 4, scene.shape), 0, 255).astype(np.uint8)
              for _ in range(14)]
    hero = engines.describe_hero(apply(CDL(slope=(1.1, 1.0, 0.9)), frames[7]))
    settings = ClipSettings(mode=MODES["parameters"])
    streamed = list(grader.stream(store.open(settings, "stream", hero), enumerate(frames)))
    assert len(engines.matched) == len(range(0, 14, MATCH_EVERY)) == 5
    assert all(r.match_confidence is not None and r.match_confidence > 0.5 for r in streamed)
    clip = store.open(settings, "random access", hero)
    for t in (13, 2):
        alone = grader.grade(clip, t, dict(enumerate(frames)), first_index=0, last_index=13)
        np.testing.assert_allclose(alone.cdl.to_vector(), streamed[t].cdl.to_vector(), atol=1e-12)
    for first, count in ((1001, 1), (1000, 2)):       # no multiple of 3 among them: the first frame is matched
        short = list(grader.stream(store.open(settings, "short", hero), enumerate(frames[:count], start=first)))
        assert all(r.match_confidence is not None and r.match_confidence > 0.5 for r in short)
    grader.close()
