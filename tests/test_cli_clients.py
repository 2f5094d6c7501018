"""`colorgrade analyze` and `colorgrade grade` against a real daemon (and a private one), on real media."""
import json
import subprocess
import sys

import numpy as np
import PyOpenColorIO as OCIO
import pytest

from colorgrade.clients import media
from colorgrade.color import read_cdl, read_cube
from conftest import SAMPLES
from daemon_fixtures import RunningDaemon


@pytest.fixture(scope="module")
def server():
    daemon = RunningDaemon("--port", "0")
    yield daemon.address
    daemon.stop()


def colorgrade(*args):
    return subprocess.run([sys.executable, "-m", "colorgrade", *args], capture_output=True, text=True, timeout=300)


def test_analyze_still_and_clip_writes_cdl_and_cube(server, tmp_path):
    result = colorgrade("analyze", str(SAMPLES / "photos" / "garden.png"), str(SAMPLES / "clip" / "city.mp4"),
                        "--server", server, "--json", "--cdl", str(tmp_path / "grades.ccc"),
                        "--cube", str(tmp_path / "garden.cube"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {str(SAMPLES / "photos" / "garden.png"), str(SAMPLES / "clip" / "city.mp4")}
    assert report[str(SAMPLES / "clip" / "city.mp4")]["frames"] == 24
    assert all(0 <= entry["confidence"] <= 1 for entry in report.values())
    assert "confidence" in (tmp_path / "grades.ccc").read_text()   # in each ColorCorrection's Description
    cdls = read_cdl(tmp_path / "grades.ccc")
    assert set(cdls) == {"garden", "city"}
    assert list(cdls["garden"].slope) == pytest.approx(report[str(SAMPLES / "photos" / "garden.png")]["cdl"]["slope"])
    transform = OCIO.CDLTransform.CreateFromFile(str(tmp_path / "grades.ccc"), "city")
    assert list(transform.getSlope()) == pytest.approx(list(cdls["city"].slope), abs=1e-6)
    assert read_cube(tmp_path / "garden.cube").size == 33


def test_grade_keeps_16_bit_and_alpha(server, tmp_path):
    image = media.read_image(SAMPLES / "photos" / "aqua.png").astype(np.uint16) * 257
    rgba = np.concatenate([image, np.full((*image.shape[:2], 1), 12345, np.uint16)], axis=-1)
    media.write_image(tmp_path / "in.png", rgba)
    np.testing.assert_array_equal(media.read_image(tmp_path / "in.png"), rgba)
    result = colorgrade("grade", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--server", server)
    assert result.returncode == 0, result.stderr
    graded = media.read_image(tmp_path / "out.png")
    assert graded.dtype == np.uint16 and graded.shape == rgba.shape
    assert (graded[..., 3] == 12345).all() and not np.array_equal(graded[..., :3], rgba[..., :3])


def test_grade_sequence_and_video(server, tmp_path):
    (tmp_path / "plates").mkdir()
    clip = SAMPLES / "clip" / "city.mp4"
    frames = list(media.read_video(clip, media.probe_video(clip)))[:4]
    for i, frame in enumerate(frames):
        media.write_image(tmp_path / "plates" / f"plate.{1001 + i}.png", frame)
    result = colorgrade("grade", str(tmp_path / "plates"), "-o", str(tmp_path / "graded"), "--server", server)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "graded").iterdir()) == [f"plate.{1001 + i}.png" for i in range(4)]
    result = colorgrade("grade", str(SAMPLES / "clip" / "city.mp4"), "-o", str(tmp_path / "graded.mp4"),
                        "--server", server, "--window", "3")
    assert result.returncode == 0, result.stderr
    info = media.probe_video(tmp_path / "graded.mp4")
    assert (info.frames, info.width, info.height) == (24, 480, 270)


def test_private_daemon_when_no_server_given(tmp_path):
    result = colorgrade("grade", str(SAMPLES / "photos" / "dune.png"), "-o", str(tmp_path / "dune.png"))
    assert result.returncode == 0, result.stderr
    assert media.read_image(tmp_path / "dune.png").shape == media.read_image(SAMPLES / "photos" / "dune.png").shape


@pytest.mark.parametrize("args, message", [
    (["grade", "missing.png", "-o", "x.png"], "missing.png: no such file"),
    (["analyze", "x.png", "missing"], "missing: no such file or folder"),
    (["grade", "notes.txt", "-o", "x.png"], "unknown media type '.txt'"),
    (["analyze", "x.png", "--server", "127.0.0.1:1"], "--server 127.0.0.1:1 could not be reached"),
])
def test_bad_input_gives_exit_code_and_one_line(tmp_path, args, message):
    media.write_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "notes.txt").write_text("not a picture")
    result = subprocess.run([sys.executable, "-m", "colorgrade", *args], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_analyze_prints_the_confidence_with_the_diagnosis(server):
    result = colorgrade("analyze", str(SAMPLES / "photos" / "garden.png"), "--server", server)
    assert result.returncode == 0, result.stderr
    assert ", confidence 0." in result.stdout or ", confidence 1." in result.stdout


def test_inputs_with_one_stem_get_distinct_corrections(server, tmp_path):
    for suffix in (".png", ".jpg"):
        media.write_image(tmp_path / f"shot{suffix}", media.read_image(SAMPLES / "photos" / "garden.png"))
    result = colorgrade("analyze", str(tmp_path / "shot.png"), str(tmp_path / "shot.jpg"), "--server", server,
                        "--cdl", str(tmp_path / "grades.ccc"))
    assert result.returncode == 0, result.stderr
    assert set(read_cdl(tmp_path / "grades.ccc")) == {"shot_png", "shot_jpg"}


def test_grade_refuses_an_output_it_cannot_write_before_starting_a_daemon(tmp_path):
    media.write_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint8))
    for output, message in (("notes.txt", "give the output a still extension"),
                            ("nowhere/x.png", "folder nowhere does not exist")):
        result = subprocess.run([sys.executable, "-m", "colorgrade", "grade", "x.png", "-o", output],
                                capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr, result.stderr


@pytest.mark.parametrize("extra, message", [
    (["--cdl", "nowhere/grades.ccc"], "folder nowhere does not exist"),
    (["--cdl", "grades.txt"], "use a .cc (one correction), .ccc or .cdl"),
    (["--window", "-1"], "--window must be 0 or more"),
])
def test_analyze_refuses_bad_arguments_before_starting_a_daemon(tmp_path, extra, message):
    media.write_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint8))
    # No --server: were a private daemon started first, this would take seconds and print its banner.
    result = subprocess.run([sys.executable, "-m", "colorgrade", "analyze", "x.png", *extra], capture_output=True,
                            text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def ffmpeg_make(ffmpeg, path, *args):
    subprocess.run([ffmpeg, "-v", "error", "-y", *args, str(path)], check=True, timeout=120)


def streams(path):
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        pts = [frame.pts for frame in container.decode(video=0)]
        return {"video": (video.codec_context.name, video.codec_context.profile, video.codec_context.pix_fmt,
                          video.width, video.height),
                "others": sorted((s.type, s.codec_context.name) for s in container.streams if s.type != "video"),
                "pts": [float(p * video.time_base) for p in pts]}


@pytest.mark.parametrize("name, make, expected", [
    ("prores.mov", ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i", "sine", "-t", "1",
                    "-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le", "-c:a", "pcm_s16le"],
     ("prores", "HQ", "yuv422p10le", 320, 180)),
    ("prores4444.mov", ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "0.4", "-c:v", "prores_ks",
                        "-profile:v", "4444", "-pix_fmt", "yuv444p10le"],
     ("prores", "4444", "yuv444p12le", 320, 180)),   # 4444 decodes as 12-bit; its encoder takes 10
    ("vfr.mp4", ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i", "sine", "-t", "1.6",
                 "-vf", "select='not(eq(mod(n,3),1))'", "-fps_mode", "passthrough", "-c:v", "libx264",
                 "-pix_fmt", "yuv420p", "-c:a", "aac"],
     ("h264", "High", "yuv420p", 320, 180)),
    ("odd.mkv", ["-f", "lavfi", "-i", "testsrc=size=721x405:rate=25", "-t", "0.4", "-c:v", "ffv1", "-pix_fmt", "bgr0"],
     ("h264", "High 4:4:4 Predictive", "yuv444p", 721, 405)),
])
def test_grade_keeps_codec_depth_timestamps_and_other_streams(server, tmp_path, ffmpeg, name, make, expected):
    source = tmp_path / name
    ffmpeg_make(ffmpeg, source, *make)
    target = tmp_path / ("graded" + (".mp4" if name == "odd.mkv" else source.suffix))
    result = colorgrade("grade", str(source), "-o", str(target), "--server", server)
    assert result.returncode == 0, result.stderr
    before, after = streams(source), streams(target)
    assert after["video"] == expected
    assert after["others"] == before["others"]                 # audio copied, not dropped
    assert after["pts"] == pytest.approx(before["pts"], abs=1e-3)   # every timestamp kept
    assert not list(tmp_path.glob(".*partial*"))


