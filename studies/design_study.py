"""Why the correction stops where it does: corrector designs at an equal budget, and what bounds them.

Issue #10 asks, where a target is not met, for the measured curve (data, budget, design) that says
why. The data and budget curves come from ``scripts/data-scaling`` and the shipped run's log; this
module measures the design side, on the validation photos (the test split stays for the shipped
weights' card):

1. **Designs at an equal step budget**, each trained here on the correction task alone (the head
   reads colour statistics only, so no CNN is needed to compare correctors):
   - ``statistics``: the shipped corrector's design (``colour_statistics`` through an MLP);
   - ``histogram``: plus a fine log-chroma histogram (64 x 64 bins of 0.05, of the frame and of its
     local deviations, as FFCC reads it) through a translation-equivariant conv net with a
     soft-argmax, the colour-constancy design that learned white balance from little data;
   - ``ensemble``: K statistics correctors, each trained for 1/K of the steps, their CDLs averaged;
   - test-time augmentation (``+ tta``): the CDL averaged over the whole frame and four 80 % crops.
2. **The bounds**: the same corrector scored on training photos (if it did as well on them as on
   held-out ones, it is not short of data but of information), and an oracle gate (the head applied
   only where it helps: the best any confidence could do with that head).
3. **What would meet the targets**: ``reference``, the statistics corrector given also the colour
   statistics of a clean, differently framed view of the same scene (in a product: one graded frame
   of the shot). If that closes most of the gap to the best CDL, what one frame lacks is the scene's
   intended colour, not network capacity or training. ``--video`` measures the same on the real
   clips, each clip's clean first frame as the reference (a graded hero frame).
4. **Why**: the spread of well-graded photos' own white (grey world, white patch, grey edge, log
   chroma in linear light) against the spread of the casts the evaluation applies. Where scenes
   differ more among themselves than the casts do, one frame cannot tell a warm scene from a warm
   grade.

    python -m studies.design_study --steps 600 --out runs/design
    python -m studies.design_study --video --steps 600
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from colorgrade.color import block_means
from colorgrade.models import DEFAULT_CLIPS, DEFAULT_PHOTOS, metrics
from colorgrade.models.differentiable_colour import apply_cdl, srgb_to_linear, thumbnail
from colorgrade.models.data import PhotoSet, list_photos, split_photos, to_numpy, to_tensor
from colorgrade.models.detunes import MIXTURE_ERRORS, MixtureSampler
from colorgrade.evaluation.video import read_clips
from colorgrade.evaluation.video import VIDEO_CONDITIONS, drifting
from colorgrade.models.evaluate import EVAL_SIZE, FAMILIES, family_inputs, frame_delta_e
from colorgrade.models.networks import (STATISTICS_SIZE, cdl_from_head, colour_statistics, grey_edges,
                                       log_chroma_histogram, log_ratios, shrink_cdl)
from colorgrade.models.train_analysis import correction_losses, learning_rate_at, with_mixtures

THUMBNAIL = 96
HISTOGRAM_BINS = 64
HISTOGRAM_RANGE = 1.6       # log-chroma from -1.6 to 1.6: bins of 0.05 (a 5 % gain between channels)


def chroma_histograms(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) encoded -> (B, 2, BINS, BINS): square roots of luminance-weighted log-chroma histograms
    (log G/R against log G/B of linear light) of the frame and of its local deviations (edges), clipped
    pixels left out."""
    images = F.adaptive_avg_pool2d(images, 64) if images.shape[-1] > 64 else images
    linear = srgb_to_linear(images)
    local_mean = F.avg_pool2d(F.pad(linear, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    unclipped = (linear.flatten(2).amax(1) < 0.98).float()
    histograms = []
    for plane in (linear, (linear - local_mean).abs()):
        pixels = plane.flatten(2).clamp_min(1e-4)
        histograms.append(log_chroma_histogram(pixels, pixels.sum(1) * unclipped, HISTOGRAM_BINS, HISTOGRAM_RANGE))
    return torch.stack(histograms, 1).view(-1, 2, HISTOGRAM_BINS, HISTOGRAM_BINS).sqrt()


class HistogramEstimator(nn.Module):
    """Log-chroma histograms -> the soft-argmax position of a learned response (an illuminant estimate)
    and the response's pooled features. Convolution makes it equivariant to a cast (a cast shifts the
    histogram); the learned bias map is the prior over where whites of graded photos lie."""

    def __init__(self, channels: int = 16):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(2, channels, 5, padding=2), nn.GELU(),
                                  nn.Conv2d(channels, channels, 5, padding=2), nn.GELU(),
                                  nn.Conv2d(channels, channels, 5, padding=4, dilation=2), nn.GELU())
        self.response = nn.Conv2d(channels, 1, 5, padding=2)
        self.prior = nn.Parameter(torch.zeros(1, 1, HISTOGRAM_BINS, HISTOGRAM_BINS))
        centres = ((torch.arange(HISTOGRAM_BINS) + 0.5) / HISTOGRAM_BINS * 2 - 1) * HISTOGRAM_RANGE
        self.register_buffer("u", centres.view(-1, 1).expand(-1, HISTOGRAM_BINS).reshape(1, -1))
        self.register_buffer("v", centres.view(1, -1).expand(HISTOGRAM_BINS, -1).reshape(1, -1))
        self.size = 2 + channels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.conv(chroma_histograms(images))
        weights = (self.response(features) + self.prior).flatten(1).softmax(1)
        return torch.cat([(weights * self.u).sum(1, keepdim=True), (weights * self.v).sum(1, keepdim=True),
                          features.mean((2, 3))], dim=1)


class Corrector(nn.Module):
    """Colour statistics (and optionally the histogram estimator, or a reference view's statistics) ->
    raw CDL (B, 10), confidence logit (B,)."""

    def __init__(self, histogram: bool = False, reference: bool = False, hidden: int = 256):
        super().__init__()
        self.histogram = HistogramEstimator() if histogram else None
        self.reference = reference
        size = STATISTICS_SIZE * (2 if reference else 1) + (self.histogram.size if histogram else 0)
        self.body = nn.Sequential(nn.Linear(size, hidden), nn.LayerNorm(hidden), nn.GELU(),
                                  nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.GELU())
        self.correct, self.confidence = nn.Linear(hidden, 10), nn.Linear(hidden, 1)
        nn.init.zeros_(self.correct.weight)
        nn.init.zeros_(self.correct.bias)

    def forward(self, thumbnails: torch.Tensor, references: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        features = colour_statistics(thumbnails)
        if self.reference:
            features = torch.cat([features, colour_statistics(references)], dim=1)
        if self.histogram is not None:
            features = torch.cat([features, self.histogram(thumbnails)], dim=1)
        hidden = self.body(features)
        return self.correct(hidden), self.confidence(hidden)[:, 0]


def train_corrector(photos: PhotoSet, steps: int, histogram: bool = False, reference: bool = False,
                    batch: int = 128, seed: int = 0, learning_rate: float = 2e-3, clean_share: float = 0.3,
                    noise: float = 0.01, unrelated_share: float = 0.0) -> Corrector:
    """The analysis trainer's correction half alone: mixtures (``clean_share`` clean), the CDL applied and
    scored in CIE Lab, the confidence trained on the share of error removed; cosine schedule. With
    ``reference``, each crop comes with another clean crop of the same photo, or for ``unrelated_share``
    of them a crop of another photo (negatives: the corrector learns not to carry another scene's colours
    over, and its confidence learns what such a reference is worth)."""
    torch.manual_seed(seed)
    corrector = Corrector(histogram, reference)
    optimiser = torch.optim.AdamW(corrector.parameters(), lr=learning_rate, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    sampler = MixtureSampler(generator)
    for step in range(steps):
        for group in optimiser.param_groups:
            group["lr"] = learning_rate_at(learning_rate, step, step / steps)
        which = torch.randint(len(photos), (batch,), generator=generator)
        clean = photos.random_crops(batch, (THUMBNAIL, THUMBNAIL), generator, which=which)
        references = photos.random_crops(batch, (THUMBNAIL, THUMBNAIL), generator,
                                         which=negatives(which, len(photos), unrelated_share, generator)) \
            if reference else None
        mixed = with_mixtures(clean, sampler, generator, clean_share)
        grain = torch.randn(clean.shape, generator=generator) * noise
        inputs, clean = (mixed + grain).clamp(0, 1), (clean + grain).clamp(0, 1)
        raw, confidence = corrector(inputs, references)
        # The loss reads a 32 px copy: a CDL is global, and its fit needs the colours, not the detail.
        lab, confidence_loss = correction_losses(F.avg_pool2d(inputs, 3), F.avg_pool2d(clean, 3), raw, confidence)
        loss = lab + confidence_loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return corrector.eval()


def negatives(which: torch.Tensor, count: int, share: float, generator: torch.Generator) -> torch.Tensor:
    """The photos the references come from: ``which``, with ``share`` of them swapped for another photo
    (shifted by 1..count-1, so never the crop's own). No draws when ``share`` is 0, so the study's
    published runs replay unchanged."""
    if share <= 0:
        return which
    unrelated = torch.rand(len(which), generator=generator) < share
    others = (which + torch.randint(1, max(2, count), (len(which),), generator=generator)) % count
    return torch.where(unrelated, others, which)


def reference_view(clean: torch.Tensor) -> torch.Tensor:
    """The evaluation's reference for a frame: the clean photo's top-left 60 % (a differently framed view)."""
    height, width = clean.shape[-2:]
    return thumbnail(clean[..., :int(height * 0.6), :int(width * 0.6)], THUMBNAIL)


@torch.no_grad()
def predict(correctors: list[Corrector], images: torch.Tensor, tta: bool = False,
            references: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(head CDLs (B, 10), confidence (B,)) averaged over the ensemble and, with ``tta``, over the whole
    frame and its four 80 % corner crops; ``references``: the reference views' thumbnails, for correctors
    that read one."""
    views = [images]
    if tta:
        height, width = images.shape[-2:]
        h, w = int(height * 0.8), int(width * 0.8)
        views += [images[..., y:y + h, x:x + w] for y in (0, height - h) for x in (0, width - w)]
    heads, confidences = [], []
    for corrector in correctors:
        for view in views:
            raw, confidence = corrector(thumbnail(view, THUMBNAIL), references)
            heads.append(cdl_from_head(raw))
            confidences.append(torch.sigmoid(confidence))
    return torch.stack(heads).mean(0), torch.stack(confidences).mean(0)


@torch.no_grad()
def score(correctors: list[Corrector], photos: PhotoSet, tta: bool = False, seed: int = 0) -> dict:
    """Per family: mean CIEDE2000 uncorrected, with the full head, served (shrunk by confidence) and with
    the oracle gate (the head where it helps, else nothing)."""
    generator = torch.Generator().manual_seed(seed)
    report = {}
    for name, family in FAMILIES.items():
        scores = {"none": [], "head": [], "served": [], "oracle gate": []}
        for start in range(0, len(photos), 64):
            clean = photos.photos(torch.arange(start, min(len(photos), start + 64)))
            inputs = family_inputs(clean, family, generator)
            references = reference_view(clean) if correctors[0].reference else None
            head, confidence = predict(correctors, inputs, tta, references)
            none, full = frame_delta_e(inputs, clean), frame_delta_e(apply_cdl(inputs, head), clean)
            scores["none"].append(none)
            scores["head"].append(full)
            scores["served"].append(frame_delta_e(apply_cdl(inputs, shrink_cdl(head, confidence)), clean))
            scores["oracle gate"].append(np.minimum(none, full))
        report[name] = {method: round(float(np.concatenate(values).mean()), 3) for method, values in scores.items()}
    return report


@torch.no_grad()
def score_clips(correctors: dict[str, Corrector], clips: dict[str, list[np.ndarray]], seed: int = 0) -> dict:
    """The reference design on real footage: each clip under each ``VIDEO_CONDITIONS`` drift (as
    ``colorgrade eval video`` draws them), one CDL per clip (the mean of its frames' heads, as
    ``analyze --shots`` makes one per shot), the reference being the clean first frame (a graded hero
    frame). -> condition -> method -> mean CIEDE2000 over clips."""
    generator = torch.Generator().manual_seed(seed)
    report = {}
    for condition, family in VIDEO_CONDITIONS.items():
        scores = {"none": [], **{name: [] for name in correctors}}
        for clean in clips.values():
            inputs = torch.cat([to_tensor(frame) for frame in drifting(clean, family, generator)]).float() / 255
            target = np.stack([block_means(frame, 2) for frame in clean])
            reference = thumbnail(to_tensor(clean[0]).float() / 255, THUMBNAIL).expand(len(inputs), -1, -1, -1)
            outputs = {"none": inputs}
            for name, corrector in correctors.items():
                head, _ = predict([corrector], inputs, references=reference if corrector.reference else None)
                outputs[name] = apply_cdl(inputs, head.mean(0, keepdim=True).expand(len(inputs), -1))
            for name, output in outputs.items():
                graded = np.rint(to_numpy(output) * 255).astype(np.uint8)
                pooled = np.stack([block_means(frame, 2) for frame in graded])
                scores[name].append(float(metrics.ciede2000(pooled, target).mean()))
        report[condition] = {name: round(float(np.mean(values)), 3) for name, values in scores.items()}
    return report


def white_spread(photos: PhotoSet) -> dict:
    """Spread (standard deviation and median absolute deviation) of well-graded photos' own white in
    log chroma (log R/G, log B/G of linear light), by three estimators, and of the casts the
    evaluation's white-balance family applies."""
    linear = srgb_to_linear(photos.photos(torch.arange(len(photos))))
    whites = {"grey world": log_ratios(linear.mean((2, 3))),
              "white patch": log_ratios(torch.quantile(linear.flatten(2), 0.99, dim=2)),
              "grey edge": log_ratios(grey_edges(linear))}
    # The linear-light white-balance error: gains (1 + m, 1, 1 - m), |m| uniform in [0.2, 1] of its range.
    limit = MIXTURE_ERRORS["white_balance_linear"][1]
    m = torch.linspace(0.2, 1, 1001) * limit
    m = torch.cat([m, -m])
    whites["white-balance casts"] = torch.stack([torch.log1p(m), torch.log1p(-m)], 1)
    return {name: {"std": [round(float(s), 3) for s in v.std(0)],
                   "median_absolute_deviation": [round(float(s), 3) for s in (v - v.median(0).values).abs().median(0).values]}
            for name, v in whites.items()}


def run(photo_folders, steps: int, ensemble: int, out: Path) -> dict:
    split = split_photos(list_photos(photo_folders))
    train = PhotoSet(split["train"], size=(2 * THUMBNAIL, 2 * THUMBNAIL))
    validation = PhotoSet(split["validation"], size=EVAL_SIZE)
    training_sample = PhotoSet(split["train"][:len(split["validation"])], size=EVAL_SIZE)
    results = {"steps": steps, "validation_photos": len(validation), "training_photos": len(train),
               "rows": {}, "white_spread": white_spread(train)}

    def measure(name, train_correctors):
        started = time.monotonic()
        correctors = train_correctors()
        minutes = round((time.monotonic() - started) / 60, 1)
        for tta in (False, True):
            label = name + (" + tta" if tta else "")
            results["rows"][label] = {"train_minutes": minutes, "validation": score(correctors, validation, tta)}
            print(label, json.dumps(results["rows"][label]), flush=True)
        return correctors

    statistics = measure("statistics", lambda: [train_corrector(train, steps)])
    results["rows"]["statistics"]["training photos"] = score(statistics, training_sample)
    measure("histogram", lambda: [train_corrector(train, steps, histogram=True)])
    measure(f"ensemble of {ensemble}",
            lambda: [train_corrector(train, steps // ensemble, seed=1 + i) for i in range(ensemble)])
    measure("reference (what would meet it)", lambda: [train_corrector(train, steps, reference=True)])
    measure("statistics, 4x steps", lambda: [train_corrector(train, 4 * steps)])
    out.mkdir(parents=True, exist_ok=True)
    (out / "design.json").write_text(json.dumps(results, indent=1))
    (out / "design.md").write_text(format_report(results))
    return results


def run_video(photo_folders, clip_paths, steps: int, frames: int, out: Path) -> dict:
    """The statistics and reference designs (trained as ``run`` trains them) on the real clips."""
    train = PhotoSet(split_photos(list_photos(photo_folders))["train"], size=(2 * THUMBNAIL, 2 * THUMBNAIL))
    clips = read_clips(clip_paths, frames)
    correctors = {"statistics": train_corrector(train, steps),
                  "reference: the clean first frame": train_corrector(train, steps, reference=True)}
    report = {"steps": steps, "clips": {name: len(f) for name, f in clips.items()},
              "conditions": score_clips(correctors, clips)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "design_video.json").write_text(json.dumps(report, indent=1))
    return report


def format_video(report: dict) -> str:
    methods = list(next(iter(report["conditions"].values())))
    lines = [f"On {len(report['clips'])} real clips ({sum(report['clips'].values())} frames), drifting errors, one CDL "
             f"per clip, correctors of {report['steps']} steps: mean CIEDE2000 to the clean clip",
             f"{'condition':30}" + "".join(f"{m[:34]:>36}" for m in methods)]
    for condition, row in report["conditions"].items():
        lines.append(f"{condition:30}" + "".join(f"{row[m]:>36.2f}" for m in methods))
    return "\n".join(lines) + "\n"


def format_report(results: dict) -> str:
    families = list(next(iter(results["rows"].values()))["validation"])
    lines = [f"Corrector designs, {results['steps']} steps of 128 crops each unless named, on "
             f"{results['validation_photos']} validation photos: mean CIEDE2000, head (full) / served",
             f"{'design':38}{'minutes':>8}" + "".join(f"{f[:17]:>19}" for f in families)]
    for name, row in results["rows"].items():
        cells = [f"{row['validation'][f]['head']:.2f} / {row['validation'][f]['served']:.2f}" for f in families]
        lines.append(f"{name:38}{row['train_minutes']:>8}" + "".join(f"{c:>19}" for c in cells))
    first = next(iter(results["rows"].values()))
    lines.append(f"{'uncorrected':46}" + "".join(f"{first['validation'][f]['none']:>19.2f}" for f in families))
    lines.append(f"{'oracle gate (statistics)':46}" + "".join(f"{first['validation'][f]['oracle gate']:>19.2f}" for f in families))
    if "training photos" in first:
        training = first["training photos"]
        lines.append(f"{'statistics on training photos':46}"
                     + "".join(f"{training[f]['head']:.2f} / {training[f]['served']:.2f}".rjust(19) for f in families))
    lines += ["", "Spread of the white (log R/G, log B/G of linear light): standard deviation; median absolute deviation"]
    for name, spread in results["white_spread"].items():
        lines.append(f"  {name:22} {spread['std'][0]:.3f} {spread['std'][1]:.3f};  "
                     f"{spread['median_absolute_deviation'][0]:.3f} {spread['median_absolute_deviation'][1]:.3f}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.design_study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", nargs="+", default=DEFAULT_PHOTOS, metavar="DIR", help="photo folders")
    parser.add_argument("--steps", type=int, default=600, help="the equal step budget of each design")
    parser.add_argument("--ensemble", type=int, default=4, help="members of the ensemble (each gets steps / K)")
    parser.add_argument("--out", default="runs/design", help="folder for design.json and design.md")
    parser.add_argument("--video", nargs="*", metavar="CLIP",
                        help="instead: the statistics and reference designs on real clips (default: the four "
                             "shared clips), the reference being each clip's clean first frame")
    parser.add_argument("--frames", type=int, default=48, help="with --video: the first N frames of each clip")
    args = parser.parse_args(argv)
    if args.video is not None:
        print(format_video(run_video(args.photos, args.video or DEFAULT_CLIPS, args.steps, args.frames, Path(args.out))))
    else:
        print(format_report(run(args.photos, args.steps, args.ensemble, Path(args.out))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
