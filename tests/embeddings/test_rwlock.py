import threading
import time

from embeddings.rwlock import ReadWriteLock


def _start(target) -> threading.Thread:  # type: ignore[no-untyped-def]
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


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
    lock = ReadWriteLock()
    events: list[str] = []
    reading = threading.Event()
    release_reader = threading.Event()

    def first_reader() -> None:
        with lock.read():
            reading.set()
            release_reader.wait(5)
            events.append("reader 1 done")

    def writer() -> None:
        with lock.write():
            events.append("writer")

    def late_reader() -> None:
        with lock.read():
            events.append("reader 2")

    r1 = _start(first_reader)
    assert reading.wait(5)
    w = _start(writer)
    time.sleep(0.05)  # the writer is now waiting for reader 1
    r2 = _start(late_reader)
    time.sleep(0.05)
    assert events == [], "neither the writer nor a reader arriving after it got in"
    release_reader.set()
    for t in (r1, w, r2):
        t.join(timeout=5)
    assert events == ["reader 1 done", "writer", "reader 2"]


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
