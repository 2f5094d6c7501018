"""Engine worker: one process per device, both networks resident, stateless (frames in -> results out).

The front end talks to it over pyzmq (REQ/REP) with the typed messages of ``server.protocol`` and
zero-copy frame buffers. Because the engine keeps no state, the front end can kill and restart it
at any time and retry what was in flight.

Batches of frames from different clips are analysed in one forward pass of a fixed shape: always
``batch_size`` thumbnails, padded with black. Kernels pick their algorithm (and so their rounding)
by the tensor's shape; with the shape fixed, a frame's result does not depend on which frames or
how many shared its batch, so batching keeps the daemon's "same output however it was asked"
invariant. The default size is 8 on CUDA and 1 on CPU, where larger batches bought no speed
(docs/results.md, benchmarks).

Run as ``python -m colorgrade.server.engine ENDPOINT --device cpu [--batch-size N] [--untrained] [--parent PID]``.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from colorgrade.color import to_float_rgb
from colorgrade.server import protocol as msg
from colorgrade.server import worker


class Engine:
    """The networks on one device, as functions of the frames they are given."""

    def __init__(self, device: str | None = None, untrained: bool = False, batch_size: int | None = None,
                 analysis_weights=None):
        from colorgrade.models import WEIGHTS_DIR, analysis, generator

        # cuDNN may otherwise time several algorithms and keep the fastest, which can differ run to run.
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        self.analysis_weights = Path(analysis_weights or WEIGHTS_DIR / "analysis.safetensors")
        self.analyzer = analysis.untrained(device) if untrained else analysis.load(self.analysis_weights, device)
        self.generator = generator.untrained(device=device) if untrained else generator.load_default(device)
        self.untrained = untrained
        if self.analyzer.device.type == "cpu":
            # Half the cores: the front end needs the rest to apply CDLs and move frames (docs/decisions.md).
            torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
        self.batch_size = batch_size or (8 if self.analyzer.device.type == "cuda" else 1)

    def handle(self, request):
        """One protocol request -> its reply (``Failure`` for input the networks cannot take)."""
        return worker.handled({msg.Describe: self.describe, msg.Analyze: self.analyze,
                               msg.GenerateFrame: self.generate_frame}, request)

    def describe(self, request: msg.Describe) -> msg.Description:
        from colorgrade.models import generator
        from colorgrade.models.detunes import LABELS

        if self.untrained:
            models = [msg.ModelCard(name, "untrained (development and tests)", False) for name in ("analysis", "generator")]
        else:
            models = []
            for name, weights in (("analysis", self.analysis_weights),
                                  ("generator", generator.DEFAULT_WEIGHTS)):
                digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
                models.append(msg.ModelCard(name, f"{weights.with_suffix('.md').name} (weights sha256 {digest})", True))
        return msg.Description(device=str(self.analyzer.device), batch_size=self.batch_size, labels=list(LABELS),
                               generator_radius=self.generator.radius, working_size=list(self.generator.working_size),
                               analysis_size=self.analyzer.thumbnail_size,
                               models=models)

    def analyze(self, request: msg.Analyze) -> msg.Analyses:
        # The front end sends block means already (a second reduction finds no block); frames of any kind work.
        thumbnails = self.analyzer.thumbnails(request.frames)
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


def main(argv=None) -> None:
    parser = worker.argument_parser(__doc__)
    parser.add_argument("--device")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--untrained", action="store_true")
    args = parser.parse_args(argv)
    worker.start(args, lambda: Engine(args.device, args.untrained, args.batch_size).handle)


if __name__ == "__main__":
    main()