def test_grade_refuses_to_overwrite_its_input_unless_asked(server, tmp_path):
    still = tmp_path / "shot.png"
    media.write_image(still, media.read_image(SAMPLES / "photos" / "garden.png"))
    original = still.read_bytes()
    result = colorgrade("grade", str(still), "-o", str(still), "--server", server)
    assert result.returncode == 1 and "pass --overwrite" in result.stderr
    assert still.read_bytes() == original
    result = colorgrade("grade", str(still), "-o", str(still), "--server", server, "--overwrite")
    assert result.returncode == 0, result.stderr
    assert still.read_bytes() != original and not list(tmp_path.glob(".*partial*"))


def test_jpeg_keeps_quality_orientation_and_profile(server, tmp_path):
    from PIL import Image

    source = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6                                           # rotate 90 degrees when shown
    icc = b"\0" * 128 + b"a fake but carried ICC profile"
    Image.fromarray(media.read_image(SAMPLES / "photos" / "garden.png")).save(source, quality=92, exif=exif,
                                                                               icc_profile=icc)
    result = colorgrade("grade", str(source), "-o", str(tmp_path / "graded.jpg"), "--server", server)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "graded.jpg") as graded, Image.open(source) as original:
        assert graded.getexif()[0x0112] == 6 and graded.info.get("icc_profile") == icc
        assert graded.quantization[0] == original.quantization[0]     # the same quality, not 75
    result = colorgrade("grade", str(source), "-o", str(tmp_path / "lossless.webp"), "--server", server)
    assert result.returncode == 0, result.stderr
    webp = (tmp_path / "lossless.webp").read_bytes()
    assert b"VP8L" in webp and b"VP8 " not in webp                 # the lossless bitstream, not the lossy one


