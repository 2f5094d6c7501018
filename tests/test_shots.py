"""Cuts and per-shot corrections: the detector on real footage, `colorgrade analyze --shots/--items/--per-frame`
against a real daemon, VFX plate numbering."""
import json
import subprocess
import sys

import numpy as np
import PyOpenColorIO as OCIO
import pytest

from colorgrade.clients import media
from colorgrade.clients.workflow.shots import CutDetector, EvenSample, correct_shots, timecode
from colorgrade.color import CDL, read_cdl, read_cube, shrink
from conftest import SAMPLES
from media_fixtures import SHOTS


def colorgrade(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "colorgrade", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def cuts_in(path):
    detector = CutDetector()
    return [n for n, frame in media.numbered_frames(path) if detector.push(shrink(frame))]


def test_a_hard_cut_in_real_footage_is_found_on_its_first_frame():
    # cut.mp4: a real night time-lapse whose second shot starts at frame 16 (samples/LICENSES.md).
    assert cuts_in(SAMPLES / "clip" / "cut.mp4") == [16]
    assert cuts_in(SAMPLES / "clip" / "city.mp4") == []


def test_pans_are_not_cuts(two_shot_clip, tmp_path, ffmpeg):
    assert cuts_in(two_shot_clip) == [SHOTS[1][0]]         # a 6 px/frame pan, then a tilt: one cut, between them
    fast = tmp_path / "whip.mp4"                       # 24 px/frame, then a sudden stop
    subprocess.run([ffmpeg, "-v", "error", "-loop", "1", "-i", str(SAMPLES / "photos" / "dune.png"), "-vf",
                    "crop=240:160:x='min(n*24,iw-240)':y=20", "-frames:v", "30", "-r", "25", str(fast)], check=True)
    assert cuts_in(fast) == []


def test_even_sample_spreads_over_any_length_in_bounded_memory():
    for length in (5, 24, 100, 1001):
        sampler = EvenSample(24)
        for n in range(length):
            sampler.offer(n, np.zeros(1))
            assert len(sampler.kept) <= 48
        picked = [n for n, _ in sampler.sample()]
        assert len(picked) == min(length, 24) and picked == sorted(set(picked))
        assert picked[0] == 0 and picked[-1] >= length - 1 - length // 24


def test_shot_corrections_never_mix_frames_across_a_cut():
    seen = []

    def analyze(frames):
        seen.append([int(f[0, 0, 0]) for f in frames])
        return [type("R", (), {"cdl": CDL(slope=(1 + f[0, 0, 0] / 100,) * 3), "confidence": 1.0, "label": "x",
                                  "match_confidence": None})
                for f in frames]

    red = lambda n: np.full((8, 8, 3), 10, np.uint8)   # noqa: E731
    blue = lambda n: np.full((8, 8, 3), 200, np.uint8)  # noqa: E731
    frames = [(n, red(n)) for n in range(10)] + [(n, blue(n)) for n in range(10, 16)]
    first, second = correct_shots(analyze, frames, samples=4)
    assert (first.shot.first, first.shot.last, second.shot.first, second.shot.last) == (0, 9, 10, 15)
    assert first.cdl.slope[0] == pytest.approx(1.1) and second.cdl.slope[0] == pytest.approx(3.0)
    assert len(first.samples) == 4 and first.samples[0] == 0 and first.samples[-1] >= 8   # spread over the shot
    assert len(second.samples) == 4 and min(second.samples) >= 10
    assert timecode(90061, 25) == "01:00:02:11"


def test_analyze_shots_writes_a_correction_per_shot(daemon_address, two_shot_clip, tmp_path):
    result = colorgrade("analyze", str(two_shot_clip), "--shots", "--json", "--server", daemon_address,
                        "--cdl", str(tmp_path / "shots.ccc"), "--cubes", str(tmp_path / "cubes"))
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)[str(two_shot_clip)]
    shots = entry["shots"]
    assert [(s["first"], s["last"]) for s in shots] == list(SHOTS)
    assert [s["id"] for s in shots] == ["two_shot001", "two_shot002"]
    assert shots[1]["timecode_in"] == "00:00:00:20" and entry["frames"] == 38
    # The warm shot's correction takes red down against blue; the cool shot's the other way.
    warm, cool = (CDL(**s["cdl"]) for s in shots)
    assert warm.slope[0] / warm.slope[2] < cool.slope[0] / cool.slope[2]
    corrections = read_cdl(tmp_path / "shots.ccc")
    assert set(corrections) == {"two_shot001", "two_shot002"}
    for shot in shots:   # OpenColorIO reads each shot's correction as we wrote it, and the .cube bakes it
        transform = OCIO.CDLTransform.CreateFromFile(str(tmp_path / "shots.ccc"), shot["id"])
        assert list(transform.getSlope()) == pytest.approx(shot["cdl"]["slope"], abs=1e-6)
        lut = read_cube(tmp_path / "cubes" / f"{shot['id']}.cube")
        np.testing.assert_allclose(lut.table, CDL(**shot["cdl"]).to_lut(33).table, atol=1e-6)


