"""The colour layer's frames and ``apply``: any sample type, alpha kept, OpenColorIO's CPUProcessor as the oracle."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import PyOpenColorIO as OCIO
import pytest

from colorgrade.color import (CDL, REC709_LUMA, apply, block_means, from_float_rgb, luma_rec709, shrink,
                              thumbnail_block, to_float_rgb)
from test_cdl import ocio_cdl

BIT_DEPTH = {np.uint8: OCIO.BIT_DEPTH_UINT8, np.uint16: OCIO.BIT_DEPTH_UINT16, np.float16: OCIO.BIT_DEPTH_F16,
             np.float32: OCIO.BIT_DEPTH_F32}
CDL_UNDER_TEST = CDL((1.2, 0.9, 1.05), (0.02, -0.01, 0.0), (0.9, 1.1, 1.0), 1.3)


def random_image(rng, dtype, shape):
    if np.dtype(dtype).kind == "u":
        return rng.integers(0, np.iinfo(dtype).max + 1, size=shape).astype(dtype)
    return rng.random(shape).astype(dtype)


def ocio_apply_image(transform, image):
    """What OpenColorIO's CPUProcessor.apply gives for this image at its own bit depth (alpha untouched)."""
    dtype = image.dtype.type
    processor = OCIO.Config.CreateRaw().getProcessor(transform).getOptimizedCPUProcessor(
        BIT_DEPTH[dtype], BIT_DEPTH[dtype], OCIO.OPTIMIZATION_NONE)
    out = np.ascontiguousarray(image).copy()
    height, width, channels = out.shape
    item = out.dtype.itemsize
    processor.apply(OCIO.PackedImageDesc(out, width, height, channels, BIT_DEPTH[dtype], item, item * channels,
                                         item * channels * width))
    return out


@pytest.mark.parametrize("dtype, tolerance", [(np.uint8, 1), (np.uint16, 1), (np.float16, 1e-3), (np.float32, 1e-5)])
@pytest.mark.parametrize("channels", [3, 4])
def test_apply_cdl_matches_ocio_at_every_bit_depth(rng, dtype, tolerance, channels):
    image = random_image(rng, dtype, (17, 23, channels))
    graded = apply(CDL_UNDER_TEST, image)
    assert graded.dtype == image.dtype and graded.shape == image.shape
    expected = ocio_apply_image(ocio_cdl(CDL_UNDER_TEST), image)
    assert np.abs(graded.astype(np.float64) - expected.astype(np.float64)).max() <= tolerance
    if channels == 4:
        np.testing.assert_array_equal(graded[..., 3], image[..., 3])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float16, np.float32])
def test_apply_lut_is_the_lut_on_floats_with_type_and_alpha_kept(rng, dtype):
    lut = CDL_UNDER_TEST.to_lut(17)
    image = random_image(rng, dtype, (9, 11, 4))
    graded = apply(lut, image)
    rgb, alpha = to_float_rgb(image)
    np.testing.assert_array_equal(graded, from_float_rgb(lut.apply(rgb), alpha, dtype))
    np.testing.assert_array_equal(graded[..., 3], image[..., 3])


@pytest.mark.parametrize("transform", [CDL_UNDER_TEST, CDL_UNDER_TEST.to_lut(9)], ids=["cdl", "lut"])
@pytest.mark.parametrize("dtype, channels", [(np.uint8, 3), (np.uint8, 4), (np.uint16, 3), (np.float32, 4)])
def test_bands_on_threads_grade_exactly_like_one_pass(rng, transform, dtype, channels):
    image = random_image(rng, dtype, (37, 23, channels))
    with ThreadPoolExecutor(3) as pool:
        banded = apply(transform, image, pool, bands=3)
    np.testing.assert_array_equal(banded, apply(transform, image))


def test_apply_names_what_it_cannot_take():
    with pytest.raises(ValueError, match="3 or 4"):
        apply(CDL(), np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(TypeError, match="CDL or a LUT3D"):
        apply("warm", np.zeros((4, 4, 3), np.uint8))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float16, np.float32])
def test_float_conversion_round_trip_keeps_alpha(rng, dtype):
    image = random_image(rng, dtype, (4, 6, 4))
    rgb, alpha = to_float_rgb(image)
    assert rgb.dtype == np.float32 and rgb.shape == (4, 6, 3) and 0 <= rgb.min() and rgb.max() <= 1
    np.testing.assert_array_equal(from_float_rgb(rgb, alpha, dtype), image)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_block_means_of_codes_equal_means_of_floats(rng, dtype):
    image = random_image(rng, dtype, (50, 70, 3))
    block = thumbnail_block(50, 70, 16)
    assert block == 3
    means = block_means(image, block)
    floats = to_float_rgb(image)[0][:48, :69].reshape(16, 3, 23, 3, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(means, floats, atol=1e-6)


def test_luma_is_rec709():
    assert REC709_LUMA == (0.2126, 0.7152, 0.0722)
    assert luma_rec709(np.array([1.0, 1.0, 1.0])) == pytest.approx(1.0)
    assert luma_rec709(np.array([[0.0, 1.0, 0.0]]))[0] == pytest.approx(0.7152)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_shrink_is_the_rounded_block_mean_in_the_frames_own_type(rng, dtype):
    top = np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1.0
    image = (rng.random((1080, 1920, 4)) * top).astype(dtype)
    small = shrink(image, 256)
    assert small.dtype == dtype and small.shape == (135, 240, 4)        # factor 8, alpha kept
    expected = image.astype(np.float64).reshape(135, 8, 240, 8, 4).mean(axis=(1, 3))
    if np.dtype(dtype).kind == "u":
        assert np.array_equal(small, np.rint(expected).astype(dtype))
    else:
        np.testing.assert_allclose(small, expected, atol=1e-6)
    small_already = image[:200, :250]
    assert shrink(small_already, 256) is small_already                    # nothing to shrink: the frame itself
