"""Several daemons behind Envoy against the daemons themselves, side by side in one run (prints; asserts nothing).

    .venv/bin/python benchmarks/bench_cluster.py [--daemons 3] [--clips 12] [--frames 48] [--threads 6]

1. Parameters-mode throughput (256-px thumbnails, window radius 2, ``--clips`` clips from ``--threads``
   threads): every clip on one daemon direct; the clips dealt over the daemons direct (what perfect
   client-side sharding would give); every clip through Envoy (which hashes each clip to a daemon).
   On a box with few cores the daemons share the same cores, so the ratios show what the proxy costs,
   not how a fleet of boxes scales.
2. Latency per call, sequential, direct against through Envoy: GetServerInfo (the proxy's own cost, nothing
   else) and AnalyzeStills of one thumbnail; 50th and 99th percentiles and what Envoy adds.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from colorgrade.clients import GradeClient  # noqa: E402
from daemon_fixtures import Cluster  # noqa: E402


def thumbnails(clip: int, frames: int) -> list[np.ndarray]:
    rng = np.random.default_rng(clip)
    base = rng.random((144, 256, 3)) * rng.uniform(0.7, 1.2, 3)
    return [np.clip((base * (0.9 + 0.004 * t)) * 255, 0, 255).astype(np.uint8) for t in range(frames)]


def throughput(addresses: list[str], clips: int, frames: int, threads: int) -> float:
    """Frames per second over ``clips`` parameters-mode clips, clip i sent to addresses[i % len(addresses)]."""
    material = {clip: thumbnails(clip, frames) for clip in range(clips)}

    def run(clip: int) -> int:
        with GradeClient(addresses[clip % len(addresses)]) as client:
            handle = client.open_clip(mode="parameters", window_radius=2)
            count = sum(1 for _ in client.stream(handle, material[clip]))
            client.close_clip(handle)
            return count

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(run, range(clips)))
    return total / (time.perf_counter() - start)


def latencies(address: str, call, count: int) -> np.ndarray:
    with GradeClient(address) as client:
        call(client)   # connect first: the channel's set-up is not a call's latency
        times = []
        for _ in range(count):
            start = time.perf_counter()
            call(client)
            times.append(time.perf_counter() - start)
    return np.array(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--daemons", type=int, default=3)
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument("--calls", type=int, default=300, help="sequential calls per latency measurement")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        print(f"starting {args.daemons} daemons and Envoy ...", flush=True)
        cluster = Cluster(Path(folder) / "envoy.yaml", args.daemons)
        try:
            direct = [daemon.address for daemon in cluster.daemons]
            print(f"\n1. parameters mode, {args.clips} clips x {args.frames} frames of 256x144, {args.threads} threads")
            rates = {"one daemon, direct": throughput(direct[:1], args.clips, args.frames, args.threads),
                     f"{args.daemons} daemons, direct (clips dealt)": throughput(direct, args.clips, args.frames,
                                                                                 args.threads),
                     f"{args.daemons} daemons through Envoy": throughput([cluster.address], args.clips, args.frames,
                                                                        args.threads)}
            base = rates["one daemon, direct"]
            for name, rate in rates.items():
                print(f"   {name:<36} {rate:8.1f} frames/s   {rate / base:5.2f}x one daemon")

            still = thumbnails(99, 1)[0]
            calls = {"GetServerInfo": lambda client: client.info(),
                     "AnalyzeStills (one thumbnail)": lambda client: client.analyze([still])}
            print(f"\n2. latency per call, {args.calls} sequential calls (ms)")
            print(f"   {'':<32}{'direct p50':>12}{'p99':>8}{'Envoy p50':>12}{'p99':>8}{'added p50':>12}{'p99':>8}")
            for name, call in calls.items():
                near = latencies(direct[0], call, args.calls)
                far = latencies(cluster.address, call, args.calls)
                p = [np.percentile(values, q) for values in (near, far) for q in (50, 99)]
                print(f"   {name:<32}{p[0]:12.2f}{p[1]:8.2f}{p[2]:12.2f}{p[3]:8.2f}{p[2] - p[0]:12.2f}{p[3] - p[1]:8.2f}")
            print("\n   (stills through Envoy go to any daemon; direct, always to the first)")
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
