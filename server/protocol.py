"""The messages between the front end and its workers: typed, in one module both sides import.

Each request is a dataclass; the worker (the engine: ``Describe``, ``Analyze``, ``GenerateFrame``; a
matcher: ``DescribeHero``, ``MatchFrame``) answers each with the reply dataclass named beside it, or
with ``Failure``. On the pyzmq hop a message is multipart: a JSON header naming the message type and its
plain fields (nested messages and mappings of arrays included), then one zero-copy buffer per array. A
field typed ``X | None`` is optional: ``None`` travels as JSON null, never as an empty array.

This module is numpy-only (never torch), like the front end that imports it.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np


# --- requests and their replies -------------------------------------------------------------
@dataclass
class Describe:
    """What the engine serves. Reply: ``Description``."""


@dataclass
class ModelCard:
    name: str          # "analysis" or "generator"
    card: str          # the weight card's file and the weights' digest, or "untrained ..."
    trained: bool


@dataclass
class Description:
    """Everything the front end needs to know about the models, so that it imports nothing from them."""
    device: str
    batch_size: int                 # frames per analysis forward pass (always padded to this)
    labels: list[str]               # the analysis network's catalogue labels, in probability order
    generator_radius: int           # the generator sees frames t-radius .. t+radius
    working_size: list[int]         # the generator's (height, width)
    analysis_size: int              # the side the analysis network's thumbnails are squashed to: the front end
                                    # block-averages frames down to at least this before sending them
    models: list[ModelCard]


@dataclass
class Analyze:
    """Frames (H, W, 3|4) of any sample type -> ``Analyses``, one row per frame. The front end sends block
    means (``colorgrade.color.analysis_thumbnail``), never whole frames; the engine takes either."""
    frames: list[np.ndarray]


@dataclass
class Analyses:
    cdls: np.ndarray                # (N, 10) float64: slope[3], offset[3], power[3], saturation (shrunk by confidence)
    probabilities: np.ndarray       # (N, labels) float32
    confidence: np.ndarray          # (N,) float32 in [0, 1]: probability that the full correction helps


@dataclass
class GenerateFrame:
    """The generator's output for one frame -> ``GeneratedFrame``.

    ``frames`` are the frame and its neighbours within the model's radius, cut at the clip's ends;
    ``center`` is the frame's position among them (the engine repeats edge frames as the model expects).
    """
    frames: list[np.ndarray]
    center: int
    oversample: int


@dataclass
class GeneratedFrame:
    """The front end blends these and distils or resizes them itself (``colorgrade.color.distill``): one
    engine call per frame, whatever the window."""
    working_input: np.ndarray       # (3, h, w) float32: the frame at working size x oversample
    working_output: np.ndarray      # (3, h, w) float32: the generator's output for it


@dataclass
class DescribeHero:
    """A hero frame (H, W, 3|4) of any sample type, and the key of its content -> ``HeroFeatures``: what
    matching needs of it. The matcher keeps it under ``key`` for the ``MatchFrame`` requests that follow."""
    frame: np.ndarray
    key: str


@dataclass
class HeroFeatures:
    """A hero as the matcher describes it (``colorgrade.matching.describe``): named arrays the front end keeps
    and sends back, never reads."""
    key: str                        # the hero frame's content key
    arrays: dict[str, np.ndarray]


@dataclass
class MatchFrame:
    """One frame and the key of a hero described before -> ``Matched``, or ``HeroWanted`` from a matcher that
    does not keep that hero (started since, or a hero of long ago): the request again with ``hero`` then."""
    frame: np.ndarray
    hero_key: str
    hero: HeroFeatures | None = None


@dataclass
class HeroWanted:
    """The matcher does not keep the hero a ``MatchFrame`` names: send it along."""
    key: str


@dataclass
class Matched:
    cdl: np.ndarray                 # (10,) float64: the CDL that makes the frame look like the hero
    confidence: float               # in [0, 1]; 0 when the frames do not show the same scene


@dataclass
class Failure:
    """The engine could not process a request (bad input it was given); the message says why."""
    message: str


MESSAGES = {cls.__name__: cls for cls in (Describe, Description, ModelCard, Analyze, Analyses, GenerateFrame,
                                          GeneratedFrame, DescribeHero, HeroFeatures, MatchFrame, HeroWanted, Matched,
                                          Failure)}


# --- the wire: [header JSON, buffer, buffer, ...] -------------------------------------------
def encode(message) -> list:
    """A message -> multipart parts; arrays go as buffers (not copied), the rest in the JSON header."""
    buffers: list = []

    def pack(value):
        if isinstance(value, np.ndarray):
            # As flat bytes: a memoryview of an array with a zero in its shape (a flat hero has no features)
            # cannot be cast, and a flat view of a contiguous array is still no copy.
            buffers.append(memoryview(np.ascontiguousarray(value).reshape(-1).view(np.uint8)))
            return {"array": len(buffers) - 1, "dtype": value.dtype.str, "shape": list(value.shape)}
        if isinstance(value, list):
            return [pack(v) for v in value]
        if isinstance(value, dict):
            return {"mapping": {key: pack(item) for key, item in value.items()}}
        if dataclasses.is_dataclass(value):
            return {"message": type(value).__name__,
                    "fields": {f.name: pack(getattr(value, f.name)) for f in dataclasses.fields(value)}}
        return value

    fields = {f.name: pack(getattr(message, f.name)) for f in dataclasses.fields(message)}
    return [json.dumps({"type": type(message).__name__, "fields": fields}).encode(), *buffers]


def decode(parts) -> object:
    """Multipart parts (bytes or zmq frames) -> the message; arrays are read-only views of the buffers."""
    header = json.loads(bytes(_buffer(parts[0])))

    def message(name, fields):
        cls = MESSAGES.get(name)
        if cls is None:
            raise ValueError(f"unknown worker message type {name!r}")
        return cls(**{key: unpack(item) for key, item in fields.items()})

    def unpack(value):
        if isinstance(value, list):
            return [unpack(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "array" in value:
            buffer = _buffer(parts[1 + value["array"]])
            return np.frombuffer(buffer, dtype=np.dtype(value["dtype"])).reshape(value["shape"])
        if "mapping" in value:
            return {key: unpack(item) for key, item in value["mapping"].items()}
        return message(value["message"], value["fields"])

    return message(header.get("type"), header["fields"])


def _buffer(part):
    return part.buffer if hasattr(part, "buffer") else part
