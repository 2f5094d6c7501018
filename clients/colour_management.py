"""Colour-managed footage through OpenColorIO: what an input's colour space is, the display rendering the daemon
judges, and the grading space its CDL is expressed and applied in.

The networks and the matcher were trained on display-referred pictures, so they are shown a display rendering
of the frame (the config's default display and view: the ACES output transform in OCIO's studio config). Their
CDL says how that display picture should change; the CDL the client applies is the one that, applied in the
grading space (the config's ``color_timing`` role, ACEScct in the studio config, where ACES grading applies
CDLs), makes the same change on the display: fitted on the frame's own pixels, through the view and back.
A display-referred input is judged as sRGB and graded on its own values, as colorgrade always graded.

Matched to a hero, frame and hero are sent in the grading space instead: a match is a fit of pairs, and fitted
where the CDL applies it is exact (an ACEScct error is undone to 0.05 dE00, where a fit on the display, turned
into ACEScct, leaves 1.5: the output transform bends what a display CDL can say). A frame whose match is not
used is judged on the display, blind.

sRGB / Rec.709 display input, named or not, takes no detour: it is what the daemon judges already.
"""
from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import PyOpenColorIO as ocio

from colorgrade.clients import media
from colorgrade.color import CDL, LUT3D, analysis_thumbnail, from_float_rgb, shrink, to_float_rgb
from colorgrade.color.fit import fit_cdl

BUILTIN_CONFIG = "studio-config-latest"
# What the daemon judges without a detour (OCIO's colour interop ids: sRGB display and its scene-referred twin).
AS_JUDGED = {"srgb_rec709_display", "srgb_rec709_scene"}
# Pairs a CDL is fitted on: a thumbnail of this side holds every colour of the frame that matters.
FIT_SIDE = 64


def load_config(path: str | None = None) -> ocio.Config:
    """``--ocio CONFIG``, else ``$OCIO``, else OCIO's built-in studio config."""
    chosen = path or os.environ.get("OCIO")
    try:
        return ocio.Config.CreateFromFile(chosen) if chosen else ocio.Config.CreateFromBuiltinConfig(BUILTIN_CONFIG)
    except ocio.Exception as error:
        raise media.MediaError(f"OCIO config {chosen}: cannot load ({error})") from None


# A video's colour tags (FFmpeg's AVColorTransferCharacteristic) that name an HDR display: refused, by name.
HDR_TRANSFERS = {16: "Rec.2100-PQ - Display", 18: "Rec.2100-HLG - Display"}
BT2020_PRIMARIES = 9
EXR_DEFAULT = "lin_rec709_scene"


def said_by_file(path: Path, info: media.VideoInfo | None = None) -> str | None:
    """The colour space a file says it is in: a plate's ``oiio:ColorSpace`` (OIIO's reading of an EXR's
    colorspace or chromaticities attributes, a DPX's header; an EXR naming none is linear Rec.709), an HDR
    video's transfer; None where it says nothing of use (a Rec.709 or untagged video: judged as it is, as
    always). Raises MediaError for a BT.2020 SDR video, which no space of the studio config names."""
    if Path(path).suffix.lower() in media.PLATE_SUFFIXES:
        said = media.plate_spec(path).getattribute("oiio:ColorSpace")
        # An EXR that names no colour space is what OpenEXR defines: scene-linear light, Rec.709 primaries.
        return said or (EXR_DEFAULT if Path(path).suffix.lower() == ".exr" else None)
    if info is None:
        return None
    transfer = info.colour.get("color_trc")
    if transfer in HDR_TRANSFERS:
        return HDR_TRANSFERS[transfer]
    if info.colour.get("color_primaries") == BT2020_PRIMARIES:
        raise media.MediaError(f"{path}: tagged BT.2020: colorgrade judges Rec.709 video; convert it, or name "
                               "its colour space with --colorspace")
    return None


