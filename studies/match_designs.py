"""Matching designs compared on ``colorgrade eval match``'s cases (issue #18's designs (a)-(d)).

The shipped matcher is design (b), correspondences verified by RANSAC with the blind correction as the
fallback; ``eval match`` already scores it against (a), the robust statistics transfer fitted as a CDL,
and against color-matcher. This study adds the learned designs:

- **(c) the learned reference corrector**: the design study's statistics corrector given also a
  reference view's colour statistics (``design_study.Corrector(reference=True)``), trained on pairs
  (two random crops of one training photo) with a share of unrelated pairs (a crop of another photo)
  as negatives, so that it learns not to carry another scene's colours over and its confidence learns
  what such a reference is worth; served shrunk by that confidence, as the analysis network is.
- **(d) the hybrid**: the verified match where there is one, (c) where there is none -- the shipped
  blend with the learned reference corrector in place of the blind correction.

The corrector is trained once (``--steps``: 600 took 14.6 min on a 2-core CPU shared with an evaluation)
and kept in ``--out``; a second run scores the kept one (``--fresh`` trains again).

    python -m studies.match_designs --steps 600 --count 60
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from colorgrade import matching
from colorgrade.color import CDL, blend_toward
from colorgrade.evaluation.video import read_clips
from colorgrade.evaluation.match import (evaluate_clips, evaluate_photos, format_match_report, product_methods,
                                         summarise)
from colorgrade.models import DEFAULT_CLIPS, DEFAULT_PHOTOS
from colorgrade.models.data import PhotoSet, list_photos, split_photos, to_tensor
from colorgrade.models.differentiable_colour import thumbnail
from colorgrade.models.networks import shrink_cdl
from colorgrade.server.in_process import InProcessEngines, InProcessGrader
from studies.design_study import THUMBNAIL, Corrector, predict, train_corrector

UNRELATED_SHARE = 0.25      # of the training pairs, references from another photo (the negatives)


def reference_cdl(corrector: Corrector, shot: np.ndarray, hero: np.ndarray) -> CDL:
    """Design (c)'s correction of ``shot`` given ``hero``, shrunk toward no change by its confidence."""
    head, confidence = predict([corrector], to_tensor(shot), references=thumbnail(to_tensor(hero), THUMBNAIL))
    return CDL.from_vector(shrink_cdl(head, confidence)[0].numpy())


def learned_methods(corrector: Corrector) -> dict:
    """(c) alone, and (d): the verified match blended with (c) as the shipped one is blended with the blind."""
    def hybrid(shot, hero):
        found = matching.match(shot, matching.describe(hero))
        return blend_toward(reference_cdl(corrector, shot, hero), found.cdl, found.confidence).apply(shot)

    return {"(c) learned reference corrector": lambda shot, hero: reference_cdl(corrector, shot, hero).apply(shot),
            "(d) match, else (c)": hybrid}


def trained_corrector(photo_folders, steps: int, out: Path, fresh: bool) -> tuple[Corrector, dict]:
    """The (c) corrector kept in ``out``, or trained now on the training split -> (corrector, its record)."""
    kept, record_path = out / "reference_corrector.pt", out / "reference_corrector.json"
    corrector = Corrector(reference=True)
    if kept.exists() and record_path.exists() and not fresh:
        corrector.load_state_dict(torch.load(kept))
        return corrector.eval(), json.loads(record_path.read_text())
    train = PhotoSet(split_photos(list_photos(photo_folders))["train"], size=(2 * THUMBNAIL, 2 * THUMBNAIL))
    started = time.monotonic()
    corrector = train_corrector(train, steps, reference=True, unrelated_share=UNRELATED_SHARE)
    record = {"steps": steps, "training_photos": len(train), "unrelated_share": UNRELATED_SHARE,
              "train_minutes": round((time.monotonic() - started) / 60, 1)}
    out.mkdir(parents=True, exist_ok=True)
    torch.save(corrector.state_dict(), kept)
    record_path.write_text(json.dumps(record, indent=1))
    return corrector, record


def run(args) -> dict:
    torch.set_grad_enabled(False)
    with torch.enable_grad():
        corrector, record = trained_corrector(args.photos, args.steps, Path(args.out), args.fresh)
    shipped = product_methods(InProcessGrader(InProcessEngines("cpu")))
    methods = {name: shipped[name] for name in ("none", "blind", "statistics as a CDL", "matched (shipped)")}
    methods.update(learned_methods(corrector))
    photos = split_photos(list_photos(args.photos))["test"][:args.count]
    rows = evaluate_photos(photos, methods, progress=True) if photos else {}
    clip_rows, flicker = evaluate_clips(read_clips(args.clips, args.frames), methods, progress=True)
    rows.update(clip_rows)
    report = {"corrector": record, "photos": len(photos), "frames": args.frames, "cases": summarise(rows, flicker)}
    Path(args.out, "match_designs.json").write_text(json.dumps(report, indent=1))
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.match_designs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", nargs="+", default=DEFAULT_PHOTOS, metavar="DIR", help="photo folders")
    parser.add_argument("--clips", nargs="+", default=DEFAULT_CLIPS, metavar="VIDEO", help="the real clips")
    parser.add_argument("--frames", type=int, default=48, help="frames per clip, from its start (as eval match)")
    parser.add_argument("--count", type=int, default=60, help="test photos (as eval match)")
    parser.add_argument("--steps", type=int, default=600, help="training steps of the (c) corrector")
    parser.add_argument("--out", default="runs/match_designs", help="folder for the corrector and the report")
    parser.add_argument("--fresh", action="store_true", help="train the corrector again even if one is kept")
    args = parser.parse_args(argv)
    report = run(args)
    print(f"(c) trained {report['corrector']['steps']} steps in {report['corrector']['train_minutes']} min")
    print(format_match_report(report["cases"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
