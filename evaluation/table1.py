"""``colorgrade eval table1``: the paper's Table 1 in the paper's own data regime, beside held-out numbers.

Cuts 15 shots of 45 frames from real clips (the shot detector finds the cuts; a long shot gives several
segments, spread over it), detunes every frame with the 24 catalogue entries plus clean, and trains the
paper's classifier alone twice: on the paper's random split, and with 3 whole shots held out. The shipped
classifier's row on held-out photos is measured beside them. Resumable: a run that stopped continues from
its checkpoints in ``--run-dir``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from colorgrade.evaluation.options import add_common

SHOTS, SHOT_FRAMES = 15, 45
CUT_SIDE = 160          # frames are shrunk to this for the shot detector


def configure(parser) -> None:
    add_common(parser, "weights", "photos", "clips", "count", "device", "json")
    parser.add_argument("--minutes", type=float, default=25.0,
                        help="wall-clock budget of each of its two classifier runs (default 25)")
    parser.add_argument("--run-dir", default="runs/table1",
                        help="the cut shots, thumbnails, checkpoints and report (default runs/table1); a run that "
                             "stopped continues from its checkpoints")
    parser.add_argument("--generator-minutes", type=float, default=15.0,
                        help="wall-clock budget of each of the cGANs trained in the regime (default 15; 0: the "
                             "classifier's table only)")
    parser.add_argument("--fresh", action="store_true", help="train from scratch, ignoring checkpoints")


def run(args) -> int:
    report = run_table1(args)
    print(json.dumps(report, indent=2) if args.json else format_table1(report))
    return 0


def detect_shots(path) -> list[tuple[int, int]]:
    """(first, last) frame numbers of each shot of a video, as the product's shot detector cuts it."""
    from colorgrade.clients import media
    from colorgrade.clients.workflow.shots import CutDetector
    from colorgrade.color import shrink

    detector, starts, last = CutDetector(), [0], -1
    for number, frame in media.numbered_frames(path):
        if detector.push(shrink(frame, CUT_SIDE)):
            starts.append(number)
        last = number
    return [(start, end - 1) for start, end in zip(starts, starts[1:] + [last + 1])]


