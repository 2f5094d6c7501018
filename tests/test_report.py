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
    assert page.count("data:image/") == 8   # strip before/after, the frame before/after, four scopes
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--force-device-scale-factor=1", "--window-size=1200,1600",
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
    assert ay == by and ax > bx and vy > by                  # after beside before; the vectorscopes below
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
