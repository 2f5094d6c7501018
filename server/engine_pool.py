"""The front end's side of the engines: start them, send work, restart the ones that die.

An engine that crashes or stops answering is killed and started again; the request that was in
flight is retried once on the fresh engine, then fails with ``EngineUnavailable``. Sessions live in
the front end, so nothing but that one request is ever lost.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import uuid
from concurrent.futures import Future

import numpy as np
import zmq

from colorgrade.server.batching import MicroBatcher

log = logging.getLogger("colorgrade.server.engines")


class EngineUnavailable(RuntimeError):
    """The engine died or stopped answering twice in a row for one request."""


class EngineFailed(RuntimeError):
    """The engine answered with an error for this request (bad input it could not process)."""


class EngineProcess:
    """One engine worker process on one device, reached over an ipc:// socket."""

    def __init__(self, device: str | None, untrained: bool, batch_size: int | None = None, timeout_s: float = 120.0):
        self.device, self.untrained, self.batch_size = device, untrained, batch_size
        self.timeout_ms = int(timeout_s * 1000)
        self.endpoint = f"ipc://{tempfile.gettempdir()}/colorgrade-engine-{uuid.uuid4().hex[:12]}"
        self.context = zmq.Context.instance()
        self.lock = threading.Lock()
        self.process = None
        self.socket = None
        self.description = {}
        self._start()

    def _start(self) -> None:
        command = [sys.executable, "-m", "colorgrade.server.engine", self.endpoint]
        if self.device:
            command += ["--device", self.device]
        if self.batch_size:
            command += ["--batch-size", str(self.batch_size)]
        if self.untrained:
            command.append("--untrained")
        self.process = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._connect()
        self.description = json.loads(self._request([json.dumps({"op": "describe"}).encode()])[0])

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
                raise EngineUnavailable(f"engine on {self.device or 'auto'} exited with status {self.process.returncode}")
        raise EngineUnavailable(f"engine on {self.device or 'auto'} did not answer in {self.timeout_ms / 1000:.0f} s")

    def restart(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._start()

    def call(self, op: str, frames: list[np.ndarray], **options) -> list[np.ndarray]:
        """One request -> its result arrays; retried once on a fresh engine if this one dies or hangs."""
        header = json.dumps({"op": op, "options": options,
                             "frames": [{"dtype": f.dtype.str, "shape": f.shape} for f in frames]})
        parts = [header.encode()] + [memoryview(np.ascontiguousarray(f)).cast("B") for f in frames]
        with self.lock:
            for attempt in (1, 2):
                try:
                    reply = self._request(parts)
                    break
                except EngineUnavailable as error:
                    log.warning("%s; restarting it (attempt %d of 2)", error, attempt)
                    self.restart()
                    if attempt == 2:
                        raise
        status = json.loads(reply[0])
        if "error" in status:
            raise EngineFailed(status["error"])
        return [np.frombuffer(part, np.dtype(spec["dtype"])).reshape(spec["shape"])
                for part, spec in zip(reply[1:], status["results"])]

    def close(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.socket is not None:
            self.socket.close(linger=0)


class EnginePool:
    """Engines, one per device. Analysis goes through a micro-batcher (frames of any clips share a
    forward pass); generator windows take turns among the engines (round robin)."""

    def __init__(self, devices: list[str | None], untrained: bool = False, batch_size: int | None = None,
                 max_wait_s: float = 0.002, on_batch=lambda size: None):
        self.engines = [EngineProcess(device, untrained, batch_size) for device in devices]
        self._next = 0
        self._lock = threading.Lock()
        self.batcher = MicroBatcher([(functools.partial(self._analyze_batch, engine), engine.description["batch_size"])
                                     for engine in self.engines], max_wait_s, on_batch)

    def pick(self) -> EngineProcess:
        with self._lock:
            engine = self.engines[self._next % len(self.engines)]
            self._next += 1
            return engine

    @staticmethod
    def _analyze_batch(engine: EngineProcess, frames: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        cdls, probabilities = engine.call("analyze", frames)
        return list(zip(cdls, probabilities))

    def submit_analysis(self, frame: np.ndarray) -> Future:
        """One frame's analysis, batched with other waiting frames -> Future of (CDL vector (10,), probabilities (25,))."""
        return self.batcher.submit(frame)

    def analyze(self, frames) -> tuple[np.ndarray, np.ndarray]:
        """Frames -> (CDL vectors (N, 10), label probabilities (N, 25))."""
        results = [future.result() for future in [self.submit_analysis(frame) for frame in frames]]
        return np.stack([r[0] for r in results]), np.stack([r[1] for r in results])

    def generate(self, frames, center: int, oversample: int, blend: int, distill_lut: bool):
        """The generator's grade of frame ``center`` -> (float32 (H, W, 3), LUT table (N, N, N, 3) or None)."""
        graded, table = self.pick().call("generate", frames, center=center, oversample=oversample, blend=blend,
                                         distill_lut=distill_lut)
        return graded, (table if table.size else None)

    @property
    def devices(self) -> list[str]:
        return [engine.description["device"] for engine in self.engines]

    @property
    def generator_radius(self) -> int:
        return self.engines[0].description["generator_radius"]

    def close(self) -> None:
        self.batcher.close()
        for engine in self.engines:
            engine.close()
