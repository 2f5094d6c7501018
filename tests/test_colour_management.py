"""Colour-managed footage (docs/colour-management.md), with OpenColorIO as the oracle: plates made with OCIO's
studio config, errors made by OCIO's own CDLTransform in ACEScct, results judged on OCIO's display rendering."""
import json
import subprocess
import sys

import colour
import numpy as np
import OpenImageIO as oiio
import PyOpenColorIO as ocio
import pytest
from PIL import Image

from colorgrade.clients import media
from colorgrade.clients.colour_management import managed
from colorgrade.color import CDL
from conftest import SAMPLES
from daemon_fixtures import RunningDaemon

CONFIG = ocio.Config.CreateFromBuiltinConfig("studio-config-latest")
DISPLAY = CONFIG.getDefaultDisplay()
# A grade error as a colourist would make one in ACEScct: warm, a touch dark, flatter.
ERROR = CDL(slope=(1.08, 1.0, 0.9), offset=(0.02, -0.01, -0.03), power=(1.0, 1.0, 1.0), saturation=0.9)


@pytest.fixture(scope="module")
def server():
    with RunningDaemon("--port", "0") as daemon:
        yield daemon.address


def colorgrade(*args):
    return subprocess.run([sys.executable, "-m", "colorgrade", *args], capture_output=True, text=True, timeout=300)


def through(transform, rgb, direction=ocio.TRANSFORM_DIR_FORWARD):
    out = np.ascontiguousarray(rgb, dtype=np.float32).copy()
    CONFIG.getProcessor(transform, direction).getDefaultCPUProcessor().applyRGB(out)
    return out


def convert(rgb, source, target):
    return through(ocio.ColorSpaceTransform(src=source, dst=target), rgb)


def with_error(rgb, space):
    """OCIO's own CDL (ASC style, as ACES applies it) in ACEScct on ``rgb`` in ``space``."""
    cct = convert(rgb, space, "ACEScct")
    cdl = ocio.CDLTransform(slope=list(ERROR.slope), offset=list(ERROR.offset), power=list(ERROR.power),
                            sat=ERROR.saturation)
    cdl.setStyle(ocio.CDL_ASC)
    return convert(through(cdl, cct), "ACEScct", space)


def on_display(rgb, space):
    view = CONFIG.getDefaultView(DISPLAY, space)
    return np.clip(through(ocio.DisplayViewTransform(src=space, display=DISPLAY, view=view), rgb), 0, 1)


def delta_e(a, b):
    """Median CIEDE2000 between two sRGB display renderings."""
    lab = [colour.XYZ_to_Lab(colour.sRGB_to_XYZ(x.reshape(-1, 3).astype(np.float64))) for x in (a, b)]
    return float(np.median(colour.delta_E(*lab, method="CIE 2000")))


def scene(name="garden.png"):
    """A sample photo taken as scene-linear Rec.709 light (its sRGB encoding undone), in ACEScg."""
    photo = np.asarray(Image.open(SAMPLES / "photos" / name).convert("RGB"), np.float32) / 255
    return convert(photo, "sRGB Encoded Rec.709 (sRGB)", "ACEScg")


def write_exr(path, rgb, alpha=None, space="ACEScg"):
    pixels = rgb if alpha is None else np.concatenate([rgb, alpha], axis=-1)
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], pixels.shape[2], oiio.HALF)
    spec.attribute("oiio:ColorSpace", space)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec) and out.write_image(pixels.astype(np.float16))
    out.close()


def test_acescg_plate_with_an_acescct_error_lands_on_its_clean_hero_on_the_display(server, tmp_path):
    clean = scene()
    write_exr(tmp_path / "hero.exr", clean)
    (tmp_path / "plate").mkdir()
    for number in (1001, 1002):
        write_exr(tmp_path / "plate" / f"plate.{number}.exr", with_error(clean, "ACEScg"), np.full(clean.shape[:2] + (1,), 0.5))
    result = colorgrade("grade", str(tmp_path / "plate"), "-o", str(tmp_path / "graded"), "--reference",
                        str(tmp_path / "hero.exr"), "--server", server, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)[str(tmp_path / "plate")]
    assert (summary["colorspace"], summary["grading_space"]) == ("ACEScg", "ACEScct")   # said by the EXR
    before = delta_e(on_display(with_error(clean, "ACEScg"), "ACEScg"), on_display(clean, "ACEScg"))
    for number in (1001, 1002):
        graded = media.read_image(tmp_path / "graded" / f"plate.{number}.exr")
        assert graded.dtype == np.float16 and graded.shape[2] == 4 and (graded[..., 3] == 0.5).all()   # alpha kept
        after = delta_e(on_display(graded[..., :3], "ACEScg"), on_display(clean, "ACEScg"))
        assert after < 1 < before, (before, after)


