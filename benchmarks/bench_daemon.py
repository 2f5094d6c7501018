"""Daemon throughput, measured side by side in one run (prints ratios; asserts nothing).

    .venv/bin/python benchmarks/bench_daemon.py [--frames 40] [--untrained-models] [--sections 1 5]

1. The pixel path: ``colorgrade grade``'s (thumbnails to the daemon, the CDL applied in the client on every
   core), and CDL-frames mode streamed through the daemon (shared memory, as a client on this machine
   uses it, and bytes on the wire, as a remote one does; one stream, and four at once), 1080p and UHD,
   uint8, uint16 and float16, against (a) the real ``ffmpeg -vf lut3d`` applying the same correction
   (baked to 33^3) to the same frames (float16 handed to ffmpeg as planar float32: ffmpeg 5 has no half
   floats), (b) a raw gRPC echo of the same frames and (c) a copy of each frame in memory.
2. Parameters mode with 256-px thumbnails: frames/s and bytes on the wire per frame.
3. Cold start of a one-off CLI run (private daemon) against a warm daemon, per still.
4. Generator modes on 960x540 uint8 frames: frames/s of generator_frames and generator_lut (each frame
   goes through the generator once, whatever the windows it belongs to).
5. Matching to a hero frame (a sample photo's two framings, 256-px thumbnails): a still analysed with
   the reference against the same still blind, and a parameters-mode shot streamed with and without it.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from colorgrade.clients import GradeClient  # noqa: E402
from colorgrade.clients.media import read_image, write_image  # noqa: E402
from colorgrade.proto import grader_pb2 as pb  # noqa: E402
from colorgrade.proto.codec import encode_frame  # noqa: E402
from colorgrade.color import shrink, write_cube  # noqa: E402
from daemon_fixtures import RunningDaemon  # noqa: E402

ECHO_METHOD = "/bench.Echo/Stream"
OPTIONS = [("grpc.max_send_message_length", 512 << 20), ("grpc.max_receive_message_length", 512 << 20)]


def echo_server_main(port_file: str) -> None:
    """A gRPC server that streams back each Frame message it gets: the transport ceiling."""
    def stream(requests, context):
        for request in requests:
            yield request

    handler = grpc.method_handlers_generic_handler("bench.Echo", {"Stream": grpc.stream_stream_rpc_method_handler(
        stream, request_deserializer=pb.Frame.FromString, response_serializer=pb.Frame.SerializeToString)})
    server = grpc.server(futures.ThreadPoolExecutor(4), handlers=[handler], options=OPTIONS)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    Path(port_file).write_text(str(port))
    server.wait_for_termination()


def echo_fps(frames) -> float:
    with tempfile.NamedTemporaryFile(suffix=".port") as port_file:
        process = subprocess.Popen([sys.executable, __file__, "--echo-server", port_file.name])
        try:
            while not Path(port_file.name).read_text():
                time.sleep(0.05)
            channel = grpc.insecure_channel(f"127.0.0.1:{Path(port_file.name).read_text()}", options=OPTIONS)
            call = channel.stream_stream(ECHO_METHOD, request_serializer=pb.Frame.SerializeToString,
                                         response_deserializer=pb.Frame.FromString)
            started = time.perf_counter()
            count = sum(1 for reply in call(encode_frame(f, i) for i, f in enumerate(frames))
                        if np.frombuffer(reply.data, frames[0].dtype).size)
            return count / (time.perf_counter() - started)
        finally:
            process.kill()


def daemon_fps(client, frames, mode="cdl_frames", **settings) -> tuple[float, object]:
    clip = client.open_clip(mode=mode, window_radius=2, **settings)
    started = time.perf_counter()
    results = list(client.stream(clip, frames))
    elapsed = time.perf_counter() - started
    client.close_clip(clip)
    return len(results) / elapsed, results[len(results) // 2].cdl


def streams_fps(address: str, frames, streams: int, shared_memory: bool) -> float:
    """Frames per second over ``streams`` clips streamed at once, each by a client of its own."""
    def one(_):
        with GradeClient(address, shared_memory=shared_memory) as client:
            return daemon_fps(client, frames)[0]

    started = time.perf_counter()
    with futures.ThreadPoolExecutor(streams) as pool:
        list(pool.map(one, range(streams)))
    return streams * len(frames) / (time.perf_counter() - started)


def grade_path_fps(client, frames) -> float:
    """``colorgrade grade``'s own path: thumbnails to the daemon, each returned CDL applied here on every core."""
    from colorgrade.clients.cli import graded

    settings = dict(mode="cdl_frames", window_radius=2, oversample=1, blend_radius=0, name="bench", reference=None)
    started = time.perf_counter()
    count = sum(1 for _ in graded(client, settings, frames, across_cuts=True))
    return count / (time.perf_counter() - started)


