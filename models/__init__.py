"""Networks, training and evaluation (torch). Importing this package itself loads nothing heavy."""
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
