"""The real daemon on loopback: every RPC, window semantics, bad input, engine crashes, security."""
import os
import signal
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from colorgrade.clients import GradeClient, GradeError
from colorgrade.proto import grader_pb2 as pb
from colorgrade.proto import grader_pb2_grpc as pb_grpc
from colorgrade.proto.codec import encode_frame
from daemon_fixtures import RunningDaemon


@pytest.fixture(scope="module")
def daemon():
    # Batches of 4 on CPU too, so the interleaving tests check that batching never changes a result.
    running = RunningDaemon("--port", "0", "--untrained-models", "--max-sessions", "40", "--metrics-port", "0",
                            "--batch-size", "4")
    yield running
    running.stop()


@pytest.fixture
def client(daemon):
    with GradeClient(daemon.address) as c:
        yield c


def make_clip(seed, frames=12, size=(24, 32), dtype=np.uint8):
    rng = np.random.default_rng(seed)
    base = rng.random((*size, 3))
    clip = [np.clip(base * (0.8 + 0.02 * i) + 0.05 * rng.random((*size, 3)), 0, 1) for i in range(frames)]
    if dtype == np.uint8:
        return [np.rint(f * 255).astype(np.uint8) for f in clip]
    return [(f * 65535).astype(np.uint16) for f in clip] if dtype == np.uint16 else [f.astype(dtype) for f in clip]


def stream_all(client, frames, radius=2, mode="cdl_frames"):
    clip = client.open_clip(mode=mode, window_radius=radius)
    results = list(client.stream(clip, frames))
    client.close_clip(clip)
    return results


def test_server_info_and_health(daemon, client):
    info = client.info()
    assert [m.name for m in info.models] == ["analysis", "generator"] and not info.models[0].trained
    assert info.devices == ["cpu"] and info.max_sessions == 40
    channel = grpc.insecure_channel(daemon.address)
    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="colorgrade.v1.Grader"))
    assert status.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_service(daemon):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    stub = reflection_pb2_grpc.ServerReflectionStub(grpc.insecure_channel(daemon.address))
    reply = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    assert "colorgrade.v1.Grader" in [s.name for s in reply.list_services_response.service]


def test_analyze_stills_returns_cdl_and_diagnosis(client):
    results = client.analyze(make_clip(0, frames=2))
    assert len(results) == 2
    assert results[0].cdl is not None and len(results[0].scores) == 25
    assert abs(sum(results[0].scores.values()) - 1) < 1e-4


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_stream_answers_every_frame_in_order_keeping_type_and_alpha(client, dtype):
    frames = make_clip(1, frames=7, dtype=dtype)
    alpha = np.full((*frames[0].shape[:2], 1), 7, dtype=dtype)
    frames = [np.concatenate([f, alpha], axis=-1) for f in frames]
    results = stream_all(client, frames, radius=2)
    assert [r.index for r in results] == list(range(7))
    for source, result in zip(frames, results):
        assert result.frame.dtype == source.dtype and result.frame.shape == source.shape
        np.testing.assert_array_equal(result.frame[..., 3], source[..., 3])
        # The frame was graded by exactly the CDL returned with it.
        top = np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1.0
        expected = result.cdl.apply(source[..., :3].astype(np.float32) / top) * top
        assert np.abs(result.frame[..., :3].astype(np.float64) - expected).max() <= (1 if top > 1 else 1e-6)


def test_parameters_mode_returns_no_pixels_and_optional_lut(client):
    clip = client.open_clip(mode="parameters", window_radius=1, return_lut=True)
    results = list(client.stream(clip, make_clip(2, frames=3)))
    assert all(r.frame is None and r.cdl is not None for r in results)
    assert results[0].lut.size == 33
    np.testing.assert_allclose(results[0].lut.table, results[0].cdl.to_lut(33).table, atol=1e-6)
    clip = client.open_clip(mode="cdl_frames", window_radius=1, corrections_only=True)
    results = list(client.stream(clip, make_clip(2, frames=3)))
    assert all(r.frame is None and r.cdl is not None for r in results)