def copy_fps(frames) -> float:
    started = time.perf_counter()
    for frame in frames:
        frame.copy()
    return len(frames) / (time.perf_counter() - started)


def ffmpeg_fps(frames, cdl, folder: Path) -> float:
    """ffmpeg's own lut3d on the same frames and correction; NaN where no ffmpeg is installed."""
    if shutil.which("ffmpeg") is None:
        return float("nan")
    cube = folder / "bench.cube"
    write_cube(cube, cdl.to_lut(33))
    height, width = frames[0].shape[:2]
    if frames[0].dtype == np.float16:   # planar float32, prepared before the clock starts
        pix_fmt, data = "gbrpf32le", [np.ascontiguousarray(f.astype(np.float32)[..., [1, 2, 0]].transpose(2, 0, 1))
                                      .tobytes() for f in frames]
    else:
        pix_fmt, data = ("rgb24" if frames[0].dtype == np.uint8 else "rgb48le"), [f.tobytes() for f in frames]
    command = ["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{width}x{height}",
               "-i", "-", "-vf", f"lut3d=file={cube}", "-f", "rawvideo", "-pix_fmt", pix_fmt, "-y", "/dev/null"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdin=subprocess.PIPE)
    for chunk in data:
        process.stdin.write(chunk)
    process.stdin.close()
    process.wait()
    return len(frames) / (time.perf_counter() - started)


SIZES = {"1080p": (1080, 1920), "UHD": (2160, 3840)}


def make_frames(count: int, dtype, size: tuple[int, int] = SIZES["1080p"]) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    height, width = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width, y / height, (x / width + y / height) / 2], axis=-1)
    top = np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1
    return [np.clip((base * (0.9 + 0.01 * i) + rng.normal(0, 0.02, (1, 1, 3))) * top, 0, top).astype(dtype)
            for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--generator-frames", type=int, default=12)
    parser.add_argument("--untrained-models", action="store_true")
    parser.add_argument("--sections", nargs="+", type=int, default=[1, 2, 3, 4, 5], metavar="N",
                        help="which of the numbered measurements to run (default: all)")
    parser.add_argument("--matchers", type=int, help="the daemon's matcher processes (default: its own default)")
    parser.add_argument("--echo-server", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_server:
        echo_server_main(args.echo_server)
        return
    daemon = RunningDaemon("--port", "0", *(["--untrained-models"] if args.untrained_models else []),
                           *(["--matchers", str(args.matchers)] if args.matchers else []))
    try:
        with GradeClient(daemon.address) as client, tempfile.TemporaryDirectory() as folder:
            print(f"engines: {client.info().devices}; matcher processes: {len(daemon.matcher_pids())}\n")
            if 1 in args.sections:
                pixel_path(client, daemon.address, args.frames, Path(folder))
            if 2 in args.sections:
                parameters_mode(client, args.frames)
            if 3 in args.sections:
                cold_and_warm_start(daemon, Path(folder))
            if 4 in args.sections:
                generator_modes(client, args.generator_frames)
            if 5 in args.sections:
                matching_against_blind(client, args.frames)
    finally:
        daemon.stop()


def pixel_path(client, address: str, count: int, folder: Path) -> None:
    print("1. The pixel path (cdl_frames, window 2), frames/s; ratios to ffmpeg's lut3d on the same frames")
    print(f"   {'':<14}{'grade':>7}{'shared':>8}{'bytes':>8}{'4 shared':>9}{'lut3d':>8}{'echo':>8}{'copy':>9}"
          "   grade/lut3d  shared/lut3d  bytes/lut3d  4 shared/lut3d")
    for size_name, size in SIZES.items():
        for dtype in (np.uint8, np.uint16, np.float16):
            frames = make_frames(count if size_name == "1080p" else max(4, count // 4), dtype, size)
            daemon_fps(client, frames[:3])   # warm: the first stream of a kind pays for thread pools and tables
            shared, cdl = daemon_fps(client, frames)
            wire = streams_fps(address, frames, 1, shared_memory=False)
            four = streams_fps(address, frames, 4, shared_memory=True)
            local = grade_path_fps(client, frames)
            lut3d, echo, copied = ffmpeg_fps(frames, cdl, folder), echo_fps(frames), copy_fps(frames)
            print(f"   {size_name:<6}{np.dtype(dtype).name:<8}{local:7.1f}{shared:8.1f}{wire:8.1f}{four:9.1f}"
                  f"{lut3d:8.1f}{echo:8.1f}{copied:9.0f}   {local / lut3d:11.2f}{shared / lut3d:14.2f}"
                  f"{wire / lut3d:13.2f}{four / lut3d:16.2f}")


def parameters_mode(client, count: int) -> None:
    thumbnails = [shrink(f) for f in make_frames(count, np.uint8)]
    rate, _ = daemon_fps(client, thumbnails, mode="parameters")
    sent = pb.StreamRequest(clip_id="x" * 32, frame=encode_frame(thumbnails[0])).ByteSize()
    clip = client.open_clip(mode="parameters", window_radius=0)
    reply = client.stub.GradeFrame(pb.GradeFrameRequest(clip_id=clip, index=0, frames=[encode_frame(thumbnails[0])]))
    print(f"\n2. Parameters mode, {thumbnails[0].shape[1]}x{thumbnails[0].shape[0]} thumbnails: "
          f"{rate:.1f} frames/s; {sent} bytes up, {reply.ByteSize()} bytes down per frame "
          f"(a 1080p uint8 frame is {1920 * 1080 * 3} bytes)")


def cold_and_warm_start(daemon, folder: Path) -> None:
    still = folder / "still.png"
    write_image(still, make_frames(1, np.uint8)[0])
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "colorgrade", "analyze", str(still)], check=True, capture_output=True)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "colorgrade", "analyze", str(still), "--server", daemon.address],
                   check=True, capture_output=True)
    warm = time.perf_counter() - started
    print(f"\n3. One still through the CLI: cold (private daemon) {cold:.2f} s, warm daemon {warm:.2f} s "
          f"-> warm is {cold / warm:.1f} x faster")


