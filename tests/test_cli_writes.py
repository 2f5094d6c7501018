"""Outputs are written whole, under a temporary name of their own, then renamed: by `grade` and by
`colorgrade ffmpeg --run`, with every timestamp kept. Real commands, a real daemon, real ffmpeg."""
import os
import signal
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


@pytest.fixture(scope="module")
def vfr_clip(tmp_path_factory, ffmpeg):
    """A phone-like variable-frame-rate clip: frames up to 4 ms off a 29.97 grid, with audio."""
    path = tmp_path_factory.mktemp("media") / "vfr.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30000/1001", "-f", "lavfi",
                    "-i", "sine", "-t", "2", "-vf", "settb=1/90000,setpts='N*3003+360*sin(N)'", "-fps_mode",
                    "passthrough", "-enc_time_base:v", "1/90000", "-video_track_timescale", "90000",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], check=True, timeout=120)
    pts = streams(path)["pts"]
    steps = {round(b - a, 4) for a, b in zip(pts, pts[1:])}
    assert len(pts) == 60 and len(steps) > 10          # off the grid, as a phone records
    return path


def test_the_ffmpeg_plan_keeps_every_variable_timestamp(daemon_address, tmp_path, vfr_clip):
    target = tmp_path / "graded.mp4"
    run = colorgrade("ffmpeg", str(vfr_clip), "-o", str(target), "--run", "--samples", "4", "--server", daemon_address)
    _, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr
    before, after = streams(vfr_clip), streams(target)
    assert after["pts"] == pytest.approx(before["pts"], abs=2e-5)    # not moved onto a 1/29.97 s grid
    assert after["others"] == before["others"]


def test_the_printed_pipe_chain_keeps_every_variable_timestamp(daemon_address, tmp_path, vfr_clip):
    from colorgrade.clients.ffmpeg.plan import pipe_commands

    target = tmp_path / "piped.mp4"
    decode, grade, encode = pipe_commands(vfr_clip, target, media.probe_video(vfr_clip),
                                          grade=[sys.executable, "-m", "colorgrade", "pipe", "--server", daemon_address])
    first = subprocess.Popen(decode, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    middle = subprocess.Popen(grade, stdin=first.stdout, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    first.stdout.close()
    last = subprocess.run(encode, stdin=middle.stdout, capture_output=True, timeout=300)
    middle.stdout.close()
    assert middle.wait(timeout=60) == 0 and first.wait(timeout=60) == 0 and last.returncode == 0, last.stderr
    assert streams(target)["pts"] == pytest.approx(streams(vfr_clip)["pts"], abs=2e-5)


@pytest.mark.parametrize("stopped", ["ffmpeg", "colorgrade"])
def test_an_interrupted_ffmpeg_run_leaves_no_file_under_the_final_name(daemon_address, tmp_path, ffmpeg, stopped):
    from test_daemon_lifecycle import wait_for
    from test_private_daemon import cmdline, descendants

    source, target = tmp_path / "long.mp4", tmp_path / "graded.mp4"
    make_clip(ffmpeg, source, "320x180", 3000)
    run = colorgrade("ffmpeg", str(source), "-o", str(target), "--run", "--samples", "2", "--server", daemon_address)
    encoder = []
    wait_for(lambda: encoder.extend(pid for pid in descendants(run.pid) if "-filter_script:v" in cmdline(pid))
             or encoder, 240)
    wait_for(lambda: any(p.stat().st_size for p in tmp_path.iterdir() if p.name.endswith(".mp4") and p != source), 30)
    os.kill(encoder[0] if stopped == "ffmpeg" else run.pid, signal.SIGTERM)   # ffmpeg then ends its file early
    _, stderr = run.communicate(timeout=60)
    assert run.returncode != 0
    assert not target.exists() and not list(tmp_path.glob(".*partial*"))
