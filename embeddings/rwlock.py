"""A readers-writer lock: searches run side by side, a write runs alone."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class ReadWriteLock:
    """Many readers at once, or one writer; a waiting writer goes before new readers, so a
    steady stream of searches cannot starve an article write.

    The writing thread may take the lock again (to read or write); a reader must not take
    it again while reading (a writer waiting between the two would deadlock it).

    `on_wait`, when given, is called with "read" or "write" in a thread that is about to
    block on the lock (again after each wake-up that finds it still taken), while the
    lock's own mutex is held: it must not take this lock, and should only record. Tests use
    it to order threads by what they observe; the path that does not wait never reads it.
    """

    def __init__(self, on_wait: Callable[[str], None] | None = None) -> None:
        self._on_wait = on_wait
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: int | None = None
        self._depth = 0
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        """Hold the lock shared with other readers."""
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:  # the writer reads what it is writing
                self._depth += 1
                nested = True
            else:
                while self._writer is not None or self._writers_waiting:
                    if self._on_wait is not None:
                        self._on_wait("read")
                    self._cond.wait()
                self._readers += 1
                nested = False
        try:
            yield
        finally:
            with self._cond:
                if nested:
                    self._depth -= 1
                else:
                    self._readers -= 1
                    if self._readers == 0:
                        self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        """Hold the lock alone."""
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._depth += 1
            else:
                self._writers_waiting += 1
                try:
                    while self._writer is not None or self._readers:
                        if self._on_wait is not None:
                            self._on_wait("write")
                        self._cond.wait()
                finally:
                    self._writers_waiting -= 1
                self._writer, self._depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if self._depth == 0:
                    self._writer = None
                    self._cond.notify_all()
