"""Colour values and maths in numpy: the ground floor every other package may import (never torch).

- ``CDL`` (ASC CDL v1.2) with ``read_cdl``/``write_cdl`` (.cc, .ccc, .cdl); ``LUT3D`` with
  ``read_cube``/``write_cube`` (Adobe .cube 1.0).
- ``apply(transform, image)``: a CDL or a LUT on an (H, W, 3|4) frame of any sample type, type and alpha kept.
- ``to_float_rgb``/``from_float_rgb``, ``block_means``/``thumbnail_block``/``analysis_thumbnail``/``shrink``:
  frames between codes and floats, and their exact block-mean reduction (to floats, to what the analysis network
  is shown, or to a thumbnail in the frame's own type);
  ``ANALYSIS_SIDE``/``MATCH_SIDE``: the sizes the analysis network and the matcher judge frames at;
  ``eight_bit_rgb``: a frame's RGB as 8-bit codes, for pictures.
- ``blend_toward``: a correction moved toward another as far as a weight says (``--strength``, a crossfade);
  ``match_taken``/``stretch_match``: a match to a hero as a decision per frame and per stretch of frames.
- ``REC709_LUMA``/``luma_rec709``: the luma weights, defined once.
"""
from colorgrade.color.apply import apply
from colorgrade.color.cdl import (CDL, MATCH_TAKEN, blend_toward, match_taken, read_cdl, stretch_match,
                                 write_cdl)
from colorgrade.color.frames import (ANALYSIS_SIDE, MATCH_SIDE, analysis_thumbnail, block_means, eight_bit_rgb,
                                     from_float_rgb, shrink, thumbnail_block, to_float_rgb)
from colorgrade.color.lut import LUT3D, lattice, read_cube, write_cube
from colorgrade.color.standards import REC709_LUMA, luma_rec709

__all__ = ["apply", "CDL", "blend_toward", "MATCH_TAKEN", "match_taken", "stretch_match", "read_cdl", "write_cdl", "LUT3D", "lattice", "read_cube", "write_cube",
           "to_float_rgb", "from_float_rgb", "eight_bit_rgb", "analysis_thumbnail", "block_means", "shrink",
           "thumbnail_block",
           "ANALYSIS_SIDE", "MATCH_SIDE", "REC709_LUMA", "luma_rec709"]
