import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "colorgrade" / "samples"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def required_program(name: str) -> str:
    """A program the tests drive for real; missing, the test fails (it is never skipped)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is required for these tests (apt-get install {name}); .ci/run installs it")
    return path


@pytest.fixture(scope="session")
def ffmpeg():
    return required_program("ffmpeg")


@pytest.fixture(scope="session")
def chromium():
    return required_program("chromium")


@pytest.fixture(scope="module")
def daemon_address():
    """A real daemon on loopback for the module's tests."""
    from daemon_fixtures import RunningDaemon

    with RunningDaemon("--port", "0") as daemon:
        yield daemon.address


@pytest.fixture(scope="module")
def two_shot_clip(tmp_path_factory, ffmpeg):
    """media_fixtures' two-shot clip (10-bit 4:4:4 ProRes, PCM audio), made once per module."""
    from media_fixtures import make_two_shot_clip

    path = tmp_path_factory.mktemp("media") / "two.mov"
    make_two_shot_clip(ffmpeg, path)
    return path


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A self-signed certificate for localhost/127.0.0.1, its key, and a token file."""
    import subprocess

    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
                   check=True, capture_output=True)
    (folder / "token").write_text("s3cret-token\n")
    return folder
