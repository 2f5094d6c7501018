"""ASC CDL v1.2 values, their exact application in numpy, and their files (.cc, .ccc, .cdl).

The maths (ASC CDL v1.2, the "ASC" style OpenColorIO calls ``CDL_ASC``)::

    sop  = clamp(in * slope + offset, 0, 1) ** power
    luma = 0.2126 R + 0.7152 G + 0.0722 B            (Rec.709 weights, of sop)
    out  = clamp(luma + saturation * (sop - luma), 0, 1)

Inputs and outputs are display-referred RGB in [0, 1].
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from colorgrade.color.lut import LUT3D
from colorgrade.color.standards import REC709_LUMA

_LUMA = np.asarray(REC709_LUMA, dtype=np.float32)
ASC_NAMESPACE = "urn:ASC:CDL:v1.01"


@dataclass(frozen=True)
class CDL:
    """One ASC colour decision: slope, offset, power per channel (R, G, B) and a saturation."""

    slope: tuple[float, float, float] = (1.0, 1.0, 1.0)
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    power: tuple[float, float, float] = (1.0, 1.0, 1.0)
    saturation: float = 1.0

    def __post_init__(self):
        for name in ("slope", "offset", "power"):
            values = tuple(float(v) for v in getattr(self, name))
            if len(values) != 3:
                raise ValueError(f"CDL {name} needs 3 values (R, G, B), got {len(values)}")
            if not all(math.isfinite(v) for v in values):
                raise ValueError(f"CDL {name} must be finite, got {values}")
            object.__setattr__(self, name, values)
        saturation = float(self.saturation)
        if not math.isfinite(saturation) or saturation < 0:
            raise ValueError(f"CDL saturation must be finite and >= 0, got {saturation}")
        object.__setattr__(self, "saturation", saturation)
        if min(self.slope) < 0:
            raise ValueError(f"CDL slope must be >= 0, got {self.slope}")
        if min(self.power) <= 0:
            raise ValueError(f"CDL power must be > 0, got {self.power}")

    @classmethod
    def identity(cls) -> "CDL":
        return cls()

    @classmethod
    def from_vector(cls, values) -> "CDL":
        """From the 10 numbers slope[3], offset[3], power[3], saturation (the networks' layout)."""
        v = [float(x) for x in values]
        if len(v) != 10:
            raise ValueError(f"a CDL vector has 10 values, got {len(v)}")
        return cls(tuple(v[0:3]), tuple(v[3:6]), tuple(v[6:9]), v[9])

    @classmethod
    def mean(cls, cdls, weights=None) -> "CDL":
        """The (weighted) mean of CDLs, value by value: how a window or a shot averages its frames' CDLs."""
        return cls.from_vector(np.average([cdl.to_vector() for cdl in cdls], axis=0, weights=weights))

    def to_vector(self) -> np.ndarray:
        return np.array([*self.slope, *self.offset, *self.power, self.saturation], dtype=np.float64)

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """Apply to float RGB in [0, 1], shape (..., 3); returns float32 of the same shape."""
        rgb = np.asarray(rgb)
        if rgb.ndim < 1 or rgb.shape[-1] != 3:
            raise ValueError(f"CDL.apply expects (..., 3) RGB, got shape {rgb.shape}")
        slope = np.asarray(self.slope, dtype=np.float32)
        offset = np.asarray(self.offset, dtype=np.float32)
        power = np.asarray(self.power, dtype=np.float32)
        sop = np.clip(rgb.astype(np.float32) * slope + offset, 0.0, 1.0)
        if self.power != (1.0, 1.0, 1.0):
            sop = sop ** power
        if self.saturation == 1.0:
            return sop
        luma = sop @ _LUMA
        out = luma[..., None] + np.float32(self.saturation) * (sop - luma[..., None])
        return np.clip(out, 0.0, 1.0, out=out)

    def apply_codes(self, image: np.ndarray) -> np.ndarray:
        """Apply to 16-bit-or-narrower RGB (uint8, uint16 or float16, shape (..., 3)); returns the same type.

        Equal to converting to float32, ``apply`` and converting back (integer codes rounded), but the
        per-channel slope/offset/power part becomes a table lookup over every value the type can hold (256 or
        65536 of them; a half float's 16 bits are a code too): the work that costs most in ``apply`` (``pow``)
        is done once per value, not once per pixel. The rest runs a band of pixels at a time, so its float
        intermediates stay in the CPU's cache (docs/results.md, benchmarks, has what that bought).
        """
        if image.dtype not in (np.uint8, np.uint16, np.float16) or image.shape[-1] != 3:
            raise ValueError(f"CDL.apply_codes expects (..., 3) uint8, uint16 or float16, got {image.dtype} "
                             f"{image.shape}")
        if image.dtype == np.float16:
            top, pixels = None, image.reshape(-1, 3).view(np.uint16)
            values = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
        else:
            top, pixels = np.iinfo(image.dtype).max, image.reshape(-1, 3)
            values = np.arange(top + 1, dtype=np.float32) * np.float32(1.0 / top)
        with np.errstate(invalid="ignore"):   # the half floats that are NaN or infinite, never looked up
            tables = CDL(self.slope, self.offset, self.power).apply(np.repeat(values[:, None], 3, axis=1))
        tables = np.ascontiguousarray(tables.T)
        out = np.empty(pixels.shape, image.dtype)
        band = 32768  # pixels per pass: ~400 KB of float32 intermediates
        for start in range(0, len(pixels), band):
            codes_in = pixels[start:start + band]
            sop = np.empty(codes_in.shape, np.float32)
            for c in range(3):
                np.take(tables[c], codes_in[:, c], out=sop[:, c])
            if self.saturation != 1.0:
                luma = (sop @ _LUMA)[:, None]
                sop -= luma
                sop *= np.float32(self.saturation)
                sop += luma
                np.clip(sop, 0.0, 1.0, out=sop)
            if top is None:
                out[start:start + band] = sop
            else:
                sop *= np.float32(top)
                out[start:start + band] = np.rint(sop, out=sop)
        return out.reshape(image.shape)

    def to_lut(self, size: int = 33):
        """Bake into a ``LUT3D`` over [0, 1]^3 (for ffmpeg's lut3d and hosts that take .cube)."""
        return LUT3D.from_function(self.apply, size)


def blend_toward(fallback: CDL, target: CDL, weight: float) -> CDL:
    """``fallback`` moved toward ``target`` as far as ``weight`` in [0, 1] says, value by value: how a stretch of
    frames crossfades from the blind correction to its match (at 0 the fallback stands exactly), and how
    ``--strength`` scales a correction from no change (past 1 it goes on beyond ``target``)."""
    start = fallback.to_vector()
    return CDL.from_vector(start + float(weight) * (target.to_vector() - start))


# A match is a decision, never a mix: a frame takes its match whole from this confidence and not at all below it (an
# unsure fit blended in at a small weight still moves a picture a lot: docs/decisions.md, "Matching to a hero").
MATCH_TAKEN = 0.5
# A stretch of frames (a window, a shot's samples) takes its frames' matches from this share of them verified as the
# hero's scene (any confidence above 0), fully from STRETCH_FULL: a few frames that verify among many that do not (a
# hero's own neighbours in a low-texture shot) change nothing, frames that fail or are unsure among many that verify
# take the stretch's match, and between the two the CDL crossfades.
STRETCH_MAJORITY, STRETCH_FULL = 0.5, 0.75


def match_taken(confidence: float | None) -> bool:
    """Whether a frame's match of this confidence is taken (``MATCH_TAKEN``)."""
    return confidence is not None and confidence >= MATCH_TAKEN


def stretch_match(blind: CDL, matches: list, verified: int, frames: int) -> tuple[CDL, float]:
    """A stretch of ``frames`` frames, ``verified`` of them verified as the hero's scene, ``matches`` the CDLs of
    those whose match was taken -> (its CDL, the share of the way from ``blind`` to the matches' mean it went: 0
    leaves ``blind`` exactly, 1 is the matches' mean)."""
    share = verified / max(frames, 1)
    weight = float(np.clip((share - STRETCH_MAJORITY) / (STRETCH_FULL - STRETCH_MAJORITY), 0, 1))
    if weight == 0 or not matches:
        return blind, 0.0
    return blend_toward(blind, CDL.mean(matches), weight), weight


def read_cdl(path) -> dict[str, CDL]:
    """Read every ColorCorrection in a .cc, .ccc or .cdl file, keyed by its id.

    A correction without an id is keyed by its position ("0", "1", ...).
    Raises ValueError naming the file and the problem when the file is malformed.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as error:
        raise ValueError(f"{path}: not a readable ASC CDL XML file ({error})") from None
    corrections = [el for el in root.iter() if _local(el.tag) == "ColorCorrection"]
    if not corrections:
        raise ValueError(f"{path}: no ColorCorrection element found")
    result: dict[str, CDL] = {}
    for position, element in enumerate(corrections):
        key = element.get("id") or str(position)
        try:
            result[key] = _parse_correction(element)
        except ValueError as error:
            raise ValueError(f"{path}: ColorCorrection {key!r}: {error}") from None
    return result


def write_cdl(path, corrections: dict[str, CDL], descriptions: dict[str, str] | None = None) -> None:
    """Write corrections as .cc (exactly one), .ccc or .cdl, chosen by the file's extension.

    ``descriptions`` (by id) go into each ColorCorrection's ``<Description>``, which hosts show beside
    the grade (colorgrade writes the diagnosis and its confidence there).
    """
    descriptions = descriptions or {}
    path = Path(path)
    kind = path.suffix.lower()
    if not corrections:
        raise ValueError(f"{path}: nothing to write")
    ET.register_namespace("", ASC_NAMESPACE)
    if kind == ".cc":
        if len(corrections) != 1:
            raise ValueError(f"{path}: a .cc file holds one correction, got {len(corrections)}")
        (cid, cdl), = corrections.items()
        root = _correction_element(cid, cdl, descriptions.get(cid))
    elif kind == ".ccc":
        root = ET.Element(_qualified("ColorCorrectionCollection"))
        root.extend(_correction_element(cid, cdl, descriptions.get(cid)) for cid, cdl in corrections.items())
    elif kind == ".cdl":
        root = ET.Element(_qualified("ColorDecisionList"))
        for cid, cdl in corrections.items():
            decision = ET.SubElement(root, _qualified("ColorDecision"))
            decision.append(_correction_element(cid, cdl, descriptions.get(cid)))
    else:
        raise ValueError(f"{path}: unknown CDL file type {kind!r} (use .cc, .ccc or .cdl)")
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(path, encoding="UTF-8", xml_declaration=True)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _qualified(name: str) -> str:
    return f"{{{ASC_NAMESPACE}}}{name}"


def _child(element, *names):
    for child in element.iter():
        if _local(child.tag) in names:
            return child
    return None


def _numbers(element, name: str, count: int) -> tuple[float, ...]:
    node = _child(element, name)
    if node is None or not (node.text or "").strip():
        raise ValueError(f"missing <{name}>")
    try:
        values = tuple(float(v) for v in node.text.split())
    except ValueError:
        raise ValueError(f"<{name}> is not numeric: {node.text.strip()!r}") from None
    if len(values) != count:
        raise ValueError(f"<{name}> needs {count} value(s), got {len(values)}")
    return values


def _parse_correction(element) -> CDL:
    sop = _child(element, "SOPNode")
    sat = _child(element, "SatNode", "SATNode")
    if sop is None and sat is None:
        raise ValueError("has neither SOPNode nor SatNode")
    slope, offset, power = (1.0,) * 3, (0.0,) * 3, (1.0,) * 3
    if sop is not None:
        slope = _numbers(sop, "Slope", 3)
        offset = _numbers(sop, "Offset", 3)
        power = _numbers(sop, "Power", 3)
    saturation = _numbers(sat, "Saturation", 1)[0] if sat is not None else 1.0
    return CDL(slope, offset, power, saturation)


def _format(values) -> str:
    return " ".join(f"{v:.10g}" for v in values)


def _correction_element(cid: str, cdl: CDL, description: str | None = None):
    element = ET.Element(_qualified("ColorCorrection"), {"id": str(cid)})
    if description:
        ET.SubElement(element, _qualified("Description")).text = description
    sop = ET.SubElement(element, _qualified("SOPNode"))
    for name, values in (("Slope", cdl.slope), ("Offset", cdl.offset), ("Power", cdl.power)):
        ET.SubElement(sop, _qualified(name)).text = _format(values)
    sat = ET.SubElement(element, _qualified("SatNode"))
    ET.SubElement(sat, _qualified("Saturation")).text = _format([cdl.saturation])
    return element
