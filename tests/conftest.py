import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "colorgrade" / "samples"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def ffmpeg():
    path = shutil.which("ffmpeg")
    if path is None:
        pytest.fail("ffmpeg is required for these tests (apt-get install ffmpeg); .ci/run installs it")
    return path
