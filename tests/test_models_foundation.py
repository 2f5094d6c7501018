"""Torch colour maths, metrics, detune catalogue, mixtures, splits and synthetic clips."""
import warnings

import numpy as np
import pytest
import torch

from colorgrade.models import metrics
from colorgrade.models.differentiable_colour import apply_cdl, linear_to_srgb, srgb_to_lab, srgb_to_linear
from colorgrade.models.data import PhotoSet, licence_summary, list_photos, load_photo, split_photos, synthesise_clip, to_numpy, to_tensor
from colorgrade.models.detunes import (KINDS, LABELS, MixtureSampler, are_neighbours, catalogue,
                                       correction_matrix)
from colorgrade.color import CDL

from conftest import SAMPLES

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # colour-science warns that matplotlib/scipy are absent
    import colour


def test_torch_cdl_equals_numpy_cdl(rng):
    pixels = rng.random((2, 16, 16, 3), dtype=np.float32)
    cdls = [CDL((1.2, 0.9, 1.0), (0.02, -0.05, 0.01), (0.8, 1.1, 1.3), 1.4),
            CDL((0.7, 1.1, 1.3), (-0.1, 0.0, 0.05), (1.2, 0.9, 1.0), 0.3)]
    vectors = torch.tensor(np.stack([c.to_vector() for c in cdls]), dtype=torch.float32)
    ours = to_numpy(apply_cdl(torch.from_numpy(pixels).permute(0, 3, 1, 2), vectors))
    for i, cdl in enumerate(cdls):
        np.testing.assert_allclose(ours[i], cdl.apply(pixels[i]), atol=2e-6)


def test_torch_cdl_is_differentiable():
    image = torch.rand(1, 3, 8, 8)
    cdl = torch.tensor([[1.1, 1.0, 0.9, 0.0, 0.01, 0.0, 1.0, 1.0, 1.0, 1.2]], requires_grad=True)
    apply_cdl(image, cdl).mean().backward()
    assert torch.isfinite(cdl.grad).all() and cdl.grad.abs().sum() > 0


def test_srgb_transfer_round_trip():
    x = torch.linspace(0, 1, 1001).view(1, 1, -1, 1).expand(1, 3, -1, 1)
    torch.testing.assert_close(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-5, rtol=0)


def test_ciede2000_matches_colour_science(rng):
    a = rng.random((500, 3))
    b = np.clip(a + rng.normal(0, 0.08, a.shape), 0, 1)
    b[:20] = b[:20].mean(axis=1, keepdims=True)  # greys: the zero-chroma branch
    lab_a, lab_b = (srgb_to_lab(torch.from_numpy(x.T.reshape(1, 3, -1, 1)))[0, :, :, 0] for x in (a, b))
    expected = colour.delta_E(lab_a.T.numpy(), lab_b.T.numpy(), method="CIE 2000")
    np.testing.assert_allclose(metrics.ciede2000(a, b), expected, atol=1e-9)
    # Our sRGB -> Lab agrees with colour-science's up to its slightly different D65 constants.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(lab_a.T.numpy(), colour.XYZ_to_Lab(colour.sRGB_to_XYZ(a)), atol=0.05)


def test_metrics_behave():
    image = load_photo(SAMPLES / "photos" / "garden.png", max_side=256)
    assert metrics.ciede2000(image, image).max() == 0
    assert metrics.psnr(image, image) == float("inf")
    assert metrics.identical_share(image, image) == 1.0
    blurred = to_numpy(torch.nn.functional.avg_pool2d(to_tensor(image), 3, 1, 1, count_include_pad=False))[0]
    assert metrics.sharpness_retention(image, image) == pytest.approx(1.0)
    assert metrics.sharpness_retention(blurred, image) < 0.7
    clip = np.stack([image] * 4)
    assert metrics.flicker(clip, clip) == 0
    flickering = clip + np.array([0, 0.02, -0.02, 0.02], np.float32)[:, None, None, None]
    assert metrics.flicker(flickering, clip) > 4  # 0.02..0.04 jumps are 5-10 code values


def test_catalogue_has_25_labels_and_neighbours():
    entries = catalogue()
    assert len(LABELS) == 25 == len(entries) and len(KINDS) == 8 and LABELS[0] == "clean"
    assert are_neighbours("warm_33", "warm_66") and not are_neighbours("warm_33", "warm_100")
    assert not are_neighbours("warm_33", "cool_33") and not are_neighbours("clean", "warm_33")
    assert correction_matrix().shape == (25, 10)


@pytest.mark.parametrize("label", LABELS)
def test_each_correction_restores_the_clean_photo(label):
    clean = load_photo(SAMPLES / "photos" / "dune.png", max_side=320)
    entry = catalogue()[label]
    detuned = entry.cdl.apply(clean)
    restored = entry.correction.apply(detuned)
    unclipped = np.all((detuned > 1e-4) & (detuned < 1 - 1e-4), axis=-1)
    assert unclipped.mean() > 0.5
    assert np.median(metrics.ciede2000(restored, clean)[unclipped]) < 0.5
    assert metrics.ciede2000(restored, clean)[unclipped].max() < 0.5
    if label != "clean":  # a detune must be visible, and full scale clearly so
        visible = np.median(metrics.ciede2000(detuned, clean))
        assert visible > (3.0 if entry.level == 100 else 1.0)


def test_mixture_sampler_draws_1_to_4_errors_and_is_seeded():
    magnitudes, order = MixtureSampler(torch.Generator().manual_seed(0)).sample(200)
    counts = (magnitudes != 0).sum(1)
    assert counts.min() == 1 and counts.max() == 4
    assert sorted(order) == list(range(len(MixtureSampler.names)))
    again, again_order = MixtureSampler(torch.Generator().manual_seed(0)).sample(200)
    assert torch.equal(magnitudes, again) and order == again_order