def test_logc3_16bit_tiff_frames_come_back_logc3_and_corrected(server, tmp_path):
    space = "ARRI LogC3 (EI800)"
    clean = convert(scene("dune.png"), "ACEScg", space)
    hero = tmp_path / "hero.tif"
    media.write_image(hero, np.rint(np.clip(clean, 0, 1) * 65535).astype(np.uint16))
    (tmp_path / "take").mkdir()
    shot = np.rint(np.clip(with_error(clean, space), 0, 1) * 65535).astype(np.uint16)
    for number in (1, 2):
        media.write_image(tmp_path / "take" / f"take_{number:04d}.tif", shot)
    result = colorgrade("grade", str(tmp_path / "take"), "-o", str(tmp_path / "graded"), "--colorspace", space,
                        "--reference", str(hero), "--server", server, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[str(tmp_path / "take")]["grading_space"] == "ACEScct"
    graded = media.read_image(tmp_path / "graded" / "take_0001.tif")
    assert graded.dtype == np.uint16    # LogC3 codes out, as they came in
    before = delta_e(on_display(shot / 65535, space), on_display(clean, space))
    after = delta_e(on_display(graded / 65535, space), on_display(clean, space))
    assert after < 1 < before, (before, after)


def test_an_untouched_10bit_dpx_frame_comes_back_within_half_a_code(tmp_path):
    codes = np.random.default_rng(0).integers(0, 1024, (36, 48, 3))
    spec = oiio.ImageSpec(48, 36, 3, oiio.UINT16)
    spec.attribute("oiio:BitsPerSample", 10)
    spec.attribute("dpx:Transfer", "Printing density")
    out = oiio.ImageOutput.create(str(tmp_path / "scan.1001.dpx"))
    assert out.open(str(tmp_path / "scan.1001.dpx"), spec)
    out.write_image(np.rint(codes * 65535 / 1023).astype(np.uint16))
    out.close()
    result = colorgrade("grade", str(tmp_path / "scan.1001.dpx"), "-o", str(tmp_path / "out.1001.dpx"),
                        "--cdl", str(write_identity(tmp_path)))
    assert result.returncode == 0, result.stderr
    written = media.plate_spec(tmp_path / "out.1001.dpx")
    assert written.getattribute("oiio:BitsPerSample") == 10 and written.getattribute("dpx:Transfer") == "Printing density"
    back = media.read_image(tmp_path / "out.1001.dpx").astype(np.float64) * 1023 / 65535
    assert np.abs(back - codes).max() <= 0.5


def test_an_exr_keeps_its_alpha_and_its_other_channels(tmp_path):
    """RGB graded; alpha and the channels past it (a depth channel here) written back untouched, in order."""
    from colorgrade.color import write_cdl

    rng = np.random.default_rng(1)
    pixels = rng.random((24, 32, 5)).astype(np.float16)
    spec = oiio.ImageSpec(32, 24, 5, oiio.HALF)
    spec.channelnames = ("R", "G", "B", "A", "Z")
    spec.alpha_channel, spec.z_channel = 3, 4
    spec.attribute("oiio:ColorSpace", "ACEScg")
    out = oiio.ImageOutput.create(str(tmp_path / "deep.exr"))
    assert out.open(str(tmp_path / "deep.exr"), spec) and out.write_image(pixels)
    out.close()
    write_cdl(tmp_path / "error.cc", {"error": ERROR})
    result = colorgrade("grade", str(tmp_path / "deep.exr"), "-o", str(tmp_path / "out.exr"), "--cdl",
                        str(tmp_path / "error.cc"))
    assert result.returncode == 0, result.stderr
    assert list(media.plate_spec(tmp_path / "out.exr").channelnames) == ["R", "G", "B", "A", "Z"]
    found = oiio.ImageInput.open(str(tmp_path / "out.exr"))
    back = found.read_image(oiio.HALF)
    found.close()
    np.testing.assert_array_equal(back[..., 3:], pixels[..., 3:])
    assert np.abs(back[..., :3].astype(np.float32) - pixels[..., :3]).mean() > 0.01   # the picture was graded


def write_identity(folder):
    from colorgrade.color import write_cdl

    write_cdl(folder / "identity.cc", {"none": CDL()})
    return folder / "identity.cc"


def test_a_given_cdl_is_applied_in_acescct_as_ocio_applies_it(tmp_path):
    """The grading space's maths against the oracle: --cdl on an ACEScg EXR equals OCIO's CDLTransform in ACEScct."""
    from colorgrade.color import write_cdl

    clean = scene("aqua.png")[::4, ::4]
    write_exr(tmp_path / "clean.exr", clean)
    write_cdl(tmp_path / "error.cc", {"error": ERROR})
    result = colorgrade("grade", str(tmp_path / "clean.exr"), "-o", str(tmp_path / "out.exr"), "--cdl",
                        str(tmp_path / "error.cc"), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[str(tmp_path / "clean.exr")]["grading_space"] == "ACEScct"
    expected = with_error(clean.astype(np.float16).astype(np.float32), "ACEScg")
    assert np.abs(media.read_image(tmp_path / "out.exr").astype(np.float32) - expected).max() < 2e-3 * max(1, expected.max())


@pytest.mark.parametrize("transfer, name", [("smpte2084", "PQ"), ("arib-std-b67", "HLG")])
def test_an_hdr_tagged_video_is_refused_with_its_reason(ffmpeg, tmp_path, transfer, name):
    video = tmp_path / f"{name}.mov"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=0.2",
                    "-c:v", "prores_ks", "-pix_fmt", "yuv422p10le", "-color_primaries", "bt2020",
                    "-color_trc", transfer, "-colorspace", "bt2020nc", str(video)], check=True, timeout=60)
    for command in (["grade", str(video), "-o", str(tmp_path / "out.mov")], ["analyze", str(video)]):
        result = colorgrade(*command, "--server", "127.0.0.1:1")
        assert result.returncode == 1 and "HDR (PQ or HLG)" in result.stderr, result.stderr


