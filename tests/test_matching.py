"""Matching to a hero frame: the CDL fit, the matcher on real photos, and the daemon and commands that serve it."""
import json
import os
import signal
import subprocess
import sys

import grpc
import numpy as np
import pytest

from colorgrade.clients import GradeClient, GradeError, media
from colorgrade.color import CDL, apply
from colorgrade.color.fit import fit_cdl
from colorgrade import matching
from colorgrade.matching import sift
from colorgrade.models import metrics
from colorgrade.proto import grader_pb2 as pb
from colorgrade.proto.codec import encode_frame
from colorgrade.server.engine_pool import KeptHeroes
from conftest import SAMPLES
from daemon_fixtures import RunningDaemon

CAST = CDL(slope=(1.15, 1.0, 0.8), offset=(0.0, 0.01, 0.0), power=(1.0, 1.05, 1.0))


def framings(name="garden"):
    """Two overlapping framings of a sample photo: the hero (top left) and the shot (bottom right), 8-bit."""
    image = media.read_image(SAMPLES / "photos" / f"{name}.png")[..., :3]
    height, width = image.shape[:2]
    return image[:int(height * 0.75), :int(width * 0.7)], image[height - int(height * 0.75):, width - int(width * 0.7):]


def delta_e(a, b):
    return float(metrics.ciede2000(a.astype(np.float64) / 255, b.astype(np.float64) / 255).mean())


def test_fit_cdl_recovers_a_cdl_and_ignores_pairs_that_disagree():
    colours = media.read_image(SAMPLES / "photos" / "garden.png")[::8, ::8, :3].reshape(-1, 3) / 255.0
    truth = CDL((1.2, 0.95, 0.8), (0.02, -0.01, 0.03), (0.9, 1.1, 1.05), 0.85)
    targets = truth.apply(colours.astype(np.float32))
    fitted, _ = fit_cdl(colours, targets)
    np.testing.assert_allclose(fitted.to_vector(), truth.to_vector(), atol=5e-3)   # the faint pull to identity
    corrupted = targets.copy()
    wrong = np.random.default_rng(0).random(len(corrupted)) < 0.2        # a fifth of the pairs: anything at all
    corrupted[wrong] = np.random.default_rng(1).random((wrong.sum(), 3))
    robust, weights = fit_cdl(colours, corrupted)
    assert np.abs(robust.apply(colours.astype(np.float32)) - targets).mean() < 1e-3
    assert weights[wrong].mean() < 0.2 < weights[~wrong].mean()


@pytest.mark.parametrize("name", ["garden", "dune"])
def test_a_shot_of_the_heroes_scene_is_matched_near_the_answer(name):
    hero, clean = framings(name)
    shot = apply(CAST, clean)
    found = matching.match(shot, matching.describe(hero))
    assert found.confidence > 0.8 and found.inliers > sift.MIN_INLIERS and found.shared > 0.3
    best, _ = fit_cdl(shot / 255, clean / 255)          # the best CDL knowing the answer (clipping bounds it)
    assert delta_e(shot, clean) > 4 and delta_e(apply(found.cdl, shot), clean) < delta_e(apply(best, shot), clean) + 0.6


def test_the_heroes_look_is_carried_over():
    hero, clean = framings("ladybird")
    look = CDL(slope=(1.05, 1.0, 0.9), offset=(0.02, 0.0, -0.01), saturation=1.2)   # warm, punchy
    found = matching.match(apply(CAST, clean), matching.describe(apply(look, hero)))
    assert found.confidence > 0.5 and delta_e(apply(found.cdl, apply(CAST, clean)), apply(look, clean)) < 1.5


def test_a_hero_of_another_scene_is_not_matched():
    hero, _ = framings("aqua")
    _, clean = framings("garden")
    found = matching.match(apply(CAST, clean), matching.describe(hero))
    assert found.confidence == 0 and found.cdl == CDL()


