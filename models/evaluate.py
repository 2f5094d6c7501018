"""Evaluation on held-out photos (the test split: never seen in training).

Analysis network:
1. the paper's Table 1 protocol: single catalogue detunes classified exact / nearest neighbour
   (same kind, adjacent level) / other, on the held-out photos and, as the paper measured it (a
   random split of detunes, so its test images were detunes of photos it trained on), on
   training photos;
2. corrections per error family (white balance, exposure, tone, saturation, 2-3-error mixtures
   incl. linear-light white balance and exposure, and clean frames): CIEDE2000 to the clean frame
   (mean, median, share of frames made better than leaving them alone) for no correction, grey
   world and white patch (both in linear light), the best single CDL fitted knowing the answer,
   the correction head in full, and the served correction (shrunk by the network's confidence).

Photos are squashed to 320x320 (as the network's thumbnail is squashed); CIEDE2000 is measured on
2x2 means of the results (160x160): a colour correction is global, and that keeps a full evaluation
of a few hundred photos within minutes on a CPU. Every crop, error and magnitude comes from a fixed
seed, so the numbers are reproducible.
"""
from __future__ import annotations


import numpy as np
import torch
import torch.nn.functional as F

from colorgrade.models import metrics
from colorgrade.models.analysis import Analyzer
from colorgrade.models.differentiable_colour import apply_cdl, linear_to_srgb, srgb_to_lab, srgb_to_linear, thumbnail
from colorgrade.models.data import PhotoSet, to_numpy
from colorgrade.models.detunes import LABELS, MIXTURE_ERRORS, MixtureSampler, apply_labels, are_neighbours
from colorgrade.models.networks import cdl_from_head

EVAL_SIZE = (320, 320)
# Training photos the paper's protocol (detunes of photos the network trained on) is measured on.
PAPER_PROTOCOL_PHOTOS = 100
FAMILIES = {
    "white balance": ("warm_cool", "green_magenta", "white_balance_linear"),
    "exposure": ("exposure_linear", "white_point"),
    "tone (contrast, lift, gamma)": ("contrast", "black_point", "gamma", "s_curve"),
    "saturation": ("saturation",),
    "mixtures (2-3 errors)": None,
    "clean": (),
}
METHODS = ("none", "grey world", "white patch", "best CDL (oracle)", "head (full)", "served")


def frame_delta_e(outputs: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) pairs -> (B,) mean CIEDE2000 per frame, on 2x2 means."""
    return metrics.ciede2000(to_numpy(F.avg_pool2d(outputs, 2)), to_numpy(F.avg_pool2d(targets, 2))).mean(axis=(1, 2))


def grey_world(images: torch.Tensor) -> torch.Tensor:
    """Channel gains in linear light that make the frame's mean grey (green kept)."""
    linear = srgb_to_linear(images)
    means = linear.mean((2, 3)).clamp_min(1e-4)
    return linear_to_srgb(linear * (means[:, 1:2] / means)[..., None, None])


def white_patch(images: torch.Tensor) -> torch.Tensor:
    """Channel gains in linear light that make the frame's brightest (99th percentile) colour white (green kept)."""
    linear = srgb_to_linear(images)
    top = torch.quantile(linear.flatten(2), 0.99, dim=2).clamp_min(1e-4)
    return linear_to_srgb(linear * (top[:, 1:2] / top)[..., None, None])


def best_cdl(inputs: torch.Tensor, targets: torch.Tensor, steps: int = 100, side: int = 32) -> torch.Tensor:
    """The single CDL per frame that best restores it, fitted knowing the answer (Adam on CIE Lab, on a
    ``side``-px thumbnail: a CDL is global, and its fit needs the colours, not the detail)."""
    small_in, small_target = thumbnail(inputs, side), srgb_to_lab(thumbnail(targets, side))
    raw = torch.zeros(len(inputs), 10, requires_grad=True)
    optimiser = torch.optim.Adam([raw], lr=0.08)
    for _ in range(steps):
        distance = torch.sqrt(((srgb_to_lab(apply_cdl(small_in, cdl_from_head(raw))) - small_target) ** 2).sum(1)
                              + 1e-6).mean()
        optimiser.zero_grad()
        distance.backward()
        optimiser.step()
    return apply_cdl(inputs, cdl_from_head(raw.detach()))


