"""Micro-batching: concurrent single-text encodes are run together as one batch."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np

from embeddings.encoder import Vectors

EncodeFn = Callable[[Sequence[str]], Vectors]


class MicroBatcher:
    """Collects texts from many threads; one worker encodes up to `max_batch` at a time:
    everything queued while it was busy, plus whatever arrives within `max_wait_ms` of
    the first text.

    With no wait (the default) a lone request is encoded at once and, under load, the
    texts that queued up during the previous batch form the next one, so batches grow
    with the load without anyone waiting on a timer. The encoder is only ever called
    from the worker thread.
    """

    def __init__(self, encode: EncodeFn, *, max_batch: int = 32, max_wait_ms: float = 0.0) -> None:
        self._encode = encode
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self._queue: queue.Queue[tuple[str, Future[np.ndarray]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="encoder-batcher", daemon=True)
        self._closed = False
        self.batches = 0
        self.items = 0
        self._thread.start()

    def submit(self, text: str) -> Future[np.ndarray]:
        """Queue one text; the future resolves to its vector."""
        if self._closed:
            raise RuntimeError("the batcher is closed")
        future: Future[np.ndarray] = Future()
        self._queue.put((text, future))
        return future

    def encode_one(self, text: str, timeout: float = 30.0) -> np.ndarray:
        """Encode one text through the batcher (blocking the calling thread only)."""
        return self.submit(text).result(timeout=timeout)

    def close(self) -> None:
        """Finish queued work and stop the worker."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.perf_counter() + self.max_wait
            stop = False
            while len(batch) < self.max_batch:
                remaining = deadline - time.perf_counter()
                try:
                    item = (
                        self._queue.get(timeout=remaining)
                        if remaining > 0
                        else (self._queue.get_nowait())
                    )
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._process(batch)
            if stop:
                return

    def _process(self, batch: list[tuple[str, Future[np.ndarray]]]) -> None:
        live = [(t, f) for t, f in batch if f.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            vectors = self._encode([t for t, _ in live])
        except Exception as exc:  # every waiter learns of the failure
            for _, f in live:
                f.set_exception(exc)
            return
        self.batches += 1
        self.items += len(live)
        for (_, f), v in zip(live, vectors, strict=True):
            f.set_result(v)
