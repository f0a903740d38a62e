"""Micro-batching: concurrent single-text encodes are run together as one batch."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np

from embeddings.encoder import Vectors
from embeddings.threads import name_os_thread

EncodeFn = Callable[[Sequence[str]], Vectors]


class MicroBatcher:
    """Collects texts from many threads; a worker encodes up to `max_batch` at a time:
    everything queued while it was busy, plus whatever arrives within `max_wait_ms` of
    the first text.

    With no wait (the default) a lone request is encoded at once and, under load, the
    texts that queued up during the previous batch form the next one, so batches grow
    with the load without anyone waiting on a timer. The encoder is only ever called
    from the worker threads; with `workers` > 1 it must be safe to call from several
    threads at once (onnxruntime sessions are), and each worker's batch runs on its own
    core: one single-threaded inference at a time leaves the other core idle under load.
    """

    def __init__(
        self,
        encode: EncodeFn,
        *,
        max_batch: int = 32,
        max_wait_ms: float = 0.0,
        workers: int = 1,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._encode = encode
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self._queue: queue.Queue[tuple[str, Future[np.ndarray]] | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._run, name=f"encoder_{n}", daemon=True)
            for n in range(workers)
        ]
        self._closed = False
        self._count_lock = threading.Lock()
        self.batches = 0
        self.items = 0
        for thread in self._threads:
            thread.start()

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
            for _ in self._threads:  # one stop mark per worker; each takes exactly one
                self._queue.put(None)
            for thread in self._threads:
                thread.join(timeout=10)

    def _run(self) -> None:
        name_os_thread()
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
        with self._count_lock:
            self.batches += 1
            self.items += len(live)
        for (_, f), v in zip(live, vectors, strict=True):
            f.set_result(v)
