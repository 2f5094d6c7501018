"""Prometheus-style metrics of the daemon (frames, latency, requests in flight), served as text on
``/metrics`` by a small HTTP server when ``colorgrade serve --metrics-port`` is given."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Metrics:
    def __init__(self):
        self.lock = threading.Lock()
        self.frames: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self.in_flight = 0
        self.batches = 0
        self.batched_frames = 0
        self.gauges = lambda: {}   # name -> value read at each scrape (the daemon sets open_clips, buffered_bytes)

    @contextmanager
    def frame(self, mode: str):
        """Count one graded frame of ``mode`` and the time it took; in flight while inside."""
        with self.lock:
            self.in_flight += 1
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            with self.lock:
                self.in_flight -= 1
                self.frames[mode] = self.frames.get(mode, 0) + 1
                self.seconds[mode] = self.seconds.get(mode, 0.0) + elapsed

    def batch(self, frames: int) -> None:
        """Count one analysis forward pass of ``frames`` frames (gathered across clips)."""
        with self.lock:
            self.batches += 1
            self.batched_frames += frames

    def render(self) -> str:
        with self.lock:
            lines = ["# HELP colorgrade_frames_total Frames graded, by clip mode.",
                     "# TYPE colorgrade_frames_total counter"]
            lines += [f'colorgrade_frames_total{{mode="{m}"}} {n}' for m, n in sorted(self.frames.items())]
            lines += ["# HELP colorgrade_frame_seconds_total Time spent grading frames, by clip mode.",
                      "# TYPE colorgrade_frame_seconds_total counter"]
            lines += [f'colorgrade_frame_seconds_total{{mode="{m}"}} {s:.6f}' for m, s in sorted(self.seconds.items())]
            lines += ["# HELP colorgrade_frames_in_flight Frames being graded now (queue depth).",
                      "# TYPE colorgrade_frames_in_flight gauge", f"colorgrade_frames_in_flight {self.in_flight}",
                      "# HELP colorgrade_analysis_batches_total Forward passes of the analysis network.",
                      "# TYPE colorgrade_analysis_batches_total counter",
                      f"colorgrade_analysis_batches_total {self.batches}",
                      "# HELP colorgrade_analysis_batch_frames_total Frames analysed in those passes "
                      "(divided by the passes: the mean batch).",
                      "# TYPE colorgrade_analysis_batch_frames_total counter",
                      f"colorgrade_analysis_batch_frames_total {self.batched_frames}"]
        for name, value in self.gauges().items():
            lines += [f"# TYPE colorgrade_{name} gauge", f"colorgrade_{name} {value}"]
        return "\n".join(lines) + "\n"


def serve_metrics(metrics: Metrics, host: str, port: int) -> ThreadingHTTPServer:
    """Start serving ``/metrics`` in a background thread; returns the server (``server_address`` has the port)."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/metrics":
                self.send_error(404, "only /metrics is served here")
                return
            body = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # scrapes every few seconds would flood the daemon's log
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