def test_mixtures_include_errors_outside_the_cdl_family():
    clean = to_tensor(load_photo(SAMPLES / "photos" / "aqua.png", max_side=128))
    names = MixtureSampler.names
    for name in ("white_balance_linear", "exposure_linear", "s_curve", "gamma"):
        magnitudes = torch.zeros(1, len(names))
        magnitudes[0, names.index(name)] = 0.3
        out = MixtureSampler.apply(clean, magnitudes, list(range(len(names))))
        assert (out - clean).abs().mean() > 0.01, name


def test_split_is_by_photo_fixed_per_name_and_two_thirds(tmp_path):
    for i in range(600):
        (tmp_path / f"photo_{i:03d}.png").touch()
    photos = list_photos([tmp_path])
    split = split_photos(photos)
    shares = [len(split[s]) / len(photos) for s in ("train", "test", "validation")]
    assert shares == pytest.approx([2 / 3, 1 / 6, 1 / 6], abs=0.04)
    assert set().union(*map(set, split.values())) == set(photos)
    assert split == split_photos(list(reversed(photos)))
    # Adding photos never moves one that was already there.
    grown = split_photos(photos + [tmp_path / f"new_{i}.png" for i in range(100)])
    for share, members in split.items():
        assert set(members) <= set(grown[share])


def test_a_few_photos_still_fill_every_share(tmp_path):
    for i in range(6):
        (tmp_path / f"p{i}.png").touch()
    split = split_photos(list_photos([tmp_path]))
    assert all(split[share] for share in ("train", "test", "validation")) and sum(map(len, split.values())) == 6


def test_permissive_licence_leaves_out_research_only_rows(tmp_path):
    for name in ("free.jpg", "research.jpg", "unlisted.png"):
        (tmp_path / name).touch()
    (tmp_path / "MANIFEST.tsv").write_text("file\tlicence\nfree.jpg\tCC0-1.0\n"
                                           "research.jpg\tRESEARCH-ONLY (ImageNet terms)\n")
    assert [p.name for p in list_photos([tmp_path])] == ["free.jpg", "research.jpg", "unlisted.png"]
    assert [p.name for p in list_photos([tmp_path], "permissive")] == ["free.jpg", "unlisted.png"]
    with pytest.raises(ValueError, match="licence must be"):
        list_photos([tmp_path], "mine")


def test_licence_summary_names_research_only_sets_per_folder(tmp_path):
    listed, bare = tmp_path / "listed", tmp_path / "bare"
    for folder, names in ((listed, ("a.jpg", "b.jpg", "c.jpg", "d.jpg")), (bare, ("e.png",))):
        folder.mkdir()
        for name in names:
            (folder / name).touch()
    (listed / "MANIFEST.tsv").write_text("file\tlicence\na.jpg\tCC0-1.0\nb.jpg\tRESEARCH-ONLY (ImageNet terms)\n"
                                         "c.jpg\tRESEARCH-ONLY (ImageNet terms)\nd.jpg\tRESEARCH-ONLY (BSDS)\n")
    assert licence_summary(list_photos([listed, bare])) == [
        f"{bare}: 1 photos (no licence column; see the folder's LICENSES.md)",
        f"{listed}: 4 photos, 1 under permissive licences, research-only: 2 RESEARCH-ONLY (ImageNet terms); "
        "1 RESEARCH-ONLY (BSDS)"]
    assert licence_summary(list_photos([listed], "permissive")) == [f"{listed}: 1 photos, 1 under permissive licences"]


def test_missing_photo_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list_photos([tmp_path / "nowhere"])


def test_photo_set_crops_from_a_cache_decoded_once(tmp_path):
    paths = sorted((SAMPLES / "photos").glob("*.png"))
    photos = PhotoSet(paths, size=(128, 128), cache_dir=tmp_path)
    cached = list(tmp_path.glob("photos-128x128-*.npy"))
    assert len(cached) == 1 and np.load(cached[0], mmap_mode="r").shape == (len(paths), 128, 128, 3)
    stamp = cached[0].stat().st_mtime_ns
    PhotoSet(paths, size=(128, 128), cache_dir=tmp_path)
    assert cached[0].stat().st_mtime_ns == stamp            # read, not decoded again
    crops = photos.random_crops(4, (64, 96), torch.Generator().manual_seed(1))
    assert crops.shape == (4, 3, 64, 96) and 0 <= crops.min() and crops.max() <= 1


def test_synthetic_clip_moves_drifts_and_keeps_truth():
    photo = load_photo(SAMPLES / "photos" / "ladybird.png", max_side=400)
    clip = synthesise_clip(photo, frames=6, size=(72, 128), generator=torch.Generator().manual_seed(3))
    assert clip.inputs.shape == clip.targets.shape == (6, 72, 128, 3)
    assert clip.magnitudes.shape == (6, len(MixtureSampler.names))
    assert not np.allclose(clip.targets[0], clip.targets[-1])          # the camera moves
    assert not np.allclose(clip.magnitudes[0], clip.magnitudes[-1])    # the detune drifts
    assert np.all((clip.magnitudes != 0) == (clip.magnitudes[0] != 0))  # ...but stays the same errors
    # The truth reproduces the inputs from the targets.
    rebuilt = MixtureSampler.apply(torch.from_numpy(clip.targets).permute(0, 3, 1, 2),
                                   torch.from_numpy(clip.magnitudes), clip.order)
    np.testing.assert_allclose(to_numpy(rebuilt), clip.inputs, atol=1e-6)
