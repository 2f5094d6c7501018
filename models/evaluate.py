"""Evaluation on held-out photos (the test split: never seen in training).

Analysis network (paper Table 1 and past it):
1. single catalogue detunes: exact / nearest-neighbour (same kind, adjacent level) / other;
2. 2-3-error mixtures: CIEDE2000 to the clean frame for uncorrected, the class-weighted CDL and the
   correction head: each frame's mean CIEDE2000, then the median and 90th percentile over frames;
3. clean frames: CIEDE2000 after correction (a good frame must not be damaged).

Every crop, label and mixture comes from a fixed seed, so the numbers are reproducible.
"""
from __future__ import annotations

import numpy as np
import torch

from colorgrade.models import metrics
from colorgrade.models.analysis import Analyzer
from colorgrade.models.colour import apply_cdl, thumbnail
from colorgrade.models.data import PhotoSet, to_numpy
from colorgrade.models.detunes import LABELS, MixtureSampler, apply_labels, are_neighbours

EVAL_SIZE = (256, 256)


def _per_frame_delta_e(outputs: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    return metrics.ciede2000(to_numpy(outputs), to_numpy(targets)).mean(axis=(1, 2))


def _summary(values: np.ndarray) -> dict:
    return {"median": round(float(np.median(values)), 3), "p90": round(float(np.percentile(values, 90)), 3)}


@torch.inference_mode()
def evaluate_analysis(analyzer: Analyzer, photos: PhotoSet, seed: int = 0, crops_per_photo: int = 4,
                      mixtures_per_photo: int = 8, batch: int = 50) -> dict:
    generator = torch.Generator().manual_seed(seed)
    count = len(photos)

    def crops(n):
        return photos.random_crops(n, EVAL_SIZE, generator).to(analyzer.device)

    def predict(images):
        return analyzer.predict(thumbnail(images, analyzer.thumbnail_size))

    # 1. Single detunes: every label on every crop.
    clean = crops(count * crops_per_photo)
    exact = neighbour = total = 0
    confusions: dict[str, int] = {}
    for start in range(0, len(clean), max(1, batch // len(LABELS))):
        part = clean[start:start + max(1, batch // len(LABELS))]
        labels = torch.arange(len(LABELS), device=part.device).repeat(len(part))
        images = apply_labels(part.repeat_interleave(len(LABELS), dim=0), labels)
        predicted = predict(images)[0].argmax(1)
        for truth, guess in zip(labels.tolist(), predicted.tolist()):
            total += 1
            if truth == guess:
                exact += 1
            elif are_neighbours(LABELS[truth], LABELS[guess]):
                neighbour += 1
            else:
                key = f"{LABELS[truth]}->{LABELS[guess]}"
                confusions[key] = confusions.get(key, 0) + 1

    # 2. Mixtures of 2-3 errors, and 3. clean frames.
    sampler = MixtureSampler(generator, min_errors=2, max_errors=3)
    uncorrected, weighted, head, clean_head, clean_weighted = [], [], [], [], []
    for start in range(0, count * mixtures_per_photo, batch):
        n = min(batch, count * mixtures_per_photo - start)
        targets = crops(n)
        magnitudes, order = sampler.sample(n)
        inputs = MixtureSampler.apply(targets, magnitudes, order)
        _, head_cdl, weighted_cdl = predict(inputs)
        uncorrected.append(_per_frame_delta_e(inputs, targets))
        head.append(_per_frame_delta_e(apply_cdl(inputs, head_cdl), targets))
        weighted.append(_per_frame_delta_e(apply_cdl(inputs, weighted_cdl), targets))
        _, head_cdl, weighted_cdl = predict(targets)
        clean_head.append(_per_frame_delta_e(apply_cdl(targets, head_cdl), targets))
        clean_weighted.append(_per_frame_delta_e(apply_cdl(targets, weighted_cdl), targets))

    worst = sorted(confusions.items(), key=lambda kv: -kv[1])[:5]
    return {
        "photos": count,
        "single_detunes": {"frames": total, "exact": round(exact / total, 4),
                           "nearest_neighbour": round(neighbour / total, 4),
                           "total": round((exact + neighbour) / total, 4),
                           "worst_confusions": dict(worst)},
        "mixtures_ciede2000": {"frames": count * mixtures_per_photo,
                               "uncorrected": _summary(np.concatenate(uncorrected)),
                               "class_weighted_cdl": _summary(np.concatenate(weighted)),
                               "correction_head": _summary(np.concatenate(head))},
        "clean_ciede2000": {"correction_head": _summary(np.concatenate(clean_head)),
                            "class_weighted_cdl": _summary(np.concatenate(clean_weighted))},
    }


def format_analysis_report(report: dict) -> str:
    single, mixtures, clean = report["single_detunes"], report["mixtures_ciede2000"], report["clean_ciede2000"]
    pct = lambda x: f"{100 * x:6.2f} %"  # noqa: E731
    lines = [
        f"Analysis network on {report['photos']} held-out photos",
        "",
        f"1. Single detunes ({single['frames']} frames)        ours      paper (Table 1)",
        f"   exact                              {pct(single['exact'])}    98.3 %",
        f"   nearest neighbour                  {pct(single['nearest_neighbour'])}     1.6 %",
        f"   total                              {pct(single['total'])}    99.9 %",
    ]
    if single["worst_confusions"]:
        lines.append("   most frequent other errors: " + ", ".join(f"{k} ({v})" for k, v in single["worst_confusions"].items()))
    lines += ["", f"2. Mixtures of 2-3 errors ({mixtures['frames']} frames), CIEDE2000   median    p90"]
    for name in ("uncorrected", "class_weighted_cdl", "correction_head"):
        lines.append(f"   {name:<34}{mixtures[name]['median']:8.2f} {mixtures[name]['p90']:6.2f}")
    lines += ["", "3. Clean frames after correction, CIEDE2000        median    p90"]
    for name in ("correction_head", "class_weighted_cdl"):
        lines.append(f"   {name:<34}{clean[name]['median']:8.2f} {clean[name]['p90']:6.2f}")
    return "\n".join(lines)


# --- generative network ------------------------------------------------------------------------
# Clips at twice the generator's working size, so its resize blur shows up in sharpness and what
# LUT distillation buys is visible.
CLIP_SIZE = (288, 512)
CLIP_FRAMES = 10


def _cdl_path(analyzer: Analyzer, frames: list[np.ndarray], radius: int = 2) -> list[np.ndarray]:
    """The daemon's analysis path: per-frame head CDLs averaged over +-radius frames, applied exactly."""
    from colorgrade.color import CDL

    vectors = [analyzer.predict(thumbnail(torch.from_numpy(f).permute(2, 0, 1)[None], analyzer.thumbnail_size))[1][0]
               .cpu().numpy() for f in frames]
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
        variants = {**variants, "analysis CDL (window 2)": lambda frames: _cdl_path(analyzer, frames)}
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
