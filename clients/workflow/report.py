"""``colorgrade report``: what was wrong and what the correction did, as one self-contained HTML page.

Per input and per shot: a few frames before and after, an RGB parade and a vectorscope (``clients.workflow.scopes``)
before and after, the CDL, the diagnosis and its confidences, the frame range and timecodes; at the top,
every shot's thumbnail before and after. Images are embedded (JPEG for pictures, PNG for scopes), so the
page opens from disk with no network and no script. ``--png DIR`` writes the same panels as files.

The page stays bounded: frames are shown at most FRAME_SIDE wide, and once the page would pass
``--max-mb``, the remaining shots keep their strip thumbnail and their numbers but lose their panels
(the page says so).
"""
from __future__ import annotations

import argparse
import base64
import html
import io
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from colorgrade.clients.commands import (UsageError, add_connection_arguments, add_reference_argument,
                                         add_strength_argument, check_reference_arguments, check_strength,
                                         check_writable, connect, read_reference)

FRAME_SIDE = 480             # long side of the frames shown
STRIP_SIDE = 160             # ... of the strip's thumbnails
FRAMES_PER_SHOT = 3          # frames shown per shot, spread across it

REPORT_EPILOG = """examples:
  colorgrade report shot.png clip.mp4 -o report.html        # analyse, then show before/after and scopes
  colorgrade report reel.mov --shots --continuity -o reel.html --png reel_panels/
  colorgrade analyze reel.mov --shots --json > reel.json && colorgrade report --from reel.json -o reel.html

One self-contained page (images embedded, no network): per input and shot, frames before and after,
an RGB parade (0-1023) and a vectorscope (75 % targets, skin-tone line) before and after, the CDL,
the diagnosis and confidences; at the top, every shot before and after. Open it in any browser."""


def configure_report(parser: argparse.ArgumentParser) -> None:
    parser.epilog = REPORT_EPILOG
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="stills, videos or folders of stills")
    parser.add_argument("-o", "--output", required=True, help="the HTML page to write")
    parser.add_argument("--from", dest="source", metavar="JSON",
                        help="render an analysis already made ('colorgrade analyze --json' output) instead of INPUTs")
    parser.add_argument("--shots", action="store_true", help="a section per shot (cuts found as analyze finds them)")
    parser.add_argument("--samples", type=int, default=24, metavar="N", help="frames analysed per shot (default 24)")
    parser.add_argument("--png", metavar="DIR", help="also write every panel as a PNG file into DIR")
    parser.add_argument("--max-mb", type=float, default=20.0, metavar="MB",
                        help="size the page stays under (default 20): later shots lose their panels first")
    add_strength_argument(parser)
    add_reference_argument(parser, shots=True)
    add_connection_arguments(parser)


