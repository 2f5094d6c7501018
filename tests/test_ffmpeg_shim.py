"""`colorgrade ffmpeg`: the two-pass plan, applied by the real ffmpeg binary, checked frame by frame."""
import json
import subprocess
import sys

import numpy as np
import pytest

from colorgrade.clients import media
from colorgrade.color import CDL, apply
from media_fixtures import SHOTS, Untouched, make_two_shot_clip
from test_cli_clients import streams


def colorgrade(*args):
    return subprocess.run([sys.executable, "-m", "colorgrade", *args], capture_output=True, text=True, timeout=300)


def tags(path):
    import av

    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        return {name: int(getattr(context, name)) for name in media.COLOUR_TAGS}


def test_two_pass_switches_luts_on_the_cut_and_keeps_everything_else(daemon_address, tmp_path, ffmpeg):
    source, target = tmp_path / "two.mov", tmp_path / "graded.mkv"
    make_two_shot_clip(ffmpeg, source)                         # 10-bit 4:4:4 ProRes, PCM audio, BT.709 tags
    # ffv1 is lossless: what remains is the LUT against the exact CDL and the YUV round trip.
    result = colorgrade("ffmpeg", str(source), "-o", str(target), "--codec", "ffv1", "--run", "--server", daemon_address)
    assert result.returncode == 0, result.stderr
    command = result.stdout.strip().splitlines()[-1]
    assert command.startswith("ffmpeg -i ") and "-filter_script:v" in command and "-fps_mode passthrough" in command
    plan = tmp_path / "graded.mkv.grade"
    assert sorted(p.name for p in plan.iterdir()) == ["two.ccc", "two.ffgraph", "two.shots.json",
                                                      "two_shot001.cube", "two_shot002.cube"]
    before, after = streams(source), streams(target)
    assert after["video"][2] == "yuv444p10le"                   # 10-bit stays 10-bit
    assert after["others"] == [("audio", "pcm_s16le")]         # audio copied
    assert after["pts"] == pytest.approx(before["pts"], abs=1e-3) and len(after["pts"]) == 38
    assert tags(target) == tags(source)                          # colour tags written back
    shots = json.loads((plan / "two.shots.json").read_text())
    assert [(s["first"], s["last"]) for s in shots] == list(SHOTS)
    original = list(media.read_video(source, media.probe_video(source)))
    graded = list(media.read_video(target, media.probe_video(target)))
    cdls = [CDL(**s["cdl"]) for s in shots]
    for shot, cdl in zip(shots, cdls):
        lut = cdl.to_lut(65)
        for n in range(shot["first"], shot["last"] + 1):
            # In 8-bit code values: ffmpeg applies the shot's .cube as colorgrade.color does, up to the
            # 10-bit YUV the output is stored in (0.42 measured) ...
            assert np.abs(apply(lut, original[n]).astype(float) - graded[n]).max() / 257 <= 0.5
            # ... and the 65^3 .cube is the CDL within one code (0.78 measured: offsets clamp inside a cell).
            assert np.abs(apply(lut, original[n]).astype(float) - apply(cdl, original[n])).max() / 257 <= 1.0
    # The cut's first frame got shot 2's LUT, not shot 1's: the two differ there by far more than a code.
    cut = SHOTS[1][0]
    assert np.abs(apply(cdls[0], original[cut]).astype(float) - graded[cut]).max() / 257 > 3


