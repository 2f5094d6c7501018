"""Micro-batching: work submitted from many threads (one per clip) gathered into batches for the engines.

Each worker (one per engine) has a dispatcher thread. It takes the oldest waiting item, then keeps
taking items until its batch is full or ``max_wait_s`` has passed since the first, and hands the
batch to its worker in one call. A worker with batch size 1 never waits, so batching adds no
latency where it cannot help. Items are shared by all dispatchers, so a busy engine's work goes to
an idle one.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import Callable, Sequence

BatchFunction = Callable[[list], Sequence]   # items -> one result per item, in order


class MicroBatcher:
    def __init__(self, workers: list[tuple[BatchFunction, int]], max_wait_s: float = 0.002,
                 on_batch: Callable[[int], None] = lambda size: None):
        self.max_wait_s, self.on_batch = max_wait_s, on_batch
        self.queue: "queue.SimpleQueue[tuple[object, Future] | None]" = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._dispatch, args=(function, batch_size), daemon=True,
                                         name=f"batcher-{i}") for i, (function, batch_size) in enumerate(workers)]
        for thread in self.threads:
            thread.start()

    def submit(self, item) -> Future:
        future: Future = Future()
        self.queue.put((item, future))
        return future

    def _dispatch(self, function: BatchFunction, batch_size: int) -> None:
        while True:
            first = self.queue.get()
            if first is None:           # closing: pass the word on to the other dispatchers
                self.queue.put(None)
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < batch_size:
                try:
                    entry = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if entry is None:       # closing: finish this batch first
                    self.queue.put(None)
                    break
                batch.append(entry)
            self.on_batch(len(batch))
            try:
                results = function([item for item, _ in batch])
            except Exception as error:  # every caller in the batch gets the engine's error
                for _, future in batch:
                    future.set_exception(error)
                continue
            for (_, future), result in zip(batch, results):
                future.set_result(result)

    def close(self) -> None:
        self.queue.put(None)
        for thread in self.threads:
            thread.join(timeout=5)
