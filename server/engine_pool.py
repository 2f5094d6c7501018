"""The front end's side of the engines: start them, send work, restart the ones that die.

An engine that crashes or stops answering is killed and started again; the request that was in
flight is retried once on the fresh engine, then fails with ``EngineUnavailable``. Sessions live in
the front end, so nothing but that one request is ever lost.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections import OrderedDict
from concurrent.futures import Future
from typing import NamedTuple

import numpy as np
import zmq

from colorgrade.color import match_taken
from colorgrade.server import protocol as msg
from colorgrade.server.batching import MicroBatcher

log = logging.getLogger("colorgrade.server.engines")

KEPT_HEROES = 8   # hero frames whose features the front end keeps (KeptHeroes)


class FrameAnalysis(NamedTuple):
    cdl: np.ndarray              # (10,) the blind CDL vector
    probabilities: np.ndarray    # (labels,)
    confidence: float
    match_confidence: float | None = None   # with a hero: how sure the match is
    match_cdl: np.ndarray | None = None     # with a hero: the match's (10,) CDL where it is taken, else None

    def matched(self, match: msg.Matched) -> "FrameAnalysis":
        """This blind analysis with a match to a hero, taken whole where the match is sure enough and not at all
        where it is not (another scene, or an unsure fit); the window decides what its frames' matches do
        (``server.clips``: ``color.stretch_match``)."""
        confidence = float(match.confidence)
        return self._replace(match_confidence=confidence,
                             match_cdl=np.asarray(match.cdl, np.float64) if match_taken(confidence) else None)


def frame_analyses(reply: msg.Analyses) -> list[FrameAnalysis]:
    return [FrameAnalysis(*row) for row in zip(reply.cdls, reply.probabilities, reply.confidence)]


def match_by_key(call, frame: np.ndarray, hero: msg.HeroFeatures) -> msg.Matched:
    """``frame`` matched to a described hero through one matcher's ``call``: by the hero's key, its features
    sent only when the matcher lacks them."""
    reply = call(msg.MatchFrame(frame, hero.key))
    return call(msg.MatchFrame(frame, hero.key, hero)) if isinstance(reply, msg.HeroWanted) else reply


class EngineUnavailable(RuntimeError):
    """The engine died or stopped answering twice in a row for one request."""


class EngineFailed(RuntimeError):
    """The engine answered with an error for this request (bad input it could not process)."""


class KeptHeroes:
    """The features of the last ``size`` hero frames, by content: a host analysing a timeline sends the same
    hero with every item (AnalyzeStills), and describing it costs as much as a frame's match. The content
    key names the hero to the matchers too, which keep what they described (``server.matcher``)."""

    def __init__(self, size: int = KEPT_HEROES):
        self.size = size
        self.kept: OrderedDict[str, msg.HeroFeatures] = OrderedDict()
        self.lock = threading.Lock()

    @staticmethod
    def key(frame: np.ndarray) -> str:
        header = f"{frame.shape}{frame.dtype}".encode()
        return hashlib.blake2b(header + np.ascontiguousarray(frame).tobytes(), digest_size=16).hexdigest()

    def get(self, frame: np.ndarray, describe) -> msg.HeroFeatures:
        """The kept features of a frame with ``frame``'s content, else ``describe(key)``'s, kept."""
        key = self.key(frame)
        with self.lock:
            if key in self.kept:
                self.kept.move_to_end(key)
                return self.kept[key]
        features = describe(key)
        with self.lock:
            self.kept[key] = features
            while len(self.kept) > self.size:
                self.kept.popitem(last=False)
        return features


class WorkerProcess:
    """One worker process (``python -m MODULE ENDPOINT ARGUMENTS``) reached over an ipc:// socket."""

    def __init__(self, name: str, module: str, arguments: list[str], socket_dir: str, timeout_s: float = 120.0):
        self.name, self.module, self.arguments = name, module, arguments
        self.timeout_ms = int(timeout_s * 1000)
        self.socket_path = os.path.join(socket_dir, f"worker-{uuid.uuid4().hex[:12]}")
        self.endpoint = f"ipc://{self.socket_path}"
        self.context = zmq.Context.instance()
        self.lock = threading.Lock()
        # Held while the process is replaced or closed: a worker lost while its pool closes is not replaced.
        self.lifecycle = threading.Lock()
        self.restarts = True
        self.process = None
        self.socket = None
        self._start()

    def _start(self) -> None:
        command = [sys.executable, "-m", self.module, self.endpoint, "--parent", str(os.getpid()), *self.arguments]
        self.process = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._connect()

    def _connect(self) -> None:
        if self.socket is not None:
            self.socket.close(linger=0)
        self.socket = self.context.socket(zmq.REQ)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(self.endpoint)

    def _request(self, parts) -> list[bytes]:
        self.socket.send_multipart(parts, copy=False)
        waited = 0
        while waited < self.timeout_ms:
            if self.socket.poll(200):
                return self.socket.recv_multipart()
            waited += 200
            if self.process.poll() is not None:
                raise EngineUnavailable(f"{self.name} exited with status {self.process.returncode}")
        raise EngineUnavailable(f"{self.name} did not answer in {self.timeout_ms / 1000:.0f} s")

    def restart(self) -> None:
        with self.lifecycle:
            if not self.restarts:
                raise EngineUnavailable(f"{self.name} is not restarted: the daemon is stopping")
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self._start()

    def call(self, request):
        """One protocol request -> its reply; retried once on a fresh worker if this one dies or hangs."""
        parts = msg.encode(request)
        with self.lock:
            for attempt in (1, 2):
                try:
                    reply = msg.decode(self._request(parts))
                    break
                except EngineUnavailable as error:
                    if not self.restarts:
                        raise
                    log.warning("%s; restarting it (attempt %d of 2)", error, attempt)
                    self.restart()
                    if attempt == 2:
                        raise
        if isinstance(reply, msg.Failure):
            raise EngineFailed(reply.message)
        return reply

    def close(self) -> None:
        with self.lifecycle:
            self.restarts = False
            if self.process and self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        if self.socket is not None:
            self.socket.close(linger=0)
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)


