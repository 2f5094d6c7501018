"""What a command cannot do is said before any daemon starts, in one line naming the problem, with the
documented exit code: 1 bad input or a refused call, 2 bad usage or configuration. Real commands."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from colorgrade.clients import media
from colorgrade.server.daemon import cuda_devices


def run(*args, cwd):
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "colorgrade", *args], capture_output=True, text=True, timeout=120,
                            cwd=cwd)
    return result, time.monotonic() - started


@pytest.fixture
def folder(tmp_path, ffmpeg):
    media.write_image(tmp_path / "x.png", np.zeros((16, 16, 3), np.uint8))
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not a picture")
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x36:rate=25", "-frames:v", "5",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(tmp_path / "clip.mp4")], check=True, timeout=60)
    return tmp_path


# No --server: were a private daemon started first, each would take seconds and say something else.
@pytest.mark.parametrize("args, code, message", [
    (["analyze", "x.png", "--server", "127.0.0.1:1"], 1,
     "colorgrade analyze: --server 127.0.0.1:1 could not be reached (Failed to connect to remote host: Connection refused)"),
    (["grade", "x.png", "-o", "/proc/y.png"], 2, "colorgrade grade: -o /proc/y.png: cannot write in /proc"),
    (["grade", "x.png", "-o", "nowhere/y.png"], 2, "colorgrade grade: -o nowhere/y.png: folder nowhere does not exist"),
    (["grade", "clip.mp4", "-o", "y.mp4", "--codec", "nope"], 2,
     "colorgrade grade: --codec nope: no such video encoder (ffmpeg -encoders lists them)"),
    (["grade", "clip.mp4", "-o", "y.mp4", "--codec", "aac"], 2, "colorgrade grade: --codec aac: not a video encoder"),
    (["grade", "clip.mp4", "-o", "y.mp4", "--crf", "99"], 2, "colorgrade grade: --crf must be 0..51, got 99"),
    (["ffmpeg", "clip.mp4", "-o", "y.mp4", "--crf", "-1"], 2, "colorgrade ffmpeg: --crf must be 0..51, got -1"),
    (["ffmpeg", "clip.mp4", "-o", "y.mp4", "--codec", "nope"], 2,
     "colorgrade ffmpeg: --codec nope: no such video encoder (ffmpeg -encoders lists them)"),
    (["analyze", "x.png", "--reference", "clip.mp4@-5"], 2,
     "colorgrade analyze: --reference clip.mp4@-5: FRAME must be a frame number, 0 or more (VIDEO@FRAME), got '-5'"),
    (["grade", "x.png", "-o", "y.png", "--reference", "clip.mp4@abc"], 2,
     "colorgrade grade: --reference clip.mp4@abc: FRAME must be a frame number, 0 or more (VIDEO@FRAME), got 'abc'"),
    (["analyze", "x.png", "--reference", "clip.mp4@9"], 1, "colorgrade analyze: clip.mp4: has no frame 9 (the reference)"),
    (["analyze", "x.png", "--reference", "gone.mp4@9"], 1,
     "colorgrade analyze: gone.mp4@9: no such file or folder (the reference)"),
    (["grade", "x.png", "-o", "y.png", "--reference", "bad.png"], 1,
     "colorgrade grade: bad.png: cannot read image (cannot identify image file 'bad.png') (the reference)"),
    (["ffmpeg", "nope.mp4", "-o", "y.mp4"], 1, "colorgrade ffmpeg: nope.mp4: no such file or folder"),
    (["grade", "x.png", "-o", "y.png", "--device", "cuda:7"], 2,
     f"colorgrade grade: --device cuda:7: this machine has {cuda_devices() or 'no'} CUDA device"),
])
def test_a_command_that_cannot_work_says_why_in_one_line_before_a_daemon_starts(folder, args, code, message):
    result, took = run(*args, cwd=folder)
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert took < 1.5 or "--device" in args       # a CUDA device is checked by the daemon, before its workers
    assert not [p for p in os.listdir(folder) if p.startswith("y")]


def test_no_cuda_device_is_one_line_from_serve(tmp_path):
    if cuda_devices():
        pytest.skip("this machine has a CUDA device")   # device checks: scripts/device-checks
    result, _ = run("serve", "--unix", str(tmp_path / "s.sock"), "--device", "cuda", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["colorgrade serve: --device cuda: this machine has no CUDA device"]