def family_errors(count: int, family, generator: torch.Generator) -> tuple[torch.Tensor, list[int]]:
    """Magnitudes (count, E) and order of one family's errors: a 2-3 error mixture (``None``), one error of
    the family's kinds per row, or none at all (``()``)."""
    names = MixtureSampler.names
    if family is None:
        return MixtureSampler(generator, min_errors=2, max_errors=3).sample(count)
    magnitudes = torch.zeros(count, len(names))
    for row in range(count if family else 0):
        name = family[int(torch.randint(len(family), (1,), generator=generator))]
        limit = MIXTURE_ERRORS[name][1]
        value = (float(torch.rand(1, generator=generator)) * 2 - 1) * limit
        magnitudes[row, names.index(name)] = np.sign(value) * max(abs(value), 0.2 * limit)
    return magnitudes, list(range(len(names)))


def family_inputs(clean: torch.Tensor, family, generator: torch.Generator) -> torch.Tensor:
    """Clean photos (B, 3, H, W) with one ``FAMILIES`` entry's errors applied (seeded by ``generator``)."""
    if family == ():
        return clean
    return MixtureSampler.apply(clean, *family_errors(len(clean), family, generator))


def _summary(values: np.ndarray, none: np.ndarray | None) -> dict:
    summary = {"mean": round(float(values.mean()), 3), "median": round(float(np.median(values)), 3)}
    if none is not None:
        summary["better"] = round(float((values < none).mean()), 3)
    return summary


def evaluate_analysis(analyzer: Analyzer, photos: PhotoSet, training_photos: PhotoSet | None = None,
                      seed: int = 0, per_family: int = 1, batch: int = 32) -> dict:
    """The report described in the module's docstring; ``per_family`` frames per photo and family."""
    generator = torch.Generator().manual_seed(seed)
    report = {"photos": len(photos), "single_detunes": single_detunes(analyzer, photos, generator)}
    if training_photos is not None:
        report["single_detunes_training_photos"] = single_detunes(analyzer, training_photos, generator)
    families = {}
    for family_name, family in FAMILIES.items():
        scores = {method: [] for method in METHODS}
        confidence = []
        count = len(photos) * per_family
        for start in range(0, count, batch):
            which = torch.arange(start, min(count, start + batch)) % len(photos)
            clean = photos.photos(which)
            inputs = family_inputs(clean, family, generator)
            with torch.no_grad():
                prediction = analyzer.predict(thumbnail(inputs.to(analyzer.device), analyzer.thumbnail_size))
            outputs = {"none": inputs, "grey world": grey_world(inputs), "white patch": white_patch(inputs),
                       "best CDL (oracle)": best_cdl(inputs, clean),
                       "head (full)": apply_cdl(inputs, prediction.head_cdls.cpu()),
                       "served": apply_cdl(inputs, prediction.cdls.cpu())}
            for method, output in outputs.items():
                scores[method].append(frame_delta_e(output.detach(), clean))
            confidence.append(prediction.confidence.cpu().numpy())
        none = np.concatenate(scores["none"])
        families[family_name] = {
            "frames": count, "mean_confidence": round(float(np.concatenate(confidence).mean()), 3),
            "methods": {method: _summary(np.concatenate(values), None if family == () or method == "none" else none)
                        for method, values in scores.items()}}
    report["families"] = families
    return report