class EngineProcess(WorkerProcess):
    """An engine worker on one device: the networks, described once they are loaded."""

    def __init__(self, device: str | None, untrained: bool, socket_dir: str, batch_size: int | None = None,
                 timeout_s: float = 120.0):
        self.device = device
        self.description: msg.Description | None = None
        arguments = (["--device", device] if device else []) + (["--batch-size", str(batch_size)] if batch_size else [])
        super().__init__(f"engine on {device or 'auto'}", "colorgrade.server.engine",
                         arguments + (["--untrained"] if untrained else []), socket_dir, timeout_s)

    def _start(self) -> None:
        super()._start()
        self.description = msg.decode(self._request(msg.encode(msg.Describe())))


class EnginePool:
    """Engines, one per device, and matchers. Analysis goes through a micro-batcher (frames of any clips
    share a forward pass); generator work takes turns among the engines, matching among the matchers
    (round robin), so a frame's match runs while the engines analyse."""

    def __init__(self, devices: list[str | None], untrained: bool = False, batch_size: int | None = None,
                 max_wait_s: float = 0.002, on_batch=lambda size: None, matchers: int = 1):
        # The workers' sockets live in a folder of this pool's own, removed with it.
        self.socket_dir = tempfile.mkdtemp(prefix="colorgrade-engines-")
        self.engines, self.matchers = [], []
        try:
            for device in devices:
                self.engines.append(EngineProcess(device, untrained, self.socket_dir, batch_size))
            for number in range(1, matchers + 1):
                self.matchers.append(WorkerProcess(f"matcher {number}", "colorgrade.server.matcher", [],
                                                   self.socket_dir))
        except BaseException:
            self._close_workers()
            raise
        self._next = {"engines": 0, "matchers": 0}
        self._lock = threading.Lock()
        self.heroes = KeptHeroes()
        self.batcher = MicroBatcher([(functools.partial(self._analyze_batch, engine), engine.description.batch_size)
                                     for engine in self.engines], max_wait_s, on_batch)

    @property
    def description(self) -> msg.Description:
        """The models, as the first engine describes them (every engine loads the same weights)."""
        return self.engines[0].description

    @property
    def devices(self) -> list[str]:
        return [engine.description.device for engine in self.engines]

    def pick(self, kind: str = "engines") -> WorkerProcess:
        """The next of the engines (or of the matchers), in turn."""
        workers = getattr(self, kind)
        with self._lock:
            index = self._next[kind]
            self._next[kind] += 1
        return workers[index % len(workers)]

    @staticmethod
    def _analyze_batch(engine: EngineProcess, frames: list[np.ndarray]) -> list[FrameAnalysis]:
        return frame_analyses(engine.call(msg.Analyze(frames)))

    def submit_analysis(self, frame: np.ndarray) -> Future:
        """One frame's analysis, batched with other waiting frames -> Future of its ``FrameAnalysis``."""
        return self.batcher.submit(frame)

    def describe_hero(self, frame: np.ndarray) -> msg.HeroFeatures:
        """What matching needs of a hero frame (computed once per clip, and kept for heroes sent again)."""
        return self.heroes.get(frame, lambda key: self.pick("matchers").call(msg.DescribeHero(frame, key)))

    def match(self, frame: np.ndarray, hero: msg.HeroFeatures) -> msg.Matched:
        return match_by_key(self.pick("matchers").call, frame, hero)

    def generate_frame(self, frames: list[np.ndarray], center: int, oversample: int) -> msg.GeneratedFrame:
        """The generator's working-size input and output for frame ``center`` of ``frames`` (its neighbours)."""
        return self.pick().call(msg.GenerateFrame(frames, center, oversample))

    def stop_restarts(self) -> None:
        """From now on a worker that dies stays dead: the daemon is stopping, and its workers may be ending
        already (a signal sent to the daemon's whole process group reaches them too)."""
        for worker in self.engines + self.matchers:
            worker.restarts = False

    def close(self) -> None:
        self.batcher.close()
        self._close_workers()

    def _close_workers(self) -> None:
        for worker in self.engines + self.matchers:
            worker.close()
        shutil.rmtree(self.socket_dir, ignore_errors=True)
