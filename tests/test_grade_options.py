"""`colorgrade grade` beyond the served correction: a given CDL or LUT applied without a daemon (--cdl, --ccc,
--cube), a summary of what it did per input and shot (--json), several inputs, and --strength (also in
analyze and report), on real media through a real daemon."""
import json
import subprocess
import sys

import numpy as np
import PyOpenColorIO as OCIO
import pytest

from colorgrade.clients import media
from colorgrade.color import CDL, apply, read_cdl, read_cube, write_cdl, write_cube
from conftest import SAMPLES

LOOK = CDL(slope=(1.12, 1.0, 0.86), offset=(0.01, 0.0, -0.02), power=(1.0, 1.1, 0.95), saturation=0.8)
CITY = SAMPLES / "clip" / "city.mp4"


def colorgrade(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "colorgrade", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def frames_of(path):
    return np.stack(list(media.read_video(path, media.probe_video(path)))).astype(np.float64)


@pytest.fixture()
def rgba16(tmp_path):
    image = media.read_image(SAMPLES / "photos" / "aqua.png").astype(np.uint16) * 257
    rgba = np.concatenate([image, np.full((*image.shape[:2], 1), 40000, np.uint16)], axis=-1)
    media.write_image(tmp_path / "in.png", rgba)
    return rgba


def test_a_given_cdl_or_lut_is_applied_at_full_quality_without_a_daemon(tmp_path, rgba16):
    write_cdl(tmp_path / "look.cc", {"look": LOOK})
    write_cdl(tmp_path / "reel.ccc", {"a": CDL(), "b": LOOK})
    write_cube(tmp_path / "look.cube", LOOK.to_lut(17))
    unreachable = ["--server", "127.0.0.1:1"]   # a daemon asked for would fail the command
    for given in (["--cdl", "look.cc"], ["--ccc", "reel.ccc", "--id", "b"]):
        result = colorgrade("grade", "in.png", "-o", "out.png", *given, *unreachable, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        graded = media.read_image(tmp_path / "out.png")
        np.testing.assert_array_equal(graded, apply(LOOK, rgba16))   # colorgrade.color's own result, alpha kept
        # OCIO, the oracle for the maths: within a 16-bit code of its float result.
        transform = OCIO.CDLTransform.CreateFromFile(str(tmp_path / "look.cc"), "look")
        transform.setStyle(OCIO.CDL_ASC)
        pixels = np.ascontiguousarray(rgba16[..., :3].reshape(-1, 3).astype(np.float32) / 65535)
        OCIO.GetCurrentConfig().getProcessor(transform).getDefaultCPUProcessor().applyRGB(pixels)
        assert np.abs(graded[..., :3].reshape(-1, 3) / 65535 - pixels).max() <= 1.5 / 65535
    result = colorgrade("grade", "in.png", "-o", "lut.png", "--cube", "look.cube", *unreachable, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(media.read_image(tmp_path / "lut.png"), apply(read_cube(tmp_path / "look.cube"), rgba16))
    # Video keeps today's fidelity: the CDL on the decoded source, within half a code per channel.
    result = colorgrade("grade", str(CITY), "-o", "city.mp4", "--cdl", "look.cc", "--json", *unreachable,
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[str(CITY)] == {"output": "city.mp4", "frames": 24, "applied": "look.cc"}
    expected = np.stack([apply(LOOK, frame) for frame in frames_of(CITY).astype(np.uint8)]).astype(np.float64)
    assert np.abs((frames_of(tmp_path / "city.mp4") - expected).mean(axis=(0, 1, 2))).max() < 0.5


@pytest.mark.parametrize("args, message", [
    (["--ccc", "reel.ccc"], "holds 2 corrections; pick one with --id (a, b)"),
    (["--cdl", "reel.ccc", "--id", "c"], "no ColorCorrection 'c'"),
    (["--cube", "look.cube", "--strength", "0.5"], "--strength scales a CDL"),
    (["--cdl", "reel.ccc", "--id", "a", "--reference", "in.png"], "applies a given correction"),
    (["--strength", "2.5"], "--strength must be 0..2"),
    (["--id", "a"], "--id picks a correction of --cdl"),
])
def test_bad_given_corrections_are_refused_in_one_line(tmp_path, args, message):
    media.write_image(tmp_path / "in.png", np.zeros((8, 8, 3), np.uint8))
    write_cdl(tmp_path / "reel.ccc", {"a": CDL(), "b": LOOK})
    write_cube(tmp_path / "look.cube", LOOK.to_lut(5))
    result = colorgrade("grade", "in.png", "-o", "out.png", *args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_grade_takes_several_inputs_and_sums_up_each_and_its_shots(daemon_address, tmp_path):
    still, cut = SAMPLES / "photos" / "garden.png", SAMPLES / "clip" / "cut.mp4"
    result = colorgrade("grade", str(still), str(cut), "-o", "graded", "--server", daemon_address, "--json",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert sorted(p.name for p in (tmp_path / "graded").iterdir()) == ["cut.mp4", "garden.png"]
    garden, reel = summary[str(still)], summary[str(cut)]
    assert garden["output"] == "graded/garden.png" and garden["frames"] == 1
    assert set(garden) >= {"label", "confidence", "cdl", "verdict", "description"}
    # The cut at frame 16 (cut.mp4, tests/test_shots.py): one line per shot, as analyze --shots gives them.
    assert [(s["id"], s["first"], s["last"]) for s in reel["shots"]] == [("cut_shot001", 0, 15), ("cut_shot002", 16, 31)]
    assert all(0 <= s["confidence"] <= 1 and s["description"].startswith(s["label"] + ": ") for s in reel["shots"])
    assert reel["description"].startswith("2 shot(s): ") and reel["frames"] == 32
    printed = colorgrade("grade", str(still), str(cut), "-o", "again", "--server", daemon_address, cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert f"{still} -> again/garden.png: {garden['description']}" in printed.stdout
    assert all(shot["description"] in printed.stdout for shot in reel["shots"])
    refused = colorgrade("grade", str(still), str(still), "-o", "twice", cwd=tmp_path)
    assert refused.returncode == 2 and "two inputs are named garden.png" in refused.stderr


def vector(cdl: dict) -> np.ndarray:
    return np.array([*cdl["slope"], *cdl["offset"], *cdl["power"], cdl["saturation"]])


IDENTITY = vector({"slope": [1] * 3, "offset": [0] * 3, "power": [1] * 3, "saturation": 1})


def test_strength_scales_the_served_correction_in_grade_analyze_and_report(daemon_address, tmp_path):
    cast = apply(CDL(slope=(0.85, 1.0, 1.2)), media.read_image(SAMPLES / "photos" / "ladybird.png"))
    media.write_image(tmp_path / "cast.png", cast)
    server = ["--server", daemon_address]

    def grade(*args):
        result = colorgrade("grade", *args, "--json", *server, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return next(iter(json.loads(result.stdout).values()))

    served, none, twice = (grade("cast.png", "-o", f"s{s}.png", "--strength", s) for s in ("1", "0", "2"))
    assert np.abs(vector(served["cdl"]) - IDENTITY).max() > 0.02          # the cast is corrected at all
    np.testing.assert_allclose(vector(twice["cdl"]) - IDENTITY, 2 * (vector(served["cdl"]) - IDENTITY), atol=1e-6)
    assert twice["strength"] == 2 and "; at strength 2" in twice["description"] and "strength" not in served
    np.testing.assert_array_equal(media.read_image(tmp_path / "s0.png"), cast)        # none: the source back
    assert np.abs(media.read_image(tmp_path / "s2.png").astype(int) - apply(CDL.from_vector(vector(twice["cdl"])),
                                                                            cast)).max() <= 1
    # Video: --strength 0 gives the source back within 0.4 codes per channel.
    grade(str(CITY), "-o", "city0.mp4", "--strength", "0")
    assert np.abs((frames_of(tmp_path / "city0.mp4") - frames_of(CITY)).mean(axis=(0, 1, 2))).max() < 0.4
    # analyze writes the scaled CDLs; the report shows the strength.
    for strength in ("1", "2"):
        result = colorgrade("analyze", "cast.png", "--cdl", f"a{strength}.cc", "--strength", strength, *server,
                            cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    (a1,), (a2,) = (read_cdl(tmp_path / f"a{s}.cc").values() for s in ("1", "2"))
    np.testing.assert_allclose(a2.to_vector() - IDENTITY, 2 * (a1.to_vector() - IDENTITY), atol=1e-5)
    result = colorgrade("report", "cast.png", "-o", "half.html", "--strength", "0.5", *server, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "half.html").read_text()
    assert "<dt>strength</dt><dd>0.5" in page and "; at strength 0.5" in page