def generator_modes(client, count: int) -> None:
    small = [f[::2, ::2].copy() for f in make_frames(count, np.uint8)]
    print("\n4. Generator modes, 960x540 uint8                 frames/s")
    for mode, settings in (("generator_frames", {}), ("generator_lut", {}), ("generator_lut", {"blend_radius": 1})):
        rate, _ = daemon_fps(client, small, mode=mode, **settings)
        print(f"   {mode:<17} {str(settings or ''):<20} {rate:7.2f}")


def matching_against_blind(client, count: int) -> None:
    print("\n5. Matching to a hero, 256-px thumbnails        blind      matched   matched / blind")
    hero, shot = hero_and_shot()
    blind_still = seconds_per_call(lambda: client.analyze([shot]))
    matched_still = seconds_per_call(lambda: client.analyze([shot], reference=hero))
    print(f"   a still (AnalyzeStills)  s/call  {blind_still:9.4f}  {matched_still:9.4f}   "
          f"{matched_still / blind_still:5.2f} x")
    shots = [shot] * count
    blind_rate, _ = daemon_fps(client, shots, mode="parameters")
    matched_rate, _ = daemon_fps(client, shots, mode="parameters", reference=hero)
    print(f"   a shot (parameters)      frames/s {blind_rate:8.1f}  {matched_rate:9.1f}   "
          f"{blind_rate / matched_rate:5.2f} x the time")


def hero_and_shot():
    """Two overlapping framings of a shipped photo as 256-px thumbnails; the shot with a warm cast."""
    from colorgrade.color import CDL, apply
    from conftest import SAMPLES

    image = read_image(SAMPLES / "photos" / "dune.png")[..., :3]
    height, width = image.shape[:2]
    hero = image[:int(height * 0.75), :int(width * 0.7)]
    shot = apply(CDL(slope=(1.15, 1.0, 0.8)), image[height - int(height * 0.75):, width - int(width * 0.7):])
    return shrink(hero), shrink(shot)


def seconds_per_call(call, repeats: int = 20) -> float:
    call()   # warm: the first call pays for lazy imports in the engine
    started = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - started) / repeats


if __name__ == "__main__":
    main()