def test_a_small_frame_is_matched_at_the_matchers_own_size():
    """Frames 144 px wide (a phone's QCIF clip): SIFT on the frames as they come finds too few keypoints to verify
    (14 pairs here, confidence 0); resampled to MATCH_SIDE the same pictures verify and match."""
    import cv2

    def phone(image):
        return cv2.resize(image, (144, round(144 * image.shape[0] / image.shape[1])), interpolation=cv2.INTER_AREA)

    hero, clean = (phone(image) for image in framings("aqua"))
    shot = apply(CAST, clean)
    found = matching.match(shot, matching.describe(hero))
    assert found.confidence > 0.8
    best, _ = fit_cdl(shot / 255, clean / 255)
    assert delta_e(shot, clean) > 4 and delta_e(apply(found.cdl, shot), clean) < delta_e(apply(best, shot), clean) + 1


def test_a_soft_small_frame_of_the_heroes_scene_is_matched():
    """A soft 176-px framing (a proxy, a phone clip out of focus) has few keypoints even at MATCH_SIDE: its few
    verified pairs (8 of the 16 that counted fully before) with edges that agree are evidence enough."""
    import cv2

    def soft(image):
        small = cv2.resize(image, (176, round(176 * image.shape[0] / image.shape[1])), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, (0, 0), 2)

    hero, clean = (soft(image) for image in framings("ladybird"))
    found = matching.match(apply(CAST, clean), matching.describe(hero))
    assert found.confidence >= 0.5 and found.structure > 0.8
    assert delta_e(apply(found.cdl, apply(CAST, clean)), clean) < delta_e(apply(CAST, clean), clean) / 3


def test_edges_agree_under_a_right_homography_whatever_the_colour_and_not_under_chance():
    """The structure check: a frame and its hero warped onto it agree edge by edge (a colour error turns no
    edge; a moving subject's strong edges do not outvote the still scene's), unrelated pictures do not."""
    def rgb(name):
        return media.read_image(SAMPLES / "photos" / f"{name}.png")[:200, :300, :3].astype(np.float32) / 255

    garden, covered = rgb("garden"), np.ones((200, 300), bool)
    assert sift.structure_agreement(garden, garden, covered) > 0.99
    assert sift.structure_agreement(apply(CAST, garden), garden, covered) > 0.9
    for other in ("aqua", "dune", "ladybird"):
        assert abs(sift.structure_agreement(garden, rgb(other), covered)) < 0.2
    flat = np.full_like(garden, 0.3) + np.random.default_rng(0).normal(0, 0.004, garden.shape[:2])[..., None]
    flat[::25] += 0.05                                            # faint painted lines: the still scene's edges
    with_car = flat.copy()
    with_car[120:170, 40:110] = np.indices((50, 70)).sum(axis=0)[..., None] % 8 < 4   # a strong-edged moving subject
    assert sift.structure_agreement(with_car, flat, covered) > 0.6


@pytest.fixture(scope="module")
def daemon():
    running = RunningDaemon("--port", "0")
    yield running
    running.stop()


def test_the_daemon_matches_stills_and_clips_and_falls_back_on_another_scene(daemon):
    hero, clean = framings("dune")
    shot, elsewhere = apply(CAST, clean), framings("aqua")[0]
    with GradeClient(daemon.address) as client:
        blind, = client.analyze([shot])
        matched, = client.analyze([shot], reference=hero)
        unrelated, = client.analyze([shot], reference=elsewhere)
        assert blind.match_confidence is None and not blind.reference_used
        assert matched.reference_used and matched.match_confidence > 0.8
        assert delta_e(apply(matched.cdl, shot), clean) < min(1.5, delta_e(apply(blind.cdl, shot), clean) / 2)
        assert unrelated.match_confidence == 0 and not unrelated.reference_used and unrelated.cdl == blind.cdl
        clip = client.open_clip(mode="cdl_frames", window_radius=1, reference=hero)
        graded = list(client.stream(clip, [shot] * 3))
        assert all(r.reference_used for r in graded)
        np.testing.assert_allclose(graded[1].cdl.to_vector(), matched.cdl.to_vector(), atol=1e-9)   # the same frames
        assert delta_e(graded[1].frame, clean) < 1.5


