"""The options several evaluations share, each defined once; every evaluation adds the ones it reads."""
from __future__ import annotations

import argparse

from colorgrade.clients.commands import add_connection_arguments
from colorgrade.models import DEFAULT_CLIPS, DEFAULT_PHOTOS, WEIGHTS_DIR


def add_common(parser: argparse.ArgumentParser, *names: str) -> None:
    """Add the shared options ``names`` (weights, photos, clips, frames, count, device, json, connection)."""
    adders = {
        "weights": lambda: parser.add_argument(
            "--weights", default=str(WEIGHTS_DIR / "analysis.safetensors"),
            help="analysis weights (default: the shipped ones)"),
        "photos": lambda: parser.add_argument(
            "--photos", nargs="+", default=DEFAULT_PHOTOS, metavar="DIR",
            help="the same folders training used; their test split is evaluated"),
        "clips": lambda: parser.add_argument(
            "--clips", nargs="+", default=DEFAULT_CLIPS, metavar="VIDEO",
            help="real clips (default: the four under ../shared/data)"),
        "frames": lambda: parser.add_argument(
            "--frames", type=int, default=48, help="frames per clip, from its start (default 48)"),
        "count": lambda: parser.add_argument(
            "--count", type=int, default=60, metavar="N",
            help="test photos to use (default 60; the test split has about 270; 0: clips only)"),
        "device": lambda: parser.add_argument("--device", help="cpu, cuda ... (default: CUDA when present)"),
        "json": lambda: parser.add_argument("--json", action="store_true", help="print the report as JSON"),
        "connection": lambda: add_connection_arguments(parser),
    }
    for name in names:
        adders[name]()
