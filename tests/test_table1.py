"""The paper's regime (colorgrade eval table1): cutting shots, the splits, Table 1's rows, the classifier's and
the cGAN's training (resumable), on small real material."""
import numpy as np
import pytest
import torch

from colorgrade.models.detunes import LABELS, apply_labels
from colorgrade.evaluation.paper_regime import (PAPER_VALIDATION_SHARE, PaperOptions, RegimeGeneratorOptions,
                                            detuned_thumbnails, predict, regime_windows, split_items, table_one,
                                            train_classifier, train_regime_generator, working_frames)
from colorgrade.evaluation.table1 import detect_shots, plan_segments


def test_segments_take_turns_across_clips_and_spread_over_long_shots():
    shots = {"a.mp4": [(0, 40)], "b.mp4": [(0, 115), (116, 189)], "c.mp4": [(0, 449)]}
    plan = plan_segments(shots, count=6, length=45)
    by_clip = {clip: [first for c, first in plan if c == clip] for clip in shots}
    assert by_clip["a.mp4"] == []                        # 41 frames: too short for a 45-frame shot
    assert by_clip["b.mp4"] == [0, 45, 116]               # clips take turns: three each
    assert by_clip["c.mp4"] == [0, 180, 405]              # spread over the long shot, start to end
    for clip, firsts in by_clip.items():                 # inside one shot, never overlapping
        spans = shots[clip]
        for first in firsts:
            assert any(start <= first and first + 44 <= end for start, end in spans)
        assert all(b - a >= 45 for a, b in zip(sorted(firsts), sorted(firsts)[1:]))
    with pytest.raises(ValueError, match="only 1 segments of 45 frames, 2 needed"):
        plan_segments({"a.mp4": [(0, 60)]}, count=2, length=45)


def test_the_shot_detector_cuts_the_two_shot_clip(two_shot_clip):
    shots = detect_shots(two_shot_clip)
    assert len(shots) == 2 and shots[0][0] == 0 and shots[1][0] == shots[0][1] + 1


def test_splits_are_the_papers_random_one_and_whole_held_out_shots():
    shots = np.repeat(np.arange(15), 45)
    training, validation, held = split_items(shots, "random")
    assert len(training) + len(validation) == 16875 and not set(training.tolist()) & set(validation.tolist())
    assert abs(len(validation) / 16875 - PAPER_VALIDATION_SHARE) < 1e-3 and held == []
    training, validation, held = split_items(shots, "shots")
    assert len(held) == 3 and len(validation) == 3 * 45 * 25
    held_frames = set(np.flatnonzero(np.isin(shots, held)).tolist())
    assert {int(i) // 25 for i in validation} == held_frames
    assert not {int(i) // 25 for i in training} & held_frames
    with pytest.raises(ValueError, match="unknown protocol"):
        split_items(shots, "photos")


def test_table_one_counts_exact_neighbours_and_levels():
    index = LABELS.index
    truth = torch.tensor([index("warm_33"), index("warm_66"), index("cool_100"), index("clean"), index("contrast_33")])
    guess = torch.tensor([index("warm_33"), index("warm_100"), index("green_100"), index("warm_33"), index("clean")])
    rows = table_one(guess, truth)
    assert rows["exact"] == 0.2 and rows["nearest_neighbour"] == 0.2 and rows["total"] == 0.4
    confusion = rows["level_confusion"]
    assert confusion["33"]["33"] == 1 and confusion["66"]["100"] == 1 and confusion["100"]["other kind"] == 1
    assert confusion["0"]["33"] == 1 and confusion["33"]["0"] == 1   # clean is level 0 of every kind


def test_thumbnails_are_detuned_at_frame_size_in_8_bits_then_squashed():
    rng = np.random.default_rng(0)
    frames = (rng.random((2, 32, 56, 3)) * 255).astype(np.uint8)
    thumbnails = detuned_thumbnails(frames, side=8)
    assert thumbnails.shape == (2, 25, 3, 8, 8) and thumbnails.dtype == torch.uint8
    clean = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    expected = torch.nn.functional.interpolate(torch.round(apply_labels(clean, torch.full((2,), 5)) * 255) / 255,
                                               size=(8, 8), mode="area")
    assert torch.equal(thumbnails[:, 5], torch.round(expected * 255).to(torch.uint8))
    assert not torch.equal(thumbnails[:, 0], thumbnails[:, 5])


def test_the_classifier_trains_and_resumes_where_it_stopped(tmp_path):
    rng = np.random.default_rng(1)
    frames = (rng.random((6, 32, 56, 3)) * 200 + 20).astype(np.uint8)
    thumbnails = detuned_thumbnails(frames, side=32)
    shots = np.repeat(np.arange(3), 2)
    training, validation, _ = split_items(shots, "random")
    options = PaperOptions(side=32, width=4, batch=16, epochs=2, minutes=5)
    network, record = train_classifier(thumbnails, training, validation, options, tmp_path, resume=False)
    assert record["epochs"] == 2.0 and (tmp_path / "checkpoint.pt").exists()
    log = (tmp_path / "log.tsv").read_text().splitlines()
    assert log[0].split("\t")[-2:] == ["validation_exact", "validation_total"] and len(log) == 3
    again, resumed = train_classifier(thumbnails, training, validation, options, tmp_path, resume=True)
    assert resumed["steps"] == record["steps"]           # already finished: nothing more to train
    assert torch.equal(predict(network, thumbnails, validation), predict(again, thumbnails, validation))


def test_regime_windows_pair_a_detuned_window_with_its_clean_one(tmp_path):
    rng = np.random.default_rng(2)
    frames = (rng.random((10, 64, 114, 3)) * 255).astype(np.uint8)
    small = working_frames(frames)
    shots = np.repeat([0, 1], 5)
    x, y = regime_windows(small, shots, [1], 3, 5, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (3, 15, *small.shape[-2:])
    window = small[5:10].float() / 255                    # shot 1 is frames 5..9: the only 5-frame window
    assert all(torch.equal(target, window.flatten(0, 1)) for target in y)
    options = RegimeGeneratorOptions(temporal=True, batch=2, steps=3, base=4, depth=2)
    generated, record = train_regime_generator(small, shots, [0, 1], options, tmp_path, resume=False)
    assert record["steps"] == 3 and generated.radius == 2
    graded = generated.grade([f.astype(np.float32) / 255 for f in frames[:3]])
    assert len(graded) == 3 and graded[0].shape == (64, 114, 3)


def test_the_regime_is_cut_frame_exact_from_a_sequential_decode(two_shot_clip, tmp_path):
    from PIL import Image

    from colorgrade.clients import media
    from colorgrade.evaluation.table1 import cut_regime

    regime = cut_regime([two_shot_clip], tmp_path / "shots.npz", progress=False, count=2, length=4)
    assert regime["frames"].shape == (8, 256, 456, 3) and regime["shots"].tolist() == [0] * 4 + [1] * 4
    decoded = dict(media.numbered_frames(two_shot_clip))
    for shot, (_, first) in enumerate(regime["segments"]):
        for offset in range(4):   # exactly the picture the sequential decode numbers first + offset (10-bit source)
            picture = Image.fromarray((decoded[first + offset] >> 8).astype(np.uint8)[..., :3])
            expected = np.asarray(picture.resize((456, 256), Image.Resampling.BOX))
            assert np.array_equal(regime["frames"][shot * 4 + offset], expected)
    again = cut_regime([two_shot_clip], tmp_path / "shots.npz", progress=False, count=2, length=4)
    assert np.array_equal(again["frames"], regime["frames"])   # from the cache
