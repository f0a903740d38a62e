"""A first-come, first-served limit on how many threads do a piece of work at once."""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType


class FairSlots:
    """At most `size` holders at once; waiters get a slot in arrival order.

    Unlike `threading.Semaphore`, a released slot is handed to the longest waiter instead
    of to whichever thread asks next, so under a steady load no search waits behind a
    stream of later ones (the tail latency stays close to the median).
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._free = size
        self._lock = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self) -> None:
        """Take a slot, waiting in line for one."""
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        turn.acquire()  # released by the holder that hands its slot over

    def release(self) -> None:
        """Give the slot to the first waiter, or back to the pool."""
        with self._lock:
            if self._waiters:
                self._waiters.popleft().release()
            elif self._free < self.size:
                self._free += 1
            else:
                raise RuntimeError("released more slots than were taken")

    def __enter__(self) -> FairSlots:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