@dataclass
class Managed:
    """An input's colour space and what colorgrade does with it: the display it is judged on, the space it is
    graded in."""
    config: ocio.Config
    name: str           # the config's name of the input's colour space
    grading: str        # the space the CDL is expressed and applied in
    display: str
    view: str | None    # None: a display-referred input, converted to the display's own colour space

    def __post_init__(self):
        if self.view is None:
            shown = ocio.ColorSpaceTransform(src=self.name, dst=self.display)
        else:
            shown = ocio.DisplayViewTransform(src=self.name, display=self.display, view=self.view)
        self._shown = self.config.getProcessor(shown).getDefaultCPUProcessor()
        self._unshown = self.config.getProcessor(shown, ocio.TRANSFORM_DIR_INVERSE).getDefaultCPUProcessor()
        self._in = self.config.getProcessor(self.name, self.grading).getDefaultCPUProcessor()
        self._out = self.config.getProcessor(self.grading, self.name).getDefaultCPUProcessor()

    def describe(self) -> dict:
        """What the summaries, JSON and CDL files say of it."""
        return {"colorspace": self.name, "grading_space": self.grading,
                "judged_on": f"{self.display} / {self.view}" if self.view else self.display}

    @staticmethod
    def _through(processor, rgb: np.ndarray) -> np.ndarray:
        out = np.ascontiguousarray(rgb, dtype=np.float32).copy()
        processor.applyRGB(out)
        return out

    def shown(self, frame: np.ndarray) -> np.ndarray:
        """The display rendering the daemon judges: float32 RGB in [0, 1] (alpha is not judged)."""
        return np.clip(self._through(self._shown, to_float_rgb(frame)[0]), 0, 1)

    def in_grading(self, frame: np.ndarray) -> np.ndarray:
        """The frame in the grading space as a picture (float32 RGB in [0, 1]): what a match to a hero is made on."""
        return np.clip(self._through(self._in, to_float_rgb(frame)[0]), 0, 1)

    def grading_cdl(self, judged: CDL, frame: np.ndarray) -> CDL:
        """The CDL in the grading space that changes ``frame``'s display rendering as ``judged`` changes it."""
        if judged == CDL():
            return judged
        rgb = to_float_rgb(shrink(frame, FIT_SIDE))[0]
        wanted = self._through(self._unshown, judged.apply(self.shown(rgb)))
        cdl, _ = fit_cdl(self._through(self._in, rgb), self._through(self._in, wanted))
        return cdl

    def apply(self, transform: CDL | LUT3D, frame: np.ndarray) -> np.ndarray:
        """``transform`` applied in the grading space; sample type and alpha kept."""
        if transform == CDL():
            return frame
        rgb, alpha = to_float_rgb(frame)
        graded = transform.apply(self._through(self._in, rgb))
        return from_float_rgb(self._through(self._out, graded), alpha, frame.dtype)


class JudgingClient:
    """A GradeClient for one colour-managed input's frames (in its own values, as read): the daemon is sent each
    frame's display rendering, or with a hero its grading-space picture, and every Result's CDL is the CDL in
    the grading space (``Managed.grading_cdl``; a match's as it is). A hero given here is sent as it is: render
    it with ``Managed.in_grading``."""

    def __init__(self, client, colour: Managed):
        self.client, self.colour = client, colour
        self.matching: set[str] = set()   # the clips opened with a hero

    def info(self):
        return self.client.info()

    def _picture(self, frame: np.ndarray, matching: bool) -> np.ndarray:
        return self.colour.in_grading(frame) if matching else self.colour.shown(frame)

    def _in_grading(self, result, frame: np.ndarray, matching: bool):
        """``result`` with its CDL in the grading space; a frame whose match was not used is judged blind on the
        display."""
        if matching and result.reference_used:
            return result
        judged = result.cdl
        if matching:
            thumbnail = analysis_thumbnail(frame, self.client.info().analysis_size or FIT_SIDE)
            judged = self.client.analyze([self.colour.shown(thumbnail)])[0].cdl
        return replace(result, cdl=self.colour.grading_cdl(judged, frame))

    def analyze(self, frames, reference: np.ndarray | None = None):
        frames = list(frames)
        results = self.client.analyze([self._picture(f, reference is not None) for f in frames], reference=reference)
        return [self._in_grading(r, f, reference is not None) for r, f in zip(results, frames)]

    def open_clip(self, **settings) -> str:
        clip = self.client.open_clip(**settings)
        if settings.get("reference") is not None:
            self.matching.add(clip)
        return clip

    def stream(self, clip: str, frames, first_index: int = 0):
        matching, sent = clip in self.matching, deque()

        def pictures():
            for frame in frames:
                sent.append(frame)
                yield self._picture(frame, matching)

        for result in self.client.stream(clip, pictures(), first_index=first_index):
            yield self._in_grading(result, sent.popleft(), matching)

    def close_clip(self, clip: str) -> int:
        self.matching.discard(clip)
        return self.client.close_clip(clip)


def managed(name: str | None, path: Path | None = None, config_path: str | None = None,
            info: media.VideoInfo | None = None) -> Managed | None:
    """How an input is colour managed: ``name`` (``--colorspace``), else what the file says (a video's
    ``info`` tells its tags); None where it is sRGB / Rec.709 display (colorgrade's own view of a picture: no
    detour). Raises MediaError for a space the config lacks, and for HDR (PQ, HLG), which colorgrade does not
    judge."""
    name = name or (said_by_file(path, info) if path is not None else None)
    if name is None:
        return None
    config = load_config(config_path)
    space = config.getColorSpace(name)
    where = f"{path}: " if path is not None else ""
    if space is None:
        raise media.MediaError(f"{where}colour space {name!r} is not in the OCIO config {config.getName()} "
                               "(name one of its colour spaces with --colorspace)")
    if space.getInteropID() in AS_JUDGED:
        return None
    if space.getEncoding() == "hdr-video":
        raise media.MediaError(f"{where}{space.getName()} is HDR (PQ or HLG): colorgrade judges and grades SDR "
                               "pictures only; convert it to an SDR or scene-referred space first")
    display = config.getDefaultDisplay()
    if space.getReferenceSpaceType() == ocio.REFERENCE_SPACE_DISPLAY or space.getEncoding() == "sdr-video":
        return Managed(config, space.getName(), space.getName(), display, None)
    grading = config.getRoleColorSpace(ocio.ROLE_COLOR_TIMING) or space.getName()
    return Managed(config, space.getName(), grading, display, config.getDefaultView(display, space.getName()))
