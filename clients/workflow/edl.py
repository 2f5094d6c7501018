"""A clip's shots as a CMX 3600 EDL whose events carry ``*ASC_SOP``/``*ASC_SAT`` comments: the editorial
world's way to hand a CDL per shot from set to post (conform, then load the grades per event).
Written with OpenTimelineIO's CMX 3600 adapter."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path


def write_edl(path, video: Path, shots: list, rate: Fraction, title: str, grading_space: str | None = None) -> None:
    """``shots``: the shots' ``Correction`` values ``colorgrade analyze --shots`` reports; ``grading_space``: the
    colour space the CDLs apply in, for colour-managed footage (each event's name says it; the ASC comments
    cannot)."""
    import opentimelineio as otio

    fps = float(rate)
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    for shot in shots:
        cdl = shot.cdl
        # The clip name becomes the event's "* FROM CLIP NAME:" comment: with continuity, it says which
        # shot was the scene's hero.
        role = "" if shot.hero is None else " (hero)" if shot.hero == shot.id else f" (matched to {shot.hero})"
        space = "" if grading_space is None else f" (CDL in {grading_space})"
        clip = otio.schema.Clip(
            name=shot.id + role + space, media_reference=otio.schema.ExternalReference(target_url=str(Path(video).resolve())),
            source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(shot.first, fps),
                                                 otio.opentime.RationalTime(shot.last - shot.first + 1, fps)))
        # Six decimals, as ASC_SOP lines are usually written (and some readers expect).
        six = lambda values: [round(v, 6) for v in values]  # noqa: E731
        clip.metadata["cdl"] = {"asc_sop": {"slope": six(cdl.slope), "offset": six(cdl.offset),
                                            "power": six(cdl.power)}, "asc_sat": round(cdl.saturation, 6)}
        track.append(clip)
    timeline = otio.schema.Timeline(name=title)
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(path), adapter_name="cmx_3600", rate=fps)
