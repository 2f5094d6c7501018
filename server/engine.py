"""Engine worker: one process per device, the networks resident, stateless (frames in -> analysis out).

The front end talks to it over pyzmq (REQ/REP) with zero-copy frame buffers: a request is a
multipart message ``[header JSON, frame bytes, frame bytes, ...]``; the reply is
``[header JSON, float32 CDL vectors, float32 probabilities]``. Because the engine keeps no state,
the front end can kill and restart it at any time and retry what was in flight.

Run as ``python -m colorgrade.server.engine ENDPOINT --device cpu [--untrained]``.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import zmq

from colorgrade.proto.codec import to_float_rgb


class Engine:
    """The networks on one device; ``analyze`` maps frames to per-frame CDL vectors and label probabilities."""

    def __init__(self, device: str | None = None, untrained: bool = False):
        from colorgrade.models import analysis

        self.analyzer = analysis.untrained(device) if untrained else analysis.load_default(device)
        self.device = str(self.analyzer.device)

    def analyze(self, frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Frames (H, W, 3|4) of any sample type -> (CDL vectors (N, 10), probabilities (N, 25))."""
        rgb = [to_float_rgb(frame)[0] for frame in frames]
        probabilities, cdls, _ = self.analyzer.predict(self.analyzer.thumbnails(rgb))
        return cdls.cpu().numpy().astype(np.float64), probabilities.cpu().numpy().astype(np.float32)


def serve_forever(endpoint: str, device: str | None, untrained: bool) -> None:
    engine = Engine(device, untrained)
    context = zmq.Context.instance()
    socket = context.socket(zmq.REP)
    socket.bind(endpoint)
    while True:
        parts = socket.recv_multipart(copy=False)
        header = json.loads(bytes(parts[0].buffer))
        if header["op"] == "ping":
            socket.send_multipart([json.dumps({"device": engine.device}).encode()])
            continue
        frames = [np.frombuffer(part.buffer, dtype=np.dtype(spec["dtype"])).reshape(spec["shape"])
                  for part, spec in zip(parts[1:], header["frames"])]
        try:
            cdls, probabilities = engine.analyze(frames)
        except Exception as error:  # reported to the front end, which maps it to a gRPC status
            socket.send_multipart([json.dumps({"error": f"{type(error).__name__}: {error}"}).encode()])
            continue
        socket.send_multipart([b"{}", cdls.tobytes(), probabilities.tobytes()], copy=False)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("endpoint")
    parser.add_argument("--device")
    parser.add_argument("--untrained", action="store_true")
    args = parser.parse_args(argv)
    serve_forever(args.endpoint, args.device, args.untrained)


if __name__ == "__main__":
    main()