def plates_with_a_broken_one(tmp_path):
    """plate.1001-1003.png, of which 1002 is not a PNG at all."""
    plates = tmp_path / "plates"
    plates.mkdir()
    for i in range(3):
        media.write_image(plates / f"plate.{1001 + i}.png", np.full((16, 16, 3), 60 * i, np.uint8))
    (plates / "plate.1002.png").write_bytes(b"not a png at all")
    return plates


def test_a_bad_file_in_a_folder_is_named_and_the_rest_graded(server, tmp_path):
    plates = plates_with_a_broken_one(tmp_path)
    result = colorgrade("grade", str(plates), "-o", str(tmp_path / "graded"), "--server", server)
    assert result.returncode == 1
    assert "plate.1002.png: cannot read image" in result.stderr
    assert sorted(p.name for p in (tmp_path / "graded").iterdir()) == ["plate.1001.png", "plate.1003.png"]


def test_a_bad_file_in_a_folder_is_named_and_the_rest_analysed(server, tmp_path):
    plates = plates_with_a_broken_one(tmp_path)
    result = colorgrade("analyze", str(plates), "--json", "--per-frame", "--server", server)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"colorgrade analyze: {plates / 'plate.1002.png'}: cannot read image "
        f"(cannot identify image file '{plates / 'plate.1002.png'}')"]
    entry, = json.loads(result.stdout).values()
    assert [frame["frame"] for frame in entry["per_frame"]] == [1001, 1003]


