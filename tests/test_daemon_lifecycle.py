"""The daemon's life: it never stalls, leaks or orphans. Real daemons on loopback, real signals, real clients."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from colorgrade.clients import GradeClient, GradeError
from colorgrade.proto import grader_pb2 as pb
from colorgrade.proto import grader_pb2_grpc as pb_grpc
from daemon_fixtures import RunningDaemon


def socket_folders(engines: list[int]) -> set[str]:
    """The folders of these engines' sockets (other daemons may come and go in the same temp folder meanwhile)."""
    return {os.path.dirname(argument.removeprefix("ipc://")) for pid in engines
            for argument in Path(f"/proc/{pid}/cmdline").read_text().split("\0") if argument.startswith("ipc://")}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its new parent) is gone for every purpose here.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def wait_for(condition, seconds: float) -> float:
    """Seconds until ``condition()`` held; fails the test if it never did within ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail(f"not within {seconds} s")


def health_latency(address: str) -> float:
    with grpc.insecure_channel(address) as channel:
        started = time.perf_counter()
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        return time.perf_counter() - started


def idle_stream(address: str, clip_id: str):
    """A StreamClip call whose client sends one request, then nothing: it holds its stream open."""
    channel = grpc.insecure_channel(address)
    release = threading.Event()

    def requests():
        yield pb.StreamRequest(clip_id=clip_id)
        release.wait()

    call = pb_grpc.GraderStub(channel).StreamClip(requests())
    return call, release, channel


def test_a_killed_client_frees_its_clip_at_once():
    with RunningDaemon("--port", "0", "--untrained-models") as daemon:
        code = ("import os, numpy as np\n"
                "from colorgrade.clients import GradeClient\n"
                f"c = GradeClient('{daemon.address}')\n"
                "clip = c.open_clip(window_radius=3)\n"
                "frames = (np.zeros((270, 480, 3), np.uint8) for _ in range(1000))\n"
                "for r in c.stream(clip, frames):\n"
                "    if r.index == 2: os.kill(os.getpid(), 9)\n")
        subprocess.run([sys.executable, "-c", code], timeout=120)
        with GradeClient(daemon.address) as client:
            took = wait_for(lambda: client.info().open_clips == 0, 1.0)
            assert client.info().buffered_bytes == 0
            clip = client.open_clip()            # and the daemon serves on
            client.close_clip(clip)
        assert took < 1.0


def test_a_finished_stream_leaves_its_clip_open_for_the_client_to_close():
    with RunningDaemon("--port", "0", "--untrained-models") as daemon:
        with GradeClient(daemon.address) as client:
            clip = client.open_clip(window_radius=1)
            assert len(list(client.stream(clip, [np.zeros((8, 8, 3), np.uint8)] * 3))) == 3
            assert client.info().open_clips == 1
            assert client.close_clip(clip) == 3


def test_streams_past_the_cap_are_refused_and_health_always_answers():
    daemon = RunningDaemon("--port", "0", "--untrained-models", "--max-streams", "20")
    held = []
    try:
        with GradeClient(daemon.address) as client:
            clips = [client.open_clip() for _ in range(21)]
            for clip in clips[:20]:
                held.append(idle_stream(daemon.address, clip))
            time.sleep(0.5)
            call, release, channel = idle_stream(daemon.address, clips[20])
            with pytest.raises(grpc.RpcError) as refused:
                next(iter(call))
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "20 streams are open" in refused.value.details()
            assert max(health_latency(daemon.address) for _ in range(5)) < 0.05
            assert client.info().open_clips == 21            # unary calls are served too
    finally:
        for _, release, channel in held:
            release.set()
            channel.close()
        daemon.stop()


def test_sigterm_ends_the_daemon_and_its_engines_with_nothing_left_behind():
    daemon = RunningDaemon("--port", "0", "--untrained-models", "--grace", "1", "--matchers", "2")
    engines = daemon.engine_pids() + daemon.matcher_pids()
    assert len(engines) == 3
    folders = socket_folders(engines)
    with GradeClient(daemon.address) as client:
        clip = client.open_clip()
    call, release, channel = idle_stream(daemon.address, clip)   # a client that never finishes
    time.sleep(0.3)
    started = time.monotonic()
    daemon.process.send_signal(signal.SIGTERM)
    daemon.process.wait(timeout=15)
    assert time.monotonic() - started < 1 + 5
    wait_for(lambda: not any(alive(pid) for pid in engines), 3)
    assert folders and not any(os.path.exists(folder) for folder in folders)
    release.set()
    channel.close()


def test_sigkill_of_the_front_end_takes_its_engines_and_their_sockets():
    daemon = RunningDaemon("--port", "0", "--untrained-models")
    engines = daemon.engine_pids() + daemon.matcher_pids()
    folders = socket_folders(engines)
    assert engines and folders and all(os.path.isdir(folder) for folder in folders)
    daemon.process.kill()
    daemon.process.wait()
    wait_for(lambda: not any(alive(pid) for pid in engines), 5)
    wait_for(lambda: not any(os.path.exists(folder) for folder in folders), 2)


def serve(*args):
    return subprocess.run([sys.executable, "-m", "colorgrade", "serve", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args, message", [
    (["--tls-cert", "missing.pem", "--tls-key", "missing.key"], "--tls-cert missing.pem: no such file"),
    (["--token-file", "missing.txt"], "--token-file missing.txt: No such file or directory"),
    (["--matchers", "0"], "--matchers 0: at least one matcher is needed"),
])
def test_a_failed_start_is_one_line_and_starts_no_engine(args, message):
    result = serve("--port", "0", "--untrained-models", *args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"colorgrade serve: {message}"]


def test_a_second_daemon_on_a_port_in_use_refuses_to_start():
    with RunningDaemon("--port", "0", "--untrained-models") as daemon:
        port = daemon.address.rsplit(":", 1)[1]
        result = serve("--port", port, "--untrained-models")
        assert result.returncode == 2 and "address already in use" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_every_bound_is_checked_and_named():
    with RunningDaemon("--port", "0", "--untrained-models") as daemon:
        with GradeClient(daemon.address) as client:
            clip = client.open_clip(window_radius=0)
            frame = np.zeros((8, 8, 3), np.uint8)
            with pytest.raises(GradeError, match="INVALID_ARGUMENT.*first_index 5 is after last_index 2"):
                client.grade_frame(clip, 3, {3: frame}, first_index=5, last_index=2)
            with pytest.raises(GradeError, match="INVALID_ARGUMENT.*frame 9 is outside the clip's frames 0..4"):
                client.grade_frame(clip, 9, {9: frame}, first_index=0, last_index=4)
            with pytest.raises(GradeError) as too_long:
                client.close_clip("x" * 10000)
            assert too_long.value.code.name == "INVALID_ARGUMENT" and len(str(too_long.value)) < 200
            with pytest.raises(GradeError, match="INVALID_ARGUMENT.*clip name of 300 characters"):
                client.open_clip(name="n" * 300)
            assert client.grade_frame(clip, 1, {1: frame}, first_index=0, last_index=4).frame.shape == frame.shape


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))


def test_malformed_requests_get_invalid_argument_cost_no_memory_and_one_log_line():
    with RunningDaemon("--port", "0", "--untrained-models") as daemon:
        with grpc.insecure_channel(daemon.address) as channel:
            unary = channel.unary_unary("/colorgrade.v1.Grader/GradeFrame")
            stream = channel.stream_stream("/colorgrade.v1.Grader/StreamClip")

            def send(count):
                for i in range(count):
                    with pytest.raises(grpc.RpcError) as error:
                        unary(b"\xff\xff\xff not a message" * (i % 5 + 1), timeout=5)
                    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                with pytest.raises(grpc.RpcError) as error:
                    list(stream(iter([b"\x0a\xff\xff"]), timeout=5))
                assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                return error.value.details()

            send(300)                              # warm-up: the server's first allocations
            before = rss_kb(daemon.process.pid)
            details = send(4000)
            growth = (rss_kb(daemon.process.pid) - before) / before
        assert details == "the request is not a valid colorgrade.v1.StreamRequest message"
        assert growth < 0.05, f"front end grew {growth:.1%}"   # grpcio's own parsing: +160 % here
        with GradeClient(daemon.address) as client:
            assert client.info().open_clips == 0
    daemon.log.seek(0)
    text = daemon.log.read()
    assert 1 <= text.count("malformed") <= 3 and "Traceback" not in text   # 4,301 bad requests, rate-limited
