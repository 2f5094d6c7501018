"""Matcher worker: matching frames to a hero frame (``models.matching``: OpenCV, no networks, no torch).

Stateless like the engine: ``DescribeHero`` returns the hero's features, which the front end keeps with
the clip and sends back with every ``MatchFrame``. Its own process, so that a frame's match and its blind
analysis (the engine's) run at once, and several matchers can share a machine's cores.

Run as ``python -m colorgrade.server.matcher ENDPOINT [--parent PID]``.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

from colorgrade.models import matching
from colorgrade.server import protocol as msg
from colorgrade.server import worker


def describe_hero(request: msg.DescribeHero) -> msg.HeroFeatures:
    hero = matching.describe_hero(request.frame)
    return msg.HeroFeatures(rgb=hero.rgb, keypoints=hero.keypoints, descriptors=hero.descriptors)


def match_frame(request: msg.MatchFrame) -> msg.Matched:
    hero = matching.Hero(np.asarray(request.hero.rgb), np.asarray(request.hero.keypoints),
                         np.asarray(request.hero.descriptors))
    found = matching.match(request.frame, hero)
    return msg.Matched(cdl=found.cdl.to_vector(), confidence=found.confidence)


HANDLERS = {msg.DescribeHero: describe_hero, msg.MatchFrame: match_frame}


def main(argv=None) -> None:
    args = worker.argument_parser(__doc__).parse_args(argv)
    # One thread each: the daemon runs one matcher per core it gives them (serve --matchers), and OpenCV's
    # own threads would only contend with them and with the engine.
    cv2.setNumThreads(1)
    worker.start(args, lambda: functools.partial(worker.handled, HANDLERS))


if __name__ == "__main__":
    main()
