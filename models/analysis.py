"""The analysis network as a service to the rest of the product: frames in, corrections out.

    from colorgrade.models.analysis import load_default
    analyzer = load_default()                 # CUDA when present, else CPU; load_default("cpu") forces
    result = analyzer.analyze([frame])[0]     # frame: float32 (H, W, 3) in [0, 1], any size
    result.cdl, result.confidence             # the correction to apply, and how sure the network is of it
    result.label, result.scores               # most likely label, label -> probability

``cdl`` is the correction head's CDL shrunk toward the identity by the network's ``confidence``
(the probability that the full correction makes the frame better): a frame the network is unsure
of is left nearly alone. ``head_cdl`` is the full correction, ``weighted_cdl`` the paper's
suggestion: the classes' correcting CDLs averaged with the classifier's probabilities.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from colorgrade.color import CDL, analysis_thumbnail, to_float_rgb
from colorgrade.models.differentiable_colour import thumbnail
from colorgrade.models.detunes import LABELS, correction_matrix
from colorgrade.models.networks import AnalysisNet, cdl_from_head, shrink_cdl
from colorgrade.models import WEIGHTS_DIR
from colorgrade.models.weights import load_weights

DEFAULT_WEIGHTS = WEIGHTS_DIR / "analysis.safetensors"
DEFAULT_THUMBNAIL = 96


@dataclass(frozen=True)
class AnalysisResult:
    cdl: CDL                  # the correction to apply: head_cdl shrunk toward identity by (1 - confidence)
    confidence: float         # probability that head_cdl makes this frame better, in [0, 1]
    head_cdl: CDL             # the correction head's full CDL
    weighted_cdl: CDL         # probability-weighted average of the classes' correcting CDLs
    label: str                # most likely catalogue label
    scores: dict[str, float]  # every label -> probability


class Prediction(NamedTuple):
    probabilities: torch.Tensor   # (B, 25)
    cdls: torch.Tensor            # (B, 10) served: head CDLs shrunk by confidence
    confidence: torch.Tensor      # (B,) in [0, 1]
    head_cdls: torch.Tensor       # (B, 10)
    weighted_cdls: torch.Tensor   # (B, 10)


def pick_device(device=None) -> torch.device:
    """The given device, else CUDA when present, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def validate_frames(frames) -> list[np.ndarray]:
    """A non-empty list of finite float (H, W, 3) arrays; raises ValueError naming the bad frame."""
    if isinstance(frames, np.ndarray) and frames.ndim == 3:
        raise ValueError("pass a list of frames, not a single (H, W, 3) array")
    frames = list(frames)
    if not frames:
        raise ValueError("no frames given")
    checked = []
    for i, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 1 or frame.shape[1] < 1:
            raise ValueError(f"frame {i}: expected (height, width, 3) RGB, got shape {frame.shape}")
        if frame.dtype.kind != "f":
            raise ValueError(f"frame {i}: expected float values in [0, 1], got {frame.dtype}")
        if not np.isfinite(frame).all():
            raise ValueError(f"frame {i}: holds NaN or Inf")
        checked.append(frame.astype(np.float32, copy=False))
    return checked


class Analyzer:
    """An ``AnalysisNet`` with its thumbnail size, on a device, in inference mode."""

    def __init__(self, network: AnalysisNet, thumbnail_size: int = DEFAULT_THUMBNAIL, device=None):
        self.device = pick_device(device)
        self.network = network.to(self.device).eval()
        self.thumbnail_size = thumbnail_size
        self._corrections = correction_matrix(self.device)

    def thumbnails(self, frames: list[np.ndarray]) -> torch.Tensor:
        """Frames of any sizes -> (B, 3, S, S) squashed thumbnails on the device.

        A frame is float (H, W, 3) in [0, 1], or uint8/uint16 codes (what the daemon receives):
        codes are block-averaged in integers, so a full frame is never converted to floats.
        """
        return torch.cat([self._thumbnail(frame) for frame in frames])

    def _thumbnail(self, frame: np.ndarray) -> torch.Tensor:
        # The block step in numpy, on the frame as it lies in memory (H, W, 3): cheaper than torch's
        # pooling over a channels-last view; ``colour.thumbnail`` then only has the rest to do.
        frame = analysis_thumbnail(frame, self.thumbnail_size)
        if frame.dtype.kind == "u":
            frame = to_float_rgb(frame)[0]
        tensor = torch.from_numpy(np.ascontiguousarray(frame, dtype=np.float32)).permute(2, 0, 1)[None]
        return thumbnail(tensor.to(self.device), self.thumbnail_size)

    @torch.inference_mode()
    def predict(self, thumbnails: torch.Tensor) -> Prediction:
        """(B, 3, S, S) thumbnails -> every estimate the network makes for them."""
        logits, raw, confidence_logit = self.network(thumbnails.clamp(0, 1))
        probabilities = logits.softmax(dim=1)
        head, confidence = cdl_from_head(raw), torch.sigmoid(confidence_logit)
        return Prediction(probabilities, shrink_cdl(head, confidence), confidence, head,
                          probabilities @ self._corrections)

    def analyze(self, frames) -> list[AnalysisResult]:
        frames = validate_frames(frames)
        p = Prediction(*(t.cpu().numpy() for t in self.predict(self.thumbnails(frames))))
        return [AnalysisResult(cdl=CDL.from_vector(p.cdls[i]), confidence=float(p.confidence[i]),
                               head_cdl=CDL.from_vector(p.head_cdls[i]), weighted_cdl=CDL.from_vector(p.weighted_cdls[i]),
                               label=LABELS[int(p.probabilities[i].argmax())],
                               scores={label: float(v) for label, v in zip(LABELS, p.probabilities[i])})
                for i in range(len(frames))]


def load(path, device=None) -> Analyzer:
    state, config = load_weights(path)
    network = AnalysisNet(width=config["width"], dropout=config["dropout"])
    network.load_state_dict(state)
    return Analyzer(network, config["thumbnail"], device)


def load_default(device=None) -> Analyzer:
    """The shipped weights (``models/weights/analysis.safetensors``)."""
    return load(DEFAULT_WEIGHTS, device)


def untrained(device=None, seed: int = 0) -> Analyzer:
    """A randomly initialised analyser of the same class, for plumbing tests and development."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = AnalysisNet()
    return Analyzer(network, DEFAULT_THUMBNAIL, device)
