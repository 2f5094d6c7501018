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

from colorgrade.color import block_means
from colorgrade.models import WEIGHTS_DIR, metrics
from colorgrade.models.analysis import Analyzer
from colorgrade.models.differentiable_colour import apply_cdl, linear_to_srgb, srgb_to_lab, srgb_to_linear, thumbnail
from colorgrade.models.data import PhotoSet, to_numpy, to_tensor
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


def _family_errors(count: int, family, generator: torch.Generator) -> tuple[torch.Tensor, list[int]]:
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
    return MixtureSampler.apply(clean, *_family_errors(len(clean), family, generator))


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
# Clips at twice the generator's working size, so its resize blur shows up in sharpness and what
# LUT distillation buys is visible.
CLIP_SIZE = (288, 512)
CLIP_FRAMES = 10


def cdl_path(analyzer: Analyzer, frames: list[np.ndarray], radius: int = 2) -> list[np.ndarray]:
    """The daemon's analysis path: per-frame served CDLs averaged over +-radius frames, applied exactly."""
    from colorgrade.color import CDL

    vectors = [analyzer.predict(thumbnail(torch.from_numpy(f).permute(2, 0, 1)[None], analyzer.thumbnail_size))
               .cdls[0].cpu().numpy() for f in frames]
    return [CDL.from_vector(np.mean(vectors[max(0, t - radius):t + radius + 1], axis=0)).apply(frames[t])
            for t in range(len(frames))]


def evaluate_generator(variants: dict, analyzer: Analyzer | None, photos: list[np.ndarray], seed: int = 0,
                       progress: bool = False) -> dict:
    """``variants``: name -> function(list of frames) -> graded frames. Returns name -> metrics.

    One clip per photo: even-numbered photos get a single error, odd ones a mixture of 2-3, each
    drifting over the clip. Per clip: PSNR and mean CIEDE2000 over its frames, share of identical
    8-bit pixels, sharpness retention, flicker; reported as the median over clips.
    """
    from tqdm import tqdm

    from colorgrade.models.data import synthesise_clip

    generator = torch.Generator().manual_seed(seed)
    clips = [synthesise_clip(photo, CLIP_FRAMES, CLIP_SIZE, generator, *((1, 1) if i % 2 == 0 else (2, 3)))
             for i, photo in enumerate(photos)]
    if analyzer is not None:
        variants = {**variants, "analysis CDL (window 2)": lambda frames: cdl_path(analyzer, frames)}
    variants = {"uncorrected": lambda frames: frames, **variants}
    report = {}
    for name, grade in variants.items():
        rows = []
        for clip in tqdm(clips, desc=name, disable=not progress):
            outputs = np.stack(grade(list(clip.inputs)))
            targets = clip.targets
            rows.append({"psnr": np.mean([metrics.psnr(o, t) for o, t in zip(outputs, targets)]),
                         "ciede2000": float(metrics.ciede2000(outputs, targets).mean()),
                         "identical_8bit": np.mean([metrics.identical_share(o, t) for o, t in zip(outputs, targets)]),
                         "sharpness": np.mean([metrics.sharpness_retention(o, t) for o, t in zip(outputs, targets)]),
                         "flicker": metrics.flicker(outputs, targets)})
        mixtures = [row["ciede2000"] for i, row in enumerate(rows) if i % 2 == 1]
        report[name] = {key: round(float(np.median([row[key] for row in rows])), 4) for key in rows[0]}
        report[name]["ciede2000_mixtures"] = round(float(np.median(mixtures)), 4) if mixtures else None
    return {"clips": len(clips), "frames_per_clip": CLIP_FRAMES, "size": list(CLIP_SIZE), "variants": report}


def format_generator_report(report: dict) -> str:
    lines = [f"Generative network on {report['clips']} synthetic clips from held-out photos "
             f"({report['frames_per_clip']} frames, {report['size'][1]}x{report['size'][0]}; medians over clips)", "",
             f"{'':<28}{'PSNR':>7}{'ΔE00':>7}{'ΔE00 mix':>9}{'same 8-bit':>11}{'sharpness':>10}{'flicker':>8}"]
    for name, row in report["variants"].items():
        mixtures = row["ciede2000_mixtures"]
        lines.append(f"{name:<28}{row['psnr']:7.2f}{row['ciede2000']:7.2f}{(mixtures or 0):9.2f}"
                     f"{100 * row['identical_8bit']:10.1f}%{row['sharpness']:10.3f}{row['flicker']:8.2f}")
    return "\n".join(lines)


# --- real video through the daemon ------------------------------------------------------------------
VIDEO_CONDITIONS = {
    "clean": (),
    "white balance drift": ("warm_cool", "green_magenta", "white_balance_linear"),
    "exposure drift": ("exposure_linear", "white_point"),
    "mixture drift (2-3 errors)": None,
}