def test_an_edl_carries_each_shots_cdl(daemon_address, two_shot_clip, tmp_path):
    import opentimelineio as otio

    result = colorgrade("analyze", str(two_shot_clip), "--shots", "--json", "--server", daemon_address,
                        "--edl", str(tmp_path / "two.edl"))
    assert result.returncode == 0, result.stderr
    shots = json.loads(result.stdout)[str(two_shot_clip)]["shots"]
    timeline = otio.adapters.read_from_file(str(tmp_path / "two.edl"), adapter_name="cmx_3600", rate=25)
    events = list(timeline.tracks[0].find_clips())
    assert [(e.source_range.start_time.value, e.source_range.duration.value) for e in events] == \
        [(s["first"], s["last"] - s["first"] + 1) for s in shots]
    for event, shot in zip(events, shots):   # OTIO's reader parses the *ASC_SOP/*ASC_SAT comments back
        sop = event.metadata["cdl"]["asc_sop"]
        assert list(sop["slope"]) == pytest.approx(shot["cdl"]["slope"], abs=1e-6)
        assert list(sop["power"]) == pytest.approx(shot["cdl"]["power"], abs=1e-6)
        assert event.metadata["cdl"]["asc_sat"] == pytest.approx(shot["cdl"]["saturation"], abs=1e-6)
    refused = colorgrade("analyze", str(two_shot_clip), "--edl", str(tmp_path / "x.edl"))
    assert refused.returncode == 2 and "give one video and --shots" in refused.stderr


def test_an_edl_of_colour_managed_footage_says_where_its_cdls_apply(daemon_address, two_shot_clip, tmp_path):
    import opentimelineio as otio

    result = colorgrade("analyze", str(two_shot_clip), "--shots", "--colorspace", "ARRI LogC3 (EI800)",
                        "--server", daemon_address, "--edl", str(tmp_path / "log.edl"))
    assert result.returncode == 0, result.stderr
    timeline = otio.adapters.read_from_file(str(tmp_path / "log.edl"), adapter_name="cmx_3600", rate=25)
    assert [event.name.endswith("(CDL in ACEScct)") for event in timeline.tracks[0].find_clips()] == [True, True]


def test_plates_keep_their_frame_numbers(daemon_address, two_shot_clip, tmp_path):
    plates = tmp_path / "plates"
    for number, frame in media.numbered_frames(two_shot_clip):
        media.write_image(plates / f"plate.{1001 + number}.png", (frame >> 8).astype(np.uint8))
    result = colorgrade("analyze", str(plates), "--shots", "--json", "--server", daemon_address)
    assert result.returncode == 0, result.stderr
    shots = json.loads(result.stdout)[str(plates)]["shots"]
    assert [(s["first"], s["last"]) for s in shots] == [(1001, 1020), (1021, 1038)]
    assert "timecode_in" not in shots[0]   # a plate's numbers are not a timecode


def test_items_analyse_frame_ranges_and_per_frame_results(daemon_address, two_shot_clip, tmp_path):
    items = tmp_path / "items.json"
    items.write_text(json.dumps([{"id": "A001", "path": str(two_shot_clip), "first": 22, "last": 30},
                                 {"id": "A002", "path": str(two_shot_clip), "first": 0, "last": 9}]))
    result = colorgrade("analyze", "--items", str(items), "--json", "--server", daemon_address)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [(report[k]["first"], report[k]["last"]) for k in ("A001", "A002")] == [(22, 30), (0, 9)]
    items.write_text(json.dumps([{"id": "late", "path": str(two_shot_clip), "first": 500, "last": 600}]))
    result = colorgrade("analyze", "--items", str(items), "--server", daemon_address)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"colorgrade analyze: {two_shot_clip}: no frames in 500-600"
    result = colorgrade("analyze", str(two_shot_clip), "--per-frame", "--window", "1", "--json", "--server", daemon_address)
    frames = json.loads(result.stdout)[str(two_shot_clip)]["per_frame"]
    assert [f["frame"] for f in frames] == list(range(38))
    assert frames[0]["cdl"] != frames[-1]["cdl"] and 0 <= frames[5]["confidence"] <= 1


@pytest.mark.parametrize("content, message", [
    ("[]", "expected a non-empty JSON list"),
    ('[{"id": "a", "path": "x.mov", "first": 9, "last": 2}]', "first <= last"),
    ('[{"id": "a b", "path": "x.mov"}]', "must be 1-64 letters"),
    ('[{"id": "a", "path": "x.mov"}, {"id": "a", "path": "x.mov"}]', "ids must be unique"),
    ("{", "cannot read JSON"),
])
def test_bad_items_are_refused_in_one_line_before_a_daemon_starts(tmp_path, content, message):
    (tmp_path / "items.json").write_text(content)
    result = colorgrade("analyze", "--items", "items.json", cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_range_of_an_mpeg_program_stream_starts_on_its_first_frame(ffmpeg, tmp_path):
    """Seeking an MPEG program stream lands a few frames past the time asked for; a range must still start on
    its first frame and hold exactly the frames a decode from the start numbers so."""
    import subprocess

    import numpy as np

    from colorgrade.clients import media

    path = tmp_path / "clip.mpg"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x90:rate=25", "-frames:v", "100",
                    "-c:v", "mpeg2video", "-g", "12", "-f", "vob", str(path)], check=True)
    decoded = dict(media.numbered_frames(path))
    for first, last in ((45, 89), (3, 7), (90, 99)):
        ranged = list(media.numbered_frames(path, first, last))
        assert [number for number, _ in ranged] == list(range(first, last + 1))
        assert all(np.array_equal(frame, decoded[number]) for number, frame in ranged)
