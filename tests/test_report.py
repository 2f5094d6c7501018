"""`colorgrade report`: scopes against frames with a known answer, and the page in a real (headless) Chromium."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from colorgrade.clients import media
from colorgrade.clients.workflow import scopes
from colorgrade.color import CDL, apply
from conftest import SAMPLES


def test_a_grey_ramp_draws_a_diagonal_on_every_channel_of_the_parade():
    ramp = np.repeat(np.linspace(0, 1, 512, dtype=np.float32)[None, :, None], 64, axis=0).repeat(3, axis=2)
    counts = scopes.parade(ramp)
    for channel in range(3):
        peaks = counts[channel].argmax(axis=0)               # the level (row from the top) of each column
        expected = scopes.PARADE_LEVELS - 1 - np.linspace(0, scopes.PARADE_LEVELS - 1, scopes.PARADE_COLUMNS)
        assert np.abs(peaks - expected).max() <= 3


@pytest.mark.parametrize("name, rgb", [("R", (1, 0, 0)), ("G", (0, 1, 0)), ("Cy", (0, 1, 1)), ("Yl", (1, 1, 0))])
def test_a_75_percent_bar_lands_on_its_vectorscope_target(name, rgb):
    bar = np.full((32, 32, 3), 0.75, np.float32) * np.array(rgb, np.float32)
    counts = scopes.vectorscope(bar)
    row, column = np.unravel_index(counts.argmax(), counts.shape)
    x, y = scopes.targets()[name]
    assert abs(column + 0.5 - x) <= 1.5 and abs(row + 0.5 - y) <= 1.5


def report(*args, cwd):
    return subprocess.run([sys.executable, "-m", "colorgrade", "report", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture()
def warm_still(tmp_path):
    """A sample photo given a warm cast, and the analysis JSON of a correction that takes red down."""
    still = tmp_path / "warm.png"
    media.write_image(still, apply(CDL(slope=(1.2, 1.0, 0.85)), media.read_image(SAMPLES / "photos" / "dune.png")))
    analysis = {str(still): {"id": "warm", "label": "warm_100", "confidence": 0.9,
                             "cdl": {"slope": [0.7, 1.0, 1.15], "offset": [0, 0, 0], "power": [1, 1, 1],
                                     "saturation": 1.0}}}
    (tmp_path / "warm.json").write_text(json.dumps(analysis))
    return still


def test_the_page_renders_in_chromium_with_its_panels_where_it_says(tmp_path, warm_still, chromium):
    result = report("--from", "warm.json", "-o", "report.html", "--png", "panels", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "report.html").read_text()
    assert 'src="http' not in page and "<script" not in page and "<link" not in page   # opens from disk
    assert page.count("data:image/") == 12   # strip before/after, the frame before/after, eight scopes
    # Every picture says what it is (the strip's pairs said "before (left), after (right)" and were stacked).
    assert page.count("<figcaption>") == page.count("<img") + 1 and "(left)" not in page   # + the strip's shot name
    for label in ("before", "after", "frame 0 before", "frame 0 after", "luma waveform before", "RGB parade after",
                  "RGB histogram before", "vectorscope after"):
        assert f"<figcaption>{label}</figcaption>" in page
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--force-device-scale-factor=1", "--window-size=1200,2800",
                    f"--screenshot={tmp_path / 'screen.png'}", (tmp_path / "report.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    screen = cv2.cvtColor(cv2.imread(str(tmp_path / "screen.png")), cv2.COLOR_BGR2RGB)
    assert screen.std() > 20                                                  # not blank

    def found(panel):
        """Where the panel PNG sits in the screenshot (top-left corner), and what is drawn there."""
        template = np.asarray(media.read_image(tmp_path / "panels" / f"warm_{panel}.png"))[..., :3]
        scores = cv2.matchTemplate(screen, template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (x, y) = cv2.minMaxLoc(scores)
        assert best > 0.9, f"{panel} not on the page ({best:.2f})"
        return (x, y), screen[y:y + template.shape[0], x:x + template.shape[1]].astype(float)

    (bx, by), before = found("parade_before")
    (ax, ay), after = found("parade_after")
    (vx, vy), _ = found("vectorscope_before")
    (wx, wy), _ = found("waveform_after")
    (hx, hy), _ = found("histogram_before")
    assert ay == by and ax > bx and vy > by                  # after beside before; the vectorscopes below
    assert wy < by < hy < vy and wx == ax                    # waveform, parade, histogram, vectorscope, in order
    # The red third of the parade: the CDL took red down, so its trace sits lower after than before.
    def red_level(panel):
        red = panel[:, :scopes.PARADE_COLUMNS, 0] - panel[:, :scopes.PARADE_COLUMNS, 1]
        rows = np.arange(len(red))[:, None]
        return float((np.clip(red, 0, None) * rows).sum() / np.clip(red, 0, None).sum())
    assert red_level(after) > red_level(before) + 10


def test_a_long_reel_stays_under_its_size_and_says_what_it_left_out(tmp_path, ffmpeg):
    from media_fixtures import make_montage

    make_montage(ffmpeg, tmp_path / "reel.mp4")
    shots = {str(tmp_path / "reel.mp4"): {"id": "reel", "label": "clean", "confidence": 0.1,
                                           "cdl": {"slope": [1, 1, 1], "offset": [0, 0, 0], "power": [1, 1, 1],
                                                   "saturation": 1},
                                           "shots": [{"id": f"reel_shot{n:03d}", "first": a, "last": b, "label": "clean",
                                                      "confidence": 0.1, "cdl": {"slope": [1.1, 1, 0.9],
                                                      "offset": [0, 0, 0], "power": [1, 1, 1], "saturation": 1}}
                                                     for n, (a, b) in enumerate([(0, 11), (12, 23), (24, 35)], 1)]}}
    (tmp_path / "reel.json").write_text(json.dumps(shots))
    result = report("--from", "reel.json", "-o", "small.html", "--max-mb", "0.2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "without panels" in result.stdout and (tmp_path / "small.html").stat().st_size < 0.5e6
    assert "shown without panels" in (tmp_path / "small.html").read_text()


@pytest.mark.parametrize("args, code, message", [
    (["-o", "r.html"], 2, "nothing to report"),
    (["x.png", "-o", "r.txt"], 2, "give the page an .html name"),
    (["--from", "missing.json", "-o", "r.html"], 2, "cannot read JSON"),
    (["missing.png", "-o", "r.html"], 1, "missing.png: no such file"),
])
def test_bad_reports_are_refused_in_one_line(tmp_path, args, code, message):
    media.write_image(tmp_path / "x.png", np.zeros((8, 8, 3), np.uint8))
    result = report(*args, cwd=tmp_path)
    assert result.returncode == code and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_waveform_and_histogram_read_a_known_frame():
    ramp = np.repeat(np.linspace(0, 1, 512, dtype=np.float32)[None, :, None], 64, axis=0).repeat(3, axis=2)
    peaks = scopes.waveform(ramp).argmax(axis=0)         # grey: luma is the ramp itself, a diagonal
    expected = scopes.PARADE_LEVELS - 1 - np.linspace(0, scopes.PARADE_LEVELS - 1, scopes.PARADE_COLUMNS)
    assert np.abs(peaks - expected).max() <= 3
    flat = np.zeros((10, 10, 3), np.uint8) + np.array([255, 128, 0], np.uint8)
    counts = scopes.histogram(flat)
    assert [int(c.argmax()) for c in counts] == [255, 128, 0] and (counts.sum(axis=1) == 100).all()


def test_a_low_saturation_frame_gets_a_zoomed_vectorscope_with_the_zoom_printed(tmp_path, chromium):
    bars = np.full((32, 32, 3), 0.75, np.float32) * np.array((1, 0, 0), np.float32)
    assert scopes.vectorscope_zoom(bars) == 1
    dull = apply(CDL(saturation=0.1), media.read_image(SAMPLES / "photos" / "dune.png"))
    zoom = scopes.vectorscope_zoom(dull)
    assert zoom >= 4
    # The blob covers zoom^2 times as many cells: its shape can be read.
    assert (scopes.vectorscope(dull, zoom) > 0).sum() > 4 * (scopes.vectorscope(dull) > 0).sum()
    media.write_image(tmp_path / "dull.png", dull)
    analysis = {str(tmp_path / "dull.png"): {"id": "dull", "label": "desaturated_100", "confidence": 0.9,
                                              "cdl": {"slope": [1, 1, 1], "offset": [0, 0, 0], "power": [1, 1, 1],
                                                      "saturation": 1.2}}}
    (tmp_path / "dull.json").write_text(json.dumps(analysis))
    result = report("--from", "dull.json", "-o", "dull.html", "--png", "panels", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"<figcaption>vectorscope (zoom x{zoom}: low saturation) before</figcaption>" in (
        tmp_path / "dull.html").read_text()
    # The zoom is printed on the scope itself (a PNG sent on alone says it too): text pixels in its corner.
    corner = np.asarray(media.read_image(tmp_path / "panels" / "dull_vectorscope_after.png"))[2:16, 4:70]
    assert ((corner[..., 0] > 200) & (corner[..., 2] < 120)).sum() > 20


def test_a_matched_shot_shows_its_hero_and_the_png_frames_are_captioned(tmp_path, ffmpeg):
    from media_fixtures import make_montage

    make_montage(ffmpeg, tmp_path / "reel.mp4")
    cdl = {"slope": [1.1, 1, 0.9], "offset": [0, 0, 0], "power": [1, 1, 1], "saturation": 1}
    shots = [{"id": "reel_shot001", "first": 0, "last": 11, "label": "clean", "confidence": 0.9, "cdl": cdl,
              "hero": "reel_shot001", "scene": 1},
             {"id": "reel_shot002", "first": 12, "last": 23, "label": "warm_33", "confidence": 0.9, "cdl": cdl,
              "hero": "reel_shot001", "scene": 1, "match_confidence": 0.9}]
    (tmp_path / "reel.json").write_text(json.dumps({str(tmp_path / "reel.mp4"): {"id": "reel", "label": "clean",
                                                                                "cdl": cdl, "shots": shots}}))
    result = report("--from", "reel.json", "-o", "reel.html", "--png", "panels", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "reel.html").read_text()
    assert page.count("<figcaption>the hero, reel_shot001, frame 6 as graded</figcaption>") == 1   # shot 2 only
    frames = np.asarray(media.read_image(tmp_path / "panels" / "reel_shot002_frames.png"))
    band = frames[:22, :200].astype(int)                 # the first row's caption band: text on plain background
    assert (band == 27).mean() > 0.8 and (band > 200).any()


def test_the_reference_hero_is_shown_at_the_top(tmp_path, warm_still, daemon_address):
    media.write_image(tmp_path / "hero.png", media.read_image(SAMPLES / "photos" / "dune.png"))
    result = report(str(warm_still), "--reference", "hero.png", "-o", "matched.html", "--server", daemon_address,
                    cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "matched.html").read_text()
    assert "Every input is matched to this hero" in page and "<figcaption>the hero</figcaption>" in page


@pytest.mark.parametrize("names", [("warm.png", "broken.png"), ("warm.1001.png", "warm.1002.png")],
                         ids=["stills", "sequence"])
def test_a_folder_with_an_unreadable_still_is_reported_without_it(tmp_path, warm_still, daemon_address, names):
    photos = tmp_path / "photos"
    photos.mkdir()
    readable, broken = names
    media.write_image(photos / readable, media.read_image(warm_still))
    (photos / broken).write_bytes(b"not a png at all")
    result = report("photos", "-o", "photos.html", "--server", daemon_address, cwd=tmp_path)
    assert result.returncode == 1                                    # was 1 with no page: it stopped at the first
    assert f"photos/{broken}: cannot read image" in result.stderr
    assert (tmp_path / "photos.html").exists() and "1 shot(s)" in result.stdout