@pytest.mark.parametrize("size", [(1, 1), (100, 176)])
def test_a_hero_with_no_detail_is_no_match_and_the_matcher_lives_on(daemon, size):
    """A clip that opens on black made ``VIDEO@0`` a black hero: it has no features, and the matcher died
    sending them (an empty array on the wire). It is a hero of nothing: the blind correction stands."""
    hero, clean = framings("dune")
    shot = apply(CAST, clean)
    with GradeClient(daemon.address) as client:
        blind, = client.analyze([shot])
        black, = client.analyze([shot], reference=np.zeros((*size, 3), np.uint8))
        assert black.match_confidence == 0 and not black.reference_used and black.cdl == blind.cdl
        matched, = client.analyze([shot], reference=hero)        # the same matcher, still serving
        assert matched.reference_used and matched.match_confidence > 0.8


def test_a_hero_without_features_crosses_the_wire_and_an_unsendable_reply_fails_only_its_request():
    import threading

    import zmq

    from colorgrade.server import protocol as msg
    from colorgrade.server import worker

    features = msg.HeroFeatures("flat", matching.describe(np.zeros((8, 8, 3), np.uint8)))
    assert msg.decode(msg.encode(features)).arrays["descriptors"].shape == (0, 128)
    replies = iter([msg.HeroWanted({"not", "json"}), msg.HeroWanted("kept")])   # a set: no JSON carries it
    threading.Thread(target=worker.serve_forever, args=("inproc://unsendable", lambda _: next(replies)),
                     daemon=True).start()
    socket = zmq.Context.instance().socket(zmq.REQ)
    socket.setsockopt(zmq.RCVTIMEO, 5000)            # a worker that died answers nothing: fail, do not hang
    socket.connect("inproc://unsendable")
    answers = []
    for _ in range(2):
        socket.send_multipart(msg.encode(msg.HeroWanted("asked")))
        answers.append(msg.decode(socket.recv_multipart()))
    socket.close()
    assert isinstance(answers[0], msg.Failure) and "unsendable HeroWanted" in answers[0].message
    assert answers[1] == msg.HeroWanted("kept")


def test_a_killed_matcher_is_restarted_and_the_match_is_the_same(daemon):
    """Matching runs in processes of its own beside the engine; one that dies is started again and the
    frame in flight is matched again, to the same result."""
    hero, clean = framings("garden")
    shot = apply(CAST, clean)
    with GradeClient(daemon.address) as client:
        before, = client.analyze([shot], reference=hero)
        killed = daemon.matcher_pids()
        assert killed
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        clip = client.open_clip(mode="parameters", window_radius=0, reference=hero)   # describes the hero anew
        after = list(client.stream(clip, [shot] * 2))
        assert set(daemon.matcher_pids()).isdisjoint(killed) and daemon.matcher_pids()
        for result in after:
            np.testing.assert_array_equal(result.cdl.to_vector(), before.cdl.to_vector())
            assert result.match_confidence == before.match_confidence


def test_a_hero_sent_again_is_described_once():
    calls = []

    def describe(key):
        calls.append(key)
        return object()

    kept = KeptHeroes(size=2)
    hero = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    first = kept.get(hero, describe)
    assert kept.get(hero.copy(), describe) is first and len(calls) == 1          # same content, another array
    assert kept.get(hero.reshape(2, 8, 3), describe) is not first               # the same bytes, another shape
    kept.get(hero + 1, describe)                                                 # a third hero: the first goes
    assert len(calls) == 3
    kept.get(hero, describe)
    assert len(calls) == 4


def test_a_reference_is_refused_clearly_where_it_cannot_be_used(daemon):
    hero, _ = framings()
    with GradeClient(daemon.address) as client:
        with pytest.raises(GradeError) as refused:
            client.open_clip(mode="generator_lut", reference=hero)
        assert refused.value.code is grpc.StatusCode.INVALID_ARGUMENT and "analysis modes" in str(refused.value)
        broken = encode_frame(hero)
        broken.data = broken.data[:-7]
        request = pb.AnalyzeRequest(frames=[encode_frame(hero)], reference=broken)
        with pytest.raises(grpc.RpcError) as bad:
            client.stub.AnalyzeStills(request)
        assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT and "bytes" in bad.value.details()
        assert client.info().open_clips == 0


