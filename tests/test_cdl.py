"""CDL maths and files, with OpenColorIO as the oracle."""
import numpy as np
import PyOpenColorIO as OCIO
import pytest

from colorgrade.color import CDL, read_cdl, write_cdl


def random_cdl(rng, spread=1.0):
    return CDL(tuple(rng.uniform(1 - 0.3 * spread, 1 + 0.3 * spread, 3)),
               tuple(rng.uniform(-0.1 * spread, 0.1 * spread, 3)),
               tuple(rng.uniform(1 - 0.25 * spread, 1 + 0.3 * spread, 3)),
               float(rng.uniform(1 - 0.5 * spread, 1 + 0.5 * spread)))


def ocio_processor(transform):
    config = OCIO.Config.CreateRaw()
    # OPTIMIZATION_NONE: the default optimiser swaps pow() for a fast approximation (~1e-5 off).
    return config.getProcessor(transform).getOptimizedCPUProcessor(OCIO.OPTIMIZATION_NONE)


def ocio_cdl(cdl):
    transform = OCIO.CDLTransform()
    transform.setSlope(cdl.slope)
    transform.setOffset(cdl.offset)
    transform.setPower(cdl.power)
    transform.setSat(cdl.saturation)
    transform.setStyle(OCIO.CDL_ASC)  # OCIO's default style does not clamp
    return transform


def ocio_apply(transform, rgb):
    out = np.ascontiguousarray(rgb, dtype=np.float32).copy()
    ocio_processor(transform).applyRGB(out)
    return out


def test_apply_matches_ocio_for_random_cdls(rng):
    pixels = rng.random((20000, 3), dtype=np.float32)
    for _ in range(25):
        cdl = random_cdl(rng, spread=1.5)
        np.testing.assert_allclose(cdl.apply(pixels), ocio_apply(ocio_cdl(cdl), pixels), atol=1e-5)


def test_identity_leaves_pixels_alone(rng):
    pixels = rng.random((64, 64, 3), dtype=np.float32)
    assert CDL.identity() == CDL((1, 1, 1), (0, 0, 0), (1, 1, 1), 1)
    np.testing.assert_array_equal(CDL.identity().apply(pixels), pixels)


@pytest.mark.parametrize("kwargs, word", [
    ({"power": (1, 0, 1)}, "power"),
    ({"power": (1, -1, 1)}, "power"),
    ({"slope": (1, float("nan"), 1)}, "slope"),
    ({"offset": (0, 0)}, "offset"),
    ({"saturation": float("inf")}, "saturation"),
    ({"slope": (-1, 1, 1)}, "slope"),
])
def test_invalid_values_raise_clear_errors(kwargs, word):
    with pytest.raises(ValueError, match=word):
        CDL(**kwargs)


def test_vector_round_trip(rng):
    cdl = random_cdl(rng)
    assert CDL.from_vector(cdl.to_vector()) == cdl


def test_baked_lut_stays_close_to_exact_cdl(rng):
    pixels = rng.random((50000, 3), dtype=np.float32)
    for _ in range(10):
        cdl = random_cdl(rng, spread=0.5)  # corrections of the size the catalogue makes
        error = np.abs(cdl.to_lut(33).apply(pixels) - cdl.apply(pixels))
        # Only the lattice cells a clamp's kink passes through can exceed 0.01 (by about
        # slope / 4 of a 1/32 cell); everywhere else the bake is far tighter.
        assert np.percentile(error, 99.9) < 0.01
        assert error.mean() < 0.001


@pytest.mark.parametrize("suffix", [".cc", ".ccc", ".cdl"])
def test_our_files_are_read_by_ocio(tmp_path, rng, suffix):
    cdls = {"shot_010": random_cdl(rng)} if suffix == ".cc" else {f"shot_{i}": random_cdl(rng) for i in range(3)}
    path = tmp_path / f"grade{suffix}"
    write_cdl(path, cdls, {cid: f"colorgrade: warm_66, confidence 0.{i}" for i, cid in enumerate(cdls)})
    pixels = rng.random((1000, 3), dtype=np.float32)
    for i, (cid, cdl) in enumerate(cdls.items()):
        transform = OCIO.CDLTransform.CreateFromFile(str(path), cid)
        transform.setStyle(OCIO.CDL_ASC)
        np.testing.assert_allclose(ocio_apply(transform, pixels), cdl.apply(pixels), atol=1e-5)
        assert transform.getID() == cid
        described = {c.getElementName(): c.getElementValue() for c in transform.getFormatMetadata().getChildElements()}
        assert described["Description"] == f"colorgrade: warm_66, confidence 0.{i}"


