"""`colorgrade analyze` and `colorgrade grade` against a real daemon (and a private one), on real media."""
import json
import subprocess
import sys

import numpy as np
import PyOpenColorIO as OCIO
import pytest

from colorgrade.clients import media
from colorgrade.color import read_cdl
from colorgrade.color import read_cube
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
    frames = list(media.read_video(SAMPLES / "clip" / "city.mp4"))[:4]
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
    (["grade", "notes.txt", "-o", "x.png"], "unknown media type '.txt'"),
    (["analyze", "x.png", "--server", "127.0.0.1:1"], "UNAVAILABLE"),
])
def test_bad_input_gives_exit_code_and_one_line(tmp_path, args, message):
    if args[1] == "x.png":
        media.write_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint8))
    result = subprocess.run([sys.executable, "-m", "colorgrade", *args], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
