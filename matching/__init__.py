"""Matching a frame to a graded hero frame: the ASC CDL that makes the frame look like the hero, and how sure
the match is. numpy and OpenCV only, never torch (the matcher processes never load the networks).

The seam, which the matcher worker (``server.matcher``) and the evaluations use:

- ``describe(frame) -> Hero``: what matching needs of a hero frame, once (a named bundle of arrays);
- ``match(frame, hero) -> Match``: the CDL and the match's confidence.

Frames of any sample type, (H, W, 3|4); the matcher looks at them at ``colorgrade.color.MATCH_SIDE`` (a smaller
frame first as it is).
The implementation is ``matching.sift`` (SIFT, a verified homography, a robust CDL fit): a new matcher is
a module beside it with the same two functions, named here.
"""
from colorgrade.matching.seam import Hero, Match
from colorgrade.matching.sift import describe, match

__all__ = ["Hero", "Match", "describe", "match"]
