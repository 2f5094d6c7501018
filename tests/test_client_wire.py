"""GradeClient against a real daemon, using only what a host Python has: numpy, grpcio, protobuf and the
torch-free packages. ``scripts/test-wire-compat`` also runs this file in a Python 3.9 environment with
grpcio 1.62 and protobuf 4.25 (no torch), against a daemon from the main environment
(``COLORGRADE_TEST_SERVER``)."""
import os

import numpy as np
import pytest

from colorgrade.clients import GradeClient, GradeError
from colorgrade.color import CDL, apply


@pytest.fixture(scope="module")
def address():
    if os.environ.get("COLORGRADE_TEST_SERVER"):
        yield os.environ["COLORGRADE_TEST_SERVER"]
        return
    from daemon_fixtures import RunningDaemon

    daemon = RunningDaemon("--port", "0", "--untrained-models")
    yield daemon.address
    daemon.stop()


@pytest.fixture
def client(address):
    with GradeClient(address) as c:
        yield c


def frames(dtype=np.uint16, count=5, channels=4):
    rng = np.random.default_rng(5)
    top = np.iinfo(dtype).max
    return [(rng.random((20, 28, channels)) * top).astype(dtype) for _ in range(count)]


def test_info_and_stills(client):
    info = client.info()
    assert [m.name for m in info.models] == ["analysis", "generator"] and info.devices
    results = client.analyze(frames(np.uint8, 2, 3))
    assert len(results) == 2 and all(isinstance(r.cdl, CDL) and r.label in r.scores for r in results)
    assert all(0 <= r.confidence <= 1 for r in results)


def test_stream_returns_the_cdl_it_applied_at_full_bit_depth(client):
    clip = client.open_clip(mode="cdl_frames", window_radius=1, return_lut=True)
    sent = frames()
    results = list(client.stream(clip, sent))
    client.close_clip(clip)
    assert [r.index for r in results] == list(range(len(sent)))
    for result, frame in zip(results, sent):
        assert result.frame.dtype == np.uint16 and result.frame.shape == frame.shape
        np.testing.assert_array_equal(result.frame, apply(result.cdl, frame))   # the client's own colour layer
        np.testing.assert_array_equal(result.frame[..., 3], frame[..., 3])
        assert result.lut is not None and result.lut.size == 33
        assert 0 <= result.confidence <= 1 and result.label in result.scores


def test_random_access_and_errors(client):
    sent = frames(np.uint8, 5, 3)
    clip = client.open_clip(mode="generator_lut")
    result = client.grade_frame(clip, 2, dict(enumerate(sent)), first_index=0, last_index=4)
    assert result.frame.shape == sent[2].shape and result.lut is not None
    client.close_clip(clip)
    with pytest.raises(GradeError) as error:
        client.close_clip(clip)
    assert error.value.code.name == "NOT_FOUND"
