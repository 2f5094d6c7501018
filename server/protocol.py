"""The messages between the front end and its workers: typed, in one module both sides import.

Each request is a dataclass; the worker (the engine: ``Describe``, ``Analyze``, ``GenerateFrame``; a
matcher: ``DescribeHero``, ``MatchFrame``) answers each with the reply dataclass named beside it, or
with ``Failure``. On the pyzmq hop a message is multipart: a JSON header naming the message type
and its plain fields, then one zero-copy buffer per array. A field typed ``X | None`` is optional:
``None`` travels as JSON null, never as an empty array.

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
    models: list[ModelCard]


@dataclass
class Analyze:
    """Frames (H, W, 3|4) of any sample type -> ``Analyses``, one row per frame."""
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
    """A hero frame (H, W, 3|4) of any sample type -> ``HeroFeatures``: what matching needs of it, computed
    once per clip and sent back with each ``MatchFrame``."""
    frame: np.ndarray


@dataclass
class HeroFeatures:
    rgb: np.ndarray                 # (h, w, 3) float32: the hero at matching size
    keypoints: np.ndarray           # (N, 2) float32
    descriptors: np.ndarray         # (N, 128) float32


@dataclass
class MatchFrame:
    """One frame and a hero's features -> ``Matched``."""
    frame: np.ndarray
    hero: HeroFeatures


@dataclass
class Matched:
    cdl: np.ndarray                 # (10,) float64: the CDL that makes the frame look like the hero
    confidence: float               # in [0, 1]; 0 when the frames do not show the same scene


@dataclass
class Failure:
    """The engine could not process a request (bad input it was given); the message says why."""
    message: str


MESSAGES = {cls.__name__: cls for cls in (Describe, Description, Analyze, Analyses, GenerateFrame, GeneratedFrame,
                                          DescribeHero, HeroFeatures, MatchFrame, Matched, Failure)}
_NESTED = {"models": ModelCard, "hero": HeroFeatures}


# --- the wire: [header JSON, buffer, buffer, ...] -------------------------------------------
def encode(message) -> list:
    """A message -> multipart parts; arrays go as buffers (not copied), the rest in the JSON header."""
    buffers: list = []

    def pack(value):
        if isinstance(value, np.ndarray):
            buffers.append(memoryview(np.ascontiguousarray(value)).cast("B"))
            return {"array": len(buffers) - 1, "dtype": value.dtype.str, "shape": list(value.shape)}
        if isinstance(value, list):
            return [pack(v) for v in value]
        if dataclasses.is_dataclass(value):
            return {f.name: pack(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return value

    fields = {f.name: pack(getattr(message, f.name)) for f in dataclasses.fields(message)}
    return [json.dumps({"type": type(message).__name__, "fields": fields}).encode(), *buffers]


def decode(parts) -> object:
    """Multipart parts (bytes or zmq frames) -> the message; arrays are read-only views of the buffers."""
    header = json.loads(bytes(_buffer(parts[0])))
    cls = MESSAGES.get(header.get("type"))
    if cls is None:
        raise ValueError(f"unknown engine message type {header.get('type')!r}")

    def unpack(name, value):
        if isinstance(value, dict) and "array" in value:
            buffer = _buffer(parts[1 + value["array"]])
            return np.frombuffer(buffer, dtype=np.dtype(value["dtype"])).reshape(value["shape"])
        if isinstance(value, list):
            return [unpack(name, v) for v in value]
        if name in _NESTED and isinstance(value, dict):
            return _NESTED[name](**{key: unpack(key, item) for key, item in value.items()})
        return value

    return cls(**{name: unpack(name, value) for name, value in header["fields"].items()})


def _buffer(part):
    return part.buffer if hasattr(part, "buffer") else part
