"""Each network's training options, in one place: the trainers take them, and ``colorgrade train NETWORK``
derives its flags from them (``add_arguments``), so every flag is an option the network really uses,
with the same default. Torch-free, so ``colorgrade --help`` stays instant."""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

from colorgrade.models import DEFAULT_PHOTOS, WEIGHTS_DIR


def option(default, help: str, **kwargs):
    """A dataclass field with its command-line help (and ``choices``, where only some values make sense)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **kwargs})
    return field(default=default, metadata={"help": help, **kwargs})


PHOTOS_HELP = "folders of graded photos (split by photo: 2/3 train, 1/6 test, 1/6 validation)"
LICENCE_HELP = ("any: every photo; permissive: leave out the rows MANIFEST.tsv marks RESEARCH-ONLY "
                "(weights you may ship commercially)")


@dataclass
class AnalysisOptions:
    photos: list[str] = option(DEFAULT_PHOTOS, PHOTOS_HELP)
    licence: str = option("any", LICENCE_HELP, choices=["any", "permissive"])
    out: str = option(str(WEIGHTS_DIR / "analysis.safetensors"), "weights to write")
    run_dir: str = option("runs/analysis", "checkpoints and log")
    steps: int = option(6000, "step budget")
    minutes: float = option(45.0, "wall-clock budget; the cosine schedule anneals over whichever ends first")
    batch: int = option(64, "crops per step")
    thumbnail: int = option(96, "side of the squashed thumbnail the network sees")
    width: int = option(16, "channels of the first VGG block")
    dropout: float = option(0.3, "dropout after the last batch-norm layer")
    learning_rate: float = option(2e-3, "peak learning rate (AdamW)")
    weight_decay: float = option(1e-4, "AdamW weight decay")
    correction_weight: float = option(0.5, "weight of the correction head's Lab loss (ΔE units, ~1-10) against "
                                           "cross-entropy (~0.01-3)")
    confidence_weight: float = option(1.0, "weight of the confidence head's cross-entropy")
    clean_weight: float = option(3.0, "weight of clean frames' damage against mixtures' error when choosing the "
                                      "best step on validation (first, do no harm)")
    noise: float = option(0.01, "sensor noise added to inputs, so clean noise is not 'an error'")
    composite_share: float = option(0.0, "share of training crops with a piece of another photo pasted in (raises "
                                         "held-out accuracy, damages clean frames more: docs/decisions.md)")
    clean_share: float = option(0.3, "share of the correction head's examples left clean")
    seed: int = option(0, "random seed")
    device: str | None = option(None, "cpu, cuda, cuda:1 ... (default: CUDA when present)")
    epoch_steps: int = option(200, "steps per log line and validation pass")
    checkpoint_every: int = option(200, "steps between checkpoints")
    resume: bool = option(False, "continue from the run directory's checkpoint")


@dataclass
class GeneratorOptions:
    photos: list[str] = option(DEFAULT_PHOTOS, PHOTOS_HELP)
    licence: str = option("any", LICENCE_HELP, choices=["any", "permissive"])
    temporal: bool = option(False, "train on windows of frames (the paper's temporal cGAN)")
    window: int = option(5, "frames per temporal window, odd (the per-frame model has 1)")
    out: str = option("", "weights to write (default models/weights/generator_frame|generator_temporal.safetensors)")
    run_dir: str = option("", "checkpoints and log (default runs/generator_frame|generator_temporal)")
    steps: int = option(4000, "step budget")
    minutes: float = option(45.0, "wall-clock budget; the cosine schedule anneals over whichever ends first")
    batch: int = option(4, "clips per step")
    base: int = option(16, "channels of the U-Net's first level")
    depth: int = option(4, "U-Net levels")
    learning_rate: float = option(2e-4, "peak learning rate (Adam, both networks)")
    l2_weight: float = option(100.0, "weight of the L2 term against the adversarial term")
    seed: int = option(0, "random seed")
    device: str | None = option(None, "cpu, cuda, cuda:1 ... (default: CUDA when present)")
    epoch_steps: int = option(100, "steps per log line, validation pass and checkpoint")
    resume: bool = option(False, "continue from the run directory's checkpoint")

    def __post_init__(self):
        if self.window < 1 or self.window % 2 == 0:
            raise ValueError(f"the temporal window must be an odd number of frames, got {self.window}")
        name = "generator_temporal" if self.temporal else "generator_frame"
        self.out = self.out or str(WEIGHTS_DIR / f"{name}.safetensors")
        self.run_dir = self.run_dir or f"runs/{name}"

    @property
    def frames(self) -> int:
        return self.window if self.temporal else 1


OPTIONS = {"analysis": AnalysisOptions, "generator": GeneratorOptions}


def add_arguments(parser: argparse.ArgumentParser, options_class) -> None:
    """One flag per field of ``options_class`` (``--learning-rate`` for ``learning_rate``), same default."""
    for f in dataclasses.fields(options_class):
        flag = "--" + f.name.replace("_", "-")
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        shown = "" if default in (None, "", False) else f" (default {' '.join(default) if isinstance(default, list) else default})"
        kwargs = {"help": f.metadata["help"] + shown, "dest": f.name}
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true", **kwargs)
        elif isinstance(default, list):
            parser.add_argument(flag, nargs="+", metavar="DIR", default=default, **kwargs)
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            parser.add_argument(flag, type=kind, default=default, choices=f.metadata.get("choices"), **kwargs)


def from_arguments(options_class, args: argparse.Namespace):
    """The options a parsed command line asked for."""
    return options_class(**{f.name: getattr(args, f.name) for f in dataclasses.fields(options_class)})
