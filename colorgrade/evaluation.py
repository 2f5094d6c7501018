"""``colorgrade eval``: the networks on held-out photos, and the served product on real clips.

``eval video`` grades real clips through a daemon with the client and reads them with the clients'
media code, and scores them with the models' errors and metrics: it needs both rooms, so it lives
above both (``colorgrade.models`` never imports ``colorgrade.clients``; docs/notes.md, the house).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from colorgrade.models import DEFAULT_CLIPS, DEFAULT_PHOTOS, WEIGHTS_DIR

EVAL_EPILOG = """examples:
  colorgrade eval analysis                       # shipped weights, test split of the default photos
  colorgrade eval analysis --json --weights runs/analysis.safetensors
  colorgrade eval generator                      # per-frame vs temporal vs the paper's remedies vs LUT distillation
  colorgrade eval video                          # real clips with drifting errors, through a private daemon
  colorgrade eval video --server 127.0.0.1:50051 --frames 96
  colorgrade eval match                          # shots matched to hero frames (photos, real clips, peers), continuity
  colorgrade eval table1                         # the paper's Table 1 in its own regime (15 shots x 45 frames)
  colorgrade eval table1 --minutes 5             # a shorter run; run again to continue where it stopped"""


def configure_eval(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EVAL_EPILOG
    from colorgrade.clients.cli import add_connection_arguments

    parser.add_argument("network", choices=["analysis", "generator", "video", "match", "table1"],
                        help="which network to evaluate; video: both served modes on real clips, through the daemon; "
                             "match: matching shots to a hero frame, against the peers, and one-click continuity; table1: the paper's "
                             "classifier trained and measured in the paper's own data regime")
    parser.add_argument("--weights", default=str(WEIGHTS_DIR / "analysis.safetensors"),
                        help="analysis weights (the generator's are the shipped per-frame and temporal ones)")
    parser.add_argument("--photos", nargs="+", default=DEFAULT_PHOTOS, metavar="DIR",
                        help="the same folders training used; the test split is evaluated")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--write-card", action="store_true",
                        help="also rewrite the card beside the weights with these numbers")
    parser.add_argument("--clips", nargs="+", default=DEFAULT_CLIPS, metavar="VIDEO",
                        help="video: the clips (default: the four real clips under ../shared/data)")
    parser.add_argument("--frames", type=int, default=48, help="video: frames per clip, from its start (default 48)")
    parser.add_argument("--window", type=int, default=4, help="video: the served CDL's averaging radius (default 4)")
    parser.add_argument("--count", type=int, default=60, metavar="N",
                        help="match: test photos to use (default 60; the test split has about 270; 0: clips only)")
    parser.add_argument("--minutes", type=float, default=25.0,
                        help="table1: wall-clock budget of each of its two classifier runs (default 25)")
    parser.add_argument("--run-dir", default="runs/table1",
                        help="table1: the cut shots, thumbnails, checkpoints and report (default runs/table1); a "
                             "run that stopped continues from its checkpoints")
    parser.add_argument("--generator-minutes", type=float, default=15.0,
                        help="table1: wall-clock budget of each of the cGANs trained in the regime (default 15; "
                             "0: the classifier's table only)")
    parser.add_argument("--fresh", action="store_true", help="table1: train from scratch, ignoring checkpoints")
    add_connection_arguments(parser, device_help="cpu, cuda ... (default: CUDA when present); video: the private "
                                                 "daemon's")


def read_clips(paths, frames: int, side: int = 480) -> dict[str, list]:
    """File name -> the first ``frames`` frames of each video, shrunk to at most ``side`` px: the clips the
    video evaluations grade."""
    from colorgrade.clients import media
    from colorgrade.color import shrink

    return {Path(path).name: [shrink(frame, side) for _, frame in media.numbered_frames(path, 0, frames - 1)]
            for path in paths}


