"""Matcher worker: matching frames to a hero frame (``colorgrade.matching``: OpenCV, no networks, no torch).

Its own process, so that a frame's match and its blind analysis (the engine's) run at once, and several
matchers can share a machine's cores. It keeps the heroes it described or was sent, by their content key,
so a ``MatchFrame`` carries the key alone; a matcher that does not keep the hero (started since, or the
hero is old) answers ``HeroWanted`` and the front end sends the features along. Kept heroes are a cache:
a restarted matcher gives the same matches.

Run as ``python -m colorgrade.server.matcher ENDPOINT [--parent PID]``.
"""
from __future__ import annotations

from collections import OrderedDict

import cv2

from colorgrade import matching
from colorgrade.server import protocol as msg
from colorgrade.server import worker

KEPT_HEROES = 8   # heroes a matcher keeps by key (a host's timeline has one hero per scene in flight)


class Matcher:
    """The matching room behind the worker protocol, with the heroes it keeps."""

    def __init__(self, kept: int = KEPT_HEROES):
        self.kept, self.heroes = kept, OrderedDict()

    def handle(self, request):
        return worker.handled({msg.DescribeHero: self.describe_hero, msg.MatchFrame: self.match_frame}, request)

    def keep(self, key: str, hero: matching.Hero) -> None:
        self.heroes[key] = hero
        self.heroes.move_to_end(key)
        while len(self.heroes) > self.kept:
            self.heroes.popitem(last=False)

    def describe_hero(self, request: msg.DescribeHero) -> msg.HeroFeatures:
        hero = matching.describe(request.frame)
        self.keep(request.key, hero)
        return msg.HeroFeatures(request.key, hero)

    def match_frame(self, request: msg.MatchFrame) -> msg.Matched | msg.HeroWanted:
        if request.hero is not None:
            self.keep(request.hero_key, request.hero.arrays)
        hero = self.heroes.get(request.hero_key)
        if hero is None:
            return msg.HeroWanted(request.hero_key)
        self.heroes.move_to_end(request.hero_key)
        found = matching.match(request.frame, hero)
        return msg.Matched(cdl=found.cdl.to_vector(), confidence=found.confidence)


def main(argv=None) -> None:
    args = worker.argument_parser(__doc__).parse_args(argv)
    # One thread each: the daemon runs one matcher per core it gives them (serve --matchers), and OpenCV's
    # own threads would only contend with them and with the engine.
    cv2.setNumThreads(1)
    worker.start(args, lambda: Matcher().handle)


if __name__ == "__main__":
    main()