def test_the_exact_plan_is_the_cdl_within_one_code(daemon_address, tmp_path, two_shot_clip):
    target = tmp_path / "exact.mkv"
    result = colorgrade("ffmpeg", str(two_shot_clip), "-o", str(target), "--codec", "ffv1", "--exact", "--run",
                        "--server", daemon_address)
    assert result.returncode == 0, result.stderr
    script = (tmp_path / "exact.mkv.grade" / "two.ffgraph").read_text()
    assert "lutrgb=" in script and "colorchannelmixer=" in script and "lut3d" not in script
    shots = json.loads((tmp_path / "exact.mkv.grade" / "two.shots.json").read_text())
    original = list(media.read_video(two_shot_clip, media.probe_video(two_shot_clip)))
    graded = list(media.read_video(target, media.probe_video(target)))
    for shot in shots:
        cdl = CDL(**shot["cdl"])
        for n in range(shot["first"], shot["last"] + 1):   # only the 10-bit YUV storage remains (0.42 measured)
            assert np.abs(apply(cdl, original[n]).astype(float) - graded[n]).max() / 257 <= 0.5


def test_the_default_plan_keeps_prores_and_variable_frame_rate(daemon_address, tmp_path, ffmpeg):
    source = tmp_path / "vfr.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi",
                    "-i", "sine", "-t", "1.6", "-vf", "select='not(eq(mod(n,3),1))'", "-fps_mode", "passthrough",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(source)], check=True)
    odd = tmp_path / "it's: [odd], dir;"     # every character ffmpeg's filter parsers treat specially
    odd.mkdir()
    result = colorgrade("ffmpeg", str(source), "-o", str(odd / "out.mp4"), "--run", "--server", daemon_address)
    assert result.returncode == 0, result.stderr
    before, after = streams(source), streams(odd / "out.mp4")
    assert after["pts"] == pytest.approx(before["pts"], abs=1e-3)          # no frame duplicated or dropped
    assert after["others"] == before["others"] and after["video"][2] == "yuv420p"
    prores = tmp_path / "two.mov"
    make_two_shot_clip(ffmpeg, prores, audio=False)
    result = colorgrade("ffmpeg", str(prores), "-o", str(tmp_path / "graded.mov"), "--server", daemon_address)
    assert result.returncode == 0 and "-c:v prores_ks" in result.stdout and "-profile:v 4444" in result.stdout
    assert not (tmp_path / "graded.mov").exists()                           # without --run: a plan only


def test_the_plan_copies_subtitles_and_metadata(daemon_address, tmp_path, ffmpeg, two_shot_clip):
    (tmp_path / "subs.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nA line\n")
    source = tmp_path / "subtitled.mkv"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(two_shot_clip), "-i", str(tmp_path / "subs.srt"), "-map", "0",
                    "-map", "1", "-c:v", "ffv1", "-c:a", "copy", "-c:s", "srt", "-metadata", "title=Take 3",
                    str(source)], check=True)
    target = tmp_path / "graded.mkv"
    result = colorgrade("ffmpeg", str(source), "-o", str(target), "--run", "--server", daemon_address)
    assert result.returncode == 0, result.stderr
    kept = streams(target)["others"]
    assert kept == streams(source)["others"] and [kind for kind, _ in kept] == ["audio", "subtitle"]
    import av

    with av.open(str(target)) as container:
        assert container.metadata.get("title") == "Take 3"