def evaluate_video_through_daemon(args) -> dict:
    """Each clip's first ``--frames`` frames (shrunk to <= 480 px), graded by no correction, grey world and the
    daemon's served modes (the analysis CDL over +-``--window`` frames, the generator distilled to LUTs)."""
    import numpy as np
    import torch

    from colorgrade.clients.cli import connect
    from colorgrade.models.data import to_numpy, to_tensor
    from colorgrade.models.evaluate import evaluate_video, grey_world

    clips = read_clips(args.clips, args.frames)

    def grey(frames):
        images = torch.cat([to_tensor(frame) for frame in frames]).float() / 255
        return list(np.rint(to_numpy(grey_world(images)) * 255).astype(np.uint8))

    with connect(args) as client:
        def daemon(mode, **settings):
            def grade(frames):
                clip = client.open_clip(mode=mode, **settings)
                graded = [result.frame for result in client.stream(clip, frames)]
                client.close_clip(clip)
                return graded
            return grade

        methods = {"none": lambda frames: frames, "grey world": grey,
                   f"served: CDL, window {args.window}": daemon("cdl_frames", window_radius=args.window),
                   "generator_lut": daemon("generator_lut")}
        return evaluate_video(clips, methods, progress=not args.json)


def peer_methods() -> dict:
    """color-matcher's transfers, as they are and fitted as a CDL (the peers users pick today). GPL-3.0: used
    here, in the evaluation, never in the product path; {} when it is not installed."""
    try:
        from color_matcher import ColorMatcher
    except ImportError:
        return {}
    import numpy as np

    from colorgrade.color.fit import fit_cdl

    def transfer(method):
        def grade(shot, hero):
            out = ColorMatcher().transfer(src=shot.astype(np.float64), ref=hero.astype(np.float64), method=method)
            return np.clip(out, 0, 1).astype(np.float32)
        return grade

    def as_cdl(method):
        def grade(shot, hero):
            return fit_cdl(shot[::2, ::2], transfer(method)(shot, hero)[::2, ::2])[0].apply(shot)
        return grade

    methods = {}
    for method in ("mkl", "reinhard", "hm-mvgd-hm"):
        methods[f"color-matcher {method}"] = transfer(method)
        methods[f"color-matcher {method} as a CDL"] = as_cdl(method)
    return methods


def evaluate_matching(args) -> dict:
    """The match cases on ``--count`` test photos and the first ``--frames`` frames of each clip."""
    from colorgrade.clients.continuity import continuity
    from colorgrade.models.analysis import load
    from colorgrade.models.data import list_photos, split_photos
    from colorgrade.models.evaluate_match import (evaluate_clips, evaluate_continuity, evaluate_photos, product_methods,
                                                  summarise)

    analyzer = load(args.weights, args.device)
    methods = {**product_methods(analyzer), **peer_methods()}
    photos = split_photos(list_photos(args.photos))["test"][:args.count] if args.count else []
    rows = evaluate_photos(photos, methods, progress=not args.json) if photos else {}
    clip_rows, flicker = evaluate_clips(read_clips(args.clips, args.frames), methods, progress=not args.json) \
        if args.clips else ({}, {})
    rows.update(clip_rows)
    return {"photos": len(photos), "clips": len(args.clips), "frames": args.frames,
            "peers": sorted(m for m in methods if m.startswith("color-matcher")), "cases": summarise(rows, flicker),
            "continuity": evaluate_continuity(photos, continuity, analyzer, progress=not args.json)
            if len(photos) >= 2 else None}


def run_eval(args) -> int:
    from colorgrade.models.cards import write_analysis_card, write_generator_card
    from colorgrade.models.evaluate import (evaluate_generators, evaluate_on_test_split, format_analysis_report,
                                            format_generator_report)

    try:
        if args.network == "table1":
            from colorgrade.table1 import format_table1, run_table1

            report = run_table1(args)
            print(json.dumps(report, indent=2) if args.json else format_table1(report))
            return 0
        if args.network == "match":
            from colorgrade.models.evaluate_match import format_continuity_report, format_match_report

            report = evaluate_matching(args)
            text = format_match_report(report["cases"])
            if report["continuity"]:
                text += "\n" + format_continuity_report(report["continuity"])
            print(json.dumps(report, indent=2) if args.json else text)
            return 0
        if args.network == "video":
            from colorgrade.models.evaluate import format_video_report

            report = evaluate_video_through_daemon(args)
            print(json.dumps(report, indent=2) if args.json else format_video_report(report))
            return 0
        if args.network == "generator":
            report = evaluate_generators(args.photos, args.weights, args.device)
            if args.write_card:
                for name in ("generator_frame", "generator_temporal"):
                    write_generator_card(WEIGHTS_DIR / f"{name}.safetensors", report)
            text = format_generator_report(report)
        else:
            report = (write_analysis_card if args.write_card else evaluate_on_test_split)(
                args.weights, args.photos, args.device)
            text = format_analysis_report(report)
    except (FileNotFoundError, ValueError) as error:
        print(f"colorgrade eval: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else text)
    return 0
