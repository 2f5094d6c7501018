"""Engine worker: one process per device, both networks resident, stateless (frames in -> results out).

The front end talks to it over pyzmq (REQ/REP) with zero-copy frame buffers: a request is a
multipart message ``[header JSON, frame bytes, frame bytes, ...]``; the reply is
``[header JSON, result buffers ...]``. Because the engine keeps no state, the front end can kill
and restart it at any time and retry what was in flight.

Batches of frames from different clips are analysed in one forward pass of a fixed shape: always
``batch_size`` thumbnails, padded with black. Kernels pick their algorithm (and so their rounding)
by the tensor's shape; with the shape fixed, a frame's result does not depend on which frames or
how many shared its batch, so batching keeps the daemon's "same output however it was asked"
invariant. The default size is 8 on CUDA and 1 on CPU, where larger batches bought no speed
(benchmarks/bench_models.py).

Run as ``python -m colorgrade.server.engine ENDPOINT --device cpu [--batch-size N] [--untrained]``.
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch
import zmq

from colorgrade.proto.codec import to_float_rgb


class Engine:
    """The networks on one device, as functions of the frames they are given."""

    def __init__(self, device: str | None = None, untrained: bool = False, batch_size: int | None = None):
        from colorgrade.models import analysis, generator

        # cuDNN may otherwise time several algorithms and keep the fastest, which can differ run to run.
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        self.analyzer = analysis.untrained(device) if untrained else analysis.load_default(device)
        self.generator = generator.untrained(device=device) if untrained else generator.load_default(device)
        self.device = str(self.analyzer.device)
        if self.analyzer.device.type == "cpu":
            # Half the cores: the front end needs the rest to apply CDLs and move frames. Measured on
            # 2 cores: with both threads here, torch's workers and the front end's numpy fought over
            # the cores and a 1080p CDL-frames stream ran 16.5 frames/s; with one, 22.
            torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
        self.batch_size = batch_size or (8 if self.analyzer.device.type == "cuda" else 1)

    def describe(self) -> dict:
        return {"device": self.device, "generator_radius": self.generator.radius, "batch_size": self.batch_size}

    def analyze(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Frames (H, W, 3|4) of any sample type -> [CDL vectors (N, 10) float64, probabilities (N, 25) float32]."""
        # Integer frames go in as codes: the analyser block-averages them before any float conversion.
        thumbnails = self.analyzer.thumbnails([frame[..., :3] if frame.dtype.kind == "u" else to_float_rgb(frame)[0]
                                               for frame in frames])
        probabilities, cdls = [], []
        for start in range(0, len(thumbnails), self.batch_size):
            part = thumbnails[start:start + self.batch_size]
            padded = part.new_zeros((self.batch_size, *part.shape[1:]))
            padded[:len(part)] = part
            batch_probabilities, batch_cdls, _ = self.analyzer.predict(padded)
            probabilities.append(batch_probabilities[:len(part)])
            cdls.append(batch_cdls[:len(part)])
        return [torch.cat(cdls).cpu().numpy().astype(np.float64),
                torch.cat(probabilities).cpu().numpy().astype(np.float32)]

    def generate(self, frames: list[np.ndarray], center: int, oversample: int, blend: int,
                 distill_lut: bool) -> list[np.ndarray]:
        """The generator's frame ``center`` of ``frames`` -> [graded float32 (H, W, 3), LUT table or empty]."""
        rgb = [to_float_rgb(frame)[0] for frame in frames]
        graded, lut = self.generator.grade_at(rgb, center, oversample, blend, distill_lut)
        return [np.ascontiguousarray(graded, np.float32),
                lut.table if lut is not None else np.zeros(0, np.float32)]


def serve_forever(endpoint: str, device: str | None, untrained: bool, batch_size: int | None) -> None:
    engine = Engine(device, untrained, batch_size)
    socket = zmq.Context.instance().socket(zmq.REP)
    socket.bind(endpoint)
    while True:
        parts = socket.recv_multipart(copy=False)
        header = json.loads(bytes(parts[0].buffer))
        if header["op"] == "describe":
            socket.send_multipart([json.dumps(engine.describe()).encode()])
            continue
        frames = [np.frombuffer(part.buffer, dtype=np.dtype(spec["dtype"])).reshape(spec["shape"])
                  for part, spec in zip(parts[1:], header["frames"])]
        try:
            if header["op"] == "analyze":
                results = engine.analyze(frames)
            else:
                results = engine.generate(frames, **header["options"])
        except Exception as error:  # reported to the front end, which maps it to a gRPC status
            socket.send_multipart([json.dumps({"error": f"{type(error).__name__}: {error}"}).encode()])
            continue
        shapes = [{"dtype": r.dtype.str, "shape": r.shape} for r in results]
        socket.send_multipart([json.dumps({"results": shapes}).encode(), *results], copy=False)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("endpoint")
    parser.add_argument("--device")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--untrained", action="store_true")
    args = parser.parse_args(argv)
    serve_forever(args.endpoint, args.device, args.untrained, args.batch_size)


if __name__ == "__main__":
    main()
