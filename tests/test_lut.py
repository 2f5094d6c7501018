"""3D LUTs and .cube files against OpenColorIO and the real ffmpeg."""
import subprocess

import numpy as np
import PyOpenColorIO as OCIO
import pytest
from PIL import Image

from colorgrade.color import CDL, LUT3D, lattice, read_cube, write_cube
from colorgrade.color.lut import fit_lut
from conftest import SAMPLES


def warm_grade():
    return CDL((1.08, 1.0, 0.9), (0.01, 0.0, -0.02), (0.95, 1.0, 1.1), 1.15)


def ocio_file_apply(path, rgb):
    transform = OCIO.FileTransform(src=str(path), interpolation=OCIO.INTERP_TETRAHEDRAL)
    processor = OCIO.Config.CreateRaw().getProcessor(transform)
    out = np.ascontiguousarray(rgb, dtype=np.float32).copy()
    processor.getOptimizedCPUProcessor(OCIO.OPTIMIZATION_NONE).applyRGB(out)
    return out


def test_identity_lut_is_exact(rng):
    pixels = rng.random((5000, 3), dtype=np.float32)
    np.testing.assert_allclose(LUT3D.identity(17).apply(pixels), pixels, atol=1e-6)


def test_lut_reproduces_any_function_on_lattice_points():
    lut = warm_grade().to_lut(9)
    points = lattice(9)
    np.testing.assert_allclose(lut.apply(points), warm_grade().apply(points), atol=1e-6)


def test_cube_round_trip_keeps_table_and_domain(tmp_path, rng):
    lut = LUT3D(rng.random((5, 5, 5, 3), dtype=np.float32), (-0.1, 0.0, 0.0), (1.0, 1.2, 1.0))
    path = tmp_path / "grade.cube"
    write_cube(path, lut)
    back = read_cube(path)
    np.testing.assert_allclose(back.table, lut.table, atol=1e-6)
    assert back.domain_min == pytest.approx(lut.domain_min) and back.domain_max == pytest.approx(lut.domain_max)


def test_red_runs_fastest_in_file(tmp_path):
    table = np.zeros((2, 2, 2, 3), dtype=np.float32)
    table[1, 0, 0] = (1, 0, 0)  # the entry for input pure red
    path = tmp_path / "order.cube"
    write_cube(path, LUT3D(table))
    rows = path.read_text().splitlines()[1:]
    assert rows[1] == "1.000000 0.000000 0.000000"


def test_our_cube_matches_ocio(tmp_path, rng):
    path = tmp_path / "grade.cube"
    lut = warm_grade().to_lut(33)
    write_cube(path, lut)
    pixels = rng.random((20000, 3), dtype=np.float32)
    np.testing.assert_allclose(ocio_file_apply(path, pixels), lut.apply(pixels), atol=2e-6)


@pytest.mark.parametrize("pix_fmt, dtype, tolerance", [("rgb24", np.uint8, 1), ("rgb48le", np.uint16, 2)])
def test_our_cube_matches_ffmpeg_lut3d(tmp_path, rng, ffmpeg, pix_fmt, dtype, tolerance):
    """ffmpeg rounds to the output's integer grid: agree within one or two code values."""
    top = np.iinfo(dtype).max
    image = rng.integers(0, top + 1, size=(48, 64, 3)).astype(dtype)
    source, result, cube = tmp_path / "in.rgb", tmp_path / "out.rgb", tmp_path / "grade.cube"
    image.tofile(source)
    lut = warm_grade().to_lut(33)
    write_cube(cube, lut)
    raw = ["-f", "rawvideo", "-pix_fmt", pix_fmt]
    subprocess.run([ffmpeg, "-v", "error", "-y", *raw, "-s", "64x48", "-i", str(source),
                    "-vf", f"lut3d=file={cube}", *raw, str(result)], check=True)
    theirs = np.fromfile(result, dtype=dtype).reshape(image.shape).astype(np.int64)
    ours = np.rint(lut.apply(image.astype(np.float32) / top) * top).astype(np.int64)
    assert np.abs(theirs - ours).max() <= tolerance


@pytest.mark.parametrize("text, problem", [
    ("LUT_1D_SIZE 2\n0 0 0\n1 1 1\n", "1D LUT"),
    ("0 0 0\n", "no LUT_3D_SIZE"),
    ("LUT_3D_SIZE 2\n0 0 0\n", "needs 8 rows, found 1"),
    ("LUT_3D_SIZE 2\n" + "0 0\n" * 8, "expected 3 numbers"),
    ("LUT_3D_SIZE 2\n" + "0 0 nan\n" * 8, "NaN"),
])
def test_malformed_cube_names_file_and_problem(tmp_path, text, problem):
    path = tmp_path / "bad.cube"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"bad.cube.*{problem}"):
        read_cube(path)


def test_invalid_tables_rejected():
    with pytest.raises(ValueError, match="N, N, N, 3"):
        LUT3D(np.zeros((2, 3, 2, 3)))
    with pytest.raises(ValueError, match="domain"):
        LUT3D(lattice(2), (0, 0, 0), (1, 0, 1))


def test_fitted_lut_reproduces_a_known_cdl():
    frames = [np.asarray(Image.open(SAMPLES / "photos" / name).convert("RGB").resize((256, 170)), np.float32) / 255
              for name in ("garden.png", "ladybird.png")]
    cdl = CDL((1.06, 0.97, 0.94), (0.01, 0.0, -0.01), (0.97, 1.03, 1.0), 1.08)
    lut = fit_lut(np.stack(frames), np.stack([cdl.apply(f) for f in frames]))
    for frame in frames:
        error = np.abs(lut.apply(frame) - cdl.apply(frame))
        # A smooth LUT cannot follow a clamp's kink exactly: bound all but the kink's few pixels.
        assert np.percentile(error, 99) < 0.01 and error.mean() < 0.002


def test_fit_uses_the_interpolation_apply_uses(rng):
    """A LUT is fitted through the tetrahedral interpolation it is applied with: any table, however rough,
    is recovered from its own output (a trilinear fit would miss a rough table by ~0.1)."""
    true = LUT3D(rng.random((5, 5, 5, 3), dtype=np.float32))
    pixels = rng.random((20000, 3), dtype=np.float32)
    fitted = fit_lut(pixels, true.apply(pixels), size=5, smoothness=1e-12, iterations=400)
    assert np.abs(fitted.apply(pixels) - true.apply(pixels)).max() < 1e-3