def test_a_display_referred_input_takes_no_detour_and_an_unknown_space_is_named(tmp_path):
    assert managed("sRGB - Display") is None and managed("sRGB Encoded Rec.709 (sRGB)") is None and managed(None) is None
    assert managed("ACEScg").grading == "ACEScct"
    plain = tmp_path / "plain.exr"
    media.write_image(plain, np.zeros((4, 6, 3), np.float16))   # no colour attribute: OpenEXR's own convention
    assert managed(None, plain).name == "Linear Rec.709 (sRGB)"
    with pytest.raises(media.MediaError, match="'NoSuchSpace' is not in the OCIO config"):
        managed("NoSuchSpace")


def test_analyze_writes_the_acescct_cdl_and_says_so_and_grade_applies_it_there(server, tmp_path):
    clean = scene("ladybird.png")
    write_exr(tmp_path / "hero.exr", clean)
    write_exr(tmp_path / "shot.exr", with_error(clean, "ACEScg"))
    result = colorgrade("analyze", str(tmp_path / "shot.exr"), "--reference", str(tmp_path / "hero.exr"),
                        "--cdl", str(tmp_path / "shot.cc"), "--server", server, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[str(tmp_path / "shot.exr")]["grading_space"] == "ACEScct"
    assert "in ACEScct (input ACEScg)" in (tmp_path / "shot.cc").read_text()
    result = colorgrade("grade", str(tmp_path / "shot.exr"), "-o", str(tmp_path / "out.exr"), "--cdl",
                        str(tmp_path / "shot.cc"))
    assert result.returncode == 0, result.stderr
    graded = media.read_image(tmp_path / "out.exr")[..., :3]
    assert delta_e(on_display(graded, "ACEScg"), on_display(clean, "ACEScg")) < 1


@pytest.mark.parametrize("photo", ["ladybird.png", "garden.png", "dune.png", "aqua.png"])
def test_a_match_in_acescct_undoes_an_acescct_error_within_1_de(photo):
    """The matcher's whole-CDL gate is a share of the pairs' spread: log pictures span less than display ones
    (a fixed margin kept the gain alone here: 0.68-1.13 dE00 against 0.03-0.07)."""
    from colorgrade.color import MATCH_SIDE, shrink
    from colorgrade.matching import sift

    colour_managed = managed("ACEScg")
    clean = scene(photo)
    error = with_error(clean, "ACEScg")
    found = sift.match(colour_managed.in_grading(shrink(error, MATCH_SIDE)),
                       sift.describe(colour_managed.in_grading(shrink(clean, MATCH_SIDE))))
    graded = colour_managed.apply(found.cdl, error)
    assert delta_e(on_display(graded, "ACEScg"), on_display(clean, "ACEScg")) < 1
