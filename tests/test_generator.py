"""The generative network: window semantics, remedies, LUT distillation, validation, training smoke run."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from colorgrade.color import distill
from colorgrade.models import generator as gen
from colorgrade.models.data import load_photo
from conftest import SAMPLES


def random_head(frames):
    """An untrained generator whose head is random, so every input frame moves the output."""
    model = gen.untrained(frames=frames, device="cpu")
    with torch.no_grad():
        torch.manual_seed(1)
        model.network.head.weight.normal_(0, 0.02)
    return model


@pytest.fixture(scope="module")
def model():
    """A temporal generator (radius 2)."""
    return random_head(frames=5)


@pytest.fixture(scope="module")
def frame_model():
    """A per-frame generator (radius 0)."""
    return random_head(frames=1)


def clip(count, seed=0, size=(36, 64)):
    rng = np.random.default_rng(seed)
    return [rng.random((*size, 3), dtype=np.float32) for _ in range(count)]


@pytest.mark.parametrize("which, options, reach", [
    ("model", {}, 2), ("model", {"blend": 1}, 3), ("model", {"distill_lut": True}, 4),
    ("model", {"distill_lut": True, "blend": 1}, 6),
    ("frame_model", {}, 0), ("frame_model", {"distill_lut": True}, 2)])
def test_frame_t_depends_only_on_its_window(request, which, options, reach):
    model = request.getfixturevalue(which)
    assert distill.reach(model.radius, options.get("blend", 0), options.get("distill_lut", False)) == reach
    frames = clip(14)
    base = model.grade(frames, **options)
    for changed in (6 + reach, 6 + reach + 1):
        edited = list(frames)
        edited[changed] = np.clip(frames[changed] + 0.3, 0, 1)
        moved = not np.allclose(model.grade(edited, **options)[6], base[6], atol=1e-6)
        assert moved == (changed == 6 + reach), f"frame {changed} {'moved' if moved else 'did not move'} frame 6"


def test_clip_edges_and_sizes(model):
    frames = clip(3, size=(50, 70))
    for options in ({}, {"oversample": 2}, {"blend": 2}, {"distill_lut": True}):
        graded = model.grade(frames, **options)
        assert len(graded) == 3 and all(g.shape == (50, 70, 3) for g in graded), options
        assert all(np.isfinite(g).all() and 0 <= g.min() and g.max() <= 1 for g in graded)


def test_untrained_generator_returns_its_input_at_working_size():
    model = gen.untrained(frames=1, device="cpu")
    frames = clip(2, size=(144, 256))
    np.testing.assert_allclose(model.grade(frames)[0], frames[0], atol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"frames": []}, "no frames"),
    ({"frames": [np.zeros((8, 8, 4), np.float32)]}, "frame 0"),
    ({"frames": [np.full((8, 8, 3), np.nan, np.float32)]}, "NaN"),
    ({"frames": clip(2), "oversample": 3}, "oversample"),
    ({"frames": clip(2), "blend": -1}, "blend"),
])
def test_bad_input_raises(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        model.grade(**kwargs)


def test_distillation_keeps_full_resolution_detail(model):
    sharp = load_photo(SAMPLES / "photos" / "dune.png", max_side=512)
    plain, distilled = model.grade([sharp] * 3)[1], model.grade([sharp] * 3, distill_lut=True)[1]
    from colorgrade.models.metrics import sharpness_retention
    assert sharpness_retention(distilled, sharp) > 0.9 > sharpness_retention(plain, sharp)


def test_generator_training_smoke_run(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, source in enumerate(sorted((SAMPLES / "photos").glob("*.png")) * 2):
        (photos / f"{i}_{source.name}").write_bytes(source.read_bytes())
    out = tmp_path / "generator_temporal.safetensors"
    result = subprocess.run([sys.executable, "-m", "colorgrade", "train", "generator", "--temporal", "--window", "3",
                             "--photos", str(photos), "--steps", "2", "--batch", "1", "--out", str(out), "--run-dir",
                             str(tmp_path / "run"), "--device", "cpu"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    model = gen.load(out, "cpu")
    assert model.radius == 1 and len(model.grade(clip(3))) == 3
    assert out.with_suffix(".md").exists()
    # A window other than the default, through the validation pass (every step here).
    from colorgrade.models.train_generator import GeneratorOptions, train

    record = train(GeneratorOptions(photos=[str(photos)], temporal=True, window=3, steps=2, minutes=1, batch=1,
                                    epoch_steps=1, out=str(tmp_path / "w3.safetensors"), run_dir=str(tmp_path / "w3"),
                                    device="cpu"))
    assert record["steps"] == 2 and record["selected_validation"]["l2"] > 0
    even = subprocess.run([sys.executable, "-m", "colorgrade", "train", "generator", "--temporal", "--window", "4"],
                          capture_output=True, text=True)
    assert even.returncode == 2 and "odd number of frames, got 4" in even.stderr


def test_shipped_generator_weights_reproduce_their_cards():
    from colorgrade.models import WEIGHTS_DIR
    from colorgrade.models.cards import generator_fixed_set_numbers
    from colorgrade.models.weights import read_card

    weights = sorted(WEIGHTS_DIR.glob("generator_*.safetensors"))
    assert {p.stem for p in weights} == {"generator_frame", "generator_temporal"}
    for path in weights:
        card = read_card(path.with_suffix(".md"))
        expected = card["evaluation_fixed_set"]["mean_ciede2000"]
        measured = generator_fixed_set_numbers(path)
        assert measured == pytest.approx(expected, abs=0.01), path.name
        assert card["training"]["steps"] > 0 and card["evaluation_test_split"]["variants"]


def test_the_resize_back_is_bilinear_between_pixel_centres():
    """``distill.resize`` is torch's bilinear interpolation (align_corners=False), in numpy for the front end."""
    import torch.nn.functional as F

    image = np.random.default_rng(0).random((36, 64, 3), dtype=np.float32)
    for size in ((144, 256), (50, 70), (18, 32)):
        expected = F.interpolate(torch.from_numpy(image).permute(2, 0, 1)[None], size=size, mode="bilinear",
                                 align_corners=False)[0].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(distill.resize(image, size), expected, atol=1e-5)
