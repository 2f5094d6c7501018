"""What the daemon says about a file: one correction per input, per shot or per frame range, and each frame's
(``analyse_job``), as report entries the commands print, write as .ccc/.cube/EDL and hand to hosts."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from colorgrade.clients import media
from colorgrade.clients.shots import correct_shots, timecode
from colorgrade.color import CDL, shrink


class Job(NamedTuple):
    """One thing to analyse: a whole input, or a frame range of one (``--items``)."""
    key: str              # the report's key: the input path, or the item's id
    id: str               # the ColorCorrection id
    path: Path
    first: int | None = None
    last: int | None = None


def analyse_job(client, job: Job, info: media.VideoInfo | None = None, shots: bool = False, samples: int = 24,
                window: int = 2, per_frame: bool = False, quiet: bool = False, unreadable: list[str] | None = None
                ) -> dict:
    """-> the report entry of one job: cdl, confidence, label, and, as asked, its ``shots`` (cuts found, up to
    ``samples`` frames analysed per shot) or ``per_frame`` results (every frame, CDL averaged over +-``window``).
    A job with a frame range is one shot. ``info``: a video's probe, when the caller has made it (probing may
    decode the whole file). ``quiet``: no progress bar. ``unreadable``: where the stills of a folder that
    cannot be read are named (the rest are analysed); without it, one raises."""
    kind = media.kind_of(job.path)
    if kind == "video" and info is None:
        info = media.probe_video(job.path)
    if kind == "still":
        result = client.analyze([shrink(media.read_image(job.path))])[0]
        return {"id": job.id, "cdl": result.cdl, "confidence": result.confidence, "label": result.label,
                "top": sorted(result.scores.items(), key=lambda kv: -kv[1])[:3]}
    thumbnails = ((number, shrink(frame))
                  for number, frame in media.numbered_frames(job.path, job.first, job.last, info, unreadable))
    if shots or job.first is not None or job.last is not None:
        rate = info.rate if info is not None else None
        found = []
        progress = tqdm(desc=f"analyse {job.path.name}", unit="frame", disable=quiet)
        for shot in correct_shots(client.analyze, thumbnails, samples, find_cuts=shots):
            progress.update(shot.shot.frames)
            entry = {"id": f"{job.id}_shot{shot.shot.number:03d}" if shots else job.id,
                     "first": shot.shot.first, "last": shot.shot.last, "cdl": shot.cdl,
                     "confidence": shot.confidence, "label": shot.label, "samples": len(shot.samples)}
            if rate is not None:
                entry.update(timecode_in=timecode(shot.shot.first, rate), timecode_out=timecode(shot.shot.last, rate))
            found.append(entry)
        progress.close()
        if not found:
            raise media.MediaError(f"{job.path}: no frames in {job.first}-{job.last}")
        if not shots:
            return found[0]
        frames = [s["last"] - s["first"] + 1 for s in found]
        return {"id": job.id, "cdl": CDL.mean([s["cdl"] for s in found], weights=frames),
                "confidence": _mean_or_none([s["confidence"] for s in found], frames),
                "label": max(found, key=lambda s: s["last"] - s["first"])["label"], "frames": sum(frames),
                "shots": found}
    numbers = []
    clip = client.open_clip(mode="parameters", window_radius=window, name=job.path.name)

    def frames():
        for number, frame in thumbnails:
            numbers.append(number)
            yield frame

    results = list(tqdm(client.stream(clip, frames()), desc=f"analyse {job.path.name}", unit="frame",
                        disable=quiet))
    client.close_clip(clip)
    if not results:
        raise media.MediaError(f"{job.path}: no frames to analyse")
    labels = [r.label for r in results]
    entry = {"id": job.id, "cdl": CDL.mean([r.cdl for r in results]),
             "confidence": _mean_or_none([r.confidence for r in results]),
             "label": max(set(labels), key=labels.count), "frames": len(results)}
    if per_frame:
        entry["per_frame"] = [{"frame": numbers[r.index], "cdl": r.cdl, "confidence": r.confidence,
                               "label": r.label} for r in results]
    return entry


def _mean_or_none(values, weights=None):
    known = [(v, w) for v, w in zip(values, weights or [1] * len(values)) if v is not None]
    return float(np.average([v for v, _ in known], weights=[w for _, w in known])) if known else None


def corrections_of(entry: dict):
    """(id, CDL, description) of each correction an entry holds: its shots, or the entry itself."""
    for part in entry.get("shots") or [entry]:
        yield part["id"], part["cdl"], describe(part) + (f"; frames {part['first']}-{part['last']}"
                                                         if "first" in part else "")


def jsonable(value):
    """A report entry with its CDLs as {slope, offset, power, saturation} dictionaries."""
    if isinstance(value, CDL):
        return {"slope": value.slope, "offset": value.offset, "power": value.power, "saturation": value.saturation}
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    return value


def describe(entry: dict) -> str:
    """The diagnosis as a colourist reads it, e.g. "warm_66, confidence 0.83 (correction applied in full)"."""
    confidence = entry["confidence"]
    if confidence is None:
        return entry["label"]
    how = ("applied in full" if confidence >= 0.8 else "left nearly alone: not sure anything is wrong"
           if confidence < 0.2 else f"applied at {confidence:.0%}")
    return f"{entry['label']}, confidence {confidence:.2f} (correction {how})"
