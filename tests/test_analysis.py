"""The analysis network: public entry point, input validation, shipped weights and their card, training."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from colorgrade.models import analysis
from colorgrade.models.cards import FIXED_SET, evaluate_on_fixed_set
from colorgrade.models.data import load_photo
from colorgrade.models.detunes import LABELS
from colorgrade.models import WEIGHTS_DIR
from colorgrade.models.weights import read_card
from colorgrade.color import CDL
from conftest import SAMPLES


@pytest.fixture(scope="module")
def analyzer():
    return analysis.load_default("cpu")


def test_analyze_returns_cdl_and_scores_for_any_size(analyzer):
    frames = [load_photo(SAMPLES / "photos" / "garden.png"), np.random.default_rng(0).random((37, 91, 3), dtype=np.float32)]
    results = analyzer.analyze(frames)
    assert len(results) == 2
    for result in results:
        assert isinstance(result.cdl, CDL) and isinstance(result.weighted_cdl, CDL)
        assert set(result.scores) == set(LABELS) and sum(result.scores.values()) == pytest.approx(1, abs=1e-4)
        assert result.label == max(result.scores, key=result.scores.get)


@pytest.mark.parametrize("shape", [(1080, 1920), (288, 512), (301, 130), (100, 90)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_and_float_frames_give_the_training_thumbnail(analyzer, shape, dtype):
    """The daemon hands the analyser integer codes, the Python API floats; both are block-averaged in
    numpy, and must match the torch thumbnail that training and evaluation use."""
    from colorgrade.models.differentiable_colour import thumbnail

    codes = (np.random.default_rng(1).random((*shape, 3)) * np.iinfo(dtype).max).astype(dtype)
    floats = codes.astype(np.float32) / np.iinfo(dtype).max
    reference = thumbnail(torch.from_numpy(floats).permute(2, 0, 1)[None], analyzer.thumbnail_size)
    for frame in (codes, floats):
        torch.testing.assert_close(analyzer.thumbnails([frame]), reference, rtol=0, atol=1e-6)


def test_thumbnail_of_whole_multiples_is_the_plain_area_average():
    """Training crops (256 -> 128) and evaluation crops (512 -> 128) see exactly k x k block means."""
    from colorgrade.models.differentiable_colour import thumbnail

    images = torch.rand(2, 3, 512, 512)
    for size in (128, 256):
        block = 512 // size
        expected = images.reshape(2, 3, size, block, size, block).mean(dim=(3, 5))
        torch.testing.assert_close(thumbnail(images, size), expected, rtol=0, atol=1e-6)
    assert thumbnail(images[..., :200, :300], 128).shape == (2, 3, 128, 128)   # 1 block, then adaptive


def test_device_is_automatic_and_can_be_forced(analyzer):
    assert analysis.pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert analyzer.device.type == "cpu"


@pytest.mark.parametrize("frames, message", [
    ([], "no frames"),
    ([np.zeros((8, 8), np.float32)], "frame 0: expected \\(height, width, 3\\)"),
    ([np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.float32)], "frame 1: expected"),
    ([np.full((8, 8, 3), np.nan, np.float32)], "frame 0: holds NaN"),
    ([np.zeros((8, 8, 3), np.uint8)], "float values"),
    (np.zeros((8, 8, 3), np.float32), "list of frames"),
])
def test_bad_input_raises_clear_errors(analyzer, frames, message):
    with pytest.raises(ValueError, match=message):
        analyzer.analyze(frames)


def test_shipped_analysis_weights_reproduce_their_card():
    for path in [WEIGHTS_DIR / "analysis.safetensors", WEIGHTS_DIR / "analysis_permissive.safetensors"]:
        card = read_card(path.with_suffix(".md"))
        assert card["evaluation_fixed_set"]["per_family"] == FIXED_SET["per_family"]
        measured = evaluate_on_fixed_set(path, "cpu")
        expected = card["evaluation_fixed_set"]["report"]
        assert measured["single_detunes"]["exact"] == pytest.approx(expected["single_detunes"]["exact"], abs=0.005)
        for family, numbers in expected["families"].items():
            for method in ("none", "head (full)", "served"):
                assert measured["families"][family]["methods"][method]["mean"] == pytest.approx(
                    numbers["methods"][method]["mean"], abs=0.02), (family, method)
        assert card["training"]["steps"] > 0 and card["training"]["segments"]


def test_training_smoke_run_resumes_and_writes_weights(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for source in (SAMPLES / "photos").glob("*.png"):
        (photos / source.name).write_bytes(source.read_bytes())
    for i in range(2):  # 6 photos: 4 train, 1 test, 1 validation
        (photos / f"copy{i}.png").write_bytes((SAMPLES / "photos" / "aqua.png").read_bytes())
    out = tmp_path / "weights" / "analysis.safetensors"
    common = ["train", "analysis", "--photos", str(photos), "--batch", "4", "--out", str(out),
              "--run-dir", str(tmp_path / "run"), "--device", "cpu"]
    first = subprocess.run([sys.executable, "-m", "colorgrade", *common, "--steps", "2"], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    second = subprocess.run([sys.executable, "-m", "colorgrade", *common, "--steps", "4", "--resume"],
                            capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert "resuming from" in second.stdout
    card = read_card(out.with_suffix(".md"))
    assert card["training"]["steps"] == 4
    assert [(s["from_step"], s["to_step"]) for s in card["training"]["segments"]] == [(0, 2), (2, 4)]
    assert analysis.load(out, "cpu").analyze([np.zeros((16, 16, 3), np.float32)])[0].label in LABELS
    log = (tmp_path / "run" / "log.tsv").read_text().splitlines()
    assert log[0].startswith("step\t")
    json.dumps(card)  # the card's record is plain JSON


def test_video_evaluation_scores_drift_damage_and_flicker(rng):
    from colorgrade.evaluation.video import VIDEO_CONDITIONS, drifting, evaluate_video

    clean = [(rng.random((32, 48, 3)) * 200 + 20).astype(np.uint8) for _ in range(6)]
    generator = torch.Generator().manual_seed(0)
    assert all(np.array_equal(a, b) for a, b in zip(drifting(clean, (), generator), clean))
    detuned = drifting(clean, ("warm_cool",), generator)
    departures = [np.abs(d.astype(int) - c).mean() for d, c in zip(detuned, clean)]
    assert departures[-1] > departures[0] > 0                  # the error drifts from half to full strength
    report = evaluate_video({"noise": clean}, {
        "none": lambda frames: frames,
        "oracle": lambda frames: clean,                        # knows the clean clip: no error, no flicker
        "jitter": lambda frames: [np.clip(f.astype(int) + (8 if i % 2 else -8), 0, 255).astype(np.uint8)
                                  for i, f in enumerate(frames)]})
    assert set(report["conditions"]) == set(VIDEO_CONDITIONS)
    for condition, row in report["conditions"].items():
        assert row["oracle"]["ciede2000"] == 0 and row["oracle"]["flicker"] == 0
        assert row["jitter"]["flicker"] > row["none"]["flicker"]
        if condition != "clean":
            assert row["oracle"]["better"] == 1.0 and row["none"]["ciede2000"] > 0
