import threading
from pathlib import Path

import pytest

from embeddings.pool import WorkPool


def test_run_jobs_beyond_size_wait_and_are_served_in_arrival_order() -> None:
    pool = WorkPool(1)
    gate = threading.Event()
    started = threading.Event()

    def blocker() -> None:
        started.set()
        assert gate.wait(timeout=5)

    first = pool.submit(blocker)
    assert started.wait(timeout=5)
    served: list[int] = []
    later = [pool.submit(served.append, n) for n in range(5)]
    assert served == [], "nothing ran past a full pool"
    gate.set()
    first.result(timeout=5)
    for job in later:
        job.result(timeout=5)
    assert served == [0, 1, 2, 3, 4]
    pool.close()


def test_run_jobs_up_to_size_at_once() -> None:
    pool = WorkPool(3)
    inside = threading.Barrier(3, timeout=5)
    jobs = [pool.submit(inside.wait) for _ in range(3)]
    for job in jobs:
        job.result(timeout=5)
    assert not inside.broken
    pool.close()


def test_run_job_from_a_pool_thread_runs_inline_without_deadlock() -> None:
    pool = WorkPool(1)

    def outer() -> tuple[bool, str]:
        # with one thread, a nested job that queued would wait for itself forever
        name = pool.run(lambda: threading.current_thread().name)
        return pool.inside(), name

    inside, inner_thread = pool.submit(outer).result(timeout=5)
    assert inside
    assert inner_thread.startswith("pool")
    assert not pool.inside()
    pool.close()


def test_run_job_error_reaches_the_caller() -> None:
    pool = WorkPool(2)

    def fail() -> None:
        raise ValueError("bad query")

    with pytest.raises(ValueError, match="bad query"):
        pool.run(fail)
    nested = pool.submit(lambda: pool.submit(fail).exception())
    assert isinstance(nested.result(timeout=5), ValueError)
    pool.close()


def test_submit_after_close_is_refused() -> None:
    pool = WorkPool(1)
    assert pool.run(lambda: 41 + 1) == 42
    pool.close()
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)


def test_create_pool_without_threads_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WorkPool(0)


def test_pool_threads_carry_their_name_to_the_os() -> None:
    pool = WorkPool(1, name="search")

    def os_name() -> str:
        return Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text().strip()

    if not Path("/proc/self/task").exists():
        pytest.skip("no /proc on this system")
    assert pool.run(os_name) == "search_0"
    pool.close()


def test_running_counts_jobs_at_work_not_those_waiting() -> None:
    """The micro-batcher reads it to tell a lone search from one among others."""
    pool = WorkPool(2)
    gate = threading.Event()
    started = threading.Barrier(3, timeout=5)

    def blocker() -> None:
        started.wait()
        assert gate.wait(timeout=5)

    jobs = [pool.submit(blocker) for _ in range(2)]
    waiting = pool.submit(lambda: pool.running)
    started.wait()
    assert pool.running == 2, "the third job waits its turn and does not count"
    gate.set()
    for job in jobs:
        job.result(timeout=5)
    assert waiting.result(timeout=5) >= 1, "a job at work counts itself"
    pool.close()
    assert pool.running == 0
