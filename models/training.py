"""The bookkeeping every training run shares: run folder, wall-clock and step budget, checkpoints and
``--resume``, the per-epoch log, keeping the best weights on validation, and the record for the card."""
from __future__ import annotations

import math
import platform
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch


class TrainingRun:
    def __init__(self, run_dir, steps: int, minutes: float, resume: bool, log_columns: list[str], device):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_path, self.log_path = self.dir / "checkpoint.pt", self.dir / "log.tsv"
        self.steps, self.budget_s = steps, minutes * 60
        self.step, self.elapsed_before, self.segments, self.best = 0, 0.0, [], None
        self.restored = None
        if resume and self.checkpoint_path.exists():
            self.restored = torch.load(self.checkpoint_path, map_location=device, weights_only=True)
            self.step, self.elapsed_before = int(self.restored["step"]), float(self.restored["elapsed"])
            self.segments, self.best = list(self.restored["segments"]), self.restored["best"]
            print(f"resuming from {self.checkpoint_path} at step {self.step} ({self.elapsed_before / 60:.1f} min done)")
        if self.step == 0:
            self.log_path.write_text("\t".join(["step", "minutes", *log_columns]) + "\n")
        device = torch.device(device)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
        self.segment = {"command": "colorgrade " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                        "device": str(device), "device_name": name, "cpu_threads": torch.get_num_threads(),
                        "from_step": self.step}
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started

    def running(self) -> bool:
        return self.step < self.steps and self.elapsed() < self.budget_s

    def cosine_rate(self, base: float) -> float:
        """The learning rate on a cosine from ``base`` to 0 over the run's budget (so a run cut short by its
        minutes still anneals)."""
        return base * 0.5 * (1 + math.cos(math.pi * self.progress()))

    def progress(self) -> float:
        """How far through its budget (steps or wall clock, whichever is nearer its end) the run is."""
        return min(1.0, max(self.step / self.steps, self.elapsed() / self.budget_s))

    def save_checkpoint(self, **state) -> None:
        """Save the caller's state (networks, optimisers, random generators) with the run's own."""
        torch.save({**state, "step": self.step, "elapsed": self.elapsed(), "best": self.best,
                    "segments": self.segments + [{**self.segment, "to_step": self.step}]}, self.checkpoint_path)

    def all_segments(self) -> list[dict]:
        """The run's segments (command, machine, steps) including this one, if it trained at all."""
        trained = self.step > self.segment["from_step"]
        return self.segments + ([{**self.segment, "to_step": self.step}] if trained else [])

    def log(self, values: list[float]) -> None:
        with self.log_path.open("a") as log:
            log.write("\t".join([str(self.step), f"{self.elapsed() / 60:.2f}", *(f"{v:.6g}" for v in values)]) + "\n")

    def consider(self, module: torch.nn.Module, score: float, details: dict) -> None:
        """Keep ``module``'s weights if ``score`` (lower is better) is the best on validation so far."""
        if self.best is None or score < self.best["score"]:
            self.best = {"step": self.step, "score": score, "details": details,
                         "state": {k: v.detach().clone() for k, v in module.state_dict().items()}}

    def finish(self, module: torch.nn.Module, split: dict, options) -> dict:
        """Load the best weights into ``module`` and return the record the weights and card carry."""
        self.segments = self.all_segments()
        if self.best is not None:
            module.load_state_dict(self.best["state"])
        return {"steps": self.step, "minutes": round(self.elapsed() / 60, 2), "segments": self.segments,
                "selected_step": self.best["step"] if self.best else self.step,
                "selected_validation": {k: round(v, 6) for k, v in self.best["details"].items()} if self.best else {},
                "photos": {name: [p.name for p in paths] for name, paths in split.items()},
                "options": {k: v for k, v in asdict(options).items() if k not in ("resume", "device")}}
