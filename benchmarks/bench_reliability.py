"""The daemon under abuse, measured in one run (prints figures; asserts nothing).

    .venv/bin/python benchmarks/bench_reliability.py [--streams 200] [--malformed 50000]

1. ``--streams`` StreamClip calls held open and idle, and health-check latency while they are.
2. Front-end memory (RSS) before and after ``--malformed`` requests whose bytes do not parse, and the
   log lines they cost.
3. Time until a client killed mid-stream has its clip closed and its frames freed.
4. SIGTERM with a stream still open: time to exit.
5. What is left behind after SIGTERM and after SIGKILL of the front end: engine processes, socket files.
"""
from __future__ import annotations

import argparse
import glob
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from colorgrade.clients import GradeClient  # noqa: E402
from colorgrade.proto import grader_pb2 as pb  # noqa: E402
from colorgrade.proto import grader_pb2_grpc as pb_grpc  # noqa: E402
from daemon_fixtures import RunningDaemon  # noqa: E402


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def health_latencies(address: str, count: int = 20) -> list[float]:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
        latencies = []
        for _ in range(count):
            started = time.perf_counter()
            stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
            latencies.append(time.perf_counter() - started)
    return latencies


def hold_streams(address: str, count: int):
    """``count`` streams that each send their clip id and then nothing."""
    release = threading.Event()
    channel = grpc.insecure_channel(address)
    stub = pb_grpc.GraderStub(channel)
    with GradeClient(address) as client:
        clips = [client.open_clip() for _ in range(count)]

    def requests(clip_id):
        yield pb.StreamRequest(clip_id=clip_id)
        release.wait()

    calls = [stub.StreamClip(requests(clip)) for clip in clips]
    return calls, release, channel


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def sockets() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "colorgrade-engines-*")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--malformed", type=int, default=50000)
    args = parser.parse_args()

    daemon = RunningDaemon("--port", "0", "--untrained-models", "--max-streams", str(args.streams),
                           "--max-sessions", str(args.streams + 8))
    try:
        idle = statistics.median(health_latencies(daemon.address))
        calls, release, channel = hold_streams(daemon.address, args.streams)
        time.sleep(1)
        held = health_latencies(daemon.address)
        with GradeClient(daemon.address) as client:
            started = time.perf_counter()
            client.info()
            info_s = time.perf_counter() - started
        release.set()
        channel.close()
        print(f"1. {args.streams} idle streams held: health median {1000 * statistics.median(held):.1f} ms, "
              f"max {1000 * max(held):.1f} ms (no streams: {1000 * idle:.1f} ms); GetServerInfo {1000 * info_s:.1f} ms")

        with grpc.insecure_channel(daemon.address) as raw:
            call = raw.unary_unary("/colorgrade.v1.Grader/GradeFrame")
            for i in range(500):
                try:
                    call(b"\xff\xff\xff not a message", timeout=5)
                except grpc.RpcError:
                    pass
            before = rss_mb(daemon.process.pid)
            daemon.log.seek(0, os.SEEK_END)
            log_before = daemon.log.tell()
            started = time.perf_counter()
            for i in range(args.malformed):
                try:
                    call(b"\xff\xff\xff not a message" * (i % 7 + 1), timeout=5)
                except grpc.RpcError as error:
                    code = error.code()
            elapsed = time.perf_counter() - started
            after = rss_mb(daemon.process.pid)
        daemon.log.seek(log_before)
        lines = daemon.log.read().count("\n")
        print(f"2. {args.malformed} malformed requests ({elapsed:.0f} s, answered {code.name}): front end "
              f"{before:.1f} -> {after:.1f} MB ({100 * (after - before) / before:+.1f} %), {lines} log lines")

        code = ("import os, numpy as np\nfrom colorgrade.clients import GradeClient\n"
                f"c = GradeClient('{daemon.address}')\nclip = c.open_clip(window_radius=3)\n"
                "frames = (np.zeros((1080, 1920, 3), np.uint8) for _ in range(1000))\n"
                "for r in c.stream(clip, frames):\n    if r.index == 2: os.kill(os.getpid(), 9)\n")
        with GradeClient(daemon.address) as client:
            before = client.info().open_clips   # section 1's clips, whose streams ended normally
            subprocess.run([sys.executable, "-c", code], timeout=300)
            killed = time.perf_counter()
            while client.info().open_clips > before or client.info().buffered_bytes:
                time.sleep(0.01)
            print(f"3. 1080p client killed mid-stream: clip closed and frames freed "
                  f"{1000 * (time.perf_counter() - killed):.0f} ms after its process was gone")

        engines = daemon.engine_pids()
        with GradeClient(daemon.address) as client:
            open_clip = client.open_clip()
        calls, release, channel = hold_streams(daemon.address, 1)
        time.sleep(0.3)
        before_sockets = sockets()
        started = time.perf_counter()
        daemon.process.send_signal(signal.SIGTERM)
        daemon.process.wait(timeout=60)
        exit_s = time.perf_counter() - started
        time.sleep(1.5)
        release.set()
        channel.close()
        del open_clip
        print(f"4. SIGTERM with a stream open: exited in {exit_s:.2f} s (grace 2 s)")
        print(f"5. after SIGTERM: {sum(alive(p) for p in engines)} engine processes, "
              f"{len(before_sockets & sockets())} engine socket folders left")
    finally:
        if daemon.process.poll() is None:
            daemon.stop()

    daemon = RunningDaemon("--port", "0", "--untrained-models")
    engines, folders = daemon.engine_pids(), sockets()
    daemon.process.kill()
    daemon.process.wait()
    time.sleep(2)
    print(f"   after SIGKILL of the front end: {sum(alive(p) for p in engines)} engine processes, "
          f"{len(folders & sockets())} engine socket folders left")


if __name__ == "__main__":
    main()
