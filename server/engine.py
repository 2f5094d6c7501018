"""Engine worker: one process per device, both networks resident, stateless (frames in -> results out).

The front end talks to it over pyzmq (REQ/REP) with the typed messages of ``server.protocol`` and
zero-copy frame buffers. Because the engine keeps no state, the front end can kill and restart it
at any time and retry what was in flight.

Batches of frames from different clips are analysed in one forward pass of a fixed shape: always
``batch_size`` thumbnails, padded with black. Kernels pick their algorithm (and so their rounding)
by the tensor's shape; with the shape fixed, a frame's result does not depend on which frames or
how many shared its batch, so batching keeps the daemon's "same output however it was asked"
invariant. The default size is 8 on CUDA and 1 on CPU, where larger batches bought no speed
(docs/notes.md, Benchmarks).

Run as ``python -m colorgrade.server.engine ENDPOINT --device cpu [--batch-size N] [--untrained] [--parent PID]``.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import signal
import threading
import time

import numpy as np
import torch
import zmq

from colorgrade.color import to_float_rgb
from colorgrade.server import protocol as msg

PARENT_POLL_S = 0.5


class Engine:
    """The networks on one device, as functions of the frames they are given."""

    def __init__(self, device: str | None = None, untrained: bool = False, batch_size: int | None = None):
        from colorgrade.models import analysis, generator

        # cuDNN may otherwise time several algorithms and keep the fastest, which can differ run to run.
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        self.analyzer = analysis.untrained(device) if untrained else analysis.load_default(device)
        self.generator = generator.untrained(device=device) if untrained else generator.load_default(device)
        self.untrained = untrained
        if self.analyzer.device.type == "cpu":
            # Half the cores: the front end needs the rest to apply CDLs and move frames (docs/notes.md).
            torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
        self.batch_size = batch_size or (8 if self.analyzer.device.type == "cuda" else 1)

    def handle(self, request):
        """One protocol request -> its reply (``Failure`` for input the networks cannot take)."""
        handlers = {msg.Describe: self.describe, msg.Analyze: self.analyze, msg.GenerateFrame: self.generate_frame,
                    msg.DescribeHero: self.describe_hero, msg.MatchFrame: self.match_frame}
        handler = handlers.get(type(request))
        if handler is None:
            return msg.Failure(f"the engine does not handle {type(request).__name__}")
        try:
            return handler(request)
        except Exception as error:  # at the process boundary: reported to the front end as a gRPC status
            return msg.Failure(f"{type(error).__name__}: {error}")

    def describe(self, request: msg.Describe) -> msg.Description:
        from colorgrade.models import WEIGHTS_DIR, generator
        from colorgrade.models.detunes import LABELS

        if self.untrained:
            models = [msg.ModelCard(name, "untrained (development and tests)", False) for name in ("analysis", "generator")]
        else:
            models = []
            for name, weights in (("analysis", WEIGHTS_DIR / "analysis.safetensors"),
                                  ("generator", generator.DEFAULT_WEIGHTS)):
                digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
                models.append(msg.ModelCard(name, f"{weights.with_suffix('.md').name} (weights sha256 {digest})", True))
        return msg.Description(device=str(self.analyzer.device), batch_size=self.batch_size, labels=list(LABELS),
                               generator_radius=self.generator.radius, working_size=list(self.generator.working_size),
                               models=models)

    def analyze(self, request: msg.Analyze) -> msg.Analyses:
        # Integer frames go in as codes: the analyser block-averages them before any float conversion.
        thumbnails = self.analyzer.thumbnails([frame[..., :3] if frame.dtype.kind == "u" else to_float_rgb(frame)[0]
                                               for frame in request.frames])
        probabilities, cdls, confidence = [], [], []
        for start in range(0, len(thumbnails), self.batch_size):
            part = thumbnails[start:start + self.batch_size]
            padded = part.new_zeros((self.batch_size, *part.shape[1:]))
            padded[:len(part)] = part
            prediction = self.analyzer.predict(padded)
            probabilities.append(prediction.probabilities[:len(part)])
            cdls.append(prediction.cdls[:len(part)])
            confidence.append(prediction.confidence[:len(part)])
        return msg.Analyses(cdls=torch.cat(cdls).cpu().numpy().astype(np.float64),
                            probabilities=torch.cat(probabilities).cpu().numpy().astype(np.float32),
                            confidence=torch.cat(confidence).cpu().numpy().astype(np.float32))

    def generate_frame(self, request: msg.GenerateFrame) -> msg.GeneratedFrame:
        from colorgrade.models.generator import check_options

        check_options(request.oversample, 0)
        small = self.generator.working([to_float_rgb(frame)[0] for frame in request.frames], request.oversample)
        output = self.generator.output_at(small, request.center)
        return msg.GeneratedFrame(working_input=small[request.center].cpu().numpy(), working_output=output.cpu().numpy())

    @staticmethod
    def describe_hero(request: msg.DescribeHero) -> msg.HeroFeatures:
        from colorgrade.models import matching

        hero = matching.describe_hero(request.frame)
        return msg.HeroFeatures(rgb=hero.rgb, keypoints=hero.keypoints, descriptors=hero.descriptors)

    @staticmethod
    def match_frame(request: msg.MatchFrame) -> msg.Matched:
        from colorgrade.models import matching

        hero = matching.Hero(np.asarray(request.hero.rgb), np.asarray(request.hero.keypoints),
                             np.asarray(request.hero.descriptors))
        found = matching.match(request.frame, hero)
        return msg.Matched(cdl=found.cdl.to_vector(), confidence=found.confidence)


def die_with(parent: int, socket_path: str) -> None:
    """End this engine, removing its socket file, when the front end that started it ends, however it
    ends (SIGKILL included: the engine is then re-parented, which a watcher thread sees within a
    second), or when it is sent SIGTERM."""
    def leave(*_):
        if os.path.exists(socket_path):
            os.unlink(socket_path)
        try:
            os.rmdir(os.path.dirname(socket_path))   # the pool's folder, once its last engine is gone
        except OSError:
            pass
        os._exit(0)

    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        leave()

    signal.signal(signal.SIGTERM, leave)
    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def serve_forever(endpoint: str, device: str | None, untrained: bool, batch_size: int | None) -> None:
    engine = Engine(device, untrained, batch_size)
    socket = zmq.Context.instance().socket(zmq.REP)
    socket.bind(endpoint)
    while True:
        parts = socket.recv_multipart(copy=False)
        try:
            request = msg.decode(parts)
        except (ValueError, KeyError, TypeError) as error:
            reply = msg.Failure(f"malformed engine request: {error}")
        else:
            reply = engine.handle(request)
        socket.send_multipart(msg.encode(reply), copy=False)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("endpoint")
    parser.add_argument("--device")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--untrained", action="store_true")
    parser.add_argument("--parent", type=int, help="pid of the front end: the engine ends when it does")
    args = parser.parse_args(argv)
    if args.parent:
        die_with(args.parent, args.endpoint.removeprefix("ipc://"))
    serve_forever(args.endpoint, args.device, args.untrained, args.batch_size)


if __name__ == "__main__":
    main()
