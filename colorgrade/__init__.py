"""colorgrade: automatic colour correction for film and video.

The distribution maps its top-level folders into this namespace:
``colorgrade.color`` (colour values and maths, numpy only), ``colorgrade.proto`` (the wire contract),
``colorgrade.clients`` (client, CLI commands, host adapters; never torch),
``colorgrade.models`` (networks, training, evaluation; torch) and
``colorgrade.server`` (the daemon).
"""
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# The sample media shipped inside the package (demo, tests, weight cards' fixed sets); there in a
# source checkout and in an installed wheel alike.
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"

try:
    __version__ = version("colorgrade")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
