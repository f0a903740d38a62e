import threading
from collections.abc import Callable

from embeddings.rwlock import ReadWriteLock


def _start(target: Callable[[], None], name: str = "") -> threading.Thread:
    thread = threading.Thread(target=target, name=name or None, daemon=True)
    thread.start()
    return thread


class Timeline:
    """What the threads did, in the order they did it, the lock's waits included (as
    "<thread name> waits to read/write", through the lock's `on_wait`)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.steps: list[str] = []

    def add(self, step: str) -> None:
        with self._cond:
            self.steps.append(step)
            self._cond.notify_all()

    def lock_waits(self, kind: str) -> None:
        self.add(f"{threading.current_thread().name} waits to {kind}")

    def until(self, *any_of: str) -> list[str]:
        """The steps so far, once one of these has happened (5 s at most)."""
        with self._cond:
            seen = self._cond.wait_for(lambda: any(s in self.steps for s in any_of), 5)
            assert seen, f"none of {any_of} happened: {self.steps}"
            return list(self.steps)


def test_read_lock_is_held_by_two_readers_at_once() -> None:
    lock = ReadWriteLock()
    both_in = threading.Barrier(2, timeout=5)

    def reader() -> None:
        with lock.read():
            both_in.wait()  # raises BrokenBarrierError if the other reader were kept out

    threads = [_start(reader) for _ in range(2)]
    for t in threads:
        t.join(timeout=5)
    assert not both_in.broken


def test_write_lock_waits_for_readers_and_keeps_new_readers_out() -> None:
    timeline = Timeline()
    lock = ReadWriteLock(on_wait=timeline.lock_waits)
    release_reader = threading.Event()

    def first_reader() -> None:
        with lock.read():
            timeline.add("reader 1 in")
            release_reader.wait(5)
            timeline.add("reader 1 done")

    def writer() -> None:
        with lock.write():
            timeline.add("writer in")

    def late_reader() -> None:
        with lock.read():
            timeline.add("reader 2 in")

    r1 = _start(first_reader, "reader 1")
    timeline.until("reader 1 in")
    w = _start(writer, "writer")
    timeline.until("writer waits to write", "writer in")
    r2 = _start(late_reader, "reader 2")
    # each thread has either blocked on the lock (the hook saw it) or got in
    seen = timeline.until("reader 2 waits to read", "reader 2 in")
    assert seen == ["reader 1 in", "writer waits to write", "reader 2 waits to read"], (
        "neither the writer nor a reader arriving after it got in"
    )
    release_reader.set()
    for t in (r1, w, r2):
        t.join(timeout=5)
    # (a woken thread that finds the lock still taken waits again: those steps aside)
    got_in = [s for s in timeline.steps if " waits to " not in s]
    assert got_in == ["reader 1 in", "reader 1 done", "writer in", "reader 2 in"]


def test_write_lock_may_be_taken_again_by_its_writer() -> None:
    lock = ReadWriteLock()
    with lock.write(), lock.write(), lock.read():
        pass
    # released completely: another thread can write now
    done = threading.Event()

    def writer() -> None:
        with lock.write():
            done.set()

    _start(writer).join(timeout=5)
    assert done.is_set()
