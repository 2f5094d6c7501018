"""The picture at the top of docs/colour-management.md, made again: an ACEScg EXR plate of a sample photo with a
grade error made in ACEScct (OCIO's own CDL, as ACES applies CDLs), graded blind and matched to its clean hero
by ``colorgrade grade``, and the hero, each as the studio config's display shows it, with its ΔE00 to clean.

    .venv/bin/python -m studies.colour_management_picture [--photo ladybird.png] [-o docs/colour-management.jpg]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from colorgrade.clients import media  # noqa: E402
from colorgrade.clients.workflow.report import captioned  # noqa: E402
from test_colour_management import delta_e, on_display, scene, with_error, write_exr  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.colour_management_picture", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", default="garden.png", help="a sample photo (colorgrade/samples/photos)")
    parser.add_argument("-o", "--output", default=str(REPO / "docs" / "colour-management.jpg"))
    args = parser.parse_args(argv)
    clean = scene(args.photo)
    with tempfile.TemporaryDirectory() as folder:
        plate, hero = Path(folder) / "plate.exr", Path(folder) / "hero.exr"
        write_exr(plate, with_error(clean, "ACEScg"))
        write_exr(hero, clean)
        graded = {}
        for name, extra in (("blind", []), ("matched", ["--reference", str(hero)])):
            target = Path(folder) / f"{name}.exr"
            subprocess.run([sys.executable, "-m", "colorgrade", "grade", str(plate), "-o", str(target), *extra],
                           check=True, capture_output=True)
            graded[name] = media.read_image(target)[..., :3]
        shown = {"plate": with_error(clean, "ACEScg"), **graded, "hero": clean}
    goal = on_display(clean, "ACEScg")
    panels = []
    for name, rgb in shown.items():
        picture = on_display(rgb, "ACEScg")
        caption = name if name == "hero" else f"{name}: {delta_e(picture, goal):.2f} dE00"
        panels.append((caption, (picture * 255 + 0.5).astype("uint8")))
    Image.fromarray(captioned(panels)).save(args.output, quality=90)
    print(f"wrote {args.output}: " + "; ".join(caption for caption, _ in panels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