def test_run_without_ffmpeg_on_path_says_so_and_keeps_the_plan(daemon_address, tmp_path):
    import os

    from conftest import SAMPLES

    result = subprocess.run([sys.executable, "-m", "colorgrade", "ffmpeg", str(SAMPLES / "clip" / "cut.mp4"), "-o",
                             str(tmp_path / "out.mp4"), "--run", "--server", daemon_address], capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PATH": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("colorgrade ffmpeg: cannot run ffmpeg (")
    assert (tmp_path / "out.mp4.grade" / "cut.ffgraph").exists()


@pytest.mark.parametrize("args, message", [
    (["missing.mov", "-o", "x.mp4"], "missing.mov: no such file or folder"),
    (["in.mov", "-o", "x.txt"], "give the output a video extension"),
    (["in.mov", "-o", "in.mov"], "ffmpeg cannot read and write one file"),
])
def test_bad_plans_are_refused_in_one_line(tmp_path, ffmpeg, args, message):
    make_two_shot_clip(ffmpeg, tmp_path / "in.mov", audio=False)
    result = subprocess.run([sys.executable, "-m", "colorgrade", "ffmpeg", *args], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert result.returncode in (1, 2) and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_pipe_grades_a_nut_stream_keeping_timestamps_depth_and_audio(daemon_address, tmp_path, ffmpeg):
    source, target = tmp_path / "vfr.mkv", tmp_path / "graded.mkv"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi",
                    "-i", "sine", "-t", "1.2", "-vf", "select='not(eq(mod(n,3),1))'", "-fps_mode", "passthrough",
                    "-c:v", "ffv1", "-pix_fmt", "yuv444p10le", "-c:a", "flac", str(source)], check=True)
    decode = subprocess.Popen([ffmpeg, "-v", "error", "-i", str(source), "-f", "nut", "-c:v", "rawvideo",
                               "-pix_fmt", "rgb48le", "-fps_mode", "passthrough", "-"], stdout=subprocess.PIPE)
    grade = subprocess.Popen([sys.executable, "-m", "colorgrade", "pipe", "--window", "1", "--server",
                              daemon_address], stdin=decode.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    decode.stdout.close()
    encode = subprocess.run([ffmpeg, "-v", "error", "-f", "nut", "-i", "-", "-i", str(source), "-map", "0:v",
                             "-map", "1:a", "-c:a", "copy", "-c:v", "ffv1", "-pix_fmt", "rgb48le",
                             "-fps_mode", "passthrough", str(target)], stdin=grade.stdout, capture_output=True)
    grade.stdout.close()
    assert grade.wait(timeout=120) == 0 and decode.wait(timeout=60) == 0, grade.stderr.read()
    assert encode.returncode == 0, encode.stderr
    before, after = streams(source), streams(target)
    assert after["pts"] == pytest.approx(before["pts"], abs=1e-3) and len(after["pts"]) == 20   # VFR kept
    assert after["others"] == [("audio", "flac")]
    # The frames are what the daemon gives a client streaming the same 16-bit frames directly.
    from colorgrade.clients.client import GradeClient

    frames = [f.astype("uint16") for _, f in media.numbered_frames(source)]
    graded = [f for _, f in media.numbered_frames(target)]
    with GradeClient(daemon_address) as client:
        clip = client.open_clip(mode="cdl_frames", window_radius=1)
        direct = [r.frame for r in client.stream(clip, frames)]
    assert graded[0].dtype == "uint16" and all(np.array_equal(a, b) for a, b in zip(direct, graded))
    assert not np.array_equal(graded[3], frames[3])


def mean_shift(source, target):
    """Each RGB channel's mean change from ``source`` to ``target``, in 8-bit code values."""
    before = np.stack(list(media.read_video(source, media.probe_video(source)))).astype(float)
    after = np.stack(list(media.read_video(target, media.probe_video(target)))).astype(float)
    scale = 255 / (65535 if before.dtype == np.uint16 or before.max() > 255 else 255)
    return (after - before).mean(axis=(0, 1, 2)) * scale


@pytest.fixture(scope="module", params=["8-bit", "10-bit"])
def real_footage(request, tmp_path_factory, ffmpeg):
    """Real city footage (the shipped sample) as 8-bit 4:2:0 H.264 and as 10-bit 4:2:2 (FFV1)."""
    from conftest import SAMPLES

    source = SAMPLES / "clip" / "city.mp4"
    if request.param == "8-bit":
        return source
    deep = tmp_path_factory.mktemp("deep") / "city10.mkv"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(source), "-frames:v", "12", "-c:v", "ffv1", "-pix_fmt",
                    "yuv422p10le", "-color_range", "tv", "-colorspace", "bt709", str(deep)], check=True)
    return deep