@pytest.mark.parametrize("format_name, suffix", [
    ("ColorCorrection", ".cc"), ("ColorCorrectionCollection", ".ccc"), ("ColorDecisionList", ".cdl")])
def test_ocio_files_are_read_by_us(tmp_path, rng, format_name, suffix):
    count = 1 if suffix == ".cc" else 3
    expected = {f"shot_{i}": random_cdl(rng) for i in range(count)}
    group = OCIO.GroupTransform()
    for cid, cdl in expected.items():
        transform = ocio_cdl(cdl)
        transform.setID(cid)
        group.appendTransform(transform)
    path = tmp_path / f"ocio{suffix}"
    path.write_text(group.write(formatName=format_name, config=OCIO.Config.CreateRaw()))
    found = read_cdl(path)
    assert list(found) == list(expected)
    for cid, cdl in expected.items():
        np.testing.assert_allclose(found[cid].to_vector(), cdl.to_vector(), atol=1e-6)


def test_reads_uppercase_satnode(tmp_path):
    path = tmp_path / "resolve.cc"
    path.write_text('<ColorCorrection id="a"><SOPNode><Slope>1.1 1 1</Slope><Offset>0 0 0.01</Offset>'
                    '<Power>1 1 1</Power></SOPNode><SATNode><Saturation>0.8</Saturation></SATNode>'
                    '</ColorCorrection>')
    assert read_cdl(path) == {"a": CDL((1.1, 1, 1), (0, 0, 0.01), (1, 1, 1), 0.8)}


@pytest.mark.parametrize("text, problem", [
    ("not xml at all", "not a readable"),
    ("<ColorDecisionList/>", "no ColorCorrection"),
    ('<ColorCorrection id="x"><SOPNode><Slope>1 1</Slope><Offset>0 0 0</Offset><Power>1 1 1</Power>'
     '</SOPNode></ColorCorrection>', "Slope.*3 value"),
    ('<ColorCorrection id="x"><SOPNode><Slope>1 a 1</Slope><Offset>0 0 0</Offset><Power>1 1 1</Power>'
     '</SOPNode></ColorCorrection>', "not numeric"),
    ('<ColorCorrection id="x"><SOPNode><Slope>1 1 1</Slope><Offset>0 0 0</Offset><Power>1 0 1</Power>'
     '</SOPNode></ColorCorrection>', "power"),
])
def test_malformed_files_name_file_and_problem(tmp_path, text, problem):
    path = tmp_path / "bad.cc"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"bad.cc.*{problem}"):
        read_cdl(path)


def test_write_refuses_unknown_extension_and_several_in_cc(tmp_path):
    with pytest.raises(ValueError, match="unknown CDL file type"):
        write_cdl(tmp_path / "x.xml", {"a": CDL()})
    with pytest.raises(ValueError, match="holds one correction"):
        write_cdl(tmp_path / "x.cc", {"a": CDL(), "b": CDL()})


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_apply_codes_equals_float_path(rng, dtype):
    top = np.iinfo(dtype).max
    image = rng.integers(0, top + 1, size=(64, 48, 3)).astype(dtype)
    for _ in range(5):
        cdl = random_cdl(rng, spread=1.5)
        float_path = np.rint(cdl.apply(image.astype(np.float32) * np.float32(1 / top)) * np.float32(top)).astype(dtype)
        np.testing.assert_array_equal(cdl.apply_codes(image), float_path)


def test_apply_codes_of_half_floats_equals_float_path(rng):
    """A half float's 16 bits are a code: the table path gives exactly what float32 maths gives, scene values
    outside [0, 1] included."""
    image = (rng.random((64, 48, 3)) * 1.4 - 0.2).astype(np.float16)
    for _ in range(5):
        cdl = random_cdl(rng, spread=1.5)
        float_path = cdl.apply(image.astype(np.float32)).astype(np.float16)
        np.testing.assert_array_equal(cdl.apply_codes(image), float_path)


def test_mean_of_cdls_is_value_by_value_and_weighted():
    a, b = CDL((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 1.0), CDL((2.0, 1.0, 0.5), (0.1, 0.0, -0.1), (1.2, 1.0, 0.8), 0.4)
    assert CDL.mean([a, b]) == CDL.from_vector((a.to_vector() + b.to_vector()) / 2)
    weighted = CDL.mean([a, b], weights=[3, 1])
    assert weighted.slope == pytest.approx((1.25, 1.0, 0.875)) and weighted.saturation == pytest.approx(0.85)
