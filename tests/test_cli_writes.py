"""Outputs are written whole, under a temporary name of their own, then renamed: by `grade` and by
`colorgrade ffmpeg --run`, with every timestamp kept. Real commands, a real daemon, real ffmpeg."""
import subprocess
import sys

import pytest

from colorgrade.clients import media
from test_cli_clients import streams


def colorgrade(*args, **options):
    return subprocess.Popen([sys.executable, "-m", "colorgrade", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **options)


def make_clip(ffmpeg, path, size: str, frames: int, *filters):
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25",
                    "-frames:v", str(frames), *filters, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
                   check=True, timeout=120)


def test_two_commands_writing_one_output_each_finish_and_the_last_wins_whole(daemon_address, tmp_path, ffmpeg):
    make_clip(ffmpeg, tmp_path / "a.mp4", "320x180", 150)
    make_clip(ffmpeg, tmp_path / "b.mp4", "256x144", 120)
    output = tmp_path / "out.mp4"
    runs = [colorgrade("grade", str(tmp_path / name), "-o", str(output), "--server", daemon_address)
            for name in ("a.mp4", "b.mp4")]
    for run in runs:
        _, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr
    info = media.probe_video(output)
    assert (info.width, info.height, info.frames) in ((320, 180, 150), (256, 144, 120))
    assert len(list(media.read_video(output, info))) == info.frames       # whole: every frame decodes
    assert not list(tmp_path.glob(".*partial*"))
