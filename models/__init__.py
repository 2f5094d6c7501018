"""Networks, training and evaluation (torch). Importing this package itself loads nothing heavy."""
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
# The development photo set beside a checkout (see DESIGN.md, Data); training and evaluation default to it.
DEFAULT_PHOTOS = ["../shared/data/photos", "../shared/data/photos_extra", "../shared/data/photos_more"]
