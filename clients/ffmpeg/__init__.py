"""The ffmpeg shim: per-shot .cube files and a filter script the user's own ffmpeg applies at full speed
(``colorgrade ffmpeg``), and a NUT pipe filter for the pixel modes (``colorgrade pipe``)."""
