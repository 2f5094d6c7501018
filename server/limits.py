"""The daemon's caps, in one place (imported by the CLI without loading the networks)."""
from dataclasses import dataclass

from colorgrade.proto.codec import DEFAULT_MAX_PIXELS, MAX_CLIP_ID_CHARS


@dataclass
class Limits:
    max_sessions: int = 64
    max_streams: int = 200              # StreamClip calls open at once (each holds a server thread while open)
    max_buffer_bytes: int = 4 << 30     # decoded frames held across all clips
    max_frame_pixels: int = DEFAULT_MAX_PIXELS
    max_window_radius: int = 12
    idle_ttl_s: float = 600.0
    frames_per_clip: int = 64           # random-access cache per clip (frames beyond it are evicted oldest first)
    max_id_chars: int = MAX_CLIP_ID_CHARS   # longer clip ids are refused, not echoed
    max_name_chars: int = 256           # OpenClipRequest.name, shown in the log
