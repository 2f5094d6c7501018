"""The three host adapters against a remote-style daemon: TLS and a token, on a non-loopback bind."""
import json
import subprocess
import sys

import pytest

from colorgrade.clients.resolve import colorgrade_resolve
from daemon_fixtures import RunningDaemon
from fakes import resolve_api
from media_fixtures import SHOTS
from test_nuke import comp, nuke, plates  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def remote(tls_files):
    with RunningDaemon("--host", "0.0.0.0", "--port", "0", "--tls-cert", str(tls_files / "cert.pem"),
                       "--tls-key", str(tls_files / "key.pem"), "--token-file", str(tls_files / "token")) as daemon:
        yield {"server": f"localhost:{daemon.address.rsplit(':', 1)[1]}", "tls_ca": str(tls_files / "cert.pem"),
               "token_file": str(tls_files / "token")}


def test_ffmpeg_plan_over_tls(remote, two_shot_clip, tmp_path):
    result = subprocess.run([sys.executable, "-m", "colorgrade", "ffmpeg", str(two_shot_clip), "-o",
                             str(tmp_path / "out.mov"), "--server", remote["server"], "--tls-ca", remote["tls_ca"],
                             "--token-file", remote["token_file"]], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    shots = json.loads((tmp_path / "out.mov.grade" / "two.shots.json").read_text())
    assert [(s["first"], s["last"]) for s in shots] == list(SHOTS)


def test_resolve_script_over_tls_and_a_wrong_token(remote, two_shot_clip, tmp_path, monkeypatch):
    monkeypatch.setattr(colorgrade_resolve, "COLORGRADE", [sys.executable, "-m", "colorgrade"])
    project = resolve_api.Project(None, str(tmp_path))
    item = resolve_api.TimelineItem(project, "warm pan", resolve_api.MediaPoolItem(str(two_shot_clip)), *SHOTS[0])
    project.timeline = resolve_api.Timeline("edit", [[item]])
    settings = {**colorgrade_resolve.DEFAULTS, **remote}
    summary = colorgrade_resolve.TimelineGrader(resolve_api.Resolve(project), settings).grade()
    assert [name for name, _ in summary.graded] == ["warm pan"]
    (tmp_path / "wrong").write_text("guess\n")
    summary = colorgrade_resolve.TimelineGrader(resolve_api.Resolve(project),
                                                {**settings, "token_file": str(tmp_path / "wrong")}).grade()
    assert summary.graded == [] and "UNAUTHENTICATED" in summary.notes[-1]


def test_nuke_node_over_tls(remote, nuke, plates):  # noqa: F811
    fake, colorgrade_nuke = nuke
    group = comp(nuke, plates, 1001, 1004)
    for knob, value in remote.items():
        group[knob].setValue(value)
    colorgrade_nuke.analyse(group)
    assert fake.messages == [] and "frames 1001-1004" in group["status"].value()