def test_window_averages_per_frame_cdls(client):
    frames = make_clip(3, frames=5)
    single = [r.cdl.to_vector() for r in stream_all(client, frames, radius=0, mode="parameters")]
    windowed = [r.cdl.to_vector() for r in stream_all(client, frames, radius=1, mode="parameters")]
    np.testing.assert_allclose(windowed[0], np.mean(single[0:2], axis=0), atol=1e-9)
    np.testing.assert_allclose(windowed[2], np.mean(single[1:4], axis=0), atol=1e-9)
    np.testing.assert_allclose(windowed[4], np.mean(single[3:5], axis=0), atol=1e-9)


def test_random_access_equals_sequential(client):
    frames = make_clip(4, frames=9)
    sequential = stream_all(client, frames, radius=2)
    clip = client.open_clip(mode="cdl_frames", window_radius=2)
    for t in [5, 0, 8, 3, 1, 7, 2, 6, 4]:
        window = {i: frames[i] for i in range(max(0, t - 2), min(8, t + 2) + 1)}
        result = client.grade_frame(clip, t, window, first_index=0, last_index=8)
        np.testing.assert_array_equal(result.frame, sequential[t].frame)
        assert result.cdl == sequential[t].cdl
    client.close_clip(clip)


def test_random_access_names_missing_window_frames(client):
    clip = client.open_clip(mode="cdl_frames", window_radius=2)
    with pytest.raises(GradeError, match="FAILED_PRECONDITION.*missing \\[6, 7\\]"):
        client.grade_frame(clip, 5, {3: make_clip(5)[0], 4: make_clip(5)[1], 5: make_clip(5)[2]})
    client.close_clip(clip)


def read_metrics(daemon) -> dict[str, float]:
    """The daemon's unlabelled metrics, name -> value."""
    import re
    import urllib.request

    text = urllib.request.urlopen(re.search(r"metrics: (\S+)\)", daemon.banner).group(1)).read().decode()
    return {name: float(value) for name, value in re.findall(r"^(\w+) (\S+)$", text, re.MULTILINE)}


def test_interleaved_clips_from_threads_equal_each_clip_alone(daemon):
    clips = [make_clip(100 + i, frames=60, size=(16, 24)) for i in range(8)]
    before = read_metrics(daemon)
    with GradeClient(daemon.address) as alone_client:
        alone = [[(r.frame, r.cdl) for r in stream_all(alone_client, c, radius=2)] for c in clips]
    together = [None] * len(clips)
    errors = []

    def run(i):
        try:
            with GradeClient(daemon.address) as c:
                together[i] = [(r.frame, r.cdl) for r in stream_all(c, clips[i], radius=2)]
        except Exception as error:  # surfaced below with the clip number
            errors.append((i, error))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clips))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    after = read_metrics(daemon)
    frames = after["colorgrade_analysis_batch_frames_total"] - before["colorgrade_analysis_batch_frames_total"]
    passes = after["colorgrade_analysis_batches_total"] - before["colorgrade_analysis_batches_total"]
    assert frames == 2 * 8 * 60 and passes < frames   # each frame analysed once per run, some in shared batches
    for i in range(len(clips)):
        assert len(together[i]) == 60
        for (frame_alone, cdl_alone), (frame_together, cdl_together) in zip(alone[i], together[i]):
            np.testing.assert_array_equal(frame_alone, frame_together)
            assert cdl_alone == cdl_together   # exact: sharing an engine batch must not change a bit


def raw_stub(daemon):
    return pb_grpc.GraderStub(grpc.insecure_channel(daemon.address))


@pytest.mark.parametrize("mutate, code, words", [
    (lambda f: setattr(f, "data", f.data[:-3]), grpc.StatusCode.INVALID_ARGUMENT, "needs 2304 bytes"),
    (lambda f: setattr(f, "pixel_type", 42), grpc.StatusCode.INVALID_ARGUMENT, "unknown pixel type"),
    (lambda f: setattr(f, "width", 0), grpc.StatusCode.INVALID_ARGUMENT, "empty size"),
    (lambda f: (setattr(f, "width", 70000), setattr(f, "height", 70000)), grpc.StatusCode.INVALID_ARGUMENT, "cap"),
])
def test_bad_frames_get_invalid_argument(daemon, mutate, code, words):
    frame = encode_frame(make_clip(6, frames=1)[0])
    mutate(frame)
    with pytest.raises(grpc.RpcError) as error:
        raw_stub(daemon).AnalyzeStills(pb.AnalyzeRequest(frames=[frame]))
    assert error.value.code() == code and words in error.value.details()