def test_an_untouched_shot_comes_back_from_the_plan_as_it_went_in(tmp_path, ffmpeg, real_footage):
    from colorgrade.clients.ffmpeg.plan import ffmpeg_command, filter_graph

    info = media.probe_video(real_footage)
    target = tmp_path / "out.mkv"
    script = tmp_path / "identity.ffgraph"
    _, pix_fmt, _ = media.choose_encoding(info, "ffv1")
    script.write_text(filter_graph([(0, info.frames - 1, CDL())], info, pix_fmt))
    subprocess.run([*ffmpeg_command(real_footage, target, script, info, "ffv1", ffmpeg=ffmpeg)[:-1], "-v", "error",
                    str(target)], check=True, timeout=120)
    assert np.abs(mean_shift(real_footage, target)).max() <= 0.5     # was (-1.8, -1.3, -1.8) with fast rounding


def test_an_untouched_frame_comes_back_from_the_pipe_chain_as_it_went_in(tmp_path, ffmpeg, real_footage):
    from colorgrade.clients.ffmpeg.pipe import pipe
    from colorgrade.clients.ffmpeg.plan import pipe_commands

    info = media.probe_video(real_footage)
    target = tmp_path / "out.mkv"
    decode, _, encode = pipe_commands(real_footage, target, info, "ffv1", ffmpeg=ffmpeg)
    decoder = subprocess.Popen(decode[:1] + ["-v", "error"] + decode[1:], stdout=subprocess.PIPE)
    encoder = subprocess.Popen(encode[:1] + ["-v", "error"] + encode[1:], stdin=subprocess.PIPE)
    count = pipe(Untouched(), "clip", decoder.stdout, encoder.stdin)
    encoder.stdin.close()
    assert decoder.wait(timeout=60) == 0 and encoder.wait(timeout=60) == 0 and count == info.frames
    assert np.abs(mean_shift(real_footage, target)).max() <= 0.5


def test_the_printed_pipe_chain_names_the_sources_matrix(tmp_path, two_shot_clip):
    result = colorgrade("ffmpeg", str(two_shot_clip), "-o", str(tmp_path / "out.mov"), "--pipe")
    assert result.returncode == 0, result.stderr
    decode, grade, encode = result.stdout.strip().split(" \\\n  | ")
    assert "in_color_matrix=bt709" in decode and "accurate_rnd" in decode and grade == "colorgrade pipe"
    assert "out_color_matrix=bt709" in encode and "-c:v prores_ks" in encode and "'1:a?'" in encode


def test_the_pipe_matches_to_a_reference_and_refuses_one_it_cannot_use(daemon_address, tmp_path, ffmpeg):
    from media_fixtures import MONTAGE, make_montage

    reel = tmp_path / "reel.mp4"
    make_montage(ffmpeg, reel)

    def piped(*options):
        decode = subprocess.Popen([ffmpeg, "-v", "error", "-i", str(reel), "-frames:v", "12", "-f", "nut", "-c:v",
                                   "rawvideo", "-pix_fmt", "rgb24", "-"], stdout=subprocess.PIPE)
        done = subprocess.run([sys.executable, "-m", "colorgrade", "pipe", "--server", daemon_address, *options],
                              stdin=decode.stdout, capture_output=True, timeout=120)
        decode.wait(timeout=60)
        assert done.returncode == 0, done.stderr
        (tmp_path / "out.nut").write_bytes(done.stdout)
        return list(media.read_video(tmp_path / "out.nut", media.probe_video(tmp_path / "out.nut")))

    blind, matched = piped(), piped("--reference", f"{reel}@{MONTAGE[1][0] + 6}")
    assert len(matched) == 12 and np.abs(matched[6].astype(float) - blind[6]).mean() > 2   # the match moved it
    refused = subprocess.run([sys.executable, "-m", "colorgrade", "pipe", "--mode", "generator_lut", "--reference",
                              f"{reel}@0"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert refused.returncode == 2 and "--reference matches the analysis network's CDL" in refused.stderr
