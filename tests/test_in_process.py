"""One grading path: the evaluations' in-process grader answers exactly as a running daemon does, and a match
names its hero by key, sending the hero's features only to a matcher that lacks them."""
import numpy as np
import pytest

from colorgrade.clients import GradeClient
from colorgrade.color import apply
from colorgrade.server import protocol as msg
from colorgrade.server.engine_pool import match_by_key
from colorgrade.server.in_process import InProcessEngines, InProcessGrader
from colorgrade.server.matcher import Matcher
from daemon_fixtures import RunningDaemon
from test_matching import CAST, framings


@pytest.fixture(scope="module")
def grader():
    with InProcessGrader(InProcessEngines("cpu")) as grader:
        yield grader


@pytest.fixture(scope="module")
def daemon():
    with RunningDaemon("--port", "0", "--device", "cpu") as daemon:
        yield daemon


def test_the_in_process_grader_answers_as_the_daemon_does(grader, daemon):
    hero, clean = framings("dune")
    shot = apply(CAST, clean)
    other, _ = framings("ladybird")
    with GradeClient(daemon.address) as client:
        for reference in (None, hero, other):   # blind, matched, another scene's hero (blind stands)
            served = client.analyze([shot, clean], reference=reference)
            local = grader.analyze([shot, clean], reference=reference)
            for a, b in zip(served, local):
                np.testing.assert_allclose(a.cdl.to_vector(), b.cdl.to_vector(), atol=1e-6)
                assert a.match_confidence == pytest.approx(b.match_confidence) if reference is not None \
                    else b.match_confidence is None
                assert a.reference_used == b.reference_used
        assert grader.analyze([shot], reference=hero)[0].reference_used
        clip = client.open_clip(mode="cdl_frames", window_radius=1)
        frames = [np.roll(shot, 3 * t, axis=1) for t in range(4)]
        served = [result.frame for result in client.stream(clip, frames)]
        client.close_clip(clip)
    local = [result.frame for result in grader.stream(frames, mode="cdl_frames", window_radius=1)]
    assert all(np.array_equal(a, b) for a, b in zip(served, local))


def test_a_match_sends_the_heros_features_only_to_a_matcher_that_lacks_them():
    hero_frame, clean = framings("garden")
    shot = apply(CAST, clean)
    hero = Matcher().describe_hero(msg.DescribeHero(hero_frame, "garden-hero"))
    fresh, carried = Matcher(), []   # a matcher started after the hero was described (or restarted since)

    def call(request):
        carried.append(request.hero is not None)
        return fresh.handle(request)

    first = match_by_key(call, shot, hero)
    assert carried == [False, True] and first.confidence > 0.8
    again = match_by_key(call, shot, hero)
    assert carried == [False, True, False]                         # kept since: the key alone
    np.testing.assert_array_equal(first.cdl, again.cdl)
    assert isinstance(fresh.handle(msg.MatchFrame(shot, "never described")), msg.HeroWanted)


def test_a_matcher_keeps_only_its_latest_heroes():
    hero_frame, _ = framings("garden")
    matcher = Matcher(kept=2)
    for key in ("a", "b", "c"):
        matcher.describe_hero(msg.DescribeHero(hero_frame, key))
    assert list(matcher.heroes) == ["b", "c"]