def plan_segments(shots: dict[str, list[tuple[int, int]]], count: int = SHOTS,
                  length: int = SHOT_FRAMES) -> list[tuple[str, int]]:
    """(clip, first frame) of ``count`` non-overlapping segments of ``length`` frames: clips take turns (so
    every clip long enough contributes, more than one segment where it allows), and a clip's segments are
    spread evenly over its shots. Raises ValueError when the clips cannot give ``count``."""
    candidates = {clip: [start + i * length for start, end in spans for i in range((end - start + 1) // length)]
                  for clip, spans in shots.items()}
    taken = dict.fromkeys(candidates, 0)
    while sum(taken.values()) < count:
        open_clips = [clip for clip in candidates if taken[clip] < len(candidates[clip])]
        if not open_clips:
            raise ValueError(f"the clips give only {sum(taken.values())} segments of {length} frames, "
                             f"{count} needed")
        for clip in open_clips[:count - sum(taken.values())]:
            taken[clip] += 1
    plan = []
    for clip, number in taken.items():
        spread = np.linspace(0, len(candidates[clip]) - 1, number).round().astype(int) if number else []
        plan += [(clip, candidates[clip][i]) for i in spread]
    return plan


def cut_regime(clips, cache: Path, progress: bool = True, count: int = SHOTS, length: int = SHOT_FRAMES) -> dict:
    """The regime's frames: {"frames": (count x length, 256, 456, 3) uint8, "shots": shot number of each frame,
    "segments": [(clip name, first frame)]}, cut from ``clips`` once and kept in ``cache``.

    Each clip is decoded from its start, as the shot detector read it: seeking an MPEG program stream lands
    near a frame, not on it (measured: two 45-frame segments of the time-lapse came back with 42 and 33)."""
    if cache.exists():
        with np.load(cache) as stored:
            if len(stored["shots"]) == count * length:
                return {"frames": stored["frames"], "shots": stored["shots"],
                        "segments": [(str(c), int(f)) for c, f in stored["segments"]]}
    from PIL import Image

    from colorgrade.clients import media
    from colorgrade.color import eight_bit_rgb
    from colorgrade.evaluation.paper_regime import PAPER_FRAME

    paths = {Path(clip).name: clip for clip in clips}
    shots = {}
    for name, path in paths.items():
        shots[name] = detect_shots(path)
        if progress:
            print(f"{name}: {len(shots[name])} shot(s), {shots[name][-1][1] + 1} frames")
    plan = plan_segments(shots, count, length)
    wanted = {(name, first + offset): shot for shot, (name, first) in enumerate(plan) for offset in range(length)}
    frames, numbers = [None] * len(wanted), np.repeat(np.arange(len(plan)), length)
    for name, path in paths.items():
        for number, frame in media.numbered_frames(path):
            shot = wanted.get((name, number))
            if shot is not None:
                image = Image.fromarray(eight_bit_rgb(frame))
                offset = number - plan[shot][1]
                frames[shot * length + offset] = np.asarray(image.resize(PAPER_FRAME[::-1], Image.Resampling.BOX))
    regime = {"frames": np.stack(frames), "shots": numbers, "segments": plan}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, frames=regime["frames"], shots=regime["shots"], segments=np.array(plan, dtype=object).astype(str))
    return regime


def run_table1(args) -> dict:
    import torch

    from colorgrade.models.analysis import load
    from colorgrade.models.data import PhotoSet, list_photos, split_photos
    from colorgrade.models.evaluate import EVAL_SIZE, single_detunes
    from colorgrade.evaluation.paper_regime import (PaperOptions, detuned_thumbnails, predict, split_items, table_one,
                                                    train_classifier)

    run_dir = Path(args.run_dir)
    regime = cut_regime(args.clips, run_dir / "shots.npz", progress=not args.json)
    options = PaperOptions(minutes=args.minutes)
    cache = run_dir / f"thumbnails_{options.side}.pt"
    if cache.exists():
        thumbnails = torch.load(cache)
    else:
        thumbnails = detuned_thumbnails(regime["frames"], options.side)
        torch.save(thumbnails, cache)
    report = {"segments": [f"{clip} from frame {first}" for clip, first in regime["segments"]],
              "frames": len(regime["frames"]), "images": thumbnails.shape[0] * thumbnails.shape[1]}
    for protocol in ("random", "shots"):
        training, validation, held = split_items(regime["shots"], protocol, options.seed)
        network, record = train_classifier(thumbnails, training, validation, options, run_dir / protocol,
                                           resume=not args.fresh)
        rows = table_one(predict(network, thumbnails, validation), validation % thumbnails.shape[1])
        report[protocol] = {**rows, "training_images": len(training), "held_out_shots": held, "training": record}
    photos = split_photos(list_photos(args.photos))["test"]
    analyzer = load(args.weights, args.device)
    report["held_out_photos"] = single_detunes(analyzer, PhotoSet(photos, size=EVAL_SIZE),
                                               torch.Generator().manual_seed(0))
    if args.generator_minutes > 0:
        report["generators"] = regime_generators(regime, report["shots"]["held_out_shots"], photos, args, run_dir)
    (run_dir / "table1.json").write_text(json.dumps(report, indent=2))
    return report


def regime_generators(regime: dict, held_out: list[int], photos, args, run_dir: Path) -> dict:
    """The per-frame and temporal cGANs trained on the regime's 12 training shots, measured on its 3 held-out
    shots (every catalogue detune held over each shot) and on synthetic clips from the test photos, beside no
    correction and the shipped analysis CDL; a contact sheet like the paper's Fig. 11 beside the report."""
    from colorgrade.evaluation.generator import cdl_path, evaluate_generator
    from colorgrade.evaluation.paper_regime import (RegimeGeneratorOptions, evaluate_on_shots, train_regime_generator,
                                                    working_frames)
    from colorgrade.models.data import load_photo
    from colorgrade.server.in_process import InProcessEngines, InProcessGrader

    small = working_frames(regime["frames"])
    training_shots = sorted(set(regime["shots"].tolist()) - set(held_out))
    trained, records = {}, {}
    for name, temporal in (("per-frame", False), ("temporal", True)):
        options = RegimeGeneratorOptions(temporal=temporal, minutes=args.generator_minutes)
        trained[name], records[name] = train_regime_generator(small, regime["shots"], training_shots, options,
                                                              run_dir / f"generator_{name}", resume=not args.fresh)
    grader = InProcessGrader(InProcessEngines(args.device, args.weights))
    methods = {"uncorrected": lambda frames: frames,
               "analysis CDL (window 2)": lambda frames: cdl_path(grader, frames),
               "regime cGAN, per-frame": lambda frames: trained["per-frame"].grade(frames),
               "regime cGAN, temporal": lambda frames: trained["temporal"].grade(frames),
               "regime cGAN, temporal + LUT distillation": lambda frames: trained["temporal"].grade(frames,
                                                                                                  distill_lut=True)}
    on_shots = evaluate_on_shots(regime["frames"], regime["shots"], held_out, methods)
    test_photos = [load_photo(p, 1024) for p in photos[:args.count]]
    on_photos = evaluate_generator({k: v for k, v in methods.items() if k.startswith("regime")}, grader, test_photos)
    grader.close()
    write_contact_sheet(run_dir / "contact_sheet.jpg", regime, held_out, test_photos, trained)
    return {"training": records, "held_out_shots": on_shots, "test_photos": on_photos}


CELL = (180, 320)   # contact-sheet cells, height x width


def write_contact_sheet(path: Path, regime: dict, held_out: list[int], photos, trained: dict) -> None:
    """Rows: two held-out shot frames and two test photos, each with one catalogue detune; columns: the
    detuned input, the per-frame and temporal regime cGANs, the clean frame (the paper's Fig. 11 layout)."""
    import torch
    from PIL import Image, ImageDraw

    from colorgrade.color import shrink
    from colorgrade.models.detunes import LABELS, apply_labels

    cases = [(regime["frames"][regime["shots"] == shot][22], label)
             for shot, label in zip(held_out[:2], ("warm_66", "black_lift_66"))]
    cases += [(np.rint(photo * 255).astype(np.uint8), label) for photo, label in zip(photos[:2], ("cool_66", "contrast_66"))]
    header = ["input: {}", "cGAN, per-frame", "cGAN, temporal", "clean"]
    sheet = Image.new("RGB", (CELL[1] * 4, (CELL[0] + 16) * len(cases)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (image, label) in enumerate(cases):
        clean = shrink(image, max(CELL)).astype(np.float32) / 255
        detuned = apply_labels(torch.from_numpy(clean).permute(2, 0, 1)[None],
                               torch.tensor([LABELS.index(label)]))[0].permute(1, 2, 0).numpy()
        cells = [detuned] + [trained[name].grade([detuned])[0] for name in ("per-frame", "temporal")] + [clean]
        top = row * (CELL[0] + 16)
        for column, cell in enumerate(cells):
            picture = Image.fromarray(np.rint(np.clip(cell, 0, 1) * 255).astype(np.uint8))
            picture.thumbnail((CELL[1] - 4, CELL[0] - 4))
            sheet.paste(picture, (column * CELL[1] + 2, top + 16))
            draw.text((column * CELL[1] + 4, top + 2), header[column].format(label), fill="black")
    sheet.save(path, quality=88)


def format_generators(report: dict) -> str:
    lines = ["", "cGAN in the same regime: trained on 12 shots; mean CIEDE2000 to clean / sharpness retention / flicker "
             "(analysis CDL: the shipped analysis network's)",
             f"{'':<42}{'held-out shots, 8 detunes':>30}{'held-out shots, clean':>26}{'test photos (ΔE00, mixtures)':>30}"]
    photos = report["test_photos"]["variants"]
    for name, row in report["held_out_shots"].items():
        d, c = row["detuned"], row["clean"]
        photo = photos.get(name)
        photo_cell = f"{photo['ciede2000']:6.2f} {photo['ciede2000_mixtures'] or 0:6.2f}" if photo else ""
        lines.append(f"{name:<42}{d['ciede2000']:12.2f} {d['sharpness']:6.3f} {d['flicker']:6.2f}"
                     f"{c['ciede2000']:12.2f} {c['sharpness']:6.3f} {c['flicker']:5.2f}{photo_cell:>30}")
    for name, record in report["training"].items():
        lines.append(f"{name}: {record['steps']} steps in {record['minutes']} min")
    return "\n".join(lines)


def format_table1(report: dict) -> str:
    pct = lambda x: f"{100 * x:5.1f} %"  # noqa: E731
    columns = [("the paper (Table 1)", {"exact": 0.983, "nearest_neighbour": 0.016, "total": 0.999, "images": 2746}),
               ("random split", report["random"]), ("held-out shots", report["shots"]),
               ("shipped, held-out photos", {**report["held_out_photos"], "images": report["held_out_photos"]["frames"]})]
    lines = [f"Table 1 in the paper's regime: {len(report['segments'])} shots, {report['frames']} frames, "
             f"{report['images']} images (24 detunes + clean)", "",
             f"{'':<20}" + "".join(f"{name:>27}" for name, _ in columns)]
    for key, name in (("exact", "exact"), ("nearest_neighbour", "nearest neighbour"), ("total", "total")):
        lines.append(f"{name:<20}" + "".join(f"{pct(row[key]):>27}" for _, row in columns))
    lines.append(f"{'validation images':<20}" + "".join(f"{row['images']:>27}" for _, row in columns))
    for protocol in ("random", "shots"):
        lines += ["", f"confusion between levels, {protocol} (rows: true level, 0 = clean; columns: predicted)"]
        confusion = report[protocol]["level_confusion"]
        header = list(next(iter(confusion.values())))
        lines.append(f"{'':>8}" + "".join(f"{h:>12}" for h in header))
        for level, row in confusion.items():
            lines.append(f"{level:>8}" + "".join(f"{row[h]:>12}" for h in header))
        training = report[protocol]["training"]
        lines.append(f"trained {training['epochs']} epochs ({training['steps']} steps) in {training['minutes']} min")
    if "generators" in report:
        lines.append(format_generators(report["generators"]))
    return "\n".join(lines)
