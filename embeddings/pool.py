"""A fixed set of threads that run jobs one after another, first come first served."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from embeddings.threads import name_os_thread

P = ParamSpec("P")
T = TypeVar("T")


class WorkPool:
    """At most `size` jobs run at once, each on one of the pool's own threads, in
    arrival order.

    A limit taken in the caller's thread (a semaphore) hands every slot over by waking
    a sleeping thread; here, under load, a thread that finishes a job takes the next one
    off the queue without sleeping, so the limit costs no thread switch (on 2 cores,
    measurably more searches/s than request threads queueing for the slots;
    docs/benchmarks.md).
    A job that submits a job runs it at once in its own thread (no slot taken twice).
    """

    def __init__(self, size: int, *, name: str = "pool") -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._local = threading.local()
        self._running = 0
        self._running_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=size, thread_name_prefix=name, initializer=self._mark
        )

    def _mark(self) -> None:
        self._local.inside = True
        name_os_thread()  # "<name>_<n>", as the executor names its threads

    def inside(self) -> bool:
        """Whether the calling thread is one of the pool's."""
        return bool(getattr(self._local, "inside", False))

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Queue a job; the future resolves to its result (or raises its exception)."""
        if self.inside():
            done: Future[T] = Future()
            try:
                done.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed over exactly as a pool thread would
                done.set_exception(exc)
            return done
        return self._executor.submit(self._counted, fn, *args, **kwargs)

    def _counted(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        with self._running_lock:
            self._running += 1
        try:
            return fn(*args, **kwargs)
        finally:
            with self._running_lock:
                self._running -= 1

    @property
    def running(self) -> int:
        """How many jobs are running now (not those waiting their turn)."""
        return self._running

    def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a job in its turn and wait for its result (blocking the calling thread)."""
        return self.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        """Finish the queued jobs and stop the threads; later submits raise RuntimeError."""
        self._executor.shutdown(wait=True)