def drifting(clean: list[np.ndarray], family, generator: torch.Generator) -> list[np.ndarray]:
    """8-bit frames with one error (or mixture) drawn for the clip whose strength drifts from half to full
    over it, as light changes during a take."""
    magnitudes, order = _family_errors(1, family, generator)
    frames = []
    for t, frame in enumerate(clean):
        strength = 0.5 + 0.5 * t / max(1, len(clean) - 1)
        detuned = MixtureSampler.apply(to_tensor(frame).float() / 255, magnitudes * strength, order)
        frames.append(np.rint(to_numpy(detuned)[0] * 255).astype(np.uint8))
    return frames


def evaluate_video(clips: dict[str, list[np.ndarray]], methods: dict, seed: int = 0, progress: bool = False) -> dict:
    """``clips``: name -> clean 8-bit frames; ``methods``: name -> function(frames) -> graded frames.

    Each clip is graded under each condition of ``VIDEO_CONDITIONS`` by each method; per clip, the mean
    CIEDE2000 to the clean frames (on 2x2 means) and the flicker (RMS of the change between frames that
    the clean clip does not have, 8-bit units). Reported per condition: the means over clips, and the
    share of clips a method left closer to clean than no correction."""
    from tqdm import tqdm

    generator = torch.Generator().manual_seed(seed)
    report = {}
    for condition, family in VIDEO_CONDITIONS.items():
        rows = {method: [] for method in methods}
        for name, clean in tqdm(clips.items(), desc=condition, disable=not progress):
            inputs = drifting(clean, family, generator)
            targets = np.stack(clean).astype(np.float64) / 255
            pooled_targets = np.stack([block_means(frame, 2) for frame in clean])
            for method, grade in methods.items():
                graded = grade(inputs)
                pooled = np.stack([block_means(frame, 2) for frame in graded])
                rows[method].append({"clip": name, "ciede2000": float(metrics.ciede2000(pooled, pooled_targets).mean()),
                                     "flicker": metrics.flicker(np.stack(graded).astype(np.float64) / 255, targets)})
        none = [row["ciede2000"] for row in rows["none"]]
        report[condition] = {method: {"ciede2000": round(float(np.mean([r["ciede2000"] for r in values])), 3),
                                      "flicker": round(float(np.mean([r["flicker"] for r in values])), 3),
                                      "better": round(float(np.mean([r["ciede2000"] < n for r, n in zip(values, none)])), 3),
                                      "clips": values}
                             for method, values in rows.items()}
    return {"clips": {name: len(frames) for name, frames in clips.items()}, "conditions": report}


def format_video_report(report: dict) -> str:
    clips = report["clips"]
    lines = [f"Real clips through the daemon ({len(clips)} clips, {sum(clips.values())} frames): mean CIEDE2000 to "
             "the clean clip / flicker (8-bit RMS) / share of clips better than uncorrected"]
    methods = list(next(iter(report["conditions"].values())))
    lines.append(f"{'':<28}" + "".join(f"{m[:24]:>26}" for m in methods))
    for condition, row in report["conditions"].items():
        cells = [f"{row[m]['ciede2000']:6.2f} {row[m]['flicker']:5.2f}" + (f" {100 * row[m]['better']:3.0f}%"
                                                                             if m != "none" else "     ")
                 for m in methods]
        lines.append(f"{condition:<28}" + "".join(f"{c:>26}" for c in cells))
    return "\n".join(lines)


def evaluate_on_test_split(weights, photo_folders, device=None) -> dict:
    """The analysis weights on the test split of ``photo_folders``, and on training photos (the paper's protocol)."""
    from colorgrade.models.analysis import load
    from colorgrade.models.data import list_photos, split_photos

    split = split_photos(list_photos(photo_folders))
    return evaluate_analysis(load(weights, device), PhotoSet(split["test"], size=EVAL_SIZE),
                             PhotoSet(split["train"][:PAPER_PROTOCOL_PHOTOS], size=EVAL_SIZE))


def evaluate_generators(photo_folders, analysis_weights, device=None) -> dict:
    """The shipped per-frame and temporal generators, with the paper's remedies and LUT distillation, on
    synthetic clips from the test photos, beside the analysis weights' CDL."""
    from colorgrade.models.analysis import load as load_analysis
    from colorgrade.models.data import list_photos, load_photo, split_photos
    from colorgrade.models.generator import load

    frame = load(WEIGHTS_DIR / "generator_frame.safetensors", device)
    temporal = load(WEIGHTS_DIR / "generator_temporal.safetensors", device)
    variants = {
        "per-frame generator": lambda f: frame.grade(f),
        "per-frame + LUT distillation": lambda f: frame.grade(f, distill_lut=True),
        "temporal generator": lambda f: temporal.grade(f),
        "temporal + 2x oversampling": lambda f: temporal.grade(f, oversample=2),
        "temporal + blending (+-1)": lambda f: temporal.grade(f, blend=1),
        "temporal + LUT distillation": lambda f: temporal.grade(f, distill_lut=True),
    }
    photos = [load_photo(p, 1024) for p in split_photos(list_photos(photo_folders))["test"]]
    return evaluate_generator(variants, load_analysis(analysis_weights, device), photos, progress=True)