def test_unreadable_inputs_get_one_message_shape_from_every_command(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    (tmp_path / "empty.mp4").write_bytes(b"")
    expected = {"broken.png": "broken.png: cannot read image (cannot identify image file 'broken.png')",
                "empty.mp4": "empty.mp4: cannot read video (Invalid data found when processing input)"}
    for name, message in expected.items():
        for command in (["analyze", name], ["grade", name, "-o", "out" + name[-4:]]):
            result = subprocess.run([sys.executable, "-m", "colorgrade", *command], capture_output=True, text=True,
                                    timeout=60, cwd=tmp_path)
            assert result.returncode == 1
            assert result.stderr.strip().splitlines() == [f"colorgrade {command[0]}: {message}"]


def test_a_header_claiming_a_huge_picture_is_refused_in_one_line(tmp_path):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                                        + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    for command in (["grade", "bomb.png", "-o", "out.png"], ["analyze", "bomb.png"]):
        result = subprocess.run([sys.executable, "-m", "colorgrade", *command], capture_output=True, text=True,
                                timeout=60, cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip().splitlines() == [
            f"colorgrade {command[0]}: bomb.png: claims a 60000x60000 picture larger than 89478485 pixels "
            "(a damaged or hostile file?)"]


def rgb_by_ffmpeg(path, ffmpeg):
    """Every frame of a video as ffmpeg itself converts it to RGB (the source's matrix and range, exact rounding:
    the plan's conversion), in 8-bit code values: an independent decoder to hold ``media.read_video`` against."""
    from colorgrade.clients.ffmpeg.plan import to_rgb

    info = media.probe_video(path)
    raw = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-vf", ",".join(to_rgb(info)), "-f", "rawvideo",
                          "-pix_fmt", "rgb48le", "-"], capture_output=True, check=True, timeout=120).stdout
    return np.frombuffer(raw, np.uint16).reshape(-1, info.height, info.width, 3) / 257


@pytest.fixture(scope="module", params=["8-bit 4:2:0 H.264", "10-bit 4:2:2 ProRes"])
def untouched_footage(request, tmp_path_factory, ffmpeg):
    """Real city footage (the shipped sample, untagged 8-bit 4:2:0 H.264) and a 10-bit 4:2:2 ProRes copy of it."""
    source = SAMPLES / "clip" / "city.mp4"
    if request.param.startswith("8-bit"):
        return source
    deep = tmp_path_factory.mktemp("deep") / "city10.mov"
    ffmpeg_make(ffmpeg, deep, "-i", str(source), "-frames:v", "12", "-c:v", "prores_ks", "-profile:v", "2",
                "-pix_fmt", "yuv422p10le", "-color_range", "tv", "-colorspace", "bt709")
    return deep


def test_an_untouched_frame_comes_back_from_grade_as_it_went_in(tmp_path, ffmpeg, untouched_footage):
    from colorgrade.clients.cli import grade_video
    from media_fixtures import Untouched

    info = media.probe_video(untouched_footage)
    target = tmp_path / f"out{untouched_footage.suffix}"
    assert grade_video(dict(client=Untouched(), settings={}), untouched_footage, info, target, None, None, []) \
        == info.frames
    before = rgb_by_ffmpeg(untouched_footage, ffmpeg)
    # What the daemon is sent is the source as ffmpeg converts it (was 0.98 codes off in green on the 8-bit clip) ...
    decoded = np.stack(list(media.read_video(untouched_footage, info))) / (257 if info.bits > 8 else 1)
    assert np.abs((decoded - before).mean(axis=(1, 2))).max() <= 0.5
    # ... and each frame written back is it again, channel by channel (was -1.4 codes in green, -0.9 in red and blue).
    after = rgb_by_ffmpeg(target, ffmpeg)
    assert np.abs((after - before).mean(axis=(1, 2))).max() <= 0.5