def test_the_commands_take_a_reference_still_or_a_frame_of_a_video(daemon, tmp_path, ffmpeg):
    hero, clean = framings()
    media.write_image(tmp_path / "hero.png", hero)
    media.write_image(tmp_path / "shot.png", apply(CAST, clean))
    # The hero as frame 3 of a (lossless) video.
    subprocess.run([ffmpeg, "-v", "error", "-loop", "1", "-i", str(tmp_path / "hero.png"), "-frames:v", "5",
                    "-c:v", "ffv1", "-pix_fmt", "bgr0", str(tmp_path / "hero.mkv")], check=True)
    for spec in ("hero.png", "hero.mkv@3"):
        result = subprocess.run([sys.executable, "-m", "colorgrade", "analyze", "shot.png", "--json", "--reference",
                                 spec, "--server", daemon.address], capture_output=True, text=True, cwd=tmp_path,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        entry = json.loads(result.stdout)["shot.png"]
        assert entry["match_confidence"] > 0.8
    for spec, message in (("nowhere.png", "nowhere.png: no such file or folder (the reference)"),
                          ("hero.mkv", "hero.mkv: a reference from a video or a folder needs its frame: hero.mkv@FRAME "
                                       "(the reference)"),
                          ("hero.mkv@99", "hero.mkv: has no frame 99 (the reference)")):
        result = subprocess.run([sys.executable, "-m", "colorgrade", "analyze", "shot.png", "--reference", spec],
                                capture_output=True, text=True, cwd=tmp_path, timeout=60)
        assert result.returncode == 1 and result.stderr.strip().splitlines() == [f"colorgrade analyze: {message}"]
    result = subprocess.run([sys.executable, "-m", "colorgrade", "grade", "shot.png", "-o", "out.png", "--mode",
                             "generator_lut", "--reference", "hero.png"], capture_output=True, text=True, cwd=tmp_path,
                            timeout=60)
    assert result.returncode == 2 and "--reference matches the analysis network's CDL" in result.stderr


def test_the_match_evaluation_scores_every_case_and_method_against_its_goal():
    """On the shipped photos (a stand-in for the test split): the goal reached knowing the answer, the match
    near it on the same scene, nothing transferred from another scene."""
    from colorgrade.evaluation.match import PHOTO_CASES, evaluate_photos, product_methods, summarise
    from colorgrade.server.in_process import InProcessEngines, InProcessGrader

    photos = sorted((SAMPLES / "photos").glob("*.png"))
    with InProcessGrader(InProcessEngines("cpu", untrained=True)) as grader:
        report = summarise(evaluate_photos(photos, product_methods(grader)))
    assert list(report) == list(PHOTO_CASES)
    same, harm = report[PHOTO_CASES[0]], report[PHOTO_CASES[2]]
    assert same["none"]["mean"] > 2 and same["match alone"]["mean"] < same["none"]["mean"] / 3
    assert same["best CDL knowing the answer"]["mean"] <= same["match alone"]["mean"] + 0.05
    assert harm["match alone"]["mean"] == 0 and harm["none"]["mean"] == 0        # another scene: nothing moved
    assert harm["statistics as a CDL"]["mean"] > 5                                 # a plain transfer does harm


def test_the_scarce_evaluation_scores_each_family_its_false_accepts_and_far_heroes(untrained):
    """On the shipped photos and clip: every family scored with and without a related hero, unrelated heroes
    never taken, the low-texture and small frames matched, the reverse angle (no shared content) not."""
    from colorgrade.evaluation import scarce
    from colorgrade.evaluation.match import product_methods

    photos = sorted((SAMPLES / "photos").glob("*.png"))
    methods = {name: grade for name, grade in product_methods(untrained).items() if name in scarce.KEPT_METHODS}
    report = scarce.evaluate_families(photos, methods, untrained)
    assert list(report) == list(scarce.FAMILIES)
    assert all(row["false accepts"] == 0 and row["pairs"] == len(photos) for row in report.values())
    for family in ("low texture", "small frames (176 px)", "overlap 24 %", "the hero carries a contrast look"):
        errors = report[family]["with 1-3 errors"]
        assert report[family]["taken"] >= 0.75 and errors["matched (shipped)"]["mean"] < errors["none"]["mean"] / 2
    assert report["no shared content"]["taken"] == 0
    clip = [frame for _, frame in media.numbered_frames(SAMPLES / "clip" / "city.mp4", 0, 24)]
    far = scarce.evaluate_far_heroes({"city": clip}, untrained, samples=2)
    assert list(far) == ["1", "10", "20"] and far["1"]["taken"] == 1
    assert far["1"]["matched (shipped)"] < far["1"]["none"] / 2 and far["1"]["clips"]["city"] == {
        key: value for key, value in far["1"].items() if key != "clips"}


def test_the_continuity_evaluation_finds_the_scenes_and_measures_the_spread_it_hides():
    """Two reels of two scenes (the shipped photos), each shot with errors of its own: continuity finds the
    scenes and makes a scene's shots agree where they overlap; graded shot by shot they do not."""
    from colorgrade.evaluation.continuity import evaluate_continuity, scene_spread
    from colorgrade.server.in_process import InProcessEngines, InProcessGrader

    photos = sorted((SAMPLES / "photos").glob("*.png"))
    with InProcessGrader(InProcessEngines("cpu", untrained=True)) as grader:
        report = evaluate_continuity(photos, grader)
    assert report["reels"] == 2 and report["scenes found"] == report["scenes"] == 4
    assert report["none"]["spread"] > 3 and report["continuity"]["spread"] < report["none"]["spread"] / 3
    # The spread compares the same part of the photo: three untouched framings of one photo agree exactly.
    image = media.read_image(photos[0])[..., :3].astype(np.float32) / 255
    height, width = int(image.shape[0] * 0.6), int(image.shape[1] * 0.6)
    corners = [(0, 0), (image.shape[0] - height, image.shape[1] - width), (10, 20)]
    assert scene_spread([image[y:y + height, x:x + width] for y, x in corners], corners) == 0


def test_continuity_groups_a_montage_into_scenes_and_matches_each_to_its_hero(daemon, tmp_path, ffmpeg):
    from media_fixtures import MONTAGE, make_montage

    reel = tmp_path / "montage.mp4"
    make_montage(ffmpeg, reel)

    def analyse(*options):
        result = subprocess.run([sys.executable, "-m", "colorgrade", "analyze", str(reel), "--shots", "--json",
                                 "--server", daemon.address, *options], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)[str(reel)]

    blind, found = analyse(), analyse("--continuity")
    assert [(s["first"], s["last"]) for s in found["shots"]] == list(MONTAGE)
    ids = [s["id"] for s in found["shots"]]
    (first, second), (third,) = [scene["shots"] for scene in found["scenes"]]
    assert (first, second, third) == tuple(ids)                     # the two dune shots are one scene
    # One dune shot is warm, the other cool: two shots that disagree, neither known clean. The scene has no hero
    # (a wrong one spread its cast), each is corrected blind, and the outputs say so.
    assert found["scenes"][0]["hero"] is None and found["scenes"][0]["chosen"] == "no consensus"
    assert all("neither is known to be clean" in s["description"] and "hero" not in s for s in found["shots"][:2])
    for kept, alone in zip(found["shots"][:2], blind["shots"][:2]):   # (seen at the matcher's size, not the network's)
        np.testing.assert_allclose(CDL(**kept["cdl"]).to_vector(), CDL(**alone["cdl"]).to_vector(), atol=0.005)
    assert found["description"].startswith("3 shot(s) in 2 scene(s): 1 hero, 2 ")   # each corrected blind
    # The colourist picks scene 1's hero: the other dune shot is matched to it.
    joined = analyse("--continuity", "--hero-shot", "2", "--edl", str(tmp_path / "reel.edl"))
    assert [(scene["hero"], scene["chosen"]) for scene in joined["scenes"]] == [(ids[1], "picked"), (ids[2], "consensus")]
    hero = joined["scenes"][0]["hero"]
    matched = next(s for s in joined["shots"][:2] if s["id"] != hero)
    assert matched["hero"] == hero and matched["scene"] == 1 and matched["match_confidence"] > 0.5
    # No reference was given: the reel's summary counts verdicts and claims no match to one (issue 27, item 14).
    assert joined["description"].startswith("3 shot(s) in 2 scene(s): 2 hero, 1 matched")
    assert "matched to the hero of scene 1 with confidence" in matched["description"]
    # The same frame seen through both shots' corrections: continuity brings them together.
    frames = [f for _, f in media.numbered_frames(reel)]
    def spread(report):
        a, b = (apply(CDL(**s["cdl"]), frames[s["first"] + 6]) for s in report["shots"][:2])
        return delta_e(a[:, 60:300], b[:, :240])    # the framings are 60 px apart (the shots pan alike)
    assert spread(joined) < spread(blind) / 2
    edl = (tmp_path / "reel.edl").read_text()
    assert f"{hero} (hero)" in edl and f"(matched to {hero})" in edl
    # --reference-shot: every shot matched to shot 3 as it is; shot 3 untouched.
    to_third = analyse("--reference-shot", "3")
    assert to_third["shots"][2]["cdl"] == {"slope": [1, 1, 1], "offset": [0, 0, 0], "power": [1, 1, 1],
                                           "saturation": 1} and to_third["shots"][0]["hero"] == ids[2]
    result = subprocess.run([sys.executable, "-m", "colorgrade", "analyze", str(reel), "--continuity"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "add --shots" in result.stderr


def test_the_clip_cases_score_flicker_beside_the_error():
    from colorgrade.evaluation.video import read_clips
    from colorgrade.evaluation.match import CLIP_CASES, evaluate_clips, summarise

    clips = read_clips([SAMPLES / "clip" / "city.mp4", SAMPLES / "clip" / "cut.mp4"], 8, side=160)
    def jitter(shot, hero):   # a gain that changes from frame to frame
        return np.clip(shot * (1 + 0.1 * np.random.default_rng(int(shot.mean() * 1e6)).random()), 0, 1)

    rows, flicker = evaluate_clips(clips, {"none": lambda shot, hero: shot, "jitter": jitter})
    report = summarise(rows, flicker)
    clean = report[CLIP_CASES[1]]
    assert clean["none"]["mean"] == 0 and clean["none"]["flicker"] == 0 and clean["jitter"]["flicker"] > 1
    assert report[CLIP_CASES[0]]["none"]["flicker"] > 0            # the drifting error itself moves frames
    assert len(flicker[CLIP_CASES[0]]["none"]) == 2


def test_a_dialogue_cut_between_two_angles_gives_one_scene_per_angle():
    """A B A B C: a shot returns to a recent scene it shares content with; the daemon's verification is
    faked here by the frames' content (each angle a value)."""
    from types import SimpleNamespace

    from colorgrade.clients.workflow.continuity import RECENT_SCENES, group_scenes

    class SameAngle:
        def analyze(self, frames, reference=None):
            return [SimpleNamespace(reference_used=bool(frame[0, 0, 0] == reference[0, 0, 0])) for frame in frames]

    def shot(name, angle):
        return SimpleNamespace(id=name, keyframes=[np.full((4, 4, 3), angle, np.uint8)])

    edit = [shot("a1", 1), shot("b1", 2), shot("a2", 1), shot("b2", 2), shot("c1", 3)]
    assert [[s.id for s in scene] for scene in group_scenes(SameAngle(), edit)] == [["a1", "a2"], ["b1", "b2"], ["c1"]]
    # Beyond the last RECENT_SCENES scenes a shot starts a scene again (bounded work per shot).
    far = [shot("a1", 1)] + [shot(f"x{n}", 10 + n) for n in range(RECENT_SCENES)] + [shot("a2", 1)]
    assert len(group_scenes(SameAngle(), far)) == RECENT_SCENES + 2


# --- trust (issue 28): a match is a decision per stretch, bounded by its evidence --------------------------------
LOOK = CDL(slope=(0.95, 1.0, 1.08))


def locked_off(frames, blur, noise, seed=0):
    """A locked-off shot of a low-texture scene: one blurred, flattened sample photo with fresh sensor noise on
    each frame (8-bit)."""
    import cv2

    scene = cv2.GaussianBlur(media.read_image(SAMPLES / "photos" / "garden.png")[..., :3][::2, ::2].astype(np.float32),
                             (0, 0), blur) * 0.3 + 80
    rng = np.random.default_rng(seed)
    return [np.clip(scene + rng.normal(0, noise, scene.shape[:2])[..., None], 0, 255).astype(np.uint8)
            for _ in range(frames)]


@pytest.fixture(scope="module")
def untrained():
    from colorgrade.server.in_process import InProcessEngines, InProcessGrader

    with InProcessGrader(InProcessEngines("cpu", untrained=True)) as grader:
        yield grader


def moved_frames(grader, frames, hero):
    """Which frames of a clip streamed through the daemon's windows the match to ``hero`` moved from the blind
    correction."""
    blind = grader.stream(frames, mode="parameters")
    matched = grader.stream(frames, mode="parameters", reference=hero)
    return [not np.allclose(b.cdl.to_vector(), m.cdl.to_vector(), atol=1e-6) for b, m in zip(blind, matched)]


def test_a_low_texture_shot_takes_its_heroes_match_on_every_frame_or_none(untrained):
    """A car park verified only on the frames beside its hero, which flashed; here only the hero's own frame
    verifies (its noise), and no frame may move. Where most frames verify and some fail, every frame moves."""
    flat = locked_off(21, blur=10, noise=6)
    hero = apply(LOOK, flat[10])
    confidences = [matching.match(frame, matching.describe(hero)).confidence for frame in flat]
    assert confidences[10] == 1 and max(confidences[:10] + confidences[11:]) == 0     # the flash, per frame
    assert not any(moved_frames(untrained, flat, hero))
    textured, failing = locked_off(21, blur=3, noise=2), locked_off(21, blur=10, noise=6, seed=1)
    mixed = [failing[i] if i % 5 == 2 else frame for i, frame in enumerate(textured)]   # every 5th fails
    hero = apply(LOOK, textured[10])
    assert [matching.match(f, matching.describe(hero)).confidence == 0 for f in mixed] == [i % 5 == 2 for i in range(21)]
    assert all(moved_frames(untrained, mixed, hero))


def test_an_unsure_match_is_dropped_not_blended_at_a_small_weight(untrained):
    frames = locked_off(5, blur=6, noise=3)
    hero = apply(LOOK, frames[4])
    unsure = matching.match(frames[3], matching.describe(hero))
    assert 0 < unsure.confidence < 0.5
    blind, = untrained.analyze([frames[3]])
    matched, = untrained.analyze([frames[3]], reference=hero)
    assert matched.reference_used and matched.cdl == blind.cdl


@pytest.mark.parametrize("name", ["garden", "dune", "ladybird"])
@pytest.mark.parametrize("changed", [0.2, 0.35])
def test_what_changed_between_hero_and_frame_loses_its_pull_before_it_bends_the_fit(name, changed):
    """A clean frame whose hero is the same moment with a part changed (a person walked in, a window's view):
    matched with full confidence it moved 1.6-3.7 ΔE00; it must stay within 0.5."""
    clean = media.read_image(SAMPLES / "photos" / f"{name}.png")[..., :3]
    other = media.read_image(SAMPLES / "photos" / "aqua.png")[..., :3]
    height, width = clean.shape[:2]
    patch = (int(height * changed ** 0.5), int(width * changed ** 0.5))
    hero = clean.copy()
    hero[height // 4:height // 4 + patch[0], :patch[1]] = other[:patch[0], :patch[1]]
    found = matching.match(clean, matching.describe(hero))
    assert found.confidence > 0.5 and delta_e(apply(found.cdl, clean), clean) <= 0.5


def one_cast_grader(cast_frames, cast: CDL):
    """The daemon's grader in process with a blind corrector that behaves as the real one does on a cast: it
    corrects half of it and is surest there (0.9), and leaves clean frames alone (confidence 0.2)."""
    from concurrent.futures import Future

    from colorgrade.color import analysis_thumbnail
    from colorgrade.server.engine_pool import FrameAnalysis
    from colorgrade.server.in_process import InProcessEngines, InProcessGrader

    engines = InProcessEngines("cpu", untrained=True)
    size = engines.description.analysis_size
    marked = {analysis_thumbnail(frame, size).tobytes() for frame in cast_frames}
    inverse = CDL(slope=tuple(1 / s for s in cast.slope))
    half = CDL.mean([CDL(), inverse])
    labels = len(engines.description.labels)

    def submit_analysis(frame):
        future = Future()
        is_cast = frame.tobytes() in marked
        future.set_result(FrameAnalysis((half if is_cast else CDL()).to_vector(), np.full(labels, 1 / labels),
                                        0.9 if is_cast else 0.2))
        return future

    engines.submit_analysis = submit_analysis
    return InProcessGrader(engines)


@pytest.mark.parametrize("per_scene", [2, 3])
def test_continuity_takes_a_clean_hero_and_leaves_the_clean_shots_alone(per_scene):
    """A dialogue reel (A B A B) where one shot of each scene carries a cast: the hero was the cast shot (the blind
    corrector is surest of a cast), and the clean shots were graded toward its remaining cast."""
    from types import SimpleNamespace

    from colorgrade.clients.workflow.continuity import continuity

    warm = CDL(slope=(1.2, 1.0, 0.8))
    scenes = []
    for name in ("dune", "garden"):
        image = media.read_image(SAMPLES / "photos" / f"{name}.png")[..., :3]
        height, width = image.shape[:2]
        crop = (int(height * 0.75), int(width * 0.7))
        corners = [(0, 0), (height - crop[0], width - crop[1]), ((height - crop[0]) // 2, (width - crop[1]) // 2)]
        scenes.append([image[y:y + crop[0], x:x + crop[1]] for y, x in corners[:per_scene]])
    frames = [[apply(warm, clean) if take == 1 else clean for take, clean in enumerate(scene)] for scene in scenes]
    with one_cast_grader([scene[1] for scene in frames], warm) as grader:
        shots = []
        for s, scene in enumerate(frames):
            shots.append([])
            for take, frame in enumerate(scene):
                blind, = grader.analyze([frame])
                shots[-1].append(SimpleNamespace(id=f"s{s}t{take}", keyframes=[frame], cdl=blind.cdl,
                                                 confidence=blind.confidence, first=0, last=0))
        reel = [shot for pair in zip(*shots) for shot in pair]
        found = continuity(grader, reel)
        if per_scene == 2:   # two shots that disagree: neither is known clean, so no hero, each corrected blind
            assert [(scene["hero"], scene["chosen"]) for scene in found] == [(None, "no consensus")] * 2
        else:                # the consensus: a clean shot, never the cast one, and the cast one matched to it
            assert [scene["hero"][:2] for scene in found] == ["s0", "s1"] and all(
                not scene["hero"].endswith("t1") for scene in found)
        for scene, clean, given in zip(shots, scenes, frames):
            for take in range(per_scene):
                if take != 1:
                    assert delta_e(apply(scene[take].cdl, clean[take]), clean[take]) <= 0.5
            if per_scene == 3:
                assert delta_e(apply(scene[1].cdl, given[1]), clean[1]) < delta_e(given[1], clean[1]) / 2
        # --hero-shot: a user's pick is its scene's hero, whatever the rule would choose.
        for scene in shots:
            for shot in scene:
                shot.cdl = grader.analyze(shot.keyframes)[0].cdl
        picked = continuity(grader, reel, picked=(3,))   # the reel's third shot: scene A's cast one
        assert picked[0]["hero"] == "s0t1" and picked[0]["chosen"] == "picked" and picked[1]["chosen"] != "picked"


def test_the_evaluation_measures_the_flash_and_reels_with_one_cast_shot(untrained):
    """The cases issue 28 added: a clip's frames take its hero's look all or none (``split`` 0), and a reel whose
    scenes each have one cast shot scores its clean and cast shots apart."""
    from colorgrade.evaluation.continuity import evaluate_one_cast
    from colorgrade.evaluation.match import evaluate_flash
    from colorgrade.evaluation.video import read_clips

    flash = evaluate_flash(read_clips([SAMPLES / "clip" / "city.mp4"], 8, side=160), untrained)
    row, = flash.values()
    assert row["split"] == 0 and set(row["flicker"]) == {"blind", "matched"}
    report = evaluate_one_cast(sorted((SAMPLES / "photos").glob("*.png")), untrained, per_scene=3)
    assert report["reels"] == 2 and report["shots per scene"] == 3
    assert report["cast shots"]["blind"] > report["clean shots"]["blind"]
