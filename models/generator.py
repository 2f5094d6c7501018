"""The generative network as a service: consecutive frames in, corrected frames (or a LUT) out.

    from colorgrade.models.generator import load_default
    generator = load_default()                              # shipped per-frame weights; CUDA when present
    graded = generator.grade(frames)                        # list of float32 (H, W, 3) in [0, 1], consecutive
    graded = generator.grade(frames, oversample=2, blend=1) # the paper's two remedies
    graded = generator.grade(frames, distill_lut=True)      # past the paper: no blur, no flicker
    lut = generator.fit_lut(frames)                         # the distilled LUT itself (LUT3D)

Window semantics: the output for frame t depends only on frames t-r .. t+r, where r is the model's
window radius k plus the blend radius b; with LUT distillation the LUT for t is fitted over the
outputs of frames t-d .. t+d, d = DISTILL_RADIUS + b, so t depends on frames within r + d
(``colorgrade.color.distill.reach``). At a clip's ends the window is filled by repeating the edge
frame. Frames are squashed to the working size (144x256 by default), graded, and resized back.
Blending, distillation and the resize back are ``colorgrade.color.distill``'s, the same numpy
functions the daemon's front end finishes frames with.

LUT distillation: over each frame's window, fit a smooth 3D LUT that maps the input frames to the
generator's output at working size, then apply it to the full-resolution frame. Detail comes from
the input (no blur), a LUT cannot invent pixels (no rogue pixels), and neighbouring windows give
nearly the same LUT (no flicker); it works at any resolution and bit depth.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from colorgrade.color.distill import finish
from colorgrade.color.lut import LUT3D, fit_lut
from colorgrade.models import WEIGHTS_DIR
from colorgrade.models.analysis import pick_device, validate_frames
from colorgrade.models.networks import UNetGenerator
from colorgrade.models.weights import load_weights

# The per-frame model is served: on held-out clips it beat the temporal one with and without LUT
# distillation (models/weights/generator_frame.md, docs/decisions.md).
DEFAULT_WEIGHTS = WEIGHTS_DIR / "generator_frame.safetensors"
WORKING_SIZE = (144, 256)


def check_options(oversample: int, blend: int) -> None:
    if oversample not in (1, 2):
        raise ValueError(f"oversample must be 1 or 2, got {oversample}")
    if blend < 0:
        raise ValueError(f"blend must be >= 0, got {blend}")


class Generator:
    """A ``UNetGenerator`` with its window, working size and device, in inference mode."""

    def __init__(self, network: UNetGenerator, working_size=WORKING_SIZE, device=None):
        self.device = pick_device(device)
        self.network = network.to(self.device).eval()
        self.radius = network.frames // 2
        self.working_size = tuple(working_size)

    def working(self, frames: list[np.ndarray], oversample: int = 1) -> torch.Tensor:
        """Float32 (H, W, 3) frames -> (N, 3, h, w) at working size x oversample, on the device."""
        size = (self.working_size[0] * oversample, self.working_size[1] * oversample)
        batch = torch.stack([torch.from_numpy(np.ascontiguousarray(f)).permute(2, 0, 1) for f in frames]).to(self.device)
        return F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)

    @torch.inference_mode()
    def output_at(self, small: torch.Tensor, t: int) -> torch.Tensor:
        """The network's output (3, h, w) for frame ``t`` of working-size frames ``small`` (N, 3, h, w).

        It reads frames t-radius .. t+radius; past either end of ``small`` the edge frame is repeated.
        """
        count, k = len(small), self.radius
        index = [min(max(i, 0), count - 1) for i in range(t - k, t + k + 1)]
        window = small[index].reshape(1, -1, *small.shape[-2:])
        return self.network(window).view(len(index), 3, *small.shape[-2:])[k]

    @torch.inference_mode()
    def working_outputs(self, frames: list[np.ndarray], oversample: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (inputs, outputs) at working size x oversample, (N, 3, h, w), one output per frame."""
        small = self.working(frames, oversample)
        return small, torch.stack([self.output_at(small, t) for t in range(len(frames))])

    def grade(self, frames, oversample: int = 1, blend: int = 0, distill_lut: bool = False) -> list[np.ndarray]:
        """Consecutive float32 (H, W, 3) frames in [0, 1] -> graded frames of the same sizes."""
        frames, inputs, outputs = self._prepare(frames, oversample, blend)
        return [self._graded(frames[t], *finish(inputs, outputs, t, blend, distill_lut, frames[t].shape[:2]))
                for t in range(len(frames))]

    def grade_at(self, frames, t: int, oversample: int = 1, blend: int = 0,
                 distill_lut: bool = False) -> tuple[np.ndarray, LUT3D | None]:
        """Frame ``t`` of ``frames`` graded as ``grade`` would, and its distilled LUT (None without distillation).

        ``frames`` need only hold t's reach (see the module's window semantics), cut at the clip's ends.
        """
        frames, inputs, outputs = self._prepare(frames, oversample, blend)
        if not 0 <= t < len(frames):
            raise ValueError(f"frame {t} is not among the {len(frames)} frames given")
        resized, lut = finish(inputs, outputs, t, blend, distill_lut, frames[t].shape[:2])
        return self._graded(frames[t], resized, lut), lut

    def _prepare(self, frames, oversample: int, blend: int):
        """-> (frames, working-size inputs, outputs), the last two as numpy (N, 3, h, w) for ``finish``."""
        frames = validate_frames(frames)
        check_options(oversample, blend)
        inputs, outputs = self.working_outputs(frames, oversample)
        return frames, inputs.cpu().numpy(), outputs.cpu().numpy()

    @staticmethod
    def _graded(frame: np.ndarray, resized: np.ndarray | None, lut: LUT3D | None) -> np.ndarray:
        return lut.apply(frame) if lut is not None else resized

    def fit_lut(self, frames) -> LUT3D:
        """One LUT distilled from the generator over all the given frames (a shot, or one window)."""
        inputs, outputs = self.working_outputs(validate_frames(frames))
        return fit_lut(inputs.permute(0, 2, 3, 1).cpu().numpy(), outputs.permute(0, 2, 3, 1).cpu().numpy())


def load(path, device=None) -> Generator:
    state, config = load_weights(path)
    network = UNetGenerator(frames=config["frames"], base=config["base"], depth=config["depth"])
    network.load_state_dict(state)
    return Generator(network, config["working_size"], device)


def load_default(device=None) -> Generator:
    """The shipped per-frame weights (``models/weights/generator_frame.safetensors``)."""
    return load(DEFAULT_WEIGHTS, device)


def untrained(frames: int = 5, device=None, seed: int = 0) -> Generator:
    """A randomly initialised generator of the same class (its zero-initialised head returns the input)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = UNetGenerator(frames=frames)
    return Generator(network, WORKING_SIZE, device)