def run_report(args) -> int:
    from colorgrade.clients import media
    from colorgrade.clients.client import GradeError

    try:
        if bool(args.source) == bool(args.inputs):
            raise UsageError("give INPUTs or --from JSON, not both" if args.source else "nothing to report: give INPUTs")
        check_reference_arguments(args, shots=args.shots)
        check_strength(args)
        if args.source and args.strength != 1:
            raise UsageError("--strength scales an analysis made here; --from shows one as it was made "
                             "(analyze --strength)")
        if Path(args.output).suffix.lower() not in (".html", ".htm"):
            raise UsageError(f"-o {args.output}: give the page an .html name")
        check_writable("-o", Path(args.output))
        entries = read_analysis(Path(args.source)) if args.source else None
        reference = read_reference(args)
        for path in args.inputs:
            if not Path(path).exists():
                raise media.MediaError(f"{path}: no such file or folder")
            media.kind_of(Path(path))
    except (UsageError, media.MediaError) as error:
        print(f"colorgrade report: {error}", file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1
    unreadable: list[str] = []   # inputs, or stills of a folder, that could not be read: named, the rest shown
    try:
        if entries is None:
            entries = analyse(args, reference, unreadable)
        if entries:
            page = Page(args.max_mb, Path(args.png) if args.png else None)
            write_page(Path(args.output), page.render(entries, reference))
    except (GradeError, media.MediaError, OSError) as error:
        print(f"colorgrade report: {error}", file=sys.stderr)
        return 1
    for failure in unreadable:
        print(f"colorgrade report: {failure}", file=sys.stderr)
    if not entries:
        return 1
    print(f"wrote {args.output} ({Path(args.output).stat().st_size / 1e6:.1f} MB, {page.shots} shot(s)"
          + (f"; {page.trimmed} without panels to stay under {args.max_mb:g} MB" if page.trimmed else "") + ")")
    return 1 if unreadable else 0


def read_analysis(path: Path) -> dict:
    """``colorgrade analyze --json`` output -> {input path: entry as JSON}."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UsageError(f"--from {path}: cannot read JSON ({error})") from None
    if not isinstance(entries, dict) or not all(isinstance(e, dict) and "cdl" in e for e in entries.values()):
        raise UsageError(f"--from {path}: not the JSON 'colorgrade analyze --json' writes")
    return entries


def analyse(args, reference, unreadable: list[str]) -> dict:
    """Analyse the inputs as ``colorgrade analyze --json`` would -> {input path: entry as JSON}; what cannot be
    read (an input, or a still of a folder) is named in ``unreadable`` and left out."""
    from colorgrade.clients import media
    from colorgrade.clients.commands import check_readable, correction_ids
    from colorgrade.clients.workflow.corrections import Asked, Job, analyse_job

    videos = check_readable([Path(p) for p in args.inputs])   # the stills of a folder: as they are analysed
    paths = [still for given in args.inputs for still in media.stills_apart(given)]
    ids = correction_ids(paths)
    with connect(args) as client:
        asked = Asked(shots=args.shots, samples=args.samples, reference=reference, continuity=args.continuity,
                      reference_shot=args.reference_shot, hero_shots=tuple(args.hero_shot))
        entries = {}
        for path in paths:
            try:
                entry = analyse_job(client, Job(str(path), ids[path], path), asked, videos.get(path), unreadable)
            except media.MediaError as error:
                unreadable.append(str(error))
                continue
            if args.strength != 1:
                entry.scale(args.strength)
            entries[str(path)] = entry.to_json()
        return entries


def write_page(path: Path, text: str) -> None:
    from colorgrade.clients.media import written_whole

    with written_whole(path) as partial:
        partial.write_text(text, encoding="utf-8")


class Page:
    """Builds the HTML, counting its bytes against the budget."""

    def __init__(self, max_mb: float, png_folder: Path | None):
        self.budget, self.png_folder = int(max_mb * 1e6), png_folder
        self.size, self.shots, self.trimmed = 0, 0, 0
        if png_folder is not None:
            png_folder.mkdir(parents=True, exist_ok=True)

    def render(self, entries: dict, hero: np.ndarray | None = None) -> str:
        """``hero``: the ``--reference`` frame every input was matched to, shown at the top."""
        from colorgrade.color import CDL, apply

        sections, strip = [], []
        units = [(path, entry, part) for path, entry in entries.items() for part in (entry.get("shots") or [entry])]
        by_id = {part.get("id"): (path, part) for path, _, part in units}
        for path, entry, part in tqdm(units, desc="report", unit="shot", file=sys.stderr):
            cdl = CDL(**part["cdl"])
            frames = [(number, frame, apply(cdl, frame)) for number, frame in shown_frames(Path(path), part)]
            if not frames:
                continue
            self.shots += 1
            _, before, after = frames[len(frames) // 2]
            strip.append(f'<figure class=shot><div class=pair>{self.image(before, STRIP_SIDE, "before")}'
                         f'{self.image(after, STRIP_SIDE, "after")}</div>'
                         f'<figcaption>{html.escape(part.get("id") or Path(path).name)}</figcaption></figure>')
            shot_hero = by_id.get(part.get("hero")) if part.get("hero") not in (None, part.get("id")) else None
            sections.append(self.section(path, part, frames, shot_hero))
        top = ("" if hero is None else
               f'<p>Every input is matched to this hero (--reference):</p>{self.image(hero, FRAME_SIDE, "the hero")}')
        return PAGE.format(hero=top, strip="".join(strip), sections="".join(sections),
                           note=(f"<p class=note>{self.trimmed} shot(s) shown without panels to keep this page under "
                                 f"{self.budget / 1e6:g} MB.</p>" if self.trimmed else ""))

    def section(self, path: str, part: dict, frames: list, hero: tuple | None = None) -> str:
        """``frames``: (number, before, after) across the shot; ``hero``: (path, part) of the shot it was matched
        to, whose middle frame is shown as graded."""
        from colorgrade.clients.workflow import scopes
        from colorgrade.color import CDL, apply

        name = part.get("id") or Path(path).name
        facts = describe(path, part)
        if self.size > self.budget * 0.9:
            self.trimmed += 1
            return f'<section><h2>{html.escape(name)}</h2>{facts}</section>'
        _, before, after = frames[len(frames) // 2]
        zoom = scopes.vectorscope_zoom(before, after)   # one zoom for both, so before and after compare
        vectorscope = f"vectorscope (zoom x{zoom}: low saturation)" if zoom > 1 else "vectorscope"
        scope_rows = [("luma waveform", "waveform", lambda f: scopes.draw_waveform(scopes.waveform(f))),
                      ("RGB parade", "parade", lambda f: scopes.draw_parade(scopes.parade(f))),
                      ("RGB histogram", "histogram", lambda f: scopes.draw_histogram(scopes.histogram(f))),
                      (vectorscope, "vectorscope", lambda f: scopes.draw_vectorscope(scopes.vectorscope(f, zoom), zoom))]
        panels = {f"{key}_{when}": draw(frame) for _, key, draw in scope_rows
                  for when, frame in (("before", before), ("after", after))}
        rows = "".join(f'<tr><td>frame {number}</td><td>{self.image(frame, FRAME_SIDE, f"frame {number} before")}</td>'
                       f'<td>{self.image(graded, FRAME_SIDE, f"frame {number} after")}</td></tr>'
                       for number, frame, graded in frames)
        if hero is not None:
            hero_path, hero_part = hero
            shown = list(shown_frames(Path(hero_path), hero_part))
            if shown:
                number, frame = shown[len(shown) // 2]
                caption = f"the hero, {hero_part.get('id')}, frame {number} as graded"
                rows += (f'<tr><td>matched to</td><td colspan=2>'
                         f'{self.image(apply(CDL(**hero_part["cdl"]), frame), FRAME_SIDE, caption)}</td></tr>')
        if self.png_folder is not None:
            for panel, image in panels.items():
                image.save(self.png_folder / f"{name}_{panel}.png")
            side_by_side(frames).save(self.png_folder / f"{name}_frames.png")
        scopes_html = "".join(
            f"<tr><td>{html.escape(title)}</td>" + "".join(
                f"<td>{self.png(panels[f'{key}_{when}'], f'{title} {when}')}</td>" for when in ("before", "after"))
            + "</tr>" for title, key, _ in scope_rows)
        return (f'<section><h2>{html.escape(name)}</h2>{facts}<table class=panels><tr><th></th><th>before</th>'
                f'<th>after</th></tr>{rows}{scopes_html}</table></section>')

    def image(self, frame: np.ndarray, side: int, label: str) -> str:
        from PIL import Image

        from colorgrade.color import eight_bit_rgb, shrink

        buffer = io.BytesIO()
        Image.fromarray(eight_bit_rgb(shrink(frame, side))).save(buffer, format="JPEG", quality=85)
        return self.embed(buffer.getvalue(), "image/jpeg", label)

    def png(self, image, label: str) -> str:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return self.embed(buffer.getvalue(), "image/png", label)

    def embed(self, data: bytes, kind: str, label: str) -> str:
        """An image with its label printed under it (every picture on the page says what it is)."""
        self.size += len(data) * 4 // 3
        return (f'<figure><img alt="{html.escape(label)}" src="data:{kind};base64,{base64.b64encode(data).decode()}">'
                f'<figcaption>{html.escape(label)}</figcaption></figure>')


def captioned(panels: list, background: int = 27) -> np.ndarray:
    """(caption, picture) pairs -> one 8-bit RGB picture: the pictures side by side (cut to the shortest), each
    with its caption printed in a band above it. The report's PNG frames and the demo's pictures use it."""
    from PIL import Image, ImageDraw

    from colorgrade.color import eight_bit_rgb

    pictures = [eight_bit_rgb(picture) for _, picture in panels]
    height, gap, band = min(p.shape[0] for p in pictures), 8, 22
    width = sum(p.shape[1] for p in pictures) + gap * (len(pictures) - 1)
    canvas = Image.new("RGB", (width, height + band), (background,) * 3)
    draw, left = ImageDraw.Draw(canvas), 0
    for (caption, _), picture in zip(panels, pictures):
        canvas.paste(Image.fromarray(np.ascontiguousarray(picture[:height])), (left, band))
        draw.text((left + 4, 5), caption, fill=(230, 230, 230))
        left += picture.shape[1] + gap
    return np.asarray(canvas)


def side_by_side(frames: list):
    """(number, before, after) frames as one picture: a row per frame, before left, after right, each captioned."""
    from PIL import Image

    from colorgrade.color import shrink

    rows = [captioned([(f"frame {number} before", shrink(before, FRAME_SIDE)),
                       (f"frame {number} after", shrink(after, FRAME_SIDE))]) for number, before, after in frames]
    width = min(row.shape[1] for row in rows)
    return Image.fromarray(np.concatenate([row[:, :width] for row in rows], axis=0))


def shown_frames(path: Path, part: dict):
    """Up to FRAMES_PER_SHOT (number, frame) spread across a shot (or the whole clip, or the still)."""
    from colorgrade.clients import media

    if media.kind_of(path) == "still":
        yield 0, media.read_image(path)
        return
    first, last = part.get("first"), part.get("last")
    if first is None:
        if media.kind_of(path) == "video":
            first, last = 0, media.probe_video(path).frames - 1
        else:
            numbers = media.frame_numbers(media.list_sequence(path))
            first, last = numbers[0], numbers[-1]
    wanted = sorted({round(first + (last - first) * i / max(1, FRAMES_PER_SHOT - 1)) for i in range(FRAMES_PER_SHOT)})
    for number in wanted:   # a frame that cannot be read is left out (the analysis named it)
        for found, frame in media.numbered_frames(path, number, number, unreadable=[]):
            yield found, frame
            break


def describe(path: str, part: dict) -> str:
    cdl = part["cdl"]
    triple = lambda values: " ".join(f"{v:.4f}" for v in values)  # noqa: E731
    facts = [("input", path), ("diagnosis", part.get("label", "")),
             ("confidence", "" if part.get("confidence") is None else f"{part['confidence']:.2f}")]
    if part.get("description"):
        facts.append(("what was done", part["description"]))
    if part.get("strength") is not None:
        facts.append(("strength", f"{part['strength']:g} (the served CDL's distance from no change, scaled)"))
    if part.get("match_confidence") is not None:
        facts.append(("match confidence", f"{part['match_confidence']:.2f}"))
    if part.get("hero"):
        facts.append(("hero", "this shot" if part["hero"] == part.get("id") else part["hero"]))
    if part.get("scene") is not None:
        facts.append(("scene", str(part["scene"])))
    if part.get("first") is not None:
        facts.append(("frames", f"{part['first']}-{part['last']}"))
    if part.get("timecode_in"):
        facts.append(("timecode", f"{part['timecode_in']} - {part['timecode_out']}"))
    facts += [("slope", triple(cdl["slope"])), ("offset", triple(cdl["offset"])), ("power", triple(cdl["power"])),
              ("saturation", f"{cdl['saturation']:.4f}")]
    return "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in facts) + "</dl>"


PAGE = """<!doctype html>
<html lang=en><head><meta charset=utf-8><title>colorgrade report</title>
<style>
body {{ background: #1b1b1b; color: #ddd; font: 14px/1.4 sans-serif; margin: 16px; }}
h1 {{ font-size: 20px; margin: 0 0 12px; }} h2 {{ font-size: 16px; margin: 24px 0 8px; }}
.strip {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.strip img {{ display: block; }} .pair {{ display: flex; gap: 4px; }} figure {{ margin: 0; }}
figcaption {{ font-size: 12px; color: #aaa; }} .shot > figcaption {{ color: #ddd; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: 2px 12px; margin: 0 0 8px; }}
dt {{ color: #999; }} dd {{ margin: 0; font-family: monospace; }}
table.panels td, table.panels th {{ padding: 4px; vertical-align: top; text-align: left; }}
img {{ image-rendering: auto; }} .note {{ color: #e8b04a; }}
</style></head>
<body><h1>colorgrade report</h1>
{hero}<p>Every shot before and after:</p><div class=strip>{strip}</div>{note}
{sections}
</body></html>
"""
