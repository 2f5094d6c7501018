"""Network throughput on this machine (prints; asserts nothing).

    .venv/bin/python benchmarks/bench_models.py [--device cpu]

- analysis: frames/s at batch 1 and batch 16, 1080p float frames in, thumbnail preparation included;
- generator: frames/s at working size (144x256, the served per-frame model), and seconds per 1080p
  frame with LUT distillation (generator at working size + LUT fit + full-resolution application).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from colorgrade.models import analysis, generator


def rate(function, repeats: int) -> float:
    function()  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        function()
    return repeats / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    rng = np.random.default_rng(0)
    frames = [rng.random((1080, 1920, 3), dtype=np.float32) for _ in range(16)]

    analyzer = analysis.load_default(args.device)
    one = rate(lambda: analyzer.analyze(frames[:1]), args.repeats)
    sixteen = rate(lambda: analyzer.analyze(frames), max(1, args.repeats // 2)) * 16
    print(f"analysis, 1080p in (thumbnail included): batch 1 {one:.1f} frames/s, batch 16 {sixteen:.1f} frames/s")

    model = generator.load_default(args.device)
    small = [rng.random((144, 256, 3), dtype=np.float32) for _ in range(9)]
    working = rate(lambda: model.grade(small), max(1, args.repeats // 2)) * len(small)
    print(f"generator at working size 256x144 (per-frame): {working:.1f} frames/s")
    window = frames[:5]
    started = time.perf_counter()
    model.grade_at(window, 2, distill_lut=True)
    print(f"generator + LUT distillation, one 1080p frame (5-frame window): {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
