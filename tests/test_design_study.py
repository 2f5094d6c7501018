"""The design study's parts: the histogram reads a cast as a shift, the bounds are computed as named."""
import numpy as np
import torch

from studies import design_study
from colorgrade.models.differentiable_colour import linear_to_srgb, srgb_to_linear
from colorgrade.models.data import PhotoSet, list_photos

from conftest import SAMPLES


def _mass_centre(histogram: torch.Tensor) -> np.ndarray:
    mass = histogram[0, 0] ** 2   # the histograms are square roots
    index = torch.arange(design_study.HISTOGRAM_BINS, dtype=torch.float32)
    return np.array([float((mass.sum(1) * index).sum()), float((mass.sum(0) * index).sum())])


def test_a_linear_cast_shifts_the_log_chroma_histogram_by_its_log_gain():
    photo = PhotoSet(list_photos([SAMPLES / "photos"])[:1], size=(96, 96)).photos(torch.tensor([0]))
    gains = torch.tensor([1.0, 0.8, 1.0]).view(1, 3, 1, 1)   # log G/R and log G/B both fall by log(1.25)
    cast = linear_to_srgb(srgb_to_linear(photo) * gains)
    shift = _mass_centre(design_study.chroma_histograms(photo)) - _mass_centre(design_study.chroma_histograms(cast))
    bins = np.log(1.25) / (2 * design_study.HISTOGRAM_RANGE / design_study.HISTOGRAM_BINS)
    # Pixels clipped by the cast or at the histogram's edge move less; the bulk moves by the gain.
    np.testing.assert_allclose(shift, [bins, bins], atol=0.6)


def test_an_untrained_corrector_is_the_identity_and_the_bounds_follow():
    photos = PhotoSet(list_photos([SAMPLES / "photos"]), size=(64, 64))
    corrector = design_study.Corrector(histogram=True).eval()
    head, confidence = design_study.predict([corrector, corrector], photos.photos(torch.arange(len(photos))), tta=True)
    np.testing.assert_allclose(head.numpy(), np.tile([1, 1, 1, 0, 0, 0, 1, 1, 1, 1], (len(photos), 1)), atol=1e-6)
    for design in (corrector, design_study.Corrector(reference=True).eval()):
        report = design_study.score([design], photos)
        for family, row in report.items():
            assert row["head"] == row["none"] == row["served"] == row["oracle gate"], family


def test_crops_of_chosen_photos_come_from_those_photos():
    photos = PhotoSet(list_photos([SAMPLES / "photos"]), size=(64, 64))
    which = torch.tensor([2, 2, 0])
    crops = photos.random_crops(3, (64, 64), torch.Generator().manual_seed(0), which=which)
    means = photos.photos(torch.arange(len(photos))).mean((2, 3))
    # A crop's mean colour is nearest its own photo's (the sample photos differ in colour).
    nearest = [int(torch.cdist(crop.mean((1, 2))[None], means).argmin()) for crop in crops]
    assert nearest == which.tolist()


def test_a_short_training_run_learns_to_correct():
    photos = PhotoSet(list_photos([SAMPLES / "photos"]), size=(192, 192))
    trained = design_study.train_corrector(photos, steps=60, batch=32)
    report = design_study.score([trained], PhotoSet(list_photos([SAMPLES / "photos"]), size=(160, 160)))
    assert report["mixtures (2-3 errors)"]["head"] < report["mixtures (2-3 errors)"]["none"]
    assert all(row["oracle gate"] <= min(row["head"], row["none"]) + 1e-6 for row in report.values())


def test_white_spread_of_the_casts_is_their_log_gain():
    photos = PhotoSet(list_photos([SAMPLES / "photos"]), size=(64, 64))
    spread = design_study.white_spread(photos)
    assert set(spread) == {"grey world", "white patch", "grey edge", "white-balance casts"}
    m = np.concatenate([np.linspace(0.2, 1, 1001), -np.linspace(0.2, 1, 1001)]) * 0.25
    assert abs(spread["white-balance casts"]["std"][0] - np.log1p(m).std(ddof=1)) < 1e-3


def test_the_study_runs_end_to_end_and_writes_its_table(tmp_path, capsys):
    assert design_study.main(["--photos", str(SAMPLES / "photos"), "--steps", "4", "--ensemble", "2",
                              "--out", str(tmp_path)]) == 0
    table = (tmp_path / "design.md").read_text()
    for row in ("statistics + tta", "histogram", "ensemble of 2", "reference (what would meet it)",
                "statistics, 4x steps", "oracle gate (statistics)", "statistics on training photos", "white patch"):
        assert row in table, row
    assert table in capsys.readouterr().out


def test_clips_are_scored_per_condition_against_leaving_them_alone():
    photo = PhotoSet(list_photos([SAMPLES / "photos"])[:1], size=(48, 64)).photos(torch.tensor([0]))[0]
    frames = [np.rint(photo.permute(1, 2, 0).numpy() * 255).astype(np.uint8)] * 3
    correctors = {"statistics": design_study.Corrector().eval(),
                  "reference": design_study.Corrector(reference=True).eval()}
    report = design_study.score_clips(correctors, {"still": frames})
    assert report["clean"]["none"] == 0
    for condition, row in report.items():   # untrained correctors are the identity
        assert row["statistics"] == row["reference"] == row["none"], condition
    assert report["white balance drift"]["none"] > 0
    text = design_study.format_video({"steps": 0, "clips": {"still": 3}, "conditions": report})
    assert "reference" in text and "mixture drift" in text

def test_negatives_swap_a_share_of_references_for_other_photos_and_draw_nothing_at_zero():
    which = torch.arange(1000) % 7
    generator = torch.Generator().manual_seed(0)
    untouched = design_study.negatives(which, 7, 0.0, generator)
    assert untouched is which and torch.equal(generator.get_state(), torch.Generator().manual_seed(0).get_state())
    swapped = design_study.negatives(which, 7, 0.25, generator)
    changed = swapped != which
    assert 0.2 < changed.float().mean() < 0.3                # about the share asked for, never the crop's own photo
    assert bool(((swapped >= 0) & (swapped < 7)).all())


def test_the_learned_reference_designs_grade_a_shot_and_fall_back_where_nothing_is_verified():
    from colorgrade.color import CDL
    from colorgrade.models.data import load_photo
    from colorgrade.evaluation.match import framings
    from studies.match_designs import learned_methods

    untrained = design_study.Corrector(reference=True).eval()   # its head is the identity: no change at all
    methods = learned_methods(untrained)
    hero, shot = framings(load_photo(SAMPLES / "photos" / "garden.png", 320))
    cast = CDL(slope=(1.15, 1.0, 0.8)).apply(shot)
    np.testing.assert_allclose(methods["(c) learned reference corrector"](cast, hero), cast, atol=1e-6)
    # (d): the verified match where there is one (near the clean shot), (c) where the hero is another scene.
    assert np.abs(methods["(d) match, else (c)"](cast, hero) - shot).mean() < np.abs(cast - shot).mean() / 2
    stranger, _ = framings(load_photo(SAMPLES / "photos" / "aqua.png", 320))
    np.testing.assert_allclose(methods["(d) match, else (c)"](cast, stranger), cast, atol=1e-6)
