"""Micro-batching: concurrent single-text encodes are run together as one batch."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np

from embeddings.encoder import Vectors
from embeddings.threads import name_os_thread

EncodeFn = Callable[[Sequence[str]], Vectors]


class Pending:
    """A text handed to the batcher; `result` waits for its vector."""

    __slots__ = ("_batcher", "future", "taken", "text")

    def __init__(self, batcher: MicroBatcher, text: str) -> None:
        self._batcher = batcher
        self.text = text
        self.future: Future[np.ndarray] = Future()
        self.taken = False  # part of a batch (guarded by the batcher's lock)

    def result(self, timeout: float | None = None) -> np.ndarray:
        """The text's vector: encoded in this thread, with the texts queued beside it,
        when no batch has taken it yet; TimeoutError after `timeout` seconds."""
        return self._batcher._wait(self, timeout)


class MicroBatcher:
    """Texts from many threads are encoded together, up to `max_batch` at a time:
    everything queued when a batch starts, plus whatever arrives within `max_wait_ms`.

    A text handed in while the batcher is idle starts at once on the batcher's own
    thread, so that the caller's other work (a search's keyword lane) overlaps its
    encode on the other core. Under load, texts queue up and the first of their callers
    to need its vector encodes the queued texts in its own thread, its own among them:
    no hand-over to another thread and back per search, which on 2 cores cost a
    measurable share of the searches per second (docs/benchmarks.md). At most
    `workers` batches are encoded at once; above 1 the encoder must be safe to call from
    several threads at once (onnxruntime sessions are). `others_busy`, when given, tells
    whether other callers are at work (e.g. other searches running): then a text is left
    for its caller even when the batcher is idle for the moment.
    """

    def __init__(
        self,
        encode: EncodeFn,
        *,
        max_batch: int = 32,
        max_wait_ms: float = 0.0,
        workers: int = 1,
        others_busy: Callable[[], bool] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._encode = encode
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.workers = workers
        self._others_busy = others_busy
        lock = threading.Lock()
        self._queue: deque[Pending] = deque()
        self._running = 0  # batches being encoded
        self._kicked = threading.Condition(lock)  # the batcher's thread waits for a kick
        self._kicks = 0
        self._freed = threading.Condition(lock)  # a batch ended or took queued texts
        self._waiting = 0  # callers waiting on `_freed`
        self._arrived = threading.Condition(lock)  # a text came (for batches that wait)
        self._closed = False
        self.batches = 0
        self.items = 0
        self._thread = threading.Thread(target=self._run, name="encoder_0", daemon=True)
        self._thread.start()

    def submit(self, text: str) -> Pending:
        """Queue one text; its `result()` is the vector."""
        item = Pending(self, text)
        with self._kicked:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            idle = self._running == 0 and not self._queue
            if idle and self._others_busy is not None:
                # another caller will soon wait for its own text: it may encode this one too
                idle = not self._others_busy()
            self._queue.append(item)
            if idle:
                self._kicks += 1
                self._kicked.notify()
            elif self.max_wait:
                self._arrived.notify_all()
        return item

    def encode_one(self, text: str, timeout: float = 30.0) -> np.ndarray:
        """Encode one text through the batcher (blocking the calling thread only)."""
        return self.submit(text).result(timeout=timeout)

    def close(self) -> None:
        """Stop the batcher's thread once its batch is done; texts still queued are
        encoded by their callers, and later submits raise RuntimeError."""
        with self._kicked:
            self._closed = True
            self._kicked.notify_all()
        self._thread.join(timeout=10)

    def _take(self, own: Pending | None) -> list[Pending]:
        """A batch off the queue, `own` first (the lock is held)."""
        batch: list[Pending] = []
        if own is not None:
            self._queue.remove(own)
            batch.append(own)
        while self._queue and len(batch) < self.max_batch:
            batch.append(self._queue.popleft())
        for item in batch:
            item.taken = True
        self._running += 1
        self._tell_waiters()
        return batch

    def _tell_waiters(self) -> None:
        # a caller waiting for a turn may have had its text taken, or may take a turn now
        if self._waiting:
            self._freed.notify_all()

    def _fill(self, batch: list[Pending]) -> None:
        """Add the texts that arrive within `max_wait` (the lock is held)."""
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            if self._queue:
                item = self._queue.popleft()
                item.taken = True
                batch.append(item)
                self._tell_waiters()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._arrived.wait(remaining)

    def _wait(self, item: Pending, timeout: float | None) -> np.ndarray:
        end = None if timeout is None else time.monotonic() + timeout
        batch: list[Pending] | None = None
        with self._freed:
            while not item.taken:
                if self._running < self.workers:
                    batch = self._take(item)
                    if self.max_wait:
                        self._fill(batch)
                    break
                remaining = None if end is None else end - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("the text was not encoded in time")
                self._waiting += 1
                try:
                    self._freed.wait(remaining)
                finally:
                    self._waiting -= 1
        if batch is not None:
            self._process(batch)
        return item.future.result(None if end is None else max(0.0, end - time.monotonic()))

    def _run(self) -> None:
        name_os_thread()
        while True:
            with self._kicked:
                while not self._kicks and not self._closed:
                    self._kicked.wait()
                if self._closed:
                    return
                self._kicks -= 1
                # the caller may have taken its text meanwhile, or the batches running
                # may all be the callers' own
                if not self._queue or self._running >= self.workers:
                    continue
                batch = self._take(None)
                if self.max_wait:
                    self._fill(batch)
            self._process(batch)

    def _process(self, batch: list[Pending]) -> None:
        encoded = False
        try:
            vectors = self._encode([item.text for item in batch])
            for item, vector in zip(batch, vectors, strict=True):
                item.future.set_result(vector)
            encoded = True
        except Exception as exc:  # every waiter learns of the failure
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
        finally:
            with self._freed:
                self._running -= 1
                if encoded:
                    self.batches += 1
                    self.items += len(batch)
                self._tell_waiters()