def test_nan_frames_rejected(client):
    frame = np.zeros((8, 8, 3), np.float32)
    frame[2, 2, 1] = np.inf
    with pytest.raises(GradeError, match="INVALID_ARGUMENT.*NaN or Inf"):
        client.analyze([frame])


def test_unknown_clip_and_backwards_indices(daemon, client):
    with pytest.raises(GradeError, match="NOT_FOUND.*no open clip"):
        client.grade_frame("nope", 0, {0: make_clip(7)[0]})
    clip = client.open_clip(mode="cdl_frames", window_radius=0)
    frames = make_clip(7, frames=3)
    requests = [pb.StreamRequest(clip_id=clip, frame=encode_frame(frames[0], 5)),
                pb.StreamRequest(clip_id=clip, frame=encode_frame(frames[1], 4))]
    with pytest.raises(grpc.RpcError) as error:
        list(raw_stub(daemon).StreamClip(iter(requests)))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "went backwards: got 4, expected 6" in error.value.details()


def test_bad_clip_settings_are_refused_clearly(client):
    with pytest.raises(GradeError, match="INVALID_ARGUMENT.*window_radius 99 exceeds"):
        client.open_clip(window_radius=99)
    with pytest.raises(GradeError, match="INVALID_ARGUMENT.*blend_radius 50 exceeds"):
        client.open_clip(mode="generator_frames", blend_radius=50)
    with pytest.raises(GradeError, match="INVALID_ARGUMENT.*oversample 3"):
        client.open_clip(mode="generator_frames", oversample=3)


def test_session_cap_gives_resource_exhausted_and_others_keep_working(client):
    opened = []
    with pytest.raises(GradeError, match="RESOURCE_EXHAUSTED.*cap is 40"):
        for _ in range(41):
            opened.append(client.open_clip())
    for clip in opened:
        client.close_clip(clip)
    assert len(stream_all(client, make_clip(8, frames=3))) == 3


