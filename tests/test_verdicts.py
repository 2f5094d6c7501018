"""What the outputs say was done: one vocabulary (blind, held back, matched, another scene, hero), written once
by Correction.describe and carried by the CLI, the JSON, the .ccc, the report and the hosts' markers."""
import json
import subprocess
import sys

import pytest

from colorgrade.clients.workflow.corrections import Correction
from colorgrade.color import CDL
from conftest import SAMPLES


def shot(number, **fields):
    return Correction(f"reel_shot{number:03d}", CDL(), fields.pop("confidence", 0.9), fields.pop("label", "warm_66"),
                      first=10 * number, last=10 * number + 9, **fields)


@pytest.mark.parametrize("correction, says, never", [
    (shot(1, confidence=0.83), "warm_66: corrected blind, confidence 0.83", "left nearly alone"),
    # A low confidence was printed bare ("warm_100, confidence 0.25"): the served CDL keeps a quarter of the fix.
    (shot(1, confidence=0.25, label="warm_100"), "warm_100: held back, confidence 0.25: not sure anything is wrong, "
                                                 "left nearly alone", "corrected blind"),
    (shot(1, match_confidence=0.93), "matched to the reference with confidence 0.93 (alone, the network read warm_66)",
     "warm_66:"),
    # A car park printed "matched to the reference, match confidence 0.00": a match that moves nothing is none.
    (shot(1, label="black_lift_100", match_confidence=0.003), "black_lift_100: the reference shows another scene, "
                                                              "or too little of this one to verify, so the blind "
                                                              "correction stands", "matched to"),
    (shot(1, match_confidence=0.0, confidence=0.2), "too little of this one to verify, so the blind correction stands: held back",
     "matched to"),
    (shot(2, hero="reel_shot001", scene=1, match_confidence=0.8), "matched to the hero of scene 1 with confidence 0.80",
     "the reference"),
    (shot(1, hero="reel_shot001", scene=1), "warm_66: the hero of scene 1, corrected blind, confidence 0.90",
     "matched"),
    (shot(3, hero="reel_shot003", confidence=None), "the hero every other shot is matched to, left as it is",
     "blind"),
])
def test_each_verdict_is_said_in_the_one_vocabulary(correction, says, never):
    text = correction.describe()
    assert says in text and never not in text
    assert correction.to_json()["description"] == text and correction.to_json()["verdict"] in text


def test_continuity_without_a_reference_is_not_summarised_as_matched_to_one():
    # With --continuity and no reference the input's line said "matched to the reference, match confidence 1.00".
    shots = [shot(1, hero="reel_shot001", scene=1), shot(2, hero="reel_shot001", scene=1, match_confidence=1.0),
             shot(3, hero="reel_shot003", scene=2, confidence=0.1)]
    reel = Correction("reel", CDL(), 0.6, "warm_66", match_confidence=1.0, shots=shots,
                      scenes=[{"scene": 1}, {"scene": 2}])
    assert reel.describe() == "3 shot(s) in 2 scene(s): 2 hero, 1 matched"
    assert "verdict" not in reel.to_json() and reel.to_json()["description"] == reel.describe()
    assert shots[1].note() == ("matched to the hero of scene 1 with confidence 1.00 (alone, the network "
                                "read warm_66); frames 20-29; hero reel_shot001")


def test_the_cli_and_json_say_the_same_through_a_daemon(daemon_address):
    still = str(SAMPLES / "photos" / "garden.png")
    printed = subprocess.run([sys.executable, "-m", "colorgrade", "analyze", still, "--server", daemon_address],
                             capture_output=True, text=True, timeout=120)
    written = subprocess.run([sys.executable, "-m", "colorgrade", "analyze", still, "--server", daemon_address,
                              "--json"], capture_output=True, text=True, timeout=120)
    assert printed.returncode == written.returncode == 0, printed.stderr + written.stderr
    entry = json.loads(written.stdout)[still]
    assert printed.stdout.splitlines()[0] == f"{still}: {entry['description']}"
    assert entry["verdict"] in ("blind", "held back")