def changes(source, target):
    """Each frame's mean change per RGB channel from ``source`` to ``target``, in 8-bit code values."""
    before, after = (np.stack(list(media.read_video(path, media.probe_video(path)))).astype(float)
                     for path in (source, target))
    return (after - before).mean(axis=(1, 2)) / (257 if before.dtype == np.uint16 or before.max() > 255 else 1)


def test_grade_never_averages_corrections_across_a_cut(server, tmp_path, ffmpeg):
    from media_fixtures import SHOTS, make_two_shot_clip

    source = tmp_path / "two.mp4"
    # Warm, a cut at frame 20, cool; each shot locked off, so its own correction holds steady across it.
    make_two_shot_clip(ffmpeg, source, pix_fmt="yuv420p", codec="libx264", audio=False, moving=False)
    middles = [(first + last) // 2 for first, last in SHOTS]
    last_before, first_after = SHOTS[0][1], SHOTS[1][0]
    result = colorgrade("grade", str(source), "-o", str(tmp_path / "graded.mp4"), "--window", "4", "--server", server)
    assert result.returncode == 0, result.stderr
    change = changes(source, tmp_path / "graded.mp4")
    # The frames next to the cut change as the middle of their own shot does (were 6.1 and 6.6 codes off, blended).
    assert np.abs(change[last_before] - change[middles[0]]).max() <= 1.5
    assert np.abs(change[first_after] - change[middles[1]]).max() <= 1.5
    result = colorgrade("grade", str(source), "-o", str(tmp_path / "blended.mp4"), "--window", "4", "--across-cuts",
                        "--server", server)
    assert result.returncode == 0, result.stderr
    change = changes(source, tmp_path / "blended.mp4")
    assert np.abs(change[last_before] - change[middles[0]]).max() > 3     # asked for: the window spans the cut


# Cut short where decoding fails (video alone), and where it just stops (interleaved with audio).
@pytest.mark.parametrize("audio, kept", [(False, 2 / 3), (True, 1 / 2)])
def test_a_truncated_video_is_graded_as_far_as_it_goes_and_said_so(server, tmp_path, ffmpeg, audio, kept):
    whole, cut = tmp_path / "whole.mp4", tmp_path / "cut.mp4"
    # The index first (as cameras and editors write it), so a half-copied file still announces every frame.
    ffmpeg_make(ffmpeg, whole, "-i", str(SAMPLES / "clip" / "city.mp4"),
                *(["-f", "lavfi", "-i", "sine", "-shortest", "-c:a", "aac"] if audio else []),
                "-c:v", "copy", "-movflags", "+faststart")
    cut.write_bytes(whole.read_bytes()[:round(whole.stat().st_size * kept)])
    announced = media.probe_video(cut).frames
    result = colorgrade("grade", str(cut), "-o", str(tmp_path / "graded.mp4"), "--server", server)
    assert result.returncode == 1                                  # was 0 without a word, or 1 with nothing written
    read = media.probe_video(tmp_path / "graded.mp4").frames       # what could be read is still graded ...
    assert 0 < read < announced == 24
    assert f"{cut}: {read} of its {announced} frames could be read" in result.stderr   # ... and said so
    assert f"the {read} read are graded into {tmp_path / 'graded.mp4'}" in result.stderr


def test_a_folder_is_a_sequence_only_when_its_stills_are_numbered_frames_of_one_size(tmp_path):
    frame, other = np.zeros((16, 24, 3), np.uint8), np.zeros((24, 16, 3), np.uint8)
    cases = {"plates": {"plate.1001.png": frame, "plate.1002.png": frame},
             "underscored": {"take_0001.png": frame, "take_0002.png": frame},
             "named": {"clean.png": frame, "cast.png": frame},
             "two stems": {"a.1001.png": frame, "b.1002.png": frame},
             "two sizes": {"shot_0001.png": frame, "shot_0002.png": other}}
    found = {}
    for case, stills in cases.items():
        (tmp_path / case).mkdir()
        for name, image in stills.items():
            media.write_image(tmp_path / case / name, image)
        found[case] = media.is_sequence(tmp_path / case)
    assert found == {"plates": True, "underscored": True, "named": False, "two stems": False, "two sizes": False}


def test_a_folder_of_unrelated_stills_is_graded_and_analysed_still_by_still(server, tmp_path):
    from colorgrade.color import CDL, apply
    from colorgrade.models.metrics import ciede2000

    photos = tmp_path / "photos"
    photos.mkdir()
    clean = media.read_image(SAMPLES / "photos" / "ladybird.png")
    media.write_image(photos / "clean.png", clean)
    media.write_image(photos / "cast.png", apply(CDL(slope=(1.3, 1.0, 0.75)), clean))   # alike: no cut between
    result = colorgrade("grade", str(photos), "-o", str(tmp_path / "graded"), "--server", server)
    assert result.returncode == 0, result.stderr
    graded = media.read_image(tmp_path / "graded" / "clean.png")
    assert ciede2000(clean / 255, graded / 255).mean() <= 0.3    # was 0.35: half the cast one's correction
    alone = colorgrade("grade", str(photos / "cast.png"), "-o", str(tmp_path / "cast.png"), "--server", server)
    assert alone.returncode == 0, alone.stderr
    assert np.array_equal(media.read_image(tmp_path / "graded" / "cast.png"), media.read_image(tmp_path / "cast.png"))
    result = colorgrade("analyze", str(photos), "--json", "--server", server)
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)) == {str(photos / "cast.png"), str(photos / "clean.png")}   # a CDL each