@torch.no_grad()
def single_detunes(analyzer: Analyzer, photos: PhotoSet, generator: torch.Generator, batch: int = 4) -> dict:
    """Every catalogue label on one squashed copy of each photo."""
    exact = neighbour = total = 0
    confusions: dict[str, int] = {}
    for start in range(0, len(photos), batch):
        part = photos.photos(torch.arange(start, min(len(photos), start + batch)))
        labels = torch.arange(len(LABELS)).repeat(len(part))
        images = apply_labels(part.repeat_interleave(len(LABELS), dim=0), labels)
        predicted = analyzer.predict(thumbnail(images.to(analyzer.device), analyzer.thumbnail_size)).probabilities
        for truth, guess in zip(labels.tolist(), predicted.argmax(1).tolist()):
            total += 1
            if truth == guess:
                exact += 1
            elif are_neighbours(LABELS[truth], LABELS[guess]):
                neighbour += 1
            else:
                key = f"{LABELS[truth]}->{LABELS[guess]}"
                confusions[key] = confusions.get(key, 0) + 1
    worst = sorted(confusions.items(), key=lambda kv: -kv[1])[:5]
    return {"photos": len(photos), "frames": total, "exact": round(exact / total, 4),
            "nearest_neighbour": round(neighbour / total, 4), "total": round((exact + neighbour) / total, 4),
            "worst_confusions": dict(worst)}


def format_analysis_report(report: dict) -> str:
    pct = lambda x: f"{100 * x:6.2f} %"  # noqa: E731
    single = report["single_detunes"]
    lines = [f"Analysis network on {report['photos']} held-out photos", "",
             f"1. Single detunes ({single['frames']} frames)        held-out photos   paper (Table 1)",
             f"   exact                              {pct(single['exact'])}          98.3 %",
             f"   nearest neighbour                  {pct(single['nearest_neighbour'])}           1.6 %",
             f"   total                              {pct(single['total'])}          99.9 %"]
    training = report.get("single_detunes_training_photos")
    if training:
        lines.append(f"   on {training['photos']} training photos (the paper's protocol, in effect): exact "
                     f"{pct(training['exact'])}, total {pct(training['total'])}")
    if single["worst_confusions"]:
        lines.append("   most frequent other errors: " + ", ".join(f"{k} ({v})" for k, v in single["worst_confusions"].items()))
    lines += ["", "2. Corrections, CIEDE2000 to the clean frame: mean / median / share better than no correction"]
    header = f"   {'':<30}" + "".join(f"{m:>19}" for m in METHODS)
    lines.append(header)
    for name, family in report["families"].items():
        cells = []
        for method in METHODS:
            m = family["methods"][method]
            better = f" {100 * m['better']:3.0f}%" if "better" in m else "     "
            cells.append(f"{m['mean']:6.2f} {m['median']:5.2f}{better}")
        lines.append(f"   {name + ' (' + str(family['frames']) + ')':<30}" + "".join(f"{c:>19}" for c in cells))
    lines.append("   mean confidence: " + ", ".join(f"{name} {f['mean_confidence']:.2f}"
                                                    for name, f in report["families"].items()))
    return "\n".join(lines)


# --- generative network ------------------------------------------------------------------------
def format_generator_report(report: dict) -> str:
    lines = [f"Generative network on {report['clips']} synthetic clips from held-out photos "
             f"({report['frames_per_clip']} frames, {report['size'][1]}x{report['size'][0]}; medians over clips)", "",
             f"{'':<28}{'PSNR':>7}{'ΔE00':>7}{'ΔE00 mix':>9}{'same 8-bit':>11}{'sharpness':>10}{'flicker':>8}"]
    for name, row in report["variants"].items():
        mixtures = row["ciede2000_mixtures"]
        lines.append(f"{name:<28}{row['psnr']:7.2f}{row['ciede2000']:7.2f}{(mixtures or 0):9.2f}"
                     f"{100 * row['identical_8bit']:10.1f}%{row['sharpness']:10.3f}{row['flicker']:8.2f}")
    return "\n".join(lines)


def evaluate_on_test_split(weights, photo_folders, device=None) -> dict:
    """The analysis weights on the test split of ``photo_folders``, and on training photos (the paper's protocol)."""
    from colorgrade.models.analysis import load
    from colorgrade.models.data import list_photos, split_photos

    split = split_photos(list_photos(photo_folders))
    return evaluate_analysis(load(weights, device), PhotoSet(split["test"], size=EVAL_SIZE),
                             PhotoSet(split["train"][:PAPER_PROTOCOL_PHOTOS], size=EVAL_SIZE))