def test_client_vanishing_mid_stream_leaves_server_serving(daemon):
    code = ("import sys, numpy as np\n"
            "from colorgrade.clients import GradeClient\n"
            f"c = GradeClient('{daemon.address}')\n"
            "clip = c.open_clip(window_radius=3)\n"
            "def frames():\n"
            "    for i in range(1000):\n"
            "        yield np.zeros((64, 64, 3), np.uint8)\n"
            "for r in c.stream(clip, frames()):\n"
            "    if r.index == 2: import os; os._exit(0)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    with GradeClient(daemon.address) as client:
        assert len(stream_all(client, make_clip(9, frames=4))) == 4


def test_engine_killed_mid_stream_is_restarted_and_output_identical(daemon, client):
    frames = make_clip(10, frames=20)
    reference = [r.frame for r in stream_all(client, frames, radius=2)]
    clip = client.open_clip(mode="cdl_frames", window_radius=2)
    results = []
    for result in client.stream(clip, frames):
        results.append(result.frame)
        if result.index == 5:
            for pid in daemon.engine_pids():
                os.kill(pid, signal.SIGKILL)
    client.close_clip(clip)
    assert len(results) == 20
    for a, b in zip(reference, results):
        np.testing.assert_array_equal(a, b)
    deadline = time.monotonic() + 30
    while not daemon.engine_pids() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert daemon.engine_pids()


@pytest.mark.parametrize("mode, options", [("generator_frames", {}), ("generator_frames", {"blend_radius": 1}),
                                           ("generator_lut", {})])
def test_generator_modes_stream_equals_random_access(client, mode, options):
    frames = make_clip(11, frames=7, size=(32, 48))
    clip = client.open_clip(mode=mode, **options)
    streamed = list(client.stream(clip, frames))
    client.close_clip(clip)
    assert [r.index for r in streamed] == list(range(7))
    assert all(r.frame.shape == frames[0].shape and r.frame.dtype == np.uint8 for r in streamed)
    assert all((r.lut is not None) == (mode == "generator_lut") for r in streamed)
    clip = client.open_clip(mode=mode, **options)
    result = client.grade_frame(clip, 3, dict(enumerate(frames)), first_index=0, last_index=6)
    np.testing.assert_array_equal(result.frame, streamed[3].frame)
    client.close_clip(clip)


def test_metrics_count_frames_by_mode(daemon, client):
    import re
    import urllib.error
    import urllib.request

    url = re.search(r"metrics: (\S+)\)", daemon.banner).group(1)
    before = urllib.request.urlopen(url).read().decode()
    count = lambda text: int((re.search(r'colorgrade_frames_total\{mode="cdl_frames"\} (\d+)', text)  # noqa: E731
                              or [None, "0"])[1])
    stream_all(client, make_clip(12, frames=3))
    after = urllib.request.urlopen(url).read().decode()
    assert count(after) == count(before) + 3
    assert "colorgrade_frames_in_flight 0" in after and "colorgrade_frame_seconds_total" in after
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(url.replace("/metrics", "/other"))


def test_a_client_closes_the_clips_it_left_open_when_it_closes(daemon):
    with GradeClient(daemon.address) as watcher:
        before = watcher.info().open_clips
        for seed in range(8):
            with GradeClient(daemon.address) as client:
                clip = client.open_clip(mode="cdl_frames", window_radius=1)
                assert len(list(client.stream(clip, make_clip(seed, frames=3)))) == 3
                client.open_clip(mode="parameters")                    # opened, never streamed
        assert watcher.info().open_clips == before


def test_client_chosen_clip_ids(daemon, client):
    """A client may choose its clip's id before OpenClip (a proxy routes by it); a taken or malformed id is
    refused, naming the problem, and the clip that holds the id goes on."""
    clip = client.open_clip(mode="cdl_frames", window_radius=3, clip_id="shot-010.v2")
    assert clip == "shot-010.v2"
    with pytest.raises(GradeError, match="ALREADY_EXISTS: .*'shot-010.v2' is open already"):
        client.open_clip(clip_id="shot-010.v2")
    for bad in ("has space", "a/b", "x" * 65):
        with pytest.raises(GradeError, match="INVALID_ARGUMENT: clip id"):
            client.open_clip(clip_id=bad)
    assert len(list(client.stream(clip, make_clip(5, frames=4)))) == 4
    client.close_clip(clip)
    assert client.open_clip(clip_id="shot-010.v2") == "shot-010.v2"   # free again once closed


def test_replies_name_the_daemon_and_the_reach(daemon):
    """Every reply carries x-colorgrade-server (which box of a fleet answered); OpenClip's says how many
    neighbours each result depends on (what a client replays to move the clip)."""
    stub = pb_grpc.GraderStub(grpc.insecure_channel(daemon.address))
    info, call = stub.GetServerInfo.with_call(pb.ServerInfoRequest())
    assert info.server_id and dict(call.initial_metadata())["x-colorgrade-server"] == info.server_id
    request = pb.OpenClipRequest(settings=pb.ClipSettings(mode=pb.MODE_CDL_FRAMES, window_radius=3))
    handle, call = stub.OpenClip.with_call(request)
    assert handle.reach == 3 and dict(call.initial_metadata())["x-colorgrade-server"] == info.server_id
    stub.CloseClip(pb.ClipHandle(clip_id=handle.clip_id))
    with GradeClient(daemon.address) as client:
        assert {r.server for r in stream_all(client, make_clip(6, frames=3))} == {info.server_id}


def test_a_clip_its_daemon_lost_is_reopened_under_its_id(daemon, client):
    """NOT_FOUND for a clip this client opened (a proxy sent the call to a daemon that does not hold it) re-opens
    it with the same id and settings: the stream replays and the random-access call is retried, same answers."""
    frames = make_clip(7, frames=6)
    expected = stream_all(client, frames, radius=1)
    with GradeClient(daemon.address) as other:
        clip = client.open_clip(mode="cdl_frames", window_radius=1)
        other.close_clip(clip)                       # as if the daemon that held it had died
        streamed = list(client.stream(clip, frames))
        assert [r.index for r in streamed] == list(range(6))
        assert all(np.array_equal(a.frame, b.frame) for a, b in zip(streamed, expected))
        neighbours = {i: frames[i] for i in (1, 2, 3)}
        other.close_clip(clip)
        again = client.grade_frame(clip, 2, neighbours, first_index=0, last_index=5)
        assert np.array_equal(again.frame, expected[2].frame)
    client.close_clip(clip)
    with pytest.raises(GradeError, match="NOT_FOUND"):   # not this client's clip: no re-open, the error
        client.grade_frame("someone-elses", 0, {0: frames[0]})