class Recording:
    """A GradeClient that keeps what each stream sent."""

    def __init__(self, client):
        self.client, self.sent = client, []

    def __getattr__(self, name):
        return getattr(self.client, name)

    def stream(self, clip, frames, first_index=0):
        def kept():
            for frame in frames:
                self.sent.append(frame)
                yield frame
        return self.client.stream(clip, kept(), first_index)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_grade_sends_thumbnails_and_applies_what_the_daemon_would(server, dtype):
    """cdl_frames through grade: the daemon sees what the network looks at, the CDL is applied here, and every
    frame equals the one the daemon's own cdl_frames gives."""
    from colorgrade.clients import GradeClient
    from colorgrade.clients.cli import graded
    from colorgrade.color import analysis_thumbnail

    frames = [media.read_image(SAMPLES / "photos" / "dune.png")[..., :3].astype(dtype) * (257 if dtype == np.uint16
                                                                                          else 1)] * 2
    frames = [np.roll(frame, 7 * t, axis=1) for t, frame in enumerate(frames * 3)]
    with GradeClient(server) as client:
        clip = client.open_clip(mode="cdl_frames", window_radius=2)
        served = [result.frame for result in client.stream(clip, frames)]
        client.close_clip(clip)
        recording = Recording(client)
        settings = dict(mode="cdl_frames", window_radius=2, oversample=1, blend_radius=0, name="x", reference=None)
        local = [frame for _, frame in graded(recording, settings, frames, across_cuts=True)]
        side = client.info().analysis_size
    assert all(np.array_equal(a, b) for a, b in zip(served, local)) and len(local) == len(frames)
    assert all(np.array_equal(sent, analysis_thumbnail(frame, side)) and sent.size * 10 < frame.size
               for sent, frame in zip(recording.sent, frames))
