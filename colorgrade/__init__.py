"""colorgrade: automatic colour correction for film and video.

The distribution maps its top-level folders into this namespace:
``colorgrade.proto`` (wire contract and colour values, numpy only),
``colorgrade.clients`` (client, CLI commands, host adapters; never torch),
``colorgrade.models`` (networks, training, evaluation; torch) and
``colorgrade.server`` (the daemon).
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("colorgrade")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
